//! The operations' behaviour, and validation as one table of bad requests.

use std::sync::Arc;

use berth_awsproto::Api;
use berth_store::Store;

use berth_awsproto::{ApiError, Context};
use serde_json::{json, Value};

use super::syntax::fargate_size_ok;
use super::*;
use crate::common::taskdef_key;
use crate::Ecs;

fn setup() -> (tempfile::TempDir, Ecs, Context) {
    let dir = tempfile::tempdir().unwrap();
    let ecs = Ecs::new(Arc::new(Store::open(dir.path()).unwrap()));
    let ctx = Context {
        account: "123456789012".into(),
        region: "ap-northeast-1".into(),
        caller: Default::default(),
    };
    (dir, ecs, ctx)
}

fn register_ok(ecs: &Ecs, ctx: &Context, input: Value) -> Value {
    ecs.call(ctx, "RegisterTaskDefinition", input).unwrap()["taskDefinition"].clone()
}

fn register_err(ecs: &Ecs, ctx: &Context, input: Value) -> ApiError {
    ecs.call(ctx, "RegisterTaskDefinition", input).unwrap_err()
}

/// A minimal valid Fargate definition.
fn fargate(family: &str) -> Value {
    json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "nginx"}]
    })
}

/// The seed 001 request (service-connect-nginx.json).
fn seed_001() -> Value {
    json!({
        "family": "service-connect-nginx",
        "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {
            "name": "webserver",
            "image": "public.ecr.aws/docker/library/nginx:latest",
            "cpu": 100,
            "portMappings": [
                {
                    "name": "nginx",
                    "containerPort": 80,
                    "protocol": "tcp",
                    "appProtocol": "http"
                }
            ],
            "essential": true,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/service-connect-nginx",
                    "awslogs-region": "ap-northeast-1",
                    "awslogs-stream-prefix": "nginx"
                }
            }
            }
        ],
        "cpu": "256",
        "memory": "512"
    })
}

#[test]
fn seed_001_output_matches_the_service() {
    let (_d, ecs, ctx) = setup();
    let out = ecs
        .call(&ctx, "RegisterTaskDefinition", seed_001())
        .unwrap();
    assert!(
        out.get("tags").is_none(),
        "no tags member without tags: {out}"
    );
    let mut td = out["taskDefinition"].clone();
    let expected = json!({
        "taskDefinitionArn": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/service-connect-nginx:1",
        "containerDefinitions": [
            {
                "name": "webserver",
                "image": "public.ecr.aws/docker/library/nginx:latest",
                "cpu": 100,
                "portMappings": [
                    {
                        "containerPort": 80,
                        "hostPort": 80,
                        "protocol": "tcp",
                        "name": "nginx",
                        "appProtocol": "http"
                    }
                ],
                "essential": true,
                "environment": [],
                "mountPoints": [],
                "volumesFrom": [],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/service-connect-nginx",
                        "awslogs-region": "ap-northeast-1",
                        "awslogs-stream-prefix": "nginx"
                    }
                }
            }
        ],
        "family": "service-connect-nginx",
        "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "revision": 1,
        "volumes": [],
        "status": "ACTIVE",
        "requiresAttributes": [
            {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
            {"name": "ecs.capability.execution-role-awslogs"},
            {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
            {"name": "com.amazonaws.ecs.capability.task-iam-role"},
            {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
            {"name": "ecs.capability.task-eni"}
        ],
        "placementConstraints": [],
        "compatibilities": ["EC2", "FARGATE"],
        "cpu": "256",
        "memory": "512"
    });
    let registered_at = td.as_object_mut().unwrap().remove("registeredAt").unwrap();
    assert!(registered_at.as_f64().unwrap() > 1.6e9);
    let registered_by = td.as_object_mut().unwrap().remove("registeredBy").unwrap();
    assert_eq!(registered_by, "arn:aws:iam::123456789012:root");
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&td[k], v, "member {k}");
    }
    assert_eq!(td, expected);
}

#[test]
fn revisions_grow_per_family_and_resolve_finds_them() {
    let (_d, ecs, ctx) = setup();
    for n in 1..=3 {
        assert_eq!(register_ok(&ecs, &ctx, fargate("web"))["revision"], n);
    }
    assert_eq!(register_ok(&ecs, &ctx, fargate("web-x"))["revision"], 1);
    assert_eq!(register_ok(&ecs, &ctx, fargate("we"))["revision"], 1);
    let arn = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:2";
    ecs.store()
        .read(|r| {
            assert_eq!(resolve(r, &ctx, "web")?.unwrap().revision, 3);
            assert_eq!(resolve(r, &ctx, "web:1")?.unwrap().revision, 1);
            assert_eq!(resolve(r, &ctx, arn)?.unwrap().task_definition_arn, arn);
            assert!(resolve(r, &ctx, "web:9")?.is_none());
            assert!(resolve(r, &ctx, "nope")?.is_none());
            assert!(resolve(r, &ctx, "web:x")?.is_none());
            let other_region = arn.replace("ap-northeast-1", "us-east-1");
            assert!(resolve(r, &ctx, &other_region)?.is_none());
            Ok::<_, ApiError>(())
        })
        .unwrap();
    // The latest ACTIVE revision skips deregistered ones; a deregistered revision
    // still resolves by number, and the next revision still counts it.
    ecs.call(
        &ctx,
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "web:3"}),
    )
    .unwrap();
    ecs.store()
        .read(|r| {
            assert_eq!(resolve(r, &ctx, "web")?.unwrap().revision, 2);
            assert_eq!(
                resolve(r, &ctx, "web:3")?.unwrap().status,
                TaskDefinitionStatus::Inactive
            );
            Ok::<_, ApiError>(())
        })
        .unwrap();
    assert_eq!(register_ok(&ecs, &ctx, fargate("web"))["revision"], 4);
}

#[test]
fn stored_record_shape() {
    let (_d, ecs, ctx) = setup();
    let mut input = fargate("tagged");
    input["tags"] = json!([{"key": "team", "value": "a"}]);
    let out = ecs.call(&ctx, "RegisterTaskDefinition", input).unwrap();
    assert_eq!(out["tags"], json!([{"key": "team", "value": "a"}]));
    let rec: Value = ecs
        .store()
        .read(|r| r.get_json(&taskdef_key(&ctx, "tagged", 1)))
        .unwrap()
        .unwrap();
    assert_eq!(rec.as_object().unwrap().len(), 2);
    assert_eq!(rec["taskDefinition"], out["taskDefinition"]);
    assert_eq!(rec["tags"], out["tags"]);
    register_ok(&ecs, &ctx, fargate("untagged"));
    let rec: Value = ecs
        .store()
        .read(|r| r.get_json(&taskdef_key(&ctx, "untagged", 1)))
        .unwrap()
        .unwrap();
    assert_eq!(rec["tags"], json!([]));
}

#[test]
fn describe_by_family_revision_arn_with_tags() {
    let (_d, ecs, ctx) = setup();
    let mut input = fargate("web");
    input["tags"] = json!([{"key": "k", "value": "v"}]);
    register_ok(&ecs, &ctx, input);
    register_ok(&ecs, &ctx, fargate("web"));
    let d = ecs
        .call(
            &ctx,
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web"}),
        )
        .unwrap();
    assert_eq!(d["taskDefinition"]["revision"], 2);
    assert!(d.get("tags").is_none());
    let d = ecs
        .call(
            &ctx,
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web:1", "include": ["TAGS"]}),
        )
        .unwrap();
    assert_eq!(d["tags"], json!([{"key": "k", "value": "v"}]));
    let d = ecs
        .call(
            &ctx,
            "DescribeTaskDefinition",
            json!({"taskDefinition": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:2", "include": ["TAGS"]}),
        )
        .unwrap();
    assert_eq!(d["taskDefinition"]["revision"], 2);
    assert_eq!(d["tags"], json!([]));
    for missing in ["nope", "web:3", "web:0", "bad name"] {
        let e = ecs
            .call(
                &ctx,
                "DescribeTaskDefinition",
                json!({"taskDefinition": missing}),
            )
            .unwrap_err();
        assert_eq!(e.code, "ClientException", "{missing}");
        assert_eq!(e.message, "Unable to describe task definition.");
    }
    let e = ecs
        .call(
            &ctx,
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web", "include": ["NOPE"]}),
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
    let e = ecs
        .call(&ctx, "DescribeTaskDefinition", json!({"taskDefinition": 5}))
        .unwrap_err();
    assert_eq!(e.code, "SerializationException");
}

#[test]
fn deregister_marks_inactive() {
    let (_d, ecs, ctx) = setup();
    register_ok(&ecs, &ctx, fargate("web"));
    let out = ecs
        .call(
            &ctx,
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "web:1"}),
        )
        .unwrap();
    assert_eq!(out["taskDefinition"]["status"], "INACTIVE");
    let at = out["taskDefinition"]["deregisteredAt"].as_f64().unwrap();
    // Again: unchanged.
    let again = ecs
        .call(
            &ctx,
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:1"}),
        )
        .unwrap();
    assert_eq!(
        again["taskDefinition"]["deregisteredAt"].as_f64().unwrap(),
        at
    );
    // Only ACTIVE revisions resolve by family.
    let e = ecs
        .call(
            &ctx,
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web"}),
        )
        .unwrap_err();
    assert_eq!(e.message, "Unable to describe task definition.");
    for bad in ["web", "web:zero", "web:0"] {
        let e = ecs
            .call(
                &ctx,
                "DeregisterTaskDefinition",
                json!({"taskDefinition": bad}),
            )
            .unwrap_err();
        assert_eq!(e.code, "ClientException", "{bad}");
    }
    let e = ecs
        .call(
            &ctx,
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "web:7"}),
        )
        .unwrap_err();
    assert_eq!(e.code, "ClientException");
    let e = ecs
        .call(&ctx, "DeregisterTaskDefinition", json!({}))
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
}

#[test]
fn list_filters_sorts_and_pages() {
    let (_d, ecs, ctx) = setup();
    for f in ["b", "a", "b", "a-x", "a"] {
        register_ok(&ecs, &ctx, fargate(f));
    }
    ecs.call(
        &ctx,
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "b:1"}),
    )
    .unwrap();
    let arns = |v: &Value| -> Vec<String> {
        v["taskDefinitionArns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().rsplit('/').next().unwrap().to_string())
            .collect()
    };
    let all = ecs.call(&ctx, "ListTaskDefinitions", json!({})).unwrap();
    assert_eq!(arns(&all), ["a:1", "a:2", "a-x:1", "b:2"]);
    assert!(all.get("nextToken").is_none());
    let desc = ecs
        .call(&ctx, "ListTaskDefinitions", json!({"sort": "DESC"}))
        .unwrap();
    assert_eq!(arns(&desc), ["b:2", "a-x:1", "a:2", "a:1"]);
    let fam = ecs
        .call(&ctx, "ListTaskDefinitions", json!({"familyPrefix": "a"}))
        .unwrap();
    assert_eq!(
        arns(&fam),
        ["a:1", "a:2"],
        "familyPrefix is a whole family name"
    );
    let inactive = ecs
        .call(&ctx, "ListTaskDefinitions", json!({"status": "INACTIVE"}))
        .unwrap();
    assert_eq!(arns(&inactive), ["b:1"]);

    for sort in ["ASC", "DESC"] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = json!({"maxResults": 3, "sort": sort});
            if let Some(t) = &token {
                req["nextToken"] = json!(t);
            }
            let page = ecs.call(&ctx, "ListTaskDefinitions", req).unwrap();
            assert!(arns(&page).len() <= 3);
            seen.extend(arns(&page));
            match page["nextToken"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        let full = ecs
            .call(&ctx, "ListTaskDefinitions", json!({"sort": sort}))
            .unwrap();
        assert_eq!(seen, arns(&full), "{sort}");
    }
    for bad in [
        json!({"maxResults": 0}),
        json!({"maxResults": 101}),
        json!({"sort": "UP"}),
        json!({"status": "ALL"}),
        json!({"nextToken": "!!"}),
    ] {
        let e = ecs
            .call(&ctx, "ListTaskDefinitions", bad.clone())
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException", "{bad}");
    }
    let e = ecs
        .call(&ctx, "ListTaskDefinitions", json!({"maxResults": "3"}))
        .unwrap_err();
    assert_eq!(e.code, "SerializationException");
    assert!(e.message.contains("maxResults"), "{}", e.message);
}

#[test]
fn list_families_by_status_prefix_and_pages() {
    let (_d, ecs, ctx) = setup();
    for f in ["web", "web-api", "worker", "db"] {
        register_ok(&ecs, &ctx, fargate(f));
    }
    ecs.call(
        &ctx,
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "worker:1"}),
    )
    .unwrap();
    let fams = |v: Value| -> Vec<String> { serde_json::from_value(v["families"].clone()).unwrap() };
    let call = |i: Value| ecs.call(&ctx, "ListTaskDefinitionFamilies", i).unwrap();
    assert_eq!(fams(call(json!({}))), ["db", "web", "web-api", "worker"]);
    assert_eq!(
        fams(call(json!({"status": "ACTIVE"}))),
        ["db", "web", "web-api"]
    );
    assert_eq!(fams(call(json!({"status": "INACTIVE"}))), ["worker"]);
    assert_eq!(
        fams(call(json!({"familyPrefix": "w"}))),
        ["web", "web-api", "worker"]
    );
    assert!(fams(call(json!({"familyPrefix": "web/"}))).is_empty());
    assert_eq!(
        fams(call(json!({"familyPrefix": "web", "status": "ALL"}))),
        ["web", "web-api"]
    );
    let p1 = call(json!({"maxResults": 2}));
    let token = p1["nextToken"].as_str().unwrap().to_string();
    assert_eq!(fams(p1), ["db", "web"]);
    let p2 = call(json!({"maxResults": 2, "nextToken": token}));
    assert!(p2.get("nextToken").is_none());
    assert_eq!(fams(p2), ["web-api", "worker"]);
    let e = ecs
        .call(
            &ctx,
            "ListTaskDefinitionFamilies",
            json!({"status": "DELETE_IN_PROGRESS"}),
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
}

#[test]
fn seed_000_retail_store_definition() {
    let (_d, ecs, ctx) = setup();
    let td = register_ok(
        &ecs,
        &ctx,
        json!({
            "family": "retail-store-ecs-orders",
            "executionRoleArn": "arn:aws:iam::123456789012:role/ordersEcsTaskExecutionRole",
            "taskRoleArn": "arn:aws:iam::123456789012:role/retailStoreEcsTaskRole",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "1024",
            "memory": "2048",
            "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            "containerDefinitions": [{
                "name": "application",
                "image": "public.ecr.aws/aws-containers/retail-store-sample-orders:1.2.3",
                "cpu": 0,
                "portMappings": [{"name": "application", "containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "appProtocol": "http"}],
                "essential": true,
                "linuxParameters": {"initProcessEnabled": true},
                "healthCheck": {
                    "command": ["CMD-SHELL", "curl -f http://localhost:8080/actuator/health || exit 1"],
                    "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 60
                },
                "environment": [{"name": "RETAIL_ORDERS_PERSISTENCE_PROVIDER", "value": "postgres"}],
                "secrets": [
                    {"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/retail-store-ecs/orders/db-endpoint-postgres"},
                    {"name": "B", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders-db:dbname::"}
                ],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "retail-store-ecs-tasks", "awslogs-region": "$AWS_REGION", "awslogs-stream-prefix": "orders-service"}}
            }]
        }),
    );
    assert_eq!(td["requiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(td["compatibilities"], json!(["EC2", "FARGATE"]));
    assert_eq!(td["runtimePlatform"]["cpuArchitecture"], "X86_64");
    let c = &td["containerDefinitions"][0];
    assert_eq!(c["linuxParameters"], json!({"initProcessEnabled": true}));
    assert_eq!(c["healthCheck"]["startPeriod"], 60);
    assert_eq!(c["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(c["environment"][0]["value"], "postgres");
    let attrs: Vec<&str> = td["requiresAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for a in [
        "ecs.capability.container-health-check",
        "ecs.capability.secrets.ssm.environment-variables",
        "ecs.capability.secrets.asm.environment-variables",
        "com.amazonaws.ecs.capability.docker-remote-api.1.29",
        "com.amazonaws.ecs.capability.docker-remote-api.1.25",
        "com.amazonaws.ecs.capability.task-iam-role",
        "ecs.capability.task-eni",
    ] {
        assert!(attrs.contains(&a), "{a} in {attrs:?}");
    }
}

#[test]
fn seed_004_bridge_and_fargate_definitions() {
    let (_d, ecs, ctx) = setup();
    let container = |name: &str, host_port: i64| {
        json!({
            "name": name,
            "image": "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/cats:latest",
            "portMappings": [{"name": format!("{name}-80-tcp"), "containerPort": 80, "hostPort": host_port, "protocol": "tcp", "appProtocol": "http"}],
            "essential": true,
            "environment": [], "environmentFiles": [], "mountPoints": [], "volumesFrom": [],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-create-group": "true", "awslogs-group": "/ecs/catsdef", "awslogs-region": "ap-northeast-2", "awslogs-stream-prefix": "ecs"}}
        })
    };
    let cats = register_ok(
        &ecs,
        &ctx,
        json!({
            "requiresCompatibilities": ["EC2"], "family": "catsdef",
            "containerDefinitions": [container("cats", 0)],
            "volumes": [], "networkMode": "bridge", "memory": "1024", "cpu": "512",
            "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
        }),
    );
    assert_eq!(
        cats["containerDefinitions"][0]["portMappings"][0]["hostPort"],
        0
    );
    assert_eq!(
        cats["containerDefinitions"][0]["environmentFiles"],
        json!([])
    );
    assert_eq!(cats["compatibilities"], json!(["EXTERNAL", "EC2"]));
    let attrs = cats["requiresAttributes"].to_string();
    assert!(
        attrs.contains("ecs.capability.execution-role-ecr-pull"),
        "{attrs}"
    );
    assert!(!attrs.contains("task-eni"), "{attrs}");
    let dogs = register_ok(
        &ecs,
        &ctx,
        json!({
            "requiresCompatibilities": ["FARGATE"], "family": "dogsdef",
            "containerDefinitions": [container("dogs", 80)],
            "volumes": [], "networkMode": "awsvpc", "memory": "1024", "cpu": "512",
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
        }),
    );
    assert_eq!(dogs["compatibilities"], json!(["EC2", "FARGATE"]));
    // Bridge mode without hostPort gets the dynamic 0.
    let mut input = fargate("dyn");
    input["networkMode"] = json!("bridge");
    input["requiresCompatibilities"] = json!(["EC2"]);
    input["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 8080}]);
    let td = register_ok(&ecs, &ctx, input);
    assert_eq!(
        td["containerDefinitions"][0]["portMappings"],
        json!([{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}])
    );
}

#[test]
fn defaults_units_and_unknown_members() {
    let (_d, ecs, ctx) = setup();
    let td = register_ok(
        &ecs,
        &ctx,
        json!({
            "family": "units",
            "networkMode": "awsvpc",
            "cpu": "1 vCPU",
            "memory": "2 GB",
            "bogusTopLevel": 1,
            "containerDefinitions": [{
                "name": "app", "image": "nginx", "bogus": true,
                "healthCheck": {"command": ["CMD", "true"]},
                "dockerLabels": {"a": "b"}
            }]
        }),
    );
    assert_eq!(td["cpu"], "1024");
    assert_eq!(td["memory"], "2048");
    assert!(td.get("bogusTopLevel").is_none());
    assert!(td.get("requiresCompatibilities").is_none());
    assert!(td.get("tags").is_none());
    let c = &td["containerDefinitions"][0];
    assert!(c.get("bogus").is_none());
    assert_eq!(c["cpu"], 0);
    assert_eq!(c["essential"], true);
    assert_eq!(c["portMappings"], json!([]));
    assert_eq!(c["dockerLabels"], json!({"a": "b"}));
    assert_eq!(
        c["healthCheck"],
        json!({"command": ["CMD", "true"], "interval": 30, "timeout": 5, "retries": 3})
    );
    assert_eq!(parse_task_cpu("0.25 vCPU"), Some(256));
    assert_eq!(parse_task_cpu(".5vcpu"), Some(512));
    assert_eq!(parse_task_cpu("0.3 vCPU"), None);
    assert_eq!(parse_task_cpu("abc"), None);
    assert_eq!(parse_task_memory("0.5GB"), Some(512));
    assert_eq!(parse_task_memory("1 gb"), Some(1024));
    assert_eq!(parse_task_memory("1 TB"), None);
    assert!(fargate_size_ok(256, 2048) && !fargate_size_ok(256, 3072));
    assert!(fargate_size_ok(8192, 20480) && !fargate_size_ok(8192, 17408));
    assert!(fargate_size_ok(16384, 122_880) && !fargate_size_ok(16384, 36864));
}

// ---- validation: one table of bad requests --------------------------------------------

const C: &str = "ClientException";
const IP: &str = "InvalidParameterException";
const SER: &str = "SerializationException";

/// A minimal valid EC2 definition (bridge mode, no task size).
fn ec2() -> Value {
    json!({"family": "e", "containerDefinitions": [{"name": "a", "image": "x", "memory": 128}]})
}

/// A bad request: `set` over `base`, answered with `code` and a message containing
/// `fragment`.
struct Bad {
    base: fn(&str) -> Value,
    set: Vec<(String, Value)>,
    code: &'static str,
    fragment: String,
}

/// A row over the Fargate base: `path` (member names and indices joined by dots) set to
/// `value` (null removes the member).
fn bad(path: impl Into<String>, value: Value, code: &'static str, fragment: &str) -> Bad {
    Bad {
        base: fargate,
        set: vec![(path.into(), value)],
        code,
        fragment: fragment.to_string(),
    }
}

impl Bad {
    /// Also sets `path` to `value`.
    fn and(mut self, path: &str, value: Value) -> Bad {
        self.set.push((path.to_string(), value));
        self
    }

    /// Over the EC2 base instead.
    fn on_ec2(mut self) -> Bad {
        self.base = |_| ec2();
        self
    }

    fn input(&self) -> Value {
        let set: Vec<(&str, Value)> = (self.set.iter())
            .map(|(p, v)| (p.as_str(), v.clone()))
            .collect();
        patch((self.base)("t"), &set)
    }
}

/// `base` with each `(path, value)` set; a null value removes the member.
fn patch(mut base: Value, set: &[(&str, Value)]) -> Value {
    for (path, v) in set {
        let parts: Vec<&str> = path.split('.').collect();
        let (last, parents) = parts.split_last().unwrap();
        let mut cur = &mut base;
        for p in parents {
            cur = match p.parse::<usize>() {
                Ok(i) => &mut cur[i],
                Err(_) => &mut cur[*p],
            };
        }
        match (last.parse::<usize>(), cur) {
            (Ok(i), cur) => cur[i] = v.clone(),
            (Err(_), Value::Object(m)) if v.is_null() => {
                m.remove(*last);
            }
            (Err(_), cur) => cur[*last] = v.clone(),
        }
    }
    base
}

/// `containerDefinitions.0.<field>`.
fn cd(field: &str) -> String {
    format!("containerDefinitions.0.{field}")
}

fn containers(n: usize) -> Value {
    (0..n)
        .map(|i| json!({"name": format!("c{i}"), "image": "x"}))
        .collect()
}

#[rustfmt::skip]
fn task_rows() -> Vec<Bad> {
    vec![
        bad("family", json!("bad name"), C, "Family contains invalid characters."),
        bad("family", json!("x".repeat(256)), C, "Family must be at most 255 characters long."),
        bad("family", json!(""), C, "Family should not be null or empty."),
        bad("family", Value::Null, C, "Family should not be null or empty."),
        bad("containerDefinitions", json!([]), C, "Container list cannot be empty."),
        bad("containerDefinitions", Value::Null, C, "Container list cannot be empty."),
        bad("containerDefinitions", containers(11), C, "at most 10 containers, not 11."),
        bad("networkMode", json!("vpc"), IP, "networkMode 'vpc' is invalid: it must be one of bridge, host, awsvpc, none."),
        bad("requiresCompatibilities", json!(["FARGATE", "LAMBDA"]), IP, "requiresCompatibilities 'LAMBDA'"),
        bad("pidMode", json!("shared"), IP, "pidMode 'shared'"),
        bad("ipcMode", json!("shared"), IP, "ipcMode 'shared'"),
        bad("runtimePlatform", json!({"cpuArchitecture": "RISCV"}), IP, "runtimePlatform.cpuArchitecture 'RISCV'"),
        bad("runtimePlatform", json!({"operatingSystemFamily": "BSD"}), IP, "runtimePlatform.operatingSystemFamily 'BSD'"),
        bad("proxyConfiguration", json!({"type": "ISTIO", "containerName": "app"}), IP, "proxyConfiguration.type 'ISTIO'"),
        bad("proxyConfiguration", json!({"type": "APPMESH"}), C, "proxyConfiguration.containerName should not be null or empty."),
        bad("cpu", json!("lots"), C, "Invalid 'cpu' setting for task."),
        bad("cpu", json!("127"), C, "Invalid 'cpu' setting for task."),
        bad("cpu", json!("196609"), C, "Invalid 'cpu' setting for task."),
        bad("cpu", json!("0.3 vCPU"), C, "Invalid 'cpu' setting for task."),
        bad("memory", json!("2 TB"), C, "Invalid 'memory' setting for task."),
        bad("memory", json!("3"), C, "Invalid 'memory' setting for task."),
        bad("ephemeralStorage", json!({}), C, "ephemeralStorage.sizeInGiB should not be null."),
        bad("ephemeralStorage", json!({"sizeInGiB": 20}), C, "EphemeralStorage size should be at least 21"),
        bad("ephemeralStorage", json!({"sizeInGiB": 201}), C, "EphemeralStorage size should be at most 200"),
        bad("volumes", json!([{"name": "a b"}]), C, "volumes[0].name 'a b' is invalid"),
        bad("volumes", json!([{"host": {}}]), C, "volumes[0].name '' is invalid"),
        bad("volumes", json!([{"name": "v"}, {"name": "v"}]), C, "Duplicate volume name 'v'"),
        bad("volumes", json!([{"name": "v", "efsVolumeConfiguration": {}}]), C, "volumes[0].efsVolumeConfiguration.fileSystemId should not be null or empty."),
        bad("volumes", json!([{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "f", "transitEncryption": "ON"}}]), IP, "efsVolumeConfiguration.transitEncryption 'ON'"),
        bad("volumes", json!([{"name": "v", "dockerVolumeConfiguration": {"scope": "global"}}]), IP, "dockerVolumeConfiguration.scope 'global'"),
        bad("placementConstraints", json!(vec![json!({"type": "memberOf"}); 11]), C, "at most 10 placement constraints."),
        bad("placementConstraints", json!([{"type": "distinctInstance"}]), IP, "placementConstraints.type 'distinctInstance'"),
        bad("tags", json!([{"key": "aws:x", "value": "v"}]), IP, "tags: key 'aws:x' uses the reserved prefix"),
        bad("tags", json!([{"value": "v"}]), IP, "tags: every tag needs a key."),
    ]
}

#[rustfmt::skip]
fn container_rows() -> Vec<Bad> {
    let two = |a: Value, b: Value| json!([a, b]);
    vec![
        bad(cd("name"), json!(""), C, "Container.name should not be null or empty."),
        bad(cd("name"), json!("a b"), C, "Container.name contains invalid characters."),
        bad("containerDefinitions", two(json!({"name": "a", "image": "x"}), json!({"name": "a", "image": "y"})), C, "Duplicate container name 'a'"),
        bad(cd("image"), json!(""), C, "Container.image should not be null or empty."),
        bad(cd("image"), json!("ngi nx"), C, "Container.image contains invalid characters."),
        bad(cd("image"), json!("x".repeat(4097)), C, "Container.image contains invalid characters."),
        bad(cd("cpu"), json!(-1), C, "Invalid 'cpu' setting for container 'app': it must be 0 or more CPU units."),
        bad(cd("memory"), json!(3), C, "Invalid 'memory' setting for container 'app': it must be at least 4 MiB."),
        bad(cd("memoryReservation"), json!(3), C, "Invalid 'memoryReservation' setting for container 'app': it must be at least 4 MiB."),
        bad(cd("memoryReservation"), json!(256), C, "it must be less than or equal to 'memory'.").on_ec2(),
        bad(cd("memory"), Value::Null, C, "Invalid setting for container 'a'. At least one of 'memory' or 'memoryReservation' must be specified.").on_ec2(),
        bad(cd("memory"), json!(1024), C, "the container memory (1024 MiB) exceeds the task memory (512 MiB)."),
        bad(cd("links"), json!(["db"]), C, "links are not supported when networkMode=awsvpc"),
        bad(cd("portMappings"), json!([{"containerPort": 80}]), C, "port mappings are not supported when networkMode=none.").on_ec2().and("networkMode", json!("none")),
        bad(cd("essential"), json!(false), C, "A task definition must have at least one essential container."),
        bad(cd("environment"), json!([{"name": "A"}, {"value": "v"}]), C, "Invalid 'environment[1].name' setting for container 'app'"),
        bad(cd("environmentFiles"), json!([{"type": "s3"}]), C, "environmentFiles[0].value"),
        bad(cd("environmentFiles"), json!([{"value": "arn:aws:s3:::b/k.env", "type": "s4"}]), C, "environmentFiles[0].type"),
        bad(cd("secrets"), json!([{"valueFrom": "arn"}]), C, "secrets[0].name"),
        bad(cd("secrets"), json!([{"name": "S"}]), C, "secrets[0].valueFrom"),
        bad(cd("healthCheck"), json!({}), C, "'healthCheck.command' setting for container 'app': the command is required."),
        bad(cd("healthCheck"), json!({"command": []}), C, "the command is required."),
        bad(cd("healthCheck"), json!({"command": ["CMD-SHELL"]}), C, "the command is missing after CMD or CMD-SHELL."),
        bad(cd("healthCheck"), json!({"command": ["curl", "x"]}), C, "must start with CMD or CMD-SHELL"),
        bad(cd("healthCheck"), json!({"command": ["CMD", "x"], "interval": 4}), C, "Invalid 'healthCheck.interval' setting for container 'app': it must be between 5 and 300 seconds."),
        bad(cd("healthCheck"), json!({"command": ["CMD", "x"], "interval": 301}), C, "'healthCheck.interval'"),
        bad(cd("healthCheck"), json!({"command": ["CMD", "x"], "timeout": 1}), C, "'healthCheck.timeout' setting for container 'app': it must be between 2 and 60 seconds."),
        bad(cd("healthCheck"), json!({"command": ["CMD", "x"], "timeout": 61}), C, "'healthCheck.timeout'"),
        bad(cd("healthCheck"), json!({"command": ["CMD", "x"], "retries": 0}), C, "'healthCheck.retries' setting for container 'app': it must be between 1 and 10."),
        bad(cd("healthCheck"), json!({"command": ["CMD", "x"], "retries": 11}), C, "'healthCheck.retries'"),
        bad(cd("healthCheck"), json!({"command": ["CMD", "x"], "startPeriod": -1}), C, "'healthCheck.startPeriod' setting for container 'app': it must be between 0 and 300 seconds."),
        bad(cd("healthCheck"), json!({"command": ["CMD", "x"], "startPeriod": 301}), C, "'healthCheck.startPeriod'"),
        bad(cd("logConfiguration"), json!({"options": {}}), C, "'logConfiguration.logDriver' setting for container 'app': the log driver is required."),
        bad(cd("logConfiguration"), json!({"logDriver": "stdout"}), IP, "logConfiguration.logDriver 'stdout'"),
        bad(cd("logConfiguration"), json!({"logDriver": "awslogs", "secretOptions": [{"name": "n"}]}), C, "logConfiguration.secretOptions[0]"),
        bad(cd("firelensConfiguration"), json!({"type": "logstash"}), IP, "firelensConfiguration.type 'logstash'"),
        bad(cd("firelensConfiguration"), json!({}), C, "'firelensConfiguration.type' setting for container 'app': the type is required."),
        bad(cd("dependsOn"), json!([{"containerName": "app", "condition": "READY"}]), IP, "dependsOn.condition 'READY'"),
        bad(cd("dependsOn"), json!([{"condition": "START"}]), C, "every dependency needs a containerName and a condition."),
        bad(cd("mountPoints"), json!([{"sourceVolume": "data", "containerPath": "/d"}]), C, "the volume 'data' is not defined"),
        bad(cd("mountPoints"), json!([{"sourceVolume": "data"}]), C, "mountPoints[0].containerPath").and("volumes", json!([{"name": "data"}])),
        bad(cd("ulimits"), json!([{"name": "nofile", "softLimit": 1}]), C, "every ulimit needs a name, a softLimit and a hardLimit."),
    ]
}

#[rustfmt::skip]
fn port_rows() -> Vec<Bad> {
    const PM: &str = "containerDefinitions.0.portMappings";
    vec![
        bad(PM, json!([{"containerPort": 0}]), C, "Invalid 'containerPort' setting for container 'app'."),
        bad(PM, json!([{"containerPort": 70000}]), C, "Invalid 'containerPort' setting"),
        bad(PM, json!([{"hostPort": 80}]), C, "Invalid 'containerPort' setting"),
        bad(PM, json!([{"containerPort": 80, "hostPort": 65536}]), C, "Invalid 'hostPort' setting for container 'a'.").on_ec2(),
        bad(PM, json!([{"containerPort": 80, "protocol": "sctp"}]), IP, "containerDefinitions[0].portMappings[0].protocol 'sctp' is invalid: it must be one of tcp, udp."),
        bad(PM, json!([{"containerPort": 80}, {"containerPort": 81, "appProtocol": "tcp"}]), IP, "containerDefinitions[0].portMappings[1].appProtocol 'tcp'"),
        bad(PM, json!([{"containerPort": 80, "name": "Web"}]), IP, "containerDefinitions[0].portMappings[0].name 'Web' is invalid"),
        bad(PM, json!([{"containerPort": 80, "name": "-web"}]), IP, "name '-web' is invalid"),
        bad(PM, json!([{"containerPort": 80, "name": "w".repeat(65)}]), IP, "is invalid"),
        bad(PM, json!([{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}]), IP, "portMappings[1].name 'web' is used by more than one port mapping"),
        bad("containerDefinitions", json!([
            {"name": "a", "image": "x", "portMappings": [{"containerPort": 80, "name": "p"}]},
            {"name": "b", "image": "x", "portMappings": [{"containerPort": 81, "name": "p"}]}
        ]), IP, "containerDefinitions[1].portMappings[0].name 'p' is used by more than one port mapping: port mapping names must be unique within a task definition."),
        bad(PM, json!([{"containerPort": 80}, {"containerPort": 80, "protocol": "udp"}]), IP, "Container port 80 is used in more than one port mapping for container app"),
        bad(PM, json!([{"containerPort": 9005}, {"containerPortRange": "9000-9010"}]), IP, "Container port 9005 is used"),
        bad(PM, json!([{"containerPortRange": "9000-9010"}, {"containerPortRange": "9008-9020"}]), IP, "Container port 9008 is used"),
        bad(PM, json!([{"containerPort": 80, "hostPort": 8080}]), C, "When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
        bad(PM, json!([{"containerPort": 80, "hostPort": 0}]), C, "must match"),
        bad(PM, json!([{"containerPort": 80, "hostPort": 81}]), C, "When networkMode=host").on_ec2().and("networkMode", json!("host")),
        bad(PM, json!([{"containerPortRange": "9010-9000"}]), C, "'containerPortRange' setting for container 'app': '9010-9000' must be first-last"),
        bad(PM, json!([{"containerPort": 80, "containerPortRange": "1-2"}]), C, "specify either containerPort or containerPortRange, not both."),
        bad(PM, json!([{"hostPort": 80, "containerPortRange": "1-2"}]), C, "Invalid 'hostPort' setting for container 'app': hostPort can't be set with containerPortRange."),
        bad(PM, json!([{"containerPortRange": "1-2"}]), C, "port ranges need networkMode bridge or awsvpc.").on_ec2().and("networkMode", json!("host")),
    ]
}

#[rustfmt::skip]
fn reference_and_total_rows() -> Vec<Bad> {
    vec![
        bad("containerDefinitions.0.volumesFrom", json!([{"sourceContainer": "other"}]), C, "Invalid 'volumesFrom' setting for container 'app': 'other' does not name another container"),
        bad("containerDefinitions.0.dependsOn", json!([{"containerName": "app", "condition": "START"}]), C, "Invalid 'dependsOn' setting for container 'app': 'app' does not name another container"),
        bad("containerDefinitions.0.links", json!(["db"]), C, "Invalid 'links' setting for container 'a': 'db' does not name another container").on_ec2(),
        bad("containerDefinitions", json!([
            {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]},
            {"name": "b", "image": "x"}
        ]), C, "the HEALTHY condition needs a healthCheck on container 'b'."),
        bad("containerDefinitions.0.cpu", json!(512), C, "Invalid 'cpu' setting for task: the containers' cpu (512) exceeds the task cpu (256)."),
        bad("containerDefinitions", json!([
            {"name": "a", "image": "x", "memory": 400}, {"name": "b", "image": "x", "memoryReservation": 200}
        ]), C, "the containers' memory (600 MiB) exceeds the task memory (512 MiB)."),
    ]
}

#[rustfmt::skip]
fn launch_type_rows() -> Vec<Bad> {
    let no_size = "No Fargate configuration exists for given values";
    let mut rows = vec![
        bad("networkMode", json!("bridge"), C, "Fargate only supports network mode 'awsvpc'."),
        bad("cpu", Value::Null, C, "Fargate requires that 'cpu' be defined at the task level."),
        bad("memory", Value::Null, C, "Fargate requires that 'memory' be defined at the task level.").and("containerDefinitions.0.memory", json!(64)),
        bad("pidMode", json!("host"), C, "Fargate does not support pidMode 'host'."),
        bad("ipcMode", json!("task"), C, "Fargate does not support ipcMode."),
        bad("placementConstraints", json!([{"type": "memberOf"}]), C, "Fargate does not support placementConstraints."),
        bad("inferenceAccelerators", json!([{"deviceName": "d"}]), C, "Fargate does not support inferenceAccelerators."),
        bad("volumes", json!([{"name": "h", "host": {"sourcePath": "/h"}}]), C, "Fargate does not support host volumes with a sourcePath (volume 'h')."),
        bad("volumes", json!([{"name": "d", "dockerVolumeConfiguration": {}}]), C, "Fargate does not support dockerVolumeConfiguration (volume 'd')."),
        bad("containerDefinitions.0.privileged", json!(true), C, "Fargate does not support privileged containers (container 'app')."),
        bad("containerDefinitions.0.logConfiguration", json!({"logDriver": "syslog"}), C, "Fargate does not support log driver 'syslog' (container 'app')"),
        bad("containerDefinitions.0.logConfiguration", json!({"logDriver": "awslogs", "options": {"awslogs-group": "g"}}), C, "Fargate requires task definition to have execution role ARN to support log driver awslogs."),
        bad("requiresCompatibilities", json!(["EXTERNAL"]), C, "EXTERNAL does not support network mode 'awsvpc'."),
    ];
    for (cpu, memory) in [("256", "4096"), ("512", "512"), ("1024", "1024"), ("4096", "4096"), ("300", "1024")] {
        rows.push(bad("cpu", json!(cpu), C, no_size).and("memory", json!(memory)));
    }
    rows
}

/// Members of the wrong JSON type: SerializationException naming the member.
#[rustfmt::skip]
fn type_rows() -> Vec<Bad> {
    vec![
        bad("cpu", json!(256), SER, "'cpu'"),
        bad("containerDefinitions.0.cpu", json!("100"), SER, "containerDefinitions[0].cpu"),
        bad("containerDefinitions.0.essential", json!("yes"), SER, "containerDefinitions[0].essential"),
        bad("containerDefinitions.0.portMappings", json!([{"containerPort": "80"}]), SER, "containerDefinitions[0].portMappings[0].containerPort"),
        bad("containerDefinitions.0.linuxParameters", json!({"initProcessEnabled": "true"}), SER, "containerDefinitions[0].linuxParameters.initProcessEnabled"),
        bad("containerDefinitions.0.memory", json!(1.5), SER, "containerDefinitions[0].memory"),
        bad("containerDefinitions.0.environment", json!([["A", "1"]]), SER, "'containerDefinitions[0].environment[0]': invalid type: sequence, expected struct KeyValuePair"),
        bad("tags", json!({"key": "v"}), SER, "tags"),
    ]
}

/// Requests with several problems: the first rule to fail is the answer.
#[rustfmt::skip]
fn order_rows() -> Vec<Bad> {
    vec![
        bad("family", json!("a b"), C, "Family contains invalid characters.").and("containerDefinitions", json!([])),
        bad("cpu", json!("x"), C, "Invalid 'cpu' setting for task.").and("networkMode", json!("bridge")),
        bad("containerDefinitions.0.links", json!(["db"]), C, "links are not supported").and("containerDefinitions.0.portMappings", json!([{"containerPort": 80, "protocol": "sctp"}])),
        bad("containerDefinitions.0.healthCheck", json!({"command": ["x"], "interval": 1}), C, "healthCheck.command").and("containerDefinitions.0.logConfiguration", json!({"logDriver": "x"})),
        bad("tags", json!([{"key": "aws:x"}]), IP, "tags").and("containerDefinitions.0.name", json!("")),
        bad("containerDefinitions.0.dependsOn", json!([{"condition": "START"}, {"containerName": "x", "condition": "READY"}]), C, "every dependency needs"),
        bad("containerDefinitions.0.portMappings", json!([{"containerPort": 80, "name": "Bad", "protocol": "sctp"}]), IP, "protocol 'sctp'"),
        bad("containerDefinitions.0.memory", json!(600), C, "exceeds the task memory").and("containerDefinitions.0.cpu", json!(300)),
        bad("containerDefinitions", json!([
            {"name": "a", "image": "x", "volumesFrom": [{"sourceContainer": "zz"}], "cpu": 300},
            {"name": "b", "image": "x", "links": ["zz"]}
        ]), C, "Invalid 'links' setting for container 'b': links are not supported"),
    ]
}

#[test]
fn bad_requests_are_refused_with_the_first_failing_rule() {
    let (_d, ecs, ctx) = setup();
    let rows: Vec<Bad> = [
        task_rows(),
        container_rows(),
        port_rows(),
        reference_and_total_rows(),
        launch_type_rows(),
        type_rows(),
        order_rows(),
    ]
    .into_iter()
    .flatten()
    .collect();
    for row in &rows {
        let input = row.input();
        let e = register_err(&ecs, &ctx, input.clone());
        assert_eq!(e.code, row.code, "{input}: {e}");
        assert!(
            e.message.contains(&row.fragment),
            "{input}: '{}' lacks '{}'",
            e.message,
            row.fragment
        );
    }
    let e = register_err(&ecs, &ctx, json!([1]));
    assert_eq!(e.code, SER, "a body that isn't an object: {e}");
    // Nothing was written.
    let all = ecs.call(&ctx, "ListTaskDefinitions", json!({})).unwrap();
    assert_eq!(all["taskDefinitionArns"], json!([]));
}

// ---- what registers, and how it shows -----------------------------------------------------

#[test]
fn close_calls_register() {
    let (_d, ecs, ctx) = setup();
    let cd = "containerDefinitions.0";
    for set in [
        vec![("cpu", json!("256")), ("memory", json!("1 GB"))],
        vec![("cpu", json!("0.5 vCPU")), ("memory", json!("4096"))],
        vec![("cpu", json!("2 vCPU")), ("memory", json!("16 GB"))],
        vec![("cpu", json!("4096")), ("memory", json!("30720"))],
        vec![("cpu", json!("8192")), ("memory", json!("16384"))],
        vec![("ephemeralStorage", json!({"sizeInGiB": 21}))],
        vec![("ephemeralStorage", json!({"sizeInGiB": 200}))],
        vec![(
            cd,
            json!({"name": "a", "image": "x", "healthCheck": {"command": ["NONE"]}}),
        )],
        vec![(
            cd,
            json!({"name": "a", "image": "x", "healthCheck": {"command": ["CMD", "x"],
            "interval": 5, "timeout": 2, "retries": 1, "startPeriod": 0}}),
        )],
        vec![(
            cd,
            json!({"name": "a", "image": "x", "healthCheck": {"command": ["CMD", "x"],
            "interval": 300, "timeout": 60, "retries": 10, "startPeriod": 300}}),
        )],
        vec![(
            cd,
            json!({"name": "a", "image": "x", "portMappings": [{"containerPortRange": "1-65535"}]}),
        )],
        vec![(
            cd,
            json!({"name": "a", "image": "x", "memory": 4, "memoryReservation": 4, "cpu": 0}),
        )],
        vec![
            ("placementConstraints", json!([{"expression": "x"}])),
            ("requiresCompatibilities", json!(["EC2"])),
        ],
    ] {
        register_ok(&ecs, &ctx, patch(fargate("close"), &set));
    }
    for set in [
        vec![(
            cd,
            json!({"name": "a", "image": "x", "memoryReservation": 128}),
        )],
        vec![
            ("memory", json!("512")),
            (cd, json!({"name": "a", "image": "x"})),
        ],
        vec![("networkMode", json!("none"))],
        vec![(
            cd,
            json!({"name": "a", "image": "x", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 65535}]}),
        )],
    ] {
        register_ok(&ecs, &ctx, patch(ec2(), &set));
    }
}

#[test]
fn not_requiring_fargate_registers_without_it() {
    let (_d, ecs, ctx) = setup();
    let mut ec2_only = patch(
        fargate("x"),
        &[("containerDefinitions.0.privileged", json!(true))],
    );
    ec2_only
        .as_object_mut()
        .unwrap()
        .remove("requiresCompatibilities");
    assert_eq!(
        register_ok(&ecs, &ctx, ec2_only)["compatibilities"],
        json!(["EC2"])
    );
    let managed = patch(
        fargate("m"),
        &[("requiresCompatibilities", json!(["MANAGED_INSTANCES"]))],
    );
    assert_eq!(
        register_ok(&ecs, &ctx, managed)["compatibilities"],
        json!(["EC2", "FARGATE", "MANAGED_INSTANCES"])
    );
}

#[test]
fn port_mappings_show_their_defaults() {
    let (_d, ecs, ctx) = setup();
    let pm = json!([{"containerPort": 80, "name": "web_1", "appProtocol": "grpc"}, {"containerPortRange": "9000-9010"}]);
    let td = register_ok(
        &ecs,
        &ctx,
        patch(
            fargate("p"),
            &[("containerDefinitions.0.portMappings", pm.clone())],
        ),
    );
    assert_eq!(
        td["containerDefinitions"][0]["portMappings"],
        json!([
            {"containerPort": 80, "hostPort": 80, "protocol": "tcp", "name": "web_1", "appProtocol": "grpc"},
            {"containerPortRange": "9000-9010", "protocol": "tcp"}
        ])
    );
    let host = patch(
        ec2(),
        &[
            ("networkMode", json!("host")),
            (
                "containerDefinitions.0.portMappings",
                json!([{"containerPort": 81, "protocol": "udp"}]),
            ),
        ],
    );
    assert_eq!(
        register_ok(&ecs, &ctx, host)["containerDefinitions"][0]["portMappings"],
        json!([{"containerPort": 81, "hostPort": 81, "protocol": "udp"}])
    );
}

#[test]
fn dependencies_on_healthy_containers_register() {
    let (_d, ecs, ctx) = setup();
    let input = patch(
        fargate("d"),
        &[(
            "containerDefinitions",
            json!([
                {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]},
                {"name": "b", "image": "x", "healthCheck": {"command": ["CMD", "true"]}}
            ]),
        )],
    );
    let td = register_ok(&ecs, &ctx, input);
    assert!(td["requiresAttributes"]
        .to_string()
        .contains("ecs.capability.container-ordering"));
}

#[test]
fn members_outside_the_model_are_dropped_only_at_task_and_container_level() {
    let (_d, ecs, ctx) = setup();
    let input = patch(
        fargate("u"),
        &[
            ("bogus", json!(1)),
            ("containerDefinitions.0.bogus", json!(1)),
            (
                "containerDefinitions.0.portMappings",
                json!([{"containerPort": 80, "bogus": 1}]),
            ),
            (
                "containerDefinitions.0.linuxParameters",
                json!({"bogus": 1}),
            ),
            ("runtimePlatform", json!({"bogus": 1})),
        ],
    );
    let td = register_ok(&ecs, &ctx, input);
    assert!(td.get("bogus").is_none());
    let c = &td["containerDefinitions"][0];
    assert!(c.get("bogus").is_none());
    assert_eq!(c["portMappings"][0]["bogus"], 1);
    assert_eq!(c["linuxParameters"], json!({"bogus": 1}));
    assert_eq!(td["runtimePlatform"], json!({"bogus": 1}));
}

#[test]
fn typed_records_read_back_as_registered() {
    let (_d, ecs, ctx) = setup();
    let out = register_ok(&ecs, &ctx, seed_001());
    ecs.store()
        .read(|r| {
            let td = resolve(r, &ctx, "service-connect-nginx")?.unwrap();
            assert_eq!(serde_json::to_value(&td).unwrap(), out);
            assert_eq!(td.status, TaskDefinitionStatus::Active);
            assert_eq!(td.network_mode(), NetworkMode::Awsvpc);
            assert_eq!((td.cpu_units(), td.memory_mib()), (Some(256), Some(512)));
            assert_eq!(
                td.compatibilities,
                [Compatibility::Ec2, Compatibility::Fargate]
            );
            let web = td.container("webserver").unwrap();
            assert_eq!(web.cpu, 100);
            assert!(web.essential);
            let log = web.log_configuration.as_ref().unwrap();
            assert_eq!(log.log_driver, LogDriver::Awslogs);
            let pm = td.port_mapping("nginx").unwrap();
            assert_eq!((pm.container_port, pm.host_port), (Some(80), Some(80)));
            assert_eq!(
                (pm.protocol, pm.app_protocol),
                (TransportProtocol::Tcp, Some(AppProtocol::Http))
            );
            assert!(td.port_mapping("nope").is_none());
            Ok::<_, ApiError>(())
        })
        .unwrap();
}
