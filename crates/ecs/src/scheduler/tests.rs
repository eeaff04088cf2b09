//! Table tests of the scheduler's decisions: pure functions of records and time, so
//! each case is a few lines and the whole table runs in milliseconds.

use serde_json::json;

use super::placement::{self, Capacity};
use super::plan::{self, failed, failure_threshold, launch_backoff, Effect, Plan};
use crate::records::{
    DeploymentStatus, DesiredStatus, HealthStatus, RolloutState, Service, ServiceStatus, StopCode,
    Task, TaskStatus,
};
use crate::taskdef::{TaskDefinition, TransportProtocol};

const NOW: f64 = 1000.0;

/// A service with deployments `(id, status, rollout)`, the first one's task definition.
fn service(desired: i64, max: i64, min: i64, deployments: &[(&str, &str, &str)]) -> Service {
    let ds: Vec<_> = deployments
        .iter()
        .map(|(id, status, rollout)| {
            json!({"id": id, "status": status, "taskDefinition": format!("td:{id}"),
                   "desiredCount": 0, "pendingCount": 0, "runningCount": 0, "failedTasks": 0,
                   "createdAt": 1.0, "updatedAt": 1.0, "rolloutState": rollout})
        })
        .collect();
    serde_json::from_value(json!({
        "serviceArn": "arn:aws:ecs:r:1:service/c/web", "serviceName": "web",
        "clusterArn": "arn:aws:ecs:r:1:cluster/c", "status": "ACTIVE",
        "desiredCount": desired, "runningCount": 0, "pendingCount": 0,
        "taskDefinition": "td:d1",
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": false, "rollback": false},
                                    "maximumPercent": max, "minimumHealthyPercent": min},
        "deployments": ds, "events": [], "createdAt": 1.0, "tags": []
    }))
    .unwrap()
}

fn breaker(mut s: Service, rollback: bool) -> Service {
    s.deployment_configuration.deployment_circuit_breaker.enable = true;
    s.deployment_configuration
        .deployment_circuit_breaker
        .rollback = rollback;
    s
}

/// A task of deployment `dep`: `state` is `serving` (RUNNING), `pending`, `unhealthy`,
/// `failed` (stopped by itself at once) or `stopped` (stopped by the scheduler).
fn task(id: &str, dep: &str, state: &str, created: f64) -> Task {
    let mut t: Task = serde_json::from_value(json!({
        "taskArn": format!("arn:aws:ecs:r:1:task/c/{id}"), "clusterArn": "arn:aws:ecs:r:1:cluster/c",
        "taskDefinitionArn": format!("td:{dep}"), "lastStatus": "RUNNING", "desiredStatus": "RUNNING",
        "healthStatus": "UNKNOWN", "group": "service:web", "startedBy": dep, "version": 1,
        "createdAt": created, "containerInstanceArn": "arn:aws:ecs:r:1:container-instance/c/i",
        "containers": []
    }))
    .unwrap();
    match state {
        "serving" => t.started_at = Some(created),
        "pending" => t.last_status = TaskStatus::Pending,
        "unhealthy" => t.health_status = HealthStatus::Unhealthy,
        "failed" | "stopped" => {
            t.last_status = TaskStatus::Stopped;
            t.desired_status = DesiredStatus::Stopped;
            t.started_at = Some(created);
            t.stopped_at = Some(created + 1.0);
            t.stop_code = Some(if state == "failed" {
                StopCode::EssentialContainerExited
            } else {
                StopCode::ServiceSchedulerInitiated
            });
        }
        other => panic!("unknown state {other}"),
    }
    t
}

fn launches(p: &Plan) -> usize {
    p.effects
        .iter()
        .map(|e| match e {
            Effect::Launch(n) => *n,
            Effect::Event(_) => 0,
        })
        .sum()
}

fn stopped(p: &Plan) -> Vec<String> {
    let mut ids: Vec<String> = p
        .changed
        .iter()
        .filter(|t| t.desired_status == DesiredStatus::Stopped)
        .map(|t| t.id().to_string())
        .collect();
    ids.sort();
    ids
}

fn events(p: &Plan) -> Vec<&str> {
    p.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(m) => Some(m.as_str()),
            Effect::Launch(_) => None,
        })
        .collect()
}

/// Tasks from a compact spec: `o` old deployment serving, `n` new serving, `p` new
/// pending; ids `o1`, `n1`, `p1`, ... created in that order.
fn tasks(spec: &str) -> Vec<Task> {
    let mut out = Vec::new();
    for (i, c) in spec.chars().enumerate() {
        let created = 10.0 + i as f64;
        let (dep, state) = match c {
            'o' => ("d0", "serving"),
            'n' => ("d1", "serving"),
            'p' => ("d1", "pending"),
            other => panic!("unknown task kind {other}"),
        };
        out.push(task(&format!("{c}{i}"), dep, state, created));
    }
    out
}

#[test]
fn rolling_updates_stay_within_maximum_and_minimum_healthy_percent() {
    // (desired, max %, min %, tasks, launches, stops)
    let cases: &[(i64, i64, i64, &str, usize, usize)] = &[
        // Room for the whole new set: start it, keep every old task (all serve).
        (2, 200, 100, "oo", 2, 0),
        // No room above desired: nothing starts, nothing may stop (min 100 %).
        (2, 100, 100, "oo", 0, 0),
        // min 50 %: one old task may go, one new starts in its place next pass.
        (2, 100, 50, "oo", 0, 1),
        // 150 %: one new task fits above the two old ones.
        (2, 150, 100, "oo", 1, 0),
        // New ones pending: old ones must stay until the new ones serve.
        (2, 200, 100, "oopp", 0, 0),
        // One new serves: one old goes, keeping 2 serving.
        (2, 200, 100, "oonp", 0, 1),
        // Both new serve: both old go.
        (2, 200, 100, "oonn", 0, 2),
        // Scale down: three serving new tasks for a desired count of 1: the newest two go.
        (1, 200, 100, "nnn", 0, 2),
        // Scale up from nothing.
        (3, 200, 100, "", 3, 0),
    ];
    for &(desired, max, min, spec, want_launches, want_stops) in cases {
        let s = service(
            desired,
            max,
            min,
            &[
                ("d1", "PRIMARY", "IN_PROGRESS"),
                ("d0", "ACTIVE", "COMPLETED"),
            ],
        );
        let p = plan::plan(&s, &tasks(spec), NOW);
        let case = format!("desired {desired}, {max}/{min} %, tasks {spec:?}");
        assert_eq!(launches(&p), want_launches, "launches: {case}");
        assert_eq!(stopped(&p).len(), want_stops, "stops: {case}");
    }
}

#[test]
fn new_tasks_whose_targets_are_not_healthy_yet_do_not_serve() {
    // (tasks, waiting for their targets, stops, completed)
    let cases: &[(&str, &[&str], usize, bool)] = &[
        // Both new tasks' targets healthy: both old go, the deployment completes.
        ("oonn", &[], 2, false),
        // One new task's target still initial: only one old task may go.
        ("oonn", &["n3"], 1, false),
        // Neither: every old task stays, behind the load balancer still.
        ("oonn", &["n2", "n3"], 0, false),
        // Only new tasks left, one not healthy in its group: not completed yet.
        ("nn", &["n1"], 0, false),
        ("nn", &[], 0, true),
    ];
    for &(spec, waiting, want_stops, completed) in cases {
        let s = service(
            2,
            200,
            100,
            &[
                ("d1", "PRIMARY", "IN_PROGRESS"),
                ("d0", "ACTIVE", "COMPLETED"),
            ],
        );
        let waiting: std::collections::BTreeSet<String> =
            waiting.iter().map(|s| s.to_string()).collect();
        let p = plan::plan_waiting(&s, &tasks(spec), &waiting, NOW);
        let case = format!("tasks {spec:?}, waiting {waiting:?}");
        assert_eq!(stopped(&p).len(), want_stops, "stops: {case}");
        let done = p.service.deployments[0].rollout_state == Some(RolloutState::Completed);
        assert_eq!(done, completed, "completed: {case}");
    }
}

#[test]
fn scale_down_stops_the_newest_surplus_first() {
    let s = service(1, 200, 100, &[("d1", "PRIMARY", "COMPLETED")]);
    let p = plan::plan(&s, &tasks("nnn"), NOW);
    assert_eq!(stopped(&p), ["n1", "n2"]);
    let reason = p.changed[0].stopped_reason.as_deref().unwrap();
    assert_eq!(reason, "Scaling activity initiated by (deployment d1)");
}

#[test]
fn a_deployment_serving_its_count_completes_and_drops_the_others() {
    let s = service(
        2,
        200,
        100,
        &[
            ("d1", "PRIMARY", "IN_PROGRESS"),
            ("d0", "ACTIVE", "COMPLETED"),
        ],
    );
    let p = plan::plan(&s, &tasks("nn"), NOW);
    assert_eq!(p.service.deployments.len(), 1);
    let d = &p.service.deployments[0];
    assert_eq!(d.rollout_state, Some(RolloutState::Completed));
    assert_eq!(
        (d.running_count, d.pending_count, d.desired_count),
        (2, 0, 2)
    );
    assert_eq!(d.updated_at, NOW);
    assert_eq!(
        events(&p),
        [
            "(service web) (deployment d1) deployment completed.",
            "(service web) has reached a steady state."
        ]
    );
    assert_eq!(p.service.running_count, 2);
}

#[test]
fn counts_include_the_tasks_being_launched() {
    let s = service(3, 200, 100, &[("d1", "PRIMARY", "IN_PROGRESS")]);
    let p = plan::plan(&s, &tasks("n"), NOW);
    assert_eq!(launches(&p), 2);
    let d = &p.service.deployments[0];
    assert_eq!((d.running_count, d.pending_count), (1, 2));
    assert_eq!((p.service.running_count, p.service.pending_count), (1, 2));
    assert_eq!(d.rollout_state, Some(RolloutState::InProgress));
}

#[test]
fn unhealthy_tasks_are_replaced() {
    let s = service(2, 200, 100, &[("d1", "PRIMARY", "COMPLETED")]);
    let ts = vec![
        task("a", "d1", "serving", 10.0),
        task("b", "d1", "unhealthy", 11.0),
    ];
    let p = plan::plan(&s, &ts, NOW);
    assert_eq!(stopped(&p), ["b"]);
    assert_eq!(
        p.changed[0].stopped_reason.as_deref(),
        Some(plan::UNHEALTHY_REASON)
    );
    assert_eq!(launches(&p), 1);
    assert_eq!(
        events(&p)[..2],
        [
            "(service web) has stopped 1 running tasks: (task b).",
            "(service web) tasks (task b) failed container health checks."
        ]
    );
}

#[test]
fn the_circuit_breaker_fails_a_deployment_at_ecs_s_threshold_and_rolls_back() {
    // (desired, failed tasks, breaker, rollback, rollout after, PRIMARY after)
    let cases: &[(i64, usize, bool, bool, RolloutState, &str)] = &[
        (2, 2, true, true, RolloutState::InProgress, "d1"),
        (2, 3, true, false, RolloutState::Failed, "d1"),
        (2, 3, true, true, RolloutState::InProgress, "d0"),
        (2, 3, false, false, RolloutState::InProgress, "d1"),
        (10, 4, true, true, RolloutState::InProgress, "d1"),
        (10, 5, true, true, RolloutState::InProgress, "d0"),
    ];
    for &(desired, failures, on, rollback, want_rollout, want_primary) in cases {
        let mut s = service(
            desired,
            200,
            100,
            &[
                ("d1", "PRIMARY", "IN_PROGRESS"),
                ("d0", "ACTIVE", "COMPLETED"),
            ],
        );
        if on {
            s = breaker(s, rollback);
        }
        let mut ts = Vec::new();
        for i in 0..failures {
            ts.push(task(&format!("f{i}"), "d1", "failed", 20.0 + i as f64));
        }
        let p = plan::plan(&s, &ts, NOW);
        let case = format!("desired {desired}, {failures} failed, breaker {on}/{rollback}");
        let failed_dep = p.service.deployments.iter().find(|d| d.id == "d1").unwrap();
        assert_eq!(failed_dep.failed_tasks, failures as i64, "{case}");
        let primary = p.service.primary().unwrap();
        assert_eq!(primary.id, want_primary, "{case}");
        assert_eq!(
            p.service.deployments[0].id, want_primary,
            "listed first: {case}"
        );
        if want_primary == "d0" {
            assert_eq!(
                failed_dep.rollout_state,
                Some(RolloutState::Failed),
                "{case}"
            );
            assert_eq!(failed_dep.status, DeploymentStatus::Active, "{case}");
            assert_eq!(p.service.task_definition, "td:d0", "{case}");
        } else {
            assert_eq!(primary.rollout_state, Some(want_rollout), "{case}");
        }
        if want_rollout == RolloutState::Failed {
            assert_eq!(
                launches(&p),
                0,
                "a failed deployment starts nothing: {case}"
            );
        }
    }
}

#[test]
fn launches_back_off_after_three_failures_and_wake_when_it_ends() {
    let s = service(2, 200, 100, &[("d1", "PRIMARY", "IN_PROGRESS")]);
    let mut ts = Vec::new();
    for i in 0..4 {
        // Failed at 998 + ...; the latest at 999.
        let mut t = task(&format!("f{i}"), "d1", "failed", 990.0 + i as f64);
        t.stopped_at = Some(996.0 + i as f64);
        ts.push(t);
    }
    // 4 failures: 2 s back-off from the latest (999): due at 1001.
    let p = plan::plan(&s, &ts, NOW);
    assert_eq!(launches(&p), 0);
    assert_eq!(p.wake_at, Some(1001.0));
    let p = plan::plan(&s, &ts, 1001.0);
    assert_eq!(launches(&p), 2);
    assert_eq!(p.wake_at, None);
}

#[test]
fn a_draining_service_with_no_task_left_is_inactive() {
    let mut s = service(2, 200, 100, &[("d1", "PRIMARY", "COMPLETED")]);
    s.status = ServiceStatus::Draining;
    let p = plan::plan(&s, &tasks("n"), NOW);
    assert_eq!(stopped(&p), ["n0"], "draining: every task goes");
    assert_eq!(
        p.service.status,
        ServiceStatus::Draining,
        "until its agent stops it"
    );
    let p = plan::plan(&s, &[task("x", "d1", "stopped", 5.0)], NOW);
    assert_eq!(p.service.status, ServiceStatus::Inactive);
}

/// Carrying a plan out on the records (launched tasks pending), as `apply` does.
fn carried_out(p: &Plan, mut ts: Vec<Task>) -> (Service, Vec<Task>) {
    for c in &p.changed {
        let t = ts.iter_mut().find(|t| t.id() == c.id()).unwrap();
        *t = c.clone();
    }
    let primary = p.service.primary().unwrap().id.clone();
    for i in 0..launches(p) {
        let mut t = task(&format!("new{i}"), &primary, "pending", NOW);
        t.container_instance_arn = None;
        ts.push(t);
    }
    (p.service.clone(), ts)
}

#[test]
fn a_plan_carried_out_needs_nothing_more() {
    for spec in ["oo", "oonp", "oonn", "nnn", ""] {
        let s = service(
            2,
            200,
            50,
            &[
                ("d1", "PRIMARY", "IN_PROGRESS"),
                ("d0", "ACTIVE", "COMPLETED"),
            ],
        );
        let p = plan::plan(&s, &tasks(spec), NOW);
        let (s2, ts2) = carried_out(&p, tasks(spec));
        let again = plan::plan(&s2, &ts2, NOW);
        assert!(
            again.changed.is_empty() && launches(&again) == 0,
            "{spec}: {again:?}"
        );
        assert!(again.is_empty(&s2) || !again.effects.is_empty(), "{spec}");
    }
}

#[test]
fn the_circuit_breaker_threshold_is_ecs_s() {
    for (desired, threshold) in [(0, 3), (1, 3), (6, 3), (7, 4), (100, 50), (1000, 200)] {
        assert_eq!(failure_threshold(desired), threshold, "desired {desired}");
    }
}

#[test]
fn launches_back_off_from_one_second_doubling_to_a_minute() {
    for (failures, secs) in [(0, 0.0), (2, 0.0), (3, 1.0), (4, 2.0), (5, 4.0), (50, 60.0)] {
        assert_eq!(launch_backoff(failures), secs, "{failures} failures");
    }
}

#[test]
fn only_tasks_that_fail_to_start_count_as_failed() {
    // (stop code, reason, started, stopped, failed)
    let cases: &[(StopCode, &str, Option<f64>, f64, bool)] = &[
        (
            StopCode::EssentialContainerExited,
            "Essential container in task exited",
            Some(100.0),
            101.0,
            true,
        ),
        (
            StopCode::TaskFailedToStart,
            "CannotPullContainerError: x",
            None,
            101.0,
            true,
        ),
        // Ran a while, then died: not a failure to start.
        (
            StopCode::EssentialContainerExited,
            "Essential container in task exited",
            Some(100.0),
            200.0,
            false,
        ),
        // Asked to stop, or lost with its agent.
        (
            StopCode::UserInitiated,
            "Task stopped by user",
            Some(100.0),
            101.0,
            false,
        ),
        (
            StopCode::TaskFailedToStart,
            "Task stopped: the berth agent that ran it restarted",
            None,
            1.0,
            false,
        ),
        // Failed its health checks.
        (
            StopCode::ServiceSchedulerInitiated,
            plan::UNHEALTHY_REASON,
            Some(100.0),
            500.0,
            true,
        ),
    ];
    for &(code, reason, started, stopped, want) in cases {
        let mut t = task("t", "d1", "stopped", 0.0);
        t.stop_code = Some(code);
        t.stopped_reason = Some(reason.into());
        t.started_at = started;
        t.stopped_at = Some(stopped);
        assert_eq!(failed(&t), want, "{code} {reason}");
    }
    let mut running = task("t", "d1", "serving", 0.0);
    running.stop_code = Some(StopCode::EssentialContainerExited);
    assert!(!failed(&running), "not stopped yet");
}

fn demand(cpu: i64, memory: i64, ports: &[u16]) -> placement::Demand {
    placement::Demand {
        cpu,
        memory,
        ports: ports.iter().map(|p| (TransportProtocol::Tcp, *p)).collect(),
    }
}

#[test]
fn placement_spreads_within_registered_resources_and_free_ports() {
    use placement::{Shortfall, Unfit};
    let cap = |cpu, memory, tasks, ports: &[u16]| Capacity {
        cpu,
        memory,
        tasks,
        ports_used: ports.iter().map(|p| (TransportProtocol::Tcp, *p)).collect(),
        ..Capacity::default()
    };
    let unfit = |closest, shortfall| Err(Some(Unfit { closest, shortfall }));
    let reserved = &placement::AGENT_RESERVED_PORTS;
    // (what, instances, demands, placements)
    type Case = (
        &'static str,
        Vec<Capacity>,
        Vec<placement::Demand>,
        Vec<placement::Choice>,
    );
    let cases: Vec<Case> = vec![
        (
            "fewest tasks first, the first of equals",
            vec![cap(0, 0, 1, &[]), cap(0, 0, 0, &[])],
            vec![demand(0, 0, &[]); 3],
            vec![Ok(1), Ok(0), Ok(1)],
        ),
        (
            "room runs out: the third task waits, for CPU",
            vec![cap(1024, 2048, 0, &[])],
            vec![demand(512, 1024, &[]); 3],
            vec![Ok(0), Ok(0), unfit(0, Shortfall::Cpu)],
        ),
        (
            "memory decides",
            vec![cap(0, 1024, 0, &[]), cap(0, 4096, 5, &[])],
            vec![demand(0, 2048, &[])],
            vec![Ok(1)],
        ),
        (
            "memory short: said of the closest",
            vec![cap(0, 1024, 0, &[])],
            vec![demand(0, 2048, &[])],
            vec![unfit(0, Shortfall::Memory)],
        ),
        (
            "a fixed host port goes once per instance",
            vec![cap(0, 0, 0, reserved)],
            vec![demand(0, 0, &[8080]); 2],
            vec![Ok(0), unfit(0, Shortfall::Ports)],
        ),
        (
            "the second instance takes the second task with that port",
            vec![cap(0, 0, 0, reserved), cap(0, 0, 3, reserved)],
            vec![demand(0, 0, &[8080]); 3],
            vec![Ok(0), Ok(1), unfit(0, Shortfall::Ports)],
        ),
        (
            "the agent's reserved ports are no task's",
            vec![cap(0, 0, 0, reserved)],
            vec![demand(0, 0, &[22]), demand(0, 0, &[51678, 9000])],
            vec![unfit(0, Shortfall::Ports), unfit(0, Shortfall::Ports)],
        ),
        (
            "dynamic and awsvpc ports ask for none: any number fit",
            vec![cap(0, 0, 0, &[80])],
            vec![demand(0, 0, &[]); 3],
            vec![Ok(0), Ok(0), Ok(0)],
        ),
        (
            "the closest instance lacks the least: ports, not CPU and ports",
            vec![cap(512, 0, 0, &[80]), cap(0, 0, 9, &[80])],
            vec![demand(1024, 0, &[80])],
            vec![unfit(1, Shortfall::Ports)],
        ),
        (
            "a UDP port is not the TCP port of the same number",
            vec![cap(0, 0, 0, &[53])],
            vec![placement::Demand {
                ports: [(TransportProtocol::Udp, 53)].into(),
                ..placement::Demand::default()
            }],
            vec![Ok(0)],
        ),
        (
            "no instance: nothing placed, no closest",
            vec![],
            vec![demand(1, 1, &[])],
            vec![Err(None)],
        ),
    ];
    for (what, mut instances, demands, want) in cases {
        assert_eq!(placement::place(&demands, &mut instances), want, "{what}");
    }
}

#[test]
fn fixed_host_ports_by_network_mode() {
    let td = |mode: Option<&str>, mappings: serde_json::Value| -> TaskDefinition {
        let mut v = json!({
            "taskDefinitionArn": "arn:aws:ecs:r:1:task-definition/f:1", "family": "f",
            "revision": 1, "status": "ACTIVE", "registeredAt": 1.0, "registeredBy": "me",
            "containerDefinitions": [{"name": "app", "image": "busybox", "cpu": 0,
                                      "essential": true, "portMappings": mappings}],
        });
        if let Some(m) = mode {
            v["networkMode"] = json!(m);
        }
        serde_json::from_value(v).unwrap()
    };
    let tcp = |p| (TransportProtocol::Tcp, p);
    let mappings = json!([
        {"containerPort": 80, "hostPort": 8080, "protocol": "tcp"},
        {"containerPort": 81, "hostPort": 0, "protocol": "tcp"},
        {"containerPort": 53, "hostPort": 5353, "protocol": "udp"},
        {"containerPortRange": "9000-9010", "protocol": "tcp"}
    ]);
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<&str>, Vec<placement::HostPort>)> = vec![
        ("bridge: the fixed ones, not the dynamic ones", Some("bridge"),
         vec![(TransportProtocol::Udp, 5353), tcp(8080)]),
        ("no mode is bridge", None, vec![(TransportProtocol::Udp, 5353), tcp(8080)]),
        ("awsvpc: the task's own interface", Some("awsvpc"), vec![]),
    ];
    for (what, mode, want) in cases {
        let got: Vec<_> = placement::fixed_host_ports(Some(&td(mode, mappings.clone())))
            .into_iter()
            .collect();
        let mut want = want;
        want.sort();
        assert_eq!(got, want, "{what}");
    }
    let host = td(Some("host"), json!([{"containerPort": 80, "hostPort": 80}]));
    assert_eq!(placement::fixed_host_ports(Some(&host)), [tcp(80)].into());
    assert!(placement::fixed_host_ports(None).is_empty());
}

#[test]
fn only_tasks_on_instances_use_up_their_resources() {
    let mut t = task("t", "d1", "pending", 0.0);
    t.cpu = Some("512".into());
    t.memory = Some("1024".into());
    t.launch_type = Some(crate::records::LaunchType::Ec2);
    assert_eq!(placement::demand(&t, None), demand(512, 1024, &[]));
    t.launch_type = Some(crate::records::LaunchType::Fargate);
    assert_eq!(placement::demand(&t, None), demand(0, 0, &[]));
}

#[test]
fn an_unplaced_task_is_told_as_ecs_tells_it() {
    assert_eq!(
        super::apply::unplaced_event("web", "0a1b", placement::Shortfall::Ports),
        "(service web) was unable to place a task because no container instance met all of \
         its requirements. The closest matching (container-instance 0a1b) is already using a \
         port required by your task. For more information, see the Troubleshooting section of \
         the Amazon ECS Developer Guide."
    );
    assert!(
        super::apply::unplaced_event("web", "i", placement::Shortfall::Cpu)
            .contains("(container-instance i) has insufficient CPU units available.")
    );
}
