//! The scheduler's driver on a real store: passes follow what changed, a round with
//! nothing due writes nothing, and a restarted scheduler (a new `Ecs` on the same
//! store) converges from the stored state alone, rebuilding task indexes a store
//! written before them lacks.

use std::sync::Arc;

use berth_awsproto::{Api, Context};
use berth_ecs::Ecs;
use berth_store::{Read, Store};
use serde_json::{json, Value};

fn ctx() -> Context {
    Context {
        account: "123456789012".into(),
        region: "us-west-2".into(),
        caller: Default::default(),
    }
}

fn call(ecs: &Ecs, op: &str, input: Value) -> Value {
    ecs.call(&ctx(), op, input)
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

/// A cluster, a task definition and a service of `desired` tasks.
fn setup(ecs: &Ecs, desired: i64) {
    call(ecs, "CreateCluster", json!({"clusterName": "c"}));
    call(
        ecs,
        "RegisterTaskDefinition",
        json!({"family": "web", "memory": "512",
               "containerDefinitions": [{"name": "web", "image": "nginx"}]}),
    );
    call(
        ecs,
        "CreateService",
        json!({"cluster": "c", "serviceName": "web", "taskDefinition": "web",
               "desiredCount": desired}),
    );
}

fn service(ecs: &Ecs) -> Value {
    call(
        ecs,
        "DescribeServices",
        json!({"cluster": "c", "services": ["web"]}),
    )["services"][0]
        .clone()
}

fn tasks(ecs: &Ecs) -> usize {
    call(ecs, "ListTasks", json!({"cluster": "c"}))["taskArns"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_round_with_nothing_due_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let ecs = Ecs::new(store.clone());
    setup(&ecs, 2);
    ecs.reconcile().unwrap();
    assert_eq!(tasks(&ecs), 2);
    assert_eq!(service(&ecs)["pendingCount"], 2);
    // The pass's own writes are taken in once; after that nothing is due.
    ecs.reconcile().unwrap();
    let settled = store.revision();
    for _ in 0..3 {
        ecs.reconcile().unwrap();
    }
    assert_eq!(store.revision(), settled, "idle rounds wrote something");
    // A change makes its service due again.
    call(
        &ecs,
        "UpdateService",
        json!({"cluster": "c", "service": "web", "desiredCount": 3}),
    );
    ecs.reconcile().unwrap();
    assert_eq!(tasks(&ecs), 3);
}

#[test]
fn a_restarted_scheduler_converges_and_rebuilds_missing_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    {
        let ecs = Ecs::new(store.clone());
        setup(&ecs, 2);
        ecs.reconcile().unwrap();
        assert_eq!(tasks(&ecs), 2);
    }
    // A store written before the task indexes existed: drop them.
    let root = "ecs/123456789012/us-west-2/";
    store
        .write(|w| {
            for kind in ["group/", "unplaced/", "placed/"] {
                let keys: Vec<String> = w
                    .scan(&format!("{root}{kind}"), None, usize::MAX)?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                assert!(
                    kind != "group/" || !keys.is_empty(),
                    "no group index to drop"
                );
                for k in keys {
                    w.delete(&k)?;
                }
            }
            Ok::<_, berth_store::StoreError>(())
        })
        .unwrap();
    let ecs = Ecs::new(store.clone());
    call(
        &ecs,
        "UpdateService",
        json!({"cluster": "c", "service": "web", "desiredCount": 1}),
    );
    ecs.reconcile().unwrap();
    // The scheduler saw the service's two tasks again (through the rebuilt index) and
    // stopped the surplus one, rather than starting a third.
    let running = call(
        &ecs,
        "ListTasks",
        json!({"cluster": "c", "desiredStatus": "RUNNING"}),
    );
    assert_eq!(running["taskArns"].as_array().unwrap().len(), 1);
    let groups = store
        .read(|r| r.scan(&format!("{root}group/"), None, usize::MAX))
        .unwrap();
    assert_eq!(groups.len(), 2, "index rebuilt for both tasks");
}

/// A service whose security group was deleted cannot launch tasks: ECS's event says
/// why (once, not every round), nothing else of the cluster waits for it, and it
/// launches again once its network is whole.
#[test]
fn a_launch_its_network_refuses_is_an_event_not_a_stuck_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let ecs = Ecs::new(store.clone());
    let ec2 = berth_ec2::Ec2::new(store.clone());
    let vpc = ec2.call(&ctx(), "DescribeVpcs", json!({})).unwrap()["vpcSet"][0]["vpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let subnet = ec2.call(&ctx(), "DescribeSubnets", json!({})).unwrap()["subnetSet"][0]
        ["subnetId"]
        .as_str()
        .unwrap()
        .to_string();
    let make = |name: &str| {
        let input = json!({"GroupName": name, "GroupDescription": name, "VpcId": vpc});
        ec2.call(&ctx(), "CreateSecurityGroup", input).unwrap()["groupId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (gone, kept) = (make("gone"), make("kept"));
    setup(&ecs, 0);
    call(
        &ecs,
        "RegisterTaskDefinition",
        json!({"family": "vpc", "memory": "512", "networkMode": "awsvpc",
               "containerDefinitions": [{"name": "app", "image": "nginx"}]}),
    );
    for (name, group) in [("a", &gone), ("b", &kept)] {
        call(
            &ecs,
            "CreateService",
            json!({"cluster": "c", "serviceName": name, "taskDefinition": "vpc", "desiredCount": 0,
                   "networkConfiguration": {"awsvpcConfiguration": {
                       "subnets": [subnet], "securityGroups": [group]}}}),
        );
    }
    ecs.reconcile().unwrap();
    ec2.call(&ctx(), "DeleteSecurityGroup", json!({"GroupId": gone}))
        .unwrap();
    for name in ["a", "b"] {
        call(
            &ecs,
            "UpdateService",
            json!({"cluster": "c", "service": name, "desiredCount": 1}),
        );
    }
    for _ in 0..3 {
        ecs.reconcile().unwrap();
    }
    let d = call(
        &ecs,
        "DescribeServices",
        json!({"cluster": "c", "services": ["a", "b"]}),
    );
    let (a, b) = (&d["services"][0], &d["services"][1]);
    assert_eq!(b["pendingCount"], 1, "b launched: {b}");
    let events: Vec<&str> = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    let refused: Vec<&&str> = events
        .iter()
        .filter(|m| m.contains("was unable to launch a task"))
        .collect();
    assert_eq!(refused.len(), 1, "{events:?}");
    assert!(refused[0].contains(&format!("The security group '{gone}' does not exist")));
    assert_eq!(a["pendingCount"], 0);
    // Its network whole again (another group), it launches.
    call(
        &ecs,
        "UpdateService",
        json!({"cluster": "c", "service": "a", "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": [subnet], "securityGroups": [kept]}}}),
    );
    ecs.reconcile().unwrap();
    ecs.reconcile().unwrap();
    let a = call(
        &ecs,
        "DescribeServices",
        json!({"cluster": "c", "services": ["a"]}),
    );
    assert_eq!(a["services"][0]["pendingCount"], 1, "{}", a["services"][0]);
}

/// Bridge-mode tasks with a fixed host port: one per instance. The second task of the
/// service waits, and the service says why as ECS does (once); RunTask and StartTask
/// answer `RESOURCE:PORTS`; the instance shows the port in use; a second instance takes the
/// waiting task.
#[test]
fn a_fixed_host_port_is_taken_once_per_instance() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let ecs = Ecs::new(store.clone());
    call(&ecs, "CreateCluster", json!({"clusterName": "c"}));
    call(
        &ecs,
        "RegisterTaskDefinition",
        json!({"family": "fixed", "memory": "128", "networkMode": "bridge",
               "containerDefinitions": [{"name": "web", "image": "nginx",
                   "portMappings": [{"containerPort": 80, "hostPort": 8080},
                                    {"containerPort": 81, "hostPort": 0}]}]}),
    );
    let register = || {
        call(
            &ecs,
            "RegisterContainerInstance",
            json!({"cluster": "c", "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}]}),
        )["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = register();
    call(
        &ecs,
        "CreateService",
        json!({"cluster": "c", "serviceName": "web", "taskDefinition": "fixed", "desiredCount": 2}),
    );
    for _ in 0..3 {
        ecs.reconcile().unwrap();
    }
    let placed = |ecs: &Ecs| -> Vec<Option<String>> {
        let arns = call(ecs, "ListTasks", json!({"cluster": "c"}))["taskArns"].clone();
        let d = call(ecs, "DescribeTasks", json!({"cluster": "c", "tasks": arns}));
        let mut out: Vec<Option<String>> = (d["tasks"].as_array().unwrap().iter())
            .map(|t| t["containerInstanceArn"].as_str().map(str::to_string))
            .collect();
        out.sort();
        out
    };
    assert_eq!(placed(&ecs), vec![None, Some(first.clone())]);
    let events: Vec<String> = service_named(&ecs, "web")["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    let id = first.rsplit('/').next().unwrap();
    let want = format!(
        "(service web) was unable to place a task because no container instance met all of \
         its requirements. The closest matching (container-instance {id}) is already using a \
         port required by your task. For more information, see the Troubleshooting section \
         of the Amazon ECS Developer Guide."
    );
    assert_eq!(
        events.iter().filter(|m| **m == want).count(),
        1,
        "{events:#?}"
    );
    // RunTask of the same definition: no room, ECS's reason.
    let run = call(
        &ecs,
        "RunTask",
        json!({"cluster": "c", "taskDefinition": "fixed"}),
    );
    assert_eq!(run["tasks"], json!([]));
    assert_eq!(
        run["failures"],
        json!([{"arn": first, "reason": "RESOURCE:PORTS"}])
    );
    // StartTask on that instance: the same.
    let start = call(
        &ecs,
        "StartTask",
        json!({"cluster": "c", "taskDefinition": "fixed", "containerInstances": [first]}),
    );
    assert_eq!(start["tasks"], json!([]));
    assert_eq!(
        start["failures"],
        json!([{"arn": first, "reason": "RESOURCE:PORTS"}])
    );
    // The instance lists the port in use (the dynamic one is not listed).
    let d = call(
        &ecs,
        "DescribeContainerInstances",
        json!({"cluster": "c", "containerInstances": [first]}),
    );
    let remaining = &d["containerInstances"][0]["remainingResources"];
    let ports = remaining
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "PORTS")
        .unwrap();
    assert_eq!(
        ports["stringSetValue"],
        json!(["22", "2375", "2376", "51678", "51679", "8080"])
    );
    // Another instance: the waiting task goes there.
    let second = register();
    ecs.reconcile().unwrap();
    let mut want = vec![Some(first), Some(second)];
    want.sort();
    assert_eq!(placed(&ecs), want);
}

fn service_named(ecs: &Ecs, name: &str) -> Value {
    call(
        ecs,
        "DescribeServices",
        json!({"cluster": "c", "services": [name]}),
    )["services"][0]
        .clone()
}
