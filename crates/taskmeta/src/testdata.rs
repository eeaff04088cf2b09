//! Facts shaped like ECS's documented examples (values of our own), for the tests.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::facts::*;

pub(crate) fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

pub(crate) const TASK_ARN: &str =
    "arn:aws:ecs:eu-west-1:000000000000:task/web/0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An EC2 task in awsvpc mode with two containers (one with a health check).
pub(crate) fn ec2_task() -> TaskFacts {
    TaskFacts {
        cluster: "web".into(),
        task_arn: TASK_ARN.into(),
        family: "shop".into(),
        revision: 7,
        desired_status: TaskStatus::Running,
        known_status: TaskStatus::Running,
        limits: Limits::default(),
        pull_started_at: Some(at(1_700_000_000, 120_000_000)),
        pull_stopped_at: Some(at(1_700_000_001, 5)),
        execution_stopped_at: None,
        availability_zone: Some("eu-west-1a".into()),
        launch_type: Some(LaunchType::Ec2),
        service_name: Some("shop-svc".into()),
        vpc_id: Some("vpc-0123456789abcdef0".into()),
        clock_drift: Some(ClockDrift {
            clock_error_bound: 0.75,
            reference_timestamp: Some(at(1_700_000_100, 0)),
            status: ClockStatus::Synchronized,
        }),
        task_tags: map(&[("team", "shop")]),
        container_instance_tags: map(&[("rack", "r1")]),
        task_role_arn: Some("arn:aws:iam::000000000000:role/shop-task".into()),
        network: Some(NetworkFacts {
            mode: NetworkMode::Awsvpc,
            ipv4_addresses: vec![Ipv4Addr::new(10, 213, 0, 9)],
            attachment_index: Some(0),
            mac_address: Some("0a:58:0a:d5:00:09".into()),
            ipv4_subnet_cidr_block: Some("10.213.0.0/16".into()),
            private_dns_name: Some("ip-10-213-0-9.eu-west-1.compute.internal".into()),
            subnet_gateway_ipv4_address: Some("10.213.0.1/16".into()),
            domain_name_servers: vec![],
            domain_name_search_list: vec![],
        }),
        containers: vec![web_container(), sidecar_container()],
    }
}

pub(crate) fn web_container() -> ContainerFacts {
    ContainerFacts {
        name: "web".into(),
        docker_id: "c0ffee".repeat(10) + "abcd",
        docker_name: "ecs-shop-7-web-d2a1f0e9c8b7a6".into(),
        image: "nginx:1.27".into(),
        image_id: "sha256:".to_string() + &"ab".repeat(32),
        labels: map(&[("tier", "front")]),
        desired_status: ContainerStatus::Running,
        known_status: ContainerStatus::Running,
        exit_code: None,
        limits: Limits {
            cpu: Some(256.0),
            memory: Some(512),
        },
        created_at: Some(at(1_700_000_002, 620_912_337)),
        started_at: Some(at(1_700_000_003, 62_559_351)),
        finished_at: None,
        kind: ContainerType::Normal,
        ports: vec![PortFacts {
            container_port: 80,
            protocol: "tcp".into(),
            host_port: 80,
            host_ip: None,
        }],
        health: Some(HealthFacts {
            status: HealthStatus::Healthy,
            since: Some(at(1_700_000_033, 0)),
            exit_code: Some(0),
            output: None,
        }),
        volumes: vec![],
        log_driver: Some("awslogs".into()),
        log_options: map(&[("awslogs-group", "/ecs/shop"), ("awslogs-region", "eu-west-1")]),
        container_arn: Some(
            "arn:aws:ecs:eu-west-1:000000000000:container/web/0a1b2c3d/11111111-2222-3333-4444-555555555555"
                .into(),
        ),
        restart_count: None,
    }
}

pub(crate) fn sidecar_container() -> ContainerFacts {
    ContainerFacts {
        name: "log".into(),
        docker_id: "f00d".repeat(16),
        docker_name: "ecs-shop-7-log-9f8e7d6c5b4a".into(),
        image: "busybox".into(),
        image_id: "sha256:".to_string() + &"cd".repeat(32),
        desired_status: ContainerStatus::Running,
        known_status: ContainerStatus::Stopped,
        exit_code: Some(0),
        limits: Limits {
            cpu: Some(0.0),
            memory: Some(0),
        },
        finished_at: Some(at(1_700_000_010, 0)),
        restart_count: Some(2),
        ..ContainerFacts::default()
    }
}

/// A Fargate task: task-level limits, a container with CPU only.
pub(crate) fn fargate_task() -> TaskFacts {
    let mut c = web_container();
    c.limits = Limits {
        cpu: Some(2.0),
        memory: None,
    };
    c.health = None;
    c.ports = vec![];
    c.labels = BTreeMap::new();
    TaskFacts {
        cluster: "arn:aws:ecs:eu-west-1:000000000000:cluster/web".into(),
        limits: Limits {
            cpu: Some(0.25),
            memory: Some(512),
        },
        launch_type: Some(LaunchType::Fargate),
        service_name: None,
        vpc_id: None,
        task_role_arn: None,
        containers: vec![c],
        ..ec2_task()
    }
}
