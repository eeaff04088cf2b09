//! The operations' behaviour and validation, case by case.

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
            assert_eq!(resolve(r, &ctx, "web")?.unwrap()["revision"], 3);
            assert_eq!(resolve(r, &ctx, "web:1")?.unwrap()["revision"], 1);
            assert_eq!(resolve(r, &ctx, arn)?.unwrap()["taskDefinitionArn"], arn);
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
            assert_eq!(resolve(r, &ctx, "web")?.unwrap()["revision"], 2);
            assert_eq!(resolve(r, &ctx, "web:3")?.unwrap()["status"], "INACTIVE");
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

/// Registers `input` and checks the error code and that the message contains `needle`.
fn expect(ecs: &Ecs, ctx: &Context, input: Value, code: &str, needle: &str) {
    let e = register_err(ecs, ctx, input.clone());
    assert_eq!(e.code, code, "{input}: {e}");
    assert!(
        e.message.contains(needle),
        "{input}: '{}' lacks '{needle}'",
        e.message
    );
}

fn with(mut base: Value, path: &[&str], v: Value) -> Value {
    let mut cur = &mut base;
    for (n, p) in path.iter().enumerate() {
        if n + 1 == path.len() {
            break;
        }
        cur = match p.parse::<usize>() {
            Ok(i) => &mut cur[i],
            Err(_) => &mut cur[*p],
        };
    }
    let last = path[path.len() - 1];
    match last.parse::<usize>() {
        Ok(i) => cur[i] = v,
        Err(_) => cur[last] = v,
    }
    base
}

#[test]
fn wrong_json_types_are_serialization_errors_naming_the_field() {
    let (_d, ecs, ctx) = setup();
    let base = fargate("t");
    for (path, v, field) in [
        (&["cpu"][..], json!(256), "cpu"),
        (
            &["containerDefinitions", "0", "cpu"][..],
            json!("100"),
            "containerDefinitions[0].cpu",
        ),
        (
            &["containerDefinitions", "0", "essential"][..],
            json!("yes"),
            "containerDefinitions[0].essential",
        ),
        (
            &["containerDefinitions", "0", "portMappings"][..],
            json!([{"containerPort": "80"}]),
            "containerDefinitions[0].portMappings[0].containerPort",
        ),
        (
            &["containerDefinitions", "0", "linuxParameters"][..],
            json!({"initProcessEnabled": "true"}),
            "containerDefinitions[0].linuxParameters.initProcessEnabled",
        ),
        (
            &["containerDefinitions", "0", "memory"][..],
            json!(1.5),
            "containerDefinitions[0].memory",
        ),
        (&["tags"][..], json!({"key": "v"}), "tags"),
    ] {
        expect(
            &ecs,
            &ctx,
            with(base.clone(), path, v),
            "SerializationException",
            field,
        );
    }
    let e = register_err(&ecs, &ctx, json!([1]));
    assert_eq!(e.code, "SerializationException");
}

#[test]
fn task_level_validation() {
    let (_d, ecs, ctx) = setup();
    let base = fargate("t");
    let c = "ClientException";
    let ip = "InvalidParameterException";
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["family"], json!("bad name")),
        c,
        "Family contains invalid characters.",
    );
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["family"], json!("x".repeat(256))),
        c,
        "Family",
    );
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["family"], json!("")),
        c,
        "Family",
    );
    let mut no_family = base.clone();
    no_family.as_object_mut().unwrap().remove("family");
    expect(&ecs, &ctx, no_family, c, "Family");
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["containerDefinitions"], json!([])),
        c,
        "Container list cannot be empty.",
    );
    let mut no_containers = base.clone();
    no_containers
        .as_object_mut()
        .unwrap()
        .remove("containerDefinitions");
    expect(
        &ecs,
        &ctx,
        no_containers,
        c,
        "Container list cannot be empty.",
    );
    let eleven: Vec<Value> = (0..11)
        .map(|n| json!({"name": format!("c{n}"), "image": "x"}))
        .collect();
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["containerDefinitions"], json!(eleven)),
        c,
        "at most 10",
    );
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["networkMode"], json!("vpc")),
        ip,
        "networkMode",
    );
    expect(
        &ecs,
        &ctx,
        with(
            base.clone(),
            &["requiresCompatibilities"],
            json!(["LAMBDA"]),
        ),
        ip,
        "requiresCompatibilities",
    );
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["cpu"], json!("lots")),
        c,
        "Invalid 'cpu' setting for task.",
    );
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["memory"], json!("2 TB")),
        c,
        "Invalid 'memory' setting for task.",
    );
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["pidMode"], json!("shared")),
        ip,
        "pidMode",
    );
    expect(
        &ecs,
        &ctx,
        with(
            base.clone(),
            &["tags"],
            json!([{"key": "aws:x", "value": "v"}]),
        ),
        ip,
        "tags",
    );
    expect(
        &ecs,
        &ctx,
        with(
            base.clone(),
            &["ephemeralStorage"],
            json!({"sizeInGiB": 20}),
        ),
        c,
        "at least 21",
    );
    expect(
        &ecs,
        &ctx,
        with(
            base.clone(),
            &["ephemeralStorage"],
            json!({"sizeInGiB": 201}),
        ),
        c,
        "at most 200",
    );
    expect(
        &ecs,
        &ctx,
        with(
            base.clone(),
            &["runtimePlatform"],
            json!({"cpuArchitecture": "RISCV"}),
        ),
        ip,
        "cpuArchitecture",
    );
    expect(
        &ecs,
        &ctx,
        with(
            base.clone(),
            &["volumes"],
            json!([{"name": "v"}, {"name": "v"}]),
        ),
        c,
        "Duplicate volume name",
    );

    // Fargate requirements.
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["networkMode"], json!("bridge")),
        c,
        "Fargate only supports network mode 'awsvpc'.",
    );
    let mut no_cpu = base.clone();
    no_cpu.as_object_mut().unwrap().remove("cpu");
    expect(&ecs, &ctx, no_cpu, c, "'cpu' be defined at the task level");
    for (cpu, mem) in [
        ("256", "4096"),
        ("512", "512"),
        ("1024", "1024"),
        ("4096", "4096"),
        ("300", "1024"),
    ] {
        let i = with(
            with(base.clone(), &["cpu"], json!(cpu)),
            &["memory"],
            json!(mem),
        );
        expect(
            &ecs,
            &ctx,
            i,
            c,
            "No Fargate configuration exists for given values",
        );
    }
    for (cpu, mem) in [
        ("256", "1 GB"),
        ("0.5 vCPU", "4096"),
        ("2 vCPU", "16 GB"),
        ("4096", "30720"),
        ("8192", "16384"),
    ] {
        let i = with(
            with(base.clone(), &["cpu"], json!(cpu)),
            &["memory"],
            json!(mem),
        );
        register_ok(&ecs, &ctx, i);
    }
    let awslogs = json!({"logDriver": "awslogs", "options": {"awslogs-group": "g"}});
    expect(
        &ecs,
        &ctx,
        with(base.clone(), &["containerDefinitions", "0", "logConfiguration"], awslogs),
        c,
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    );
    expect(
        &ecs,
        &ctx,
        with(
            base.clone(),
            &["containerDefinitions", "0", "logConfiguration"],
            json!({"logDriver": "syslog"}),
        ),
        c,
        "log driver 'syslog'",
    );
    expect(
        &ecs,
        &ctx,
        with(
            base.clone(),
            &["containerDefinitions", "0", "privileged"],
            json!(true),
        ),
        c,
        "privileged",
    );
    // Not required on Fargate: still registers, only without FARGATE compatibility.
    let mut ec2 = with(
        base.clone(),
        &["containerDefinitions", "0", "privileged"],
        json!(true),
    );
    ec2.as_object_mut()
        .unwrap()
        .remove("requiresCompatibilities");
    assert_eq!(
        register_ok(&ecs, &ctx, ec2)["compatibilities"],
        json!(["EC2"])
    );

    // EC2 without task memory: every container needs memory or memoryReservation.
    let ec2 = json!({"family": "e", "containerDefinitions": [{"name": "a", "image": "x"}]});
    expect(
        &ecs,
        &ctx,
        ec2.clone(),
        c,
        "Invalid setting for container 'a'. At least one of 'memory' or 'memoryReservation' must be specified.",
    );
    register_ok(
        &ecs,
        &ctx,
        with(
            ec2.clone(),
            &["containerDefinitions", "0", "memoryReservation"],
            json!(128),
        ),
    );
    register_ok(&ecs, &ctx, with(ec2.clone(), &["memory"], json!("512")));
    let both = with(
        with(
            ec2.clone(),
            &["containerDefinitions", "0", "memoryReservation"],
            json!(256),
        ),
        &["containerDefinitions", "0", "memory"],
        json!(128),
    );
    expect(&ecs, &ctx, both, c, "memoryReservation");
    let over = with(
        with(ec2.clone(), &["memory"], json!("512")),
        &["containerDefinitions", "0", "memory"],
        json!(1024),
    );
    expect(&ecs, &ctx, over, c, "exceeds the task memory");
    let over_cpu = with(
        base.clone(),
        &["containerDefinitions", "0", "cpu"],
        json!(512),
    );
    expect(&ecs, &ctx, over_cpu, c, "exceeds the task cpu");
}

#[test]
fn container_validation() {
    let (_d, ecs, ctx) = setup();
    let base = fargate("t");
    let c = "ClientException";
    let ip = "InvalidParameterException";
    let cd = |field: &str, v: Value| with(base.clone(), &["containerDefinitions", "0", field], v);
    expect(
        &ecs,
        &ctx,
        cd("name", json!("")),
        c,
        "Container.name should not be null or empty.",
    );
    expect(
        &ecs,
        &ctx,
        cd("name", json!("a b")),
        c,
        "Container.name contains invalid characters.",
    );
    expect(
        &ecs,
        &ctx,
        cd("image", json!("")),
        c,
        "Container.image should not be null or empty.",
    );
    expect(
        &ecs,
        &ctx,
        cd("image", json!("ngi nx")),
        c,
        "Container.image contains invalid characters.",
    );
    let dup = with(
        base.clone(),
        &["containerDefinitions"],
        json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]),
    );
    expect(&ecs, &ctx, dup, c, "Duplicate container name 'a'");
    expect(
        &ecs,
        &ctx,
        cd("essential", json!(false)),
        c,
        "at least one essential container",
    );

    // Port mappings.
    let pm = |v: Value| cd("portMappings", v);
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 0}])),
        c,
        "Invalid 'containerPort' setting for container 'app'.",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 70000}])),
        c,
        "Invalid 'containerPort' setting",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"hostPort": 80}])),
        c,
        "Invalid 'containerPort' setting",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80, "protocol": "sctp"}])),
        ip,
        "protocol",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80, "appProtocol": "tcp"}])),
        ip,
        "appProtocol",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80, "name": "Web"}])),
        ip,
        "name 'Web' is invalid",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80, "name": "-web"}])),
        ip,
        "name '-web' is invalid",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80, "name": "w".repeat(65)}])),
        ip,
        "is invalid",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}])),
        ip,
        "name 'web' is used by more than one port mapping",
    );
    let two = with(
        base.clone(),
        &["containerDefinitions"],
        json!([
            {"name": "a", "image": "x", "portMappings": [{"containerPort": 80, "name": "p"}]},
            {"name": "b", "image": "x", "portMappings": [{"containerPort": 81, "name": "p"}]}
        ]),
    );
    expect(&ecs, &ctx, two, ip, "unique within a task definition");
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80}, {"containerPort": 80, "protocol": "udp"}])),
        ip,
        "Container port 80 is used in more than one port mapping for container app",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80, "hostPort": 8080}])),
        c,
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPort": 80, "hostPort": 0}])),
        c,
        "must match",
    );
    let host = with(
        with(
            pm(json!([{"containerPort": 80, "hostPort": 81}])),
            &["networkMode"],
            json!("host"),
        ),
        &["requiresCompatibilities"],
        json!(["EC2"]),
    );
    expect(&ecs, &ctx, host, c, "When networkMode=host");
    let none = with(
        with(
            pm(json!([{"containerPort": 80}])),
            &["networkMode"],
            json!("none"),
        ),
        &["requiresCompatibilities"],
        json!([]),
    );
    expect(&ecs, &ctx, none, c, "networkMode=none");
    let ok = register_ok(
        &ecs,
        &ctx,
        pm(
            json!([{"containerPort": 80, "name": "web_1", "appProtocol": "grpc"}, {"containerPortRange": "9000-9010"}]),
        ),
    );
    assert_eq!(
        ok["containerDefinitions"][0]["portMappings"],
        json!([
            {"containerPort": 80, "hostPort": 80, "protocol": "tcp", "name": "web_1", "appProtocol": "grpc"},
            {"containerPortRange": "9000-9010", "protocol": "tcp"}
        ])
    );
    expect(
        &ecs,
        &ctx,
        pm(json!([{"containerPortRange": "9010-9000"}])),
        c,
        "containerPortRange",
    );

    // Health checks.
    let hc = |v: Value| cd("healthCheck", v);
    expect(&ecs, &ctx, hc(json!({})), c, "healthCheck.command");
    expect(
        &ecs,
        &ctx,
        hc(json!({"command": []})),
        c,
        "healthCheck.command",
    );
    expect(
        &ecs,
        &ctx,
        hc(json!({"command": ["curl", "x"]})),
        c,
        "must start with CMD or CMD-SHELL",
    );
    expect(
        &ecs,
        &ctx,
        hc(json!({"command": ["CMD-SHELL"]})),
        c,
        "healthCheck.command",
    );
    for (field, bad) in [
        ("interval", 4),
        ("interval", 301),
        ("timeout", 1),
        ("timeout", 61),
        ("retries", 0),
        ("retries", 11),
        ("startPeriod", -1),
        ("startPeriod", 301),
    ] {
        let mut h = json!({"command": ["CMD", "true"]});
        h[field] = json!(bad);
        expect(
            &ecs,
            &ctx,
            hc(h),
            c,
            &format!("Invalid 'healthCheck.{field}' setting for container 'app'"),
        );
    }
    register_ok(&ecs, &ctx, hc(json!({"command": ["NONE"]})));

    // Environment, secrets, logging.
    expect(
        &ecs,
        &ctx,
        cd("environment", json!([{"value": "v"}])),
        c,
        "environment[0].name",
    );
    expect(
        &ecs,
        &ctx,
        cd("secrets", json!([{"name": "S"}])),
        c,
        "secrets[0].valueFrom",
    );
    expect(
        &ecs,
        &ctx,
        cd("secrets", json!([{"valueFrom": "arn"}])),
        c,
        "secrets[0].name",
    );
    expect(
        &ecs,
        &ctx,
        cd(
            "environmentFiles",
            json!([{"value": "arn:aws:s3:::b/k.env", "type": "s4"}]),
        ),
        c,
        "environmentFiles[0].type",
    );
    expect(
        &ecs,
        &ctx,
        cd("logConfiguration", json!({"options": {}})),
        c,
        "logConfiguration.logDriver",
    );
    expect(
        &ecs,
        &ctx,
        cd("logConfiguration", json!({"logDriver": "stdout"})),
        ip,
        "logDriver",
    );

    // References between containers.
    expect(
        &ecs,
        &ctx,
        cd(
            "mountPoints",
            json!([{"sourceVolume": "data", "containerPath": "/d"}]),
        ),
        c,
        "'data' is not defined",
    );
    expect(
        &ecs,
        &ctx,
        cd("volumesFrom", json!([{"sourceContainer": "other"}])),
        c,
        "volumesFrom",
    );
    expect(
        &ecs,
        &ctx,
        cd(
            "dependsOn",
            json!([{"containerName": "other", "condition": "START"}]),
        ),
        c,
        "dependsOn",
    );
    let links = with(
        with(
            cd("links", json!(["db"])),
            &["networkMode"],
            json!("bridge"),
        ),
        &["requiresCompatibilities"],
        json!(["EC2"]),
    );
    expect(&ecs, &ctx, links, c, "links");
    expect(
        &ecs,
        &ctx,
        cd("links", json!(["db"])),
        c,
        "links are not supported when networkMode=awsvpc",
    );
    let healthy = with(
        base.clone(),
        &["containerDefinitions"],
        json!([
            {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]},
            {"name": "b", "image": "x"}
        ]),
    );
    expect(
        &ecs,
        &ctx,
        healthy.clone(),
        c,
        "healthCheck on container 'b'",
    );
    let fixed = with(
        healthy,
        &["containerDefinitions", "1", "healthCheck"],
        json!({"command": ["CMD", "true"]}),
    );
    let td = register_ok(&ecs, &ctx, fixed);
    assert!(td["requiresAttributes"]
        .to_string()
        .contains("ecs.capability.container-ordering"));
}
