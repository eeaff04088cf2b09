//! `berth up` waits for every service of its example, on a real server (no agent, so
//! a service that wants a task never runs): it says which service it still waits for,
//! and is done once every service runs its desired count.

mod common;

use std::time::Duration;

use berth_up::{Example, Waiting};
use serde_json::json;

const EXAMPLE: &str = r#"{
  "description": "two services, one that wants no task",
  "steps": [
    {"ecs": "CreateCluster", "input": {"clusterName": "c"}},
    {"ecs": "RegisterTaskDefinition", "input": {"family": "web", "memory": "128",
      "containerDefinitions": [{"name": "web", "image": "nginx"}]}},
    {"ecs": "CreateService", "input": {"cluster": "c", "serviceName": "idle", "taskDefinition": "web", "desiredCount": 0}},
    {"ecs": "CreateService", "input": {"cluster": "c", "serviceName": "web", "taskDefinition": "web", "desiredCount": 1}}
  ]
}"#;

#[tokio::test]
async fn waits_until_every_service_runs_and_says_which_it_waits_for() {
    let common::Running {
        server,
        client,
        _data,
    } = common::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("example.json"), EXAMPLE).unwrap();
    let mut example = Example::load(dir.path()).unwrap();
    example.apply(&client).await.unwrap();

    // web wants a task no agent runs: reported every 200 ms, then the wait gives up.
    let mut reports: Vec<Vec<Waiting>> = Vec::new();
    let every = Duration::from_millis(200);
    let wait = example.wait_running(&client, Duration::from_secs(2), every, |w| {
        reports.push(w.to_vec())
    });
    let err = wait.await.unwrap_err().to_string();
    assert!(
        err.contains("not running after 2 s: web (c): 0 of 1 tasks running"),
        "{err}"
    );
    assert!(!err.contains("idle"), "{err}");
    assert!(reports.len() >= 3, "{reports:?}");
    for r in &reports {
        let said: Vec<String> = r.iter().map(ToString::to_string).collect();
        assert_eq!(said, ["web (c): 0 of 1 tasks running"]);
    }

    // Wanting no task, it runs as asked: the wait is over, with nothing to report.
    client
        .ecs(
            "UpdateService",
            &json!({"cluster": "c", "service": "web", "desiredCount": 0}),
        )
        .await
        .unwrap();
    let reach = example
        .wait_running(
            &client,
            Duration::from_secs(10),
            Duration::from_secs(60),
            |w| panic!("still waiting for {w:?}"),
        )
        .await
        .unwrap();
    assert!(reach.is_empty());
    server.shutdown().await;
}
