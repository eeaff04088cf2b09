//! A service's `loadBalancers` on a real store beside ELBv2: what CreateService refuses,
//! and a task registered in its target group while it serves, deregistered (draining)
//! once it is stopped, each told in the service's events; a task whose target turns
//! unhealthy after the grace period is replaced.

use std::sync::Arc;

use berth_awsproto::{decode_form, Api, ApiError, Context, Input, QueryFlavour};
use berth_ecs::Ecs;
use berth_elbv2::model::{TargetHealth, TargetHealthReason, TargetHealthState};
use berth_elbv2::Elbv2;
use berth_store::Store;
use serde_json::{json, Value};

fn ctx() -> Context {
    Context {
        account: "123456789012".into(),
        region: "us-west-2".into(),
        caller: Default::default(),
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    ecs: Ecs,
    elb: Elbv2,
}

fn enc(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        World {
            ecs: Ecs::new(store.clone()),
            elb: Elbv2::new(store.clone()),
            store,
            _dir: dir,
        }
    }

    fn ecs(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        self.ecs.call(&ctx(), op, input)
    }

    fn ok(&self, op: &str, input: Value) -> Value {
        self.ecs(op, input).unwrap_or_else(|e| panic!("{op}: {e}"))
    }

    fn elb(&self, form: &str) -> Value {
        let q = decode_form(form.as_bytes()).unwrap();
        let op = q.action.unwrap();
        self.elb
            .invoke(&ctx(), &op, Input::Form(q.params, QueryFlavour::Query))
            .unwrap_or_else(|e| panic!("{form}: {e}"))
    }

    /// The default VPC and two of its subnets.
    fn network(&self) -> (String, Vec<String>) {
        let (net, _) = self
            .store
            .write(|w| berth_ec2::ensure_defaults_in(w, &ctx()))
            .unwrap();
        (net.vpc_id, net.subnet_ids)
    }

    fn target_group(&self, name: &str, kind: &str) -> String {
        let (vpc, _) = self.network();
        let out = self.elb(&format!(
            "Action=CreateTargetGroup&Name={name}&Protocol=HTTP&Port=80&VpcId={vpc}&TargetType={kind}"
        ));
        out["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A load balancer whose listener forwards to `tgs` (weighted evenly).
    fn load_balancer(&self, tgs: &[&str]) {
        let (_, subnets) = self.network();
        let out = self.elb(&format!(
            "Action=CreateLoadBalancer&Name=web&Subnets.member.1={}&Subnets.member.2={}",
            subnets[0], subnets[1]
        ));
        let lb = out["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap();
        let mut form = format!(
            "Action=CreateListener&LoadBalancerArn={}&Protocol=HTTP&Port=80&DefaultActions.member.1.Type=forward",
            enc(lb)
        );
        for (k, tg) in tgs.iter().enumerate() {
            form.push_str(&format!(
                "&DefaultActions.member.1.ForwardConfig.TargetGroups.member.{}.TargetGroupArn={}",
                k + 1,
                enc(tg)
            ));
        }
        self.elb(&form);
    }

    fn health(&self, tg: &str) -> Vec<(String, i64, String)> {
        let out = self.elb(&format!(
            "Action=DescribeTargetHealth&TargetGroupArn={}",
            enc(tg)
        ));
        out["TargetHealthDescriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let port = &d["Target"]["Port"];
                (
                    d["Target"]["Id"].as_str().unwrap().to_string(),
                    port.as_i64()
                        .or_else(|| port.as_str()?.parse().ok())
                        .unwrap(),
                    d["TargetHealth"]["State"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn events(&self) -> Vec<String> {
        let s = self.ok(
            "DescribeServices",
            json!({"cluster": "c", "services": ["web"]}),
        );
        s["services"][0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    }
}

/// A cluster and an awsvpc task definition whose `web` container maps port 80.
fn setup(w: &World) {
    w.ok("CreateCluster", json!({"clusterName": "c"}));
    w.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "networkMode": "awsvpc", "memory": "512",
               "containerDefinitions": [{"name": "web", "image": "nginx",
                   "portMappings": [{"containerPort": 80}]}]}),
    );
}

fn service_input(w: &World, lbs: Value) -> Value {
    let (_, subnets) = w.network();
    json!({"cluster": "c", "serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
           "loadBalancers": lbs,
           "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnets[0]]}}})
}

#[test]
fn create_service_refuses_load_balancers_ecs_would_refuse() {
    let w = World::new();
    setup(&w);
    let ip = w.target_group("ip", "ip");
    let instance = w.target_group("inst", "instance");
    let unused = w.target_group("unused", "ip");
    w.load_balancer(&[&ip, &instance]);
    let gone = ip.replace("/ip/", "/gone/");
    let lb = |tg: &str, name: &str, port: i64| json!([{"targetGroupArn": tg, "containerName": name, "containerPort": port}]);
    let cases = [
        (
            json!([{"loadBalancerName": "classic", "containerName": "web", "containerPort": 80}]),
            "Classic Load Balancer",
        ),
        (lb(&gone, "web", 80), "Unable to find the target group"),
        (
            lb(&unused, "web", 80),
            "does not have an associated load balancer",
        ),
        (
            lb(&instance, "web", 80),
            "has target type instance, which is incompatible with the awsvpc network mode",
        ),
        (
            lb(&ip, "api", 80),
            "The container api does not exist in the task definition.",
        ),
        (
            lb(&ip, "web", 8080),
            "The container web did not have a container port 8080 defined.",
        ),
        (
            json!([{"targetGroupArn": ip}]),
            "containerName and containerPort are required",
        ),
    ];
    for (lbs, wanted) in cases {
        let e = w
            .ecs("CreateService", service_input(&w, lbs.clone()))
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException", "{lbs}: {e}");
        assert!(e.message.contains(wanted), "{lbs}: {}", e.message);
    }
    let six: Vec<Value> = (0..6).map(|_| lb(&ip, "web", 80)[0].clone()).collect();
    let e = w
        .ecs("CreateService", service_input(&w, json!(six)))
        .unwrap_err();
    assert!(e.message.contains("at most 5"), "{}", e.message);
    // Nothing was created by the refusals; the right one is taken and shown typed.
    let s = w.ok("CreateService", service_input(&w, lb(&ip, "web", 80)));
    assert_eq!(s["service"]["loadBalancers"], lb(&ip, "web", 80));
}

#[test]
fn a_serving_task_is_a_target_until_it_is_stopped() {
    let w = World::new();
    setup(&w);
    let tg = w.target_group("ip", "ip");
    w.load_balancer(&[&tg]);
    let lbs = json!([{"targetGroupArn": tg, "containerName": "web", "containerPort": 80}]);
    w.ok("CreateService", service_input(&w, lbs));
    let inst = w.ok("RegisterContainerInstance", json!({"cluster": "c"}));
    let inst_arn = inst["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap();
    let inst_id = inst_arn.rsplit('/').next().unwrap();
    berth_ecs::agent::set_agent_connected(&w.ecs, &ctx(), "c", inst_id, true).unwrap();
    w.ecs.reconcile().unwrap();
    let arns = w.ok("ListTasks", json!({"cluster": "c"}))["taskArns"].clone();
    let arn = arns[0].as_str().unwrap().to_string();
    let task = w.ok("DescribeTasks", json!({"cluster": "c", "tasks": [arn]}))["tasks"][0].clone();
    let eni = task["attachments"][0]["id"].as_str().unwrap();
    assert!(w.health(&tg).is_empty(), "registered before it runs");

    w.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "c", "task": arn, "status": "PENDING",
               "attachments": [{"attachmentArn": eni, "status": "ATTACHED",
                   "details": [{"name": "privateIPv4Address", "value": "10.0.0.7"}]}]}),
    );
    assert!(w.health(&tg).is_empty(), "registered before it runs");
    w.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "c", "task": arn, "status": "RUNNING",
               "containers": [{"containerName": "web", "status": "RUNNING"}]}),
    );
    assert_eq!(
        w.health(&tg),
        vec![("10.0.0.7".to_string(), 80, "initial".to_string())]
    );
    let registered = format!("(service web) registered 1 targets in (target-group {tg})");
    assert_eq!(w.events().iter().filter(|m| **m == registered).count(), 1);
    // Reports that change nothing about serving register nothing again.
    w.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "c", "task": arn, "status": "RUNNING"}),
    );
    assert_eq!(w.events().iter().filter(|m| **m == registered).count(), 1);

    w.ok("StopTask", json!({"cluster": "c", "task": arn}));
    assert_eq!(
        w.health(&tg),
        vec![("10.0.0.7".to_string(), 80, "draining".to_string())]
    );
    let deregistered = format!("(service web) deregistered 1 targets in (target-group {tg})");
    assert!(w.events().contains(&deregistered), "{:?}", w.events());
}

/// A service `web` with `grace` seconds of grace behind group `tg`, its one task
/// RUNNING at 10.0.0.7 (registered); returns the task's ARN.
fn serving_task(w: &World, tg: &str, grace: i64) -> String {
    serving_task_on(w, tg, grace).0
}

/// As `serving_task`, and the id of the instance it runs on.
fn serving_task_on(w: &World, tg: &str, grace: i64) -> (String, String) {
    let lbs = json!([{"targetGroupArn": tg, "containerName": "web", "containerPort": 80}]);
    let mut input = service_input(w, lbs);
    input["healthCheckGracePeriodSeconds"] = json!(grace);
    w.ok("CreateService", input);
    let inst = w.ok("RegisterContainerInstance", json!({"cluster": "c"}));
    let inst_arn = inst["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap();
    let inst_id = inst_arn.rsplit('/').next().unwrap();
    berth_ecs::agent::set_agent_connected(&w.ecs, &ctx(), "c", inst_id, true).unwrap();
    w.ecs.reconcile().unwrap();
    let arn = w.ok("ListTasks", json!({"cluster": "c"}))["taskArns"][0]
        .as_str()
        .unwrap()
        .to_string();
    let task = w.ok("DescribeTasks", json!({"cluster": "c", "tasks": [arn]}))["tasks"][0].clone();
    let eni = task["attachments"][0]["id"].as_str().unwrap();
    w.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "c", "task": arn, "status": "PENDING",
               "attachments": [{"attachmentArn": eni, "status": "ATTACHED",
                   "details": [{"name": "privateIPv4Address", "value": "10.0.0.7"}]}]}),
    );
    w.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "c", "task": arn, "status": "RUNNING",
               "containers": [{"containerName": "web", "status": "RUNNING"}]}),
    );
    (arn, inst_id.to_string())
}

fn turn_unhealthy(w: &World, tg: &str) {
    let health = TargetHealth {
        state: TargetHealthState::Unhealthy,
        reason: Some(TargetHealthReason::ResponseCodeMismatch),
        description: Some("Health checks failed with these codes: [500]".into()),
    };
    let target = berth_elbv2::Target {
        id: "10.0.0.7".into(),
        port: 80,
    };
    w.store
        .write(|wr| {
            berth_elbv2::set_target_health_in(wr, &ctx(), tg, &target, health.clone(), 0.0)?;
            w.ecs.target_health_in(wr, &ctx(), tg, &target, &health)
        })
        .unwrap();
}

fn desired(w: &World, arn: &str) -> (String, Option<String>) {
    let t = w.ok("DescribeTasks", json!({"cluster": "c", "tasks": [arn]}))["tasks"][0].clone();
    (
        t["desiredStatus"].as_str().unwrap().to_string(),
        t["stoppedReason"].as_str().map(String::from),
    )
}

#[test]
fn a_task_whose_target_turns_unhealthy_is_replaced_after_the_grace_period() {
    let w = World::new();
    setup(&w);
    let tg = w.target_group("ip", "ip");
    w.load_balancer(&[&tg]);
    let arn = serving_task(&w, &tg, 0);
    turn_unhealthy(&w, &tg);
    let reason = format!("Task failed ELB health checks in (target-group {tg})");
    assert_eq!(desired(&w, &arn), ("STOPPED".to_string(), Some(reason)));
    let told = format!("is unhealthy in (target-group {tg}) due to (reason Health checks failed with these codes: [500]).");
    assert!(
        w.events().iter().any(|m| m.ends_with(&told)),
        "{:?}",
        w.events()
    );
    // Its target drains, and the scheduler starts a replacement.
    assert_eq!(w.health(&tg)[0].2, "draining");
    w.ecs.reconcile().unwrap();
    let tasks = w.ok(
        "ListTasks",
        json!({"cluster": "c", "desiredStatus": "RUNNING"}),
    );
    assert_eq!(tasks["taskArns"].as_array().unwrap().len(), 1);
    assert_ne!(tasks["taskArns"][0], json!(arn));
}

#[test]
fn within_the_grace_period_an_unhealthy_target_stops_nothing() {
    let w = World::new();
    setup(&w);
    let tg = w.target_group("ip", "ip");
    w.load_balancer(&[&tg]);
    let arn = serving_task(&w, &tg, 3600);
    turn_unhealthy(&w, &tg);
    assert_eq!(desired(&w, &arn), ("RUNNING".to_string(), None));
}

#[test]
fn a_stopped_task_runs_until_its_targets_have_drained() {
    let clock = berth_awsproto::fixed::Fixed::start(1_767_225_600.0, 7);
    let w = World::new();
    setup(&w);
    let tg = w.target_group("ip", "ip");
    w.elb(&format!(
        "Action=ModifyTargetGroupAttributes&TargetGroupArn={}&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=30",
        enc(&tg)
    ));
    w.load_balancer(&[&tg]);
    let (arn, inst) = serving_task_on(&w, &tg, 0);
    let desired_in_view = || {
        let view = berth_ecs::agent::instance_view(&w.ecs, &ctx(), "c", &inst).unwrap();
        let t = view.tasks.iter().find(|t| t.task_arn == arn).unwrap();
        serde_json::to_value(t.desired_status).unwrap()
    };
    assert_eq!(desired_in_view(), "RUNNING");
    w.ok("StopTask", json!({"cluster": "c", "task": arn}));
    // Deregistered at once; its containers keep running for the group's 30 s.
    assert_eq!(w.health(&tg)[0].2, "draining");
    assert_eq!(desired(&w, &arn).0, "STOPPED");
    w.ecs.reconcile().unwrap();
    assert_eq!(
        desired_in_view(),
        "RUNNING",
        "stopped before its targets drained"
    );
    clock.advance(20.0);
    w.ecs.reconcile().unwrap();
    assert_eq!(
        desired_in_view(),
        "RUNNING",
        "stopped before its targets drained"
    );
    clock.advance(11.0);
    w.ecs.reconcile().unwrap();
    assert_eq!(
        desired_in_view(),
        "STOPPED",
        "still running after its targets drained"
    );
}
