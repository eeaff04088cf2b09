use super::*;

fn hc(healthy: u32, unhealthy: u32, matcher: &str) -> HealthCheck {
    HealthCheck {
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        matcher: berth_proxy_config::alb::Matcher {
            http_code: matcher.into(),
        },
        ..HealthCheck::default()
    }
}

/// Runs `probes` through a new target's checker: after each, (state, reason,
/// description, whether it changed).
fn run(
    hc: &HealthCheck,
    probes: &[Probe],
) -> Vec<(TargetState, Option<TargetReason>, Option<String>, bool)> {
    let mut c = Checker::new(0);
    probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let changed = c.observe(p, hc, i as u64 + 1);
            let s = &c.status;
            (s.state, s.reason, s.description.clone(), changed)
        })
        .collect()
}

#[test]
fn a_new_target_starts_initial() {
    let c = Checker::new(42);
    assert_eq!(c.status.state, TargetState::Initial);
    assert_eq!(c.status.reason, Some(TargetReason::RegistrationInProgress));
    assert_eq!(
        c.status.description.as_deref(),
        Some("Target registration is in progress")
    );
    assert_eq!(c.status.since, 42);
}

#[test]
fn thresholds_move_targets() {
    use Probe::*;
    use TargetState::*;
    let ok = Status(200);
    let h = hc(3, 2, "200");
    // Initial: three passes in a row make it healthy; a failure in between restarts the
    // count.
    let r = run(
        &h,
        &[
            ok.clone(),
            ok.clone(),
            Failed,
            ok.clone(),
            ok.clone(),
            ok.clone(),
        ],
    );
    let states: Vec<_> = r.iter().map(|x| (x.0, x.3)).collect();
    assert_eq!(
        states,
        [
            (Initial, false),
            (Initial, false),
            (Initial, false),
            (Initial, false),
            (Initial, false),
            (Healthy, true)
        ]
    );
    assert_eq!(r[0].1, Some(TargetReason::InitialHealthChecking));
    assert_eq!(r[5].1, None);
    assert_eq!(r[5].2, None);
    // Healthy, then two failures in a row: unhealthy with the latest failure's reason.
    let r = run(
        &h,
        &[
            ok.clone(),
            ok.clone(),
            ok.clone(),
            Timeout,
            ok.clone(),
            Timeout,
            Timeout,
        ],
    );
    assert_eq!(r[2].0, Healthy);
    assert_eq!((r[3].0, r[3].3), (Healthy, false));
    assert_eq!((r[5].0, r[5].3), (Healthy, false));
    assert_eq!((r[6].0, r[6].3), (Unhealthy, true));
    assert_eq!(r[6].1, Some(TargetReason::Timeout));
    assert_eq!(r[6].2.as_deref(), Some("Request timed out"));
}

#[test]
fn reasons_and_descriptions_as_elb_shows_them() {
    use Probe::*;
    let h = hc(2, 2, "200-299");
    let r = run(&h, &[Status(503), Status(503)]);
    assert_eq!(r[1].0, TargetState::Unhealthy);
    assert_eq!(r[1].1, Some(TargetReason::ResponseCodeMismatch));
    assert_eq!(
        r[1].2.as_deref(),
        Some("Health checks failed with these codes: [503]")
    );
    // Still unhealthy: the reason follows the latest failure, no change is reported.
    let r = run(
        &h,
        &[Status(503), Status(503), Failed, Status(204), Status(299)],
    );
    assert_eq!((r[2].0, r[2].3), (TargetState::Unhealthy, false));
    assert_eq!(r[2].1, Some(TargetReason::FailedHealthChecks));
    assert_eq!(r[2].2.as_deref(), Some("Health checks failed"));
    // Any status the matcher takes passes: back to healthy after two.
    assert_eq!((r[3].0, r[3].3), (TargetState::Unhealthy, false));
    assert_eq!((r[4].0, r[4].3), (TargetState::Healthy, true));
    // A status outside the matcher, initial: unhealthy after the threshold.
    let r = run(&hc(5, 2, "200"), &[Status(301), Status(404)]);
    assert_eq!(r[1].0, TargetState::Unhealthy);
    assert_eq!(
        r[1].2.as_deref(),
        Some("Health checks failed with these codes: [404]")
    );
}

#[test]
fn who_gets_traffic() {
    use TargetState::*;
    let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let c: SocketAddr = "10.0.0.3:80".parse().unwrap();
    type Case = (
        &'static str,
        Vec<(SocketAddr, TargetState)>,
        Vec<SocketAddr>,
    );
    let cases: Vec<Case> = vec![
        (
            "healthy only",
            vec![(a, Healthy), (b, Unhealthy), (c, Initial)],
            vec![a],
        ),
        (
            "unavailable too",
            vec![(a, Unavailable), (b, Healthy)],
            vec![a, b],
        ),
        (
            "initial gets none",
            vec![(a, Initial), (b, Initial)],
            vec![],
        ),
        (
            "all unhealthy: fail open",
            vec![(a, Unhealthy), (b, Unhealthy)],
            vec![a, b],
        ),
        (
            "fail open leaves draining out",
            vec![(a, Unhealthy), (b, Draining), (c, Unhealthy)],
            vec![a, c],
        ),
        (
            "unhealthy and initial: none",
            vec![(a, Unhealthy), (b, Initial)],
            vec![],
        ),
        ("draining only", vec![(a, Draining)], vec![]),
        (
            "draining is not healthy",
            vec![(a, Draining), (b, Healthy)],
            vec![b],
        ),
        ("no targets", vec![], vec![]),
    ];
    for (name, targets, want) in cases {
        assert_eq!(routable(&targets), want, "{name}");
    }
}
