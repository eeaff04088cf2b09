use serde_json::{json, Value};

use super::*;
use crate::testdata::{ec2_task, fargate_task, TASK_ARN};

fn value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap()
}

/// The members of a serialized object, in the order they are written.
fn member_order(text: &str, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| {
            text.find(&format!("\"{n}\":"))
                .unwrap_or_else(|| panic!("{n} missing in {text}"))
        })
        .collect()
}

#[test]
fn container_document_is_ecs_shaped() {
    let task = ec2_task();
    let doc = container_document(&task, &task.containers[0]);
    let expected = json!({
        "DockerId": "c0ffee".repeat(10) + "abcd",
        "Name": "web",
        "DockerName": "ecs-shop-7-web-d2a1f0e9c8b7a6",
        "Image": "nginx:1.27",
        "ImageID": "sha256:".to_string() + &"ab".repeat(32),
        "Ports": [{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 80}],
        "Labels": {
            "com.amazonaws.ecs.cluster": "web",
            "com.amazonaws.ecs.container-name": "web",
            "com.amazonaws.ecs.task-arn": TASK_ARN,
            "com.amazonaws.ecs.task-definition-family": "shop",
            "com.amazonaws.ecs.task-definition-version": "7",
            "tier": "front"
        },
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "Limits": {"CPU": 256, "Memory": 512},
        "CreatedAt": "2023-11-14T22:13:22.620912337Z",
        "StartedAt": "2023-11-14T22:13:23.062559351Z",
        "Type": "NORMAL",
        "Health": {"status": "HEALTHY", "statusSince": "2023-11-14T22:13:53Z"},
        "LogDriver": "awslogs",
        "LogOptions": {"awslogs-group": "/ecs/shop", "awslogs-region": "eu-west-1"},
        "ContainerARN": "arn:aws:ecs:eu-west-1:000000000000:container/web/0a1b2c3d/11111111-2222-3333-4444-555555555555",
        "Networks": [{
            "NetworkMode": "awsvpc",
            "IPv4Addresses": ["10.213.0.9"],
            "AttachmentIndex": 0,
            "MACAddress": "0a:58:0a:d5:00:09",
            "IPv4SubnetCIDRBlock": "10.213.0.0/16",
            "PrivateDNSName": "ip-10-213-0-9.eu-west-1.compute.internal",
            "SubnetGatewayIpv4Address": "10.213.0.1/16"
        }]
    });
    assert_eq!(value(&doc), expected);
    // "CPU": 256 is written as Go writes a float64, not 256.0.
    let text = serde_json::to_string(&doc).unwrap();
    assert!(
        text.contains(r#""Limits":{"CPU":256,"Memory":512}"#),
        "{text}"
    );
    let order = member_order(
        &text,
        &[
            "DockerId",
            "Name",
            "DockerName",
            "Image",
            "ImageID",
            "Ports",
            "Labels",
            "DesiredStatus",
            "KnownStatus",
            "Limits",
            "CreatedAt",
            "StartedAt",
            "Type",
            "Health",
            "LogDriver",
            "LogOptions",
            "ContainerARN",
            "Networks",
        ],
    );
    assert!(order.windows(2).all(|w| w[0] < w[1]), "order: {text}");
}

#[test]
fn stopped_container_shows_exit_and_restarts() {
    let task = ec2_task();
    let doc = value(&container_document(&task, &task.containers[1]));
    assert_eq!(doc["KnownStatus"], "STOPPED");
    assert_eq!(doc["ExitCode"], 0);
    assert_eq!(doc["FinishedAt"], "2023-11-14T22:13:30Z");
    assert_eq!(doc["RestartCount"], 2);
    // Limits are always there for a container, zeros included.
    assert_eq!(doc["Limits"], json!({"CPU": 0, "Memory": 0}));
    for absent in [
        "Ports",
        "Health",
        "Volumes",
        "LogDriver",
        "LogOptions",
        "ContainerARN",
        "CreatedAt",
        "StartedAt",
    ] {
        assert!(doc.get(absent).is_none(), "{absent} in {doc}");
    }
}

#[test]
fn task_document_on_ec2() {
    let task = ec2_task();
    let doc = task_document(&task, false);
    let v = value(&doc);
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected_top = vec![
        "Cluster",
        "TaskARN",
        "Family",
        "Revision",
        "DesiredStatus",
        "KnownStatus",
        "PullStartedAt",
        "PullStoppedAt",
        "AvailabilityZone",
        "LaunchType",
        "Containers",
        "VPCID",
        "ServiceName",
        "ClockDrift",
        "FaultInjectionEnabled",
    ];
    let text = serde_json::to_string(&doc).unwrap();
    let order = member_order(&text, &expected_top);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "order: {text}");
    expected_top.sort();
    assert_eq!(top, expected_top);
    assert_eq!(v["Revision"], "7");
    assert_eq!(v["LaunchType"], "EC2");
    assert_eq!(v["PullStartedAt"], "2023-11-14T22:13:20.12Z");
    assert_eq!(v["PullStoppedAt"], "2023-11-14T22:13:21.000000005Z");
    assert_eq!(
        v["ClockDrift"],
        json!({"ClockErrorBound": 0.75, "ReferenceTimestamp": "2023-11-14T22:15:00Z",
               "ClockSynchronizationStatus": "SYNCHRONIZED"})
    );
    assert_eq!(v["FaultInjectionEnabled"], false);
    let names: Vec<&Value> = v["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["Name"])
        .collect();
    assert_eq!(names, ["web", "log"]);
    assert_eq!(
        v["Containers"][0],
        value(&container_document(&task, &task.containers[0]))
    );
}

#[test]
fn tags_only_with_tags() {
    let task = ec2_task();
    let cases = [
        (false, None, None),
        (
            true,
            Some(json!({"team": "shop"})),
            Some(json!({"rack": "r1"})),
        ),
    ];
    for (with_tags, task_tags, instance_tags) in cases {
        let v = value(&task_document(&task, with_tags));
        assert_eq!(
            v.get("TaskTags").cloned(),
            task_tags,
            "with_tags {with_tags}"
        );
        assert_eq!(
            v.get("ContainerInstanceTags").cloned(),
            instance_tags,
            "with_tags {with_tags}"
        );
    }
    // No tags at all: omitted even with tags asked for.
    let mut bare = task.clone();
    bare.task_tags.clear();
    bare.container_instance_tags.clear();
    let v = value(&task_document(&bare, true));
    assert!(v.get("TaskTags").is_none() && v.get("ContainerInstanceTags").is_none());
}

#[test]
fn task_document_on_fargate() {
    let task = fargate_task();
    let v = value(&task_document(&task, false));
    assert_eq!(
        v["Cluster"],
        "arn:aws:ecs:eu-west-1:000000000000:cluster/web"
    );
    assert_eq!(v["Limits"], json!({"CPU": 0.25, "Memory": 512}));
    assert_eq!(v["LaunchType"], "FARGATE");
    assert!(v.get("ServiceName").is_none() && v.get("VPCID").is_none());
    // A container that sets only CPU shows only CPU.
    assert_eq!(v["Containers"][0]["Limits"], json!({"CPU": 2}));
    let text = serde_json::to_string(&v["Containers"][0]["Limits"]).unwrap();
    assert_eq!(text, r#"{"CPU":2}"#);
}

#[test]
fn task_without_limits_omits_them() {
    let v = value(&task_document(&ec2_task(), false));
    assert!(v.get("Limits").is_none(), "{v}");
}

#[test]
fn ecs_labels_win_over_the_containers() {
    let mut task = ec2_task();
    task.containers[0]
        .labels
        .insert(LABEL_CLUSTER.into(), "spoofed".into());
    let labels = labels(&task, &task.containers[0]);
    assert_eq!(labels[LABEL_CLUSTER], "web");
    assert_eq!(labels["tier"], "front");
    assert_eq!(labels.len(), 6);
}

#[test]
fn go_floats() {
    #[derive(Serialize)]
    struct F(#[serde(serialize_with = "ser_go_float")] f64);
    let cases = [
        (10.0, "10"),
        (0.0, "0"),
        (0.25, "0.25"),
        (1024.0, "1024"),
        (-3.0, "-3"),
        (0.5458234999999999, "0.5458234999999999"),
    ];
    for (f, text) in cases {
        assert_eq!(serde_json::to_string(&F(f)).unwrap(), text, "{f}");
    }
}
