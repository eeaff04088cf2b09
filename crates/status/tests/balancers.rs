//! `berth status` against a real berth server: load balancers, their target groups and
//! their targets' health read through ELBv2's query API, and an ECS service in its
//! target group, as the status table shows them.

use std::path::Path;

use berth_agent::client::Credentials;
use berth_agent::ServerClient;
use berth_awsproto::Context;
use berth_elbv2::model::{TargetHealth, TargetHealthReason, TargetHealthState};
use berth_elbv2::Target;
use berth_status::balancers::{self, LoadBalancerState, TargetGroupStatus, TargetState};
use serde_json::json;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The text of each `<name>` of an XML answer.
fn texts(xml: &str, name: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).expect("an XML answer");
    doc.descendants()
        .filter(|n| n.has_tag_name(name))
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect()
}

async fn elb(client: &ServerClient, action: &str, pairs: &[(&str, &str)]) -> String {
    client
        .elbv2(action, &params(pairs))
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

/// The default VPC and two subnets of it in different zones.
async fn network(client: &ServerClient) -> (String, Vec<String>) {
    let xml = client
        .query("ec2", "2016-11-15", "DescribeSubnets", &[])
        .await
        .expect("DescribeSubnets");
    let vpc = texts(&xml, "vpcId")[0].clone();
    (vpc, texts(&xml, "subnetId")[..2].to_vec())
}

/// A load balancer `name` whose listener forwards to a new target group `tg`; the
/// group's ARN.
async fn balanced(
    client: &ServerClient,
    name: &str,
    tg: &str,
    vpc: &str,
    subnets: &[String],
) -> String {
    let xml = elb(
        client,
        "CreateLoadBalancer",
        &[
            ("Name", name),
            ("Subnets.member.1", &subnets[0]),
            ("Subnets.member.2", &subnets[1]),
        ],
    )
    .await;
    let lb = texts(&xml, "LoadBalancerArn")[0].clone();
    let tg_arn = target_group(client, tg, vpc).await;
    elb(
        client,
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg_arn),
        ],
    )
    .await;
    tg_arn
}

async fn target_group(client: &ServerClient, name: &str, vpc: &str) -> String {
    let xml = elb(
        client,
        "CreateTargetGroup",
        &[
            ("Name", name),
            ("Protocol", "HTTP"),
            ("Port", "8080"),
            ("VpcId", vpc),
            ("TargetType", "ip"),
            ("HealthCheckPath", "/health"),
        ],
    )
    .await;
    texts(&xml, "TargetGroupArn")[0].clone()
}

async fn register(client: &ServerClient, action: &str, tg: &str, ips: &[&str]) {
    let mut pairs = vec![("TargetGroupArn".to_string(), tg.to_string())];
    for (i, ip) in ips.iter().enumerate() {
        pairs.push((format!("Targets.member.{}.Id", i + 1), ip.to_string()));
    }
    client.elbv2(action, &pairs).await.expect(action);
}

/// What the data plane's health checks would file for `ip`:8080.
fn set_health(store: &berth_store::Store, tg: &str, ip: &str, health: TargetHealth) {
    let ctx = Context::new(ACCOUNT, REGION);
    let target = Target {
        id: ip.into(),
        port: 8080,
    };
    let now = berth_awsproto::now();
    store
        .write(|w| berth_elbv2::set_target_health_in(w, &ctx, tg, &target, health, now))
        .expect("health is set");
}

/// An ECS service whose `web` container's port 8080 is registered in `tg`.
async fn service_in(client: &ServerClient, tg: &str, subnets: &[String]) {
    let ecs = |op: &'static str, input: serde_json::Value| async move {
        client
            .ecs(op, &input)
            .await
            .unwrap_or_else(|e| panic!("{op}: {e}"))
    };
    ecs("CreateCluster", json!({"clusterName": "shop"})).await;
    ecs(
        "RegisterTaskDefinition",
        json!({"family": "web", "networkMode": "awsvpc", "memory": "512",
               "containerDefinitions": [{"name": "web", "image": "nginx",
                   "portMappings": [{"containerPort": 8080}]}]}),
    )
    .await;
    ecs(
        "CreateService",
        json!({"cluster": "shop", "serviceName": "web", "taskDefinition": "web",
               "desiredCount": 0,
               "loadBalancers": [{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}],
               "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnets[0]]}}}),
    )
    .await;
}

fn group<'a>(groups: &'a [TargetGroupStatus], name: &str) -> &'a TargetGroupStatus {
    groups
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name} in {groups:?}"))
}

#[tokio::test]
async fn status_shows_target_groups_health_from_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = berth_server::start(berth_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    })
    .await
    .expect("the server starts");
    let credentials = Credentials {
        access_key_id: ACCOUNT.into(),
        secret_access_key: berth_credentials::TEST_SECRET_ACCESS_KEY.into(),
    };
    let client =
        ServerClient::new(&format!("http://{}", server.addr), credentials, REGION).unwrap();

    // Nothing yet: no section.
    let empty = balancers::gather(&client, None).await.unwrap();
    assert!(empty.is_empty(), "{empty:?}");
    // An ELB error comes back with its code.
    let gone =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef";
    match client
        .elbv2("DescribeTargetHealth", &params(&[("TargetGroupArn", gone)]))
        .await
    {
        Err(berth_agent::Error::Api { code, message }) => {
            assert_eq!(code, "TargetGroupNotFound", "{message}");
        }
        other => panic!("expected TargetGroupNotFound, got {other:?}"),
    }

    let (vpc, subnets) = network(&client).await;
    let web = balanced(&client, "web", "web-tg", &vpc, &subnets).await;
    balanced(&client, "api", "api-tg", &vpc, &subnets).await;
    let spare = target_group(&client, "spare-tg", &vpc).await;
    let ips = ["10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8"];
    register(&client, "RegisterTargets", &web, &ips).await;
    register(&client, "DeregisterTargets", &web, &["10.0.0.8"]).await;
    register(&client, "RegisterTargets", &spare, &["10.0.0.9"]).await;
    set_health(&server.store, &web, "10.0.0.5", TargetHealth::healthy());
    let mismatch = TargetHealth {
        state: TargetHealthState::Unhealthy,
        reason: Some(TargetHealthReason::ResponseCodeMismatch),
        description: Some("Health checks failed with these codes: [404]".into()),
    };
    set_health(&server.store, &web, "10.0.0.6", mismatch);
    service_in(&client, &web, &subnets).await;

    // One item a page reads the same as one page.
    let all = balancers::gather(&client, None).await.unwrap();
    assert_eq!(balancers::gather(&client, Some(1)).await.unwrap(), all);
    let names: Vec<&str> = all.load_balancers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    let lb = &all.load_balancers[1];
    assert_eq!(lb.state, LoadBalancerState::Provisioning);
    assert!(lb.dns_name.starts_with("web-"), "{}", lb.dns_name);
    let g = group(&lb.target_groups, "web-tg");
    assert_eq!(lb.target_groups.len(), 1);
    assert_eq!((g.target_type.as_str(), g.port), ("ip", Some(8080)));
    assert_eq!(g.health_check_path.as_deref(), Some("/health"));
    // healthy, unhealthy, initial, draining, unused, unavailable
    assert_eq!(g.counts(), [1, 1, 1, 1, 0, 0]);
    let six = g.targets.iter().find(|t| t.id == "10.0.0.6").unwrap();
    assert_eq!(six.state, TargetState::Unhealthy);
    assert_eq!(six.reason.as_deref(), Some("Target.ResponseCodeMismatch"));
    let spare_group = group(&all.unattached, "spare-tg");
    assert_eq!(spare_group.counts(), [0, 0, 0, 0, 1, 0]);

    let now = berth_status::gather(&client, Path::new("/nonexistent"))
        .await
        .unwrap();
    let text = berth_status::render(&now);
    println!("{text}");
    let line = |pattern: &str| {
        text.lines()
            .find(|l| l.contains(pattern))
            .unwrap_or_else(|| panic!("no line with {pattern:?} in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert!(
        text.contains("load balancer web (provisioning) web-"),
        "{text}"
    );
    assert_eq!(
        line("web-tg  "),
        [
            "web-tg",
            "ip",
            "HTTP:8080",
            "/health",
            "1",
            "1",
            "1",
            "1",
            "0",
            "0",
            "shop/web"
        ]
    );
    assert_eq!(
        line("10.0.0.6:8080"),
        "10.0.0.6:8080 unhealthy Target.ResponseCodeMismatch Health checks failed with these codes: [404]"
            .split_whitespace()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        line("10.0.0.8:8080")[..3],
        [
            "10.0.0.8:8080",
            "draining",
            "Target.DeregistrationInProgress"
        ]
    );
    assert_eq!(line("10.0.0.7:8080")[1], "initial");
    assert!(
        !text.contains("10.0.0.5:8080"),
        "a healthy target is only counted\n{text}"
    );
    assert!(text.contains("target groups of no load balancer"), "{text}");
    assert_eq!(
        line("10.0.0.9:8080")[..3],
        ["10.0.0.9:8080", "unused", "Target.NotInUse"]
    );
    // The service names its group.
    assert!(line("web (ACTIVE)").contains(&"web-tg"), "{text}");
    server.shutdown().await;
}
