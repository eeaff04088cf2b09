use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn addrs(n: u16) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| SocketAddr::from(([10, 0, 0, 1 + i as u8], 8080)))
        .collect()
}

fn od() -> OutlierDetection {
    OutlierDetection::default()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Reports `n` failures on `addr` at `now` (picking it with everything else excluded).
fn fail(b: &Balancer, addr: SocketAddr, n: u32, now: Instant) {
    let others: Vec<SocketAddr> = b
        .status(now)
        .iter()
        .map(|s| s.addr)
        .filter(|a| *a != addr)
        .collect();
    for _ in 0..n {
        let p = b.pick(&others, now).unwrap();
        assert_eq!(p.addr(), addr);
        p.failure(now);
    }
}

fn status_of(b: &Balancer, addr: SocketAddr, now: Instant) -> EndpointStatus {
    b.status(now).into_iter().find(|s| s.addr == addr).unwrap()
}

fn ejected(b: &Balancer, now: Instant) -> Vec<SocketAddr> {
    b.status(now)
        .into_iter()
        .filter(|s| s.ejected_for.is_some())
        .map(|s| s.addr)
        .collect()
}

#[test]
fn balancer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Balancer>();
    check::<Pick>();
    check::<RetryBudget>();
}

#[test]
fn empty_balancer_picks_nothing() {
    let b = Balancer::new(&[], LoadBalancing::RoundRobin, od());
    assert!(b.is_empty());
    assert_eq!(b.len(), 0);
    assert!(b.pick(&[], Instant::now()).is_none());
    let b = Balancer::new(&[], LoadBalancing::LeastRequest, od());
    assert!(b.pick(&[], Instant::now()).is_none());
}

#[test]
fn round_robin_is_even_and_in_order() {
    let a = addrs(3);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let now = Instant::now();
    let order: Vec<SocketAddr> = (0..6).map(|_| b.pick(&[], now).unwrap().addr()).collect();
    assert_eq!(order, [a[0], a[1], a[2], a[0], a[1], a[2]]);
    let mut counts = HashMap::new();
    for _ in 0..3000 {
        *counts.entry(b.pick(&[], now).unwrap().addr()).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 3);
    assert!(counts.values().all(|&c| c == 1000), "{counts:?}");
}

#[test]
fn round_robin_spreads_an_ejected_endpoints_share_evenly() {
    let a = addrs(3);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let now = Instant::now();
    fail(&b, a[1], 5, now);
    assert_eq!(ejected(&b, now), [a[1]]);
    let mut counts = HashMap::new();
    for _ in 0..1000 {
        *counts.entry(b.pick(&[], now).unwrap().addr()).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&a[1]), None);
    assert_eq!(counts[&a[0]], 500);
    assert_eq!(counts[&a[2]], 500);
}

#[test]
fn exclude_is_honoured() {
    let a = addrs(3);
    for policy in [LoadBalancing::RoundRobin, LoadBalancing::LeastRequest] {
        let b = Balancer::new(&a, policy, od());
        let now = Instant::now();
        for _ in 0..300 {
            let p = b.pick(&[a[0]], now).unwrap();
            assert_ne!(p.addr(), a[0]);
            assert_eq!(b.pick(&[a[0], a[2]], now).unwrap().addr(), a[1]);
        }
        // Everything excluded and no other endpoint: nothing to pick.
        assert!(b.pick(&a, now).is_none());
        // Excluded addresses that are not endpoints change nothing.
        let stranger = SocketAddr::from(([192, 168, 0, 1], 1));
        assert!(b.pick(&[stranger], now).is_some());
    }
}

#[test]
fn exclude_round_robin_still_covers_the_rest_evenly() {
    let a = addrs(4);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let now = Instant::now();
    let mut counts = HashMap::new();
    for _ in 0..900 {
        *counts
            .entry(b.pick(&[a[3]], now).unwrap().addr())
            .or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 3);
    assert!(counts.values().all(|&c| c == 300), "{counts:?}");
}

#[test]
fn least_request_prefers_the_idle_endpoint() {
    let a = addrs(2);
    let b = Balancer::new(&a, LoadBalancing::LeastRequest, od());
    let now = Instant::now();
    let first = b.pick(&[], now).unwrap();
    let busy = first.addr();
    let idle = if busy == a[0] { a[1] } else { a[0] };
    for _ in 0..100 {
        assert_eq!(b.pick(&[], now).unwrap().addr(), idle);
    }
    // Holding picks balances them: 2 endpoints, 10 held picks, 5 each.
    let held: Vec<Pick> = (0..9).map(|_| b.pick(&[], now).unwrap()).collect();
    let st = b.status(now);
    assert_eq!(st[0].in_flight, 5);
    assert_eq!(st[1].in_flight, 5);
    drop((first, held));

    // Three endpoints, one busy: the two choices always include an idle one.
    let a = addrs(3);
    let b = Balancer::new(&a, LoadBalancing::LeastRequest, od());
    let _held: Vec<Pick> = (0..10)
        .map(|_| b.pick(&[a[1], a[2]], now).unwrap())
        .collect();
    assert_eq!(status_of(&b, a[0], now).in_flight, 10);
    let mut counts = HashMap::new();
    for _ in 0..1000 {
        *counts.entry(b.pick(&[], now).unwrap().addr()).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&a[0]), None);
    // Ties between the idle ones are broken at random.
    assert!(counts[&a[1]] > 350 && counts[&a[2]] > 350, "{counts:?}");
}

#[test]
fn in_flight_counts_follow_picks() {
    let a = addrs(2);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let now = Instant::now();
    let p1 = b.pick(&[], now).unwrap();
    let p2 = b.pick(&[], now).unwrap();
    let p3 = b.pick(&[], now).unwrap();
    let counts: Vec<usize> = b.status(now).iter().map(|s| s.in_flight).collect();
    assert_eq!(counts, [2, 1]);
    p1.success();
    p2.failure(now);
    assert_eq!(status_of(&b, a[0], now).in_flight, 1);
    assert_eq!(status_of(&b, a[1], now).in_flight, 0);
    drop(p3);
    assert!(b.status(now).iter().all(|s| s.in_flight == 0));
}

#[test]
fn five_failures_eject_and_success_resets() {
    let a = addrs(3);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let t0 = Instant::now();
    fail(&b, a[0], 4, t0);
    assert_eq!(status_of(&b, a[0], t0).consecutive_failures, 4);
    b.pick(&[a[1], a[2]], t0).unwrap().success();
    assert_eq!(status_of(&b, a[0], t0).consecutive_failures, 0);
    fail(&b, a[0], 4, t0);
    assert!(ejected(&b, t0).is_empty());
    fail(&b, a[0], 1, t0);
    let st = status_of(&b, a[0], t0);
    assert_eq!(st.ejected_for, Some(secs(30)));
    assert_eq!(st.ejections, 1);
    assert_eq!(st.consecutive_failures, 0);
    for _ in 0..100 {
        assert_ne!(b.pick(&[], t0 + secs(29)).unwrap().addr(), a[0]);
    }
    assert_eq!(
        status_of(&b, a[0], t0 + secs(10)).ejected_for,
        Some(secs(20))
    );
    // Back by itself when the time is up, with a clean slate of failures.
    let t1 = t0 + secs(30);
    assert_eq!(status_of(&b, a[0], t1).ejected_for, None);
    let picked: Vec<SocketAddr> = (0..3).map(|_| b.pick(&[], t1).unwrap().addr()).collect();
    assert!(picked.contains(&a[0]));
    fail(&b, a[0], 4, t1);
    assert!(ejected(&b, t1).is_empty());
}

#[test]
fn custom_threshold() {
    let a = addrs(2);
    let outlier = OutlierDetection {
        consecutive_failures: 1,
        ..od()
    };
    let b = Balancer::new(&a, LoadBalancing::LeastRequest, outlier);
    let now = Instant::now();
    fail(&b, a[1], 1, now);
    assert_eq!(ejected(&b, now), [a[1]]);
}

#[test]
fn failures_while_ejected_do_not_count() {
    let a = addrs(2);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let t0 = Instant::now();
    // Picks taken before the ejection, failing after it.
    let late: Vec<Pick> = (0..10).map(|_| b.pick(&[a[1]], t0).unwrap()).collect();
    fail(&b, a[0], 5, t0);
    for p in late {
        p.failure(t0 + secs(1));
    }
    let st = status_of(&b, a[0], t0 + secs(1));
    assert_eq!(st.consecutive_failures, 0);
    assert_eq!(st.ejections, 1);
    assert_eq!(st.ejected_for, Some(secs(29)));
}

#[test]
fn ejection_grows_and_caps() {
    let a = addrs(2);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let mut now = Instant::now();
    let mut lengths = Vec::new();
    for _ in 0..12 {
        fail(&b, a[0], 5, now);
        let d = status_of(&b, a[0], now).ejected_for.unwrap();
        lengths.push(d.as_secs());
        now += d; // Fails again the moment it is back.
    }
    assert_eq!(
        lengths,
        [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]
    );
    assert_eq!(status_of(&b, a[0], now).ejections, 12);
}

#[test]
fn ejection_count_decays_while_healthy() {
    let a = addrs(2);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let t0 = Instant::now();
    fail(&b, a[0], 5, t0);
    fail(&b, a[0], 5, t0 + secs(30));
    assert_eq!(
        status_of(&b, a[0], t0 + secs(30)).ejected_for,
        Some(secs(60))
    );
    // Back at 90 s; healthy for 299 s: still 2.
    assert_eq!(status_of(&b, a[0], t0 + secs(90 + 299)).ejections, 2);
    // Healthy for 300 s: one less.
    assert_eq!(status_of(&b, a[0], t0 + secs(90 + 300)).ejections, 1);
    let t1 = t0 + secs(90 + 300);
    fail(&b, a[0], 5, t1);
    assert_eq!(status_of(&b, a[0], t1).ejected_for, Some(secs(60)));
    // Back at t1 + 60; 600 s later the count is 0 and the next ejection is 30 s.
    let t2 = t1 + secs(60 + 600);
    assert_eq!(status_of(&b, a[0], t2).ejections, 0);
    fail(&b, a[0], 5, t2);
    assert_eq!(status_of(&b, a[0], t2).ejected_for, Some(secs(30)));
}

#[test]
fn max_ejection_percent_is_respected() {
    let a = addrs(4);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let now = Instant::now();
    for &ep in &a {
        fail(&b, ep, 5, now);
    }
    assert_eq!(ejected(&b, now), [a[0], a[1]]);
    // The others stay over the threshold and are ejected once there is room.
    assert_eq!(status_of(&b, a[2], now).consecutive_failures, 5);
    let later = now + secs(30);
    assert!(ejected(&b, later).is_empty());
    fail(&b, a[2], 1, later);
    assert_eq!(ejected(&b, later), [a[2]]);

    // 2 endpoints at 10%: one can still be ejected, not two.
    let a = addrs(2);
    let outlier = OutlierDetection {
        max_ejection_percent: 10,
        ..od()
    };
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, outlier);
    fail(&b, a[0], 5, now);
    fail(&b, a[1], 5, now);
    assert_eq!(ejected(&b, now), [a[0]]);

    // 0% turns ejection off.
    let outlier = OutlierDetection {
        max_ejection_percent: 0,
        ..od()
    };
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, outlier);
    fail(&b, a[0], 5, now);
    assert!(ejected(&b, now).is_empty());

    // A lone endpoint at 50% is never ejected; at 100% it is.
    let one = addrs(1);
    let b = Balancer::new(&one, LoadBalancing::RoundRobin, od());
    fail(&b, one[0], 5, now);
    assert!(ejected(&b, now).is_empty());
    let outlier = OutlierDetection {
        max_ejection_percent: 100,
        ..od()
    };
    let b = Balancer::new(&one, LoadBalancing::RoundRobin, outlier);
    fail(&b, one[0], 5, now);
    assert_eq!(ejected(&b, now), one);
}

#[test]
fn panic_mode_when_all_are_ejected() {
    let a = addrs(2);
    let outlier = OutlierDetection {
        max_ejection_percent: 100,
        ..od()
    };
    for policy in [LoadBalancing::RoundRobin, LoadBalancing::LeastRequest] {
        let b = Balancer::new(&a, policy, outlier);
        let now = Instant::now();
        fail(&b, a[0], 5, now);
        fail(&b, a[1], 5, now);
        assert_eq!(ejected(&b, now), a);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            seen.insert(b.pick(&[], now).unwrap().addr());
        }
        assert_eq!(seen.len(), 2);
        // Exclusion still holds in panic mode.
        assert_eq!(b.pick(&[a[0]], now).unwrap().addr(), a[1]);
        assert!(b.pick(&a, now).is_none());
    }
    // A healthy excluded endpoint is not preferred to an ejected one that is not.
    let a = addrs(2);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let now = Instant::now();
    fail(&b, a[1], 5, now);
    assert_eq!(b.pick(&[a[0]], now).unwrap().addr(), a[1]);
}

#[test]
fn update_keeps_state_of_kept_endpoints() {
    let a = addrs(4);
    let b = Balancer::new(&a[..3], LoadBalancing::RoundRobin, od());
    let now = Instant::now();
    fail(&b, a[0], 5, now);
    fail(&b, a[1], 3, now);
    let held = b.pick(&[a[0], a[1]], now).unwrap();
    assert_eq!(held.addr(), a[2]);
    let removed = Arc::downgrade(&b.shared.set.load().endpoints[2]);

    b.update(&[a[3], a[1], a[0]], LoadBalancing::LeastRequest, od());
    assert_eq!(b.len(), 3);
    let st = b.status(now);
    assert_eq!(
        st.iter().map(|s| s.addr).collect::<Vec<_>>(),
        [a[3], a[1], a[0]]
    );
    assert_eq!(
        st[0],
        EndpointStatus {
            addr: a[3],
            in_flight: 0,
            consecutive_failures: 0,
            ejections: 0,
            ejected_for: None,
        }
    );
    assert_eq!(st[1].consecutive_failures, 3);
    assert_eq!(st[2].ejected_for, Some(secs(30)));
    assert_eq!(st[2].ejections, 1);
    // The removed endpoint lives on while a pick holds it, then goes.
    assert!(removed.upgrade().is_some());
    held.failure(now);
    assert!(removed.upgrade().is_none());
    // Picks see the new list.
    for _ in 0..100 {
        let p = b.pick(&[], now).unwrap();
        assert!(p.addr() == a[3] || p.addr() == a[1]);
    }
    // Kept endpoints continue counting: two more failures reach the threshold, but
    // one of three is the limit at 50% and a[0] is out.
    fail(&b, a[1], 2, now);
    assert_eq!(status_of(&b, a[1], now).consecutive_failures, 5);
    assert_eq!(ejected(&b, now), [a[0]]);
    b.update(&a, LoadBalancing::LeastRequest, od());
    fail(&b, a[1], 1, now);
    assert_eq!(ejected(&b, now), [a[0], a[1]]);
    // An endpoint removed and added back starts over.
    b.update(&[a[3], a[1]], LoadBalancing::RoundRobin, od());
    b.update(&[a[3], a[1], a[0]], LoadBalancing::RoundRobin, od());
    assert_eq!(status_of(&b, a[0], now).ejections, 0);
    // Duplicates are ignored; an empty update empties.
    b.update(&[a[0], a[0]], LoadBalancing::RoundRobin, od());
    assert_eq!(b.len(), 1);
    b.update(&[], LoadBalancing::RoundRobin, od());
    assert!(b.is_empty());
    assert!(b.pick(&[], now).is_none());
}

#[test]
fn outlier_settings_apply_on_update() {
    let a = addrs(2);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let now = Instant::now();
    fail(&b, a[0], 2, now);
    let outlier = OutlierDetection {
        consecutive_failures: 3,
        base_ejection_seconds: 10,
        ..od()
    };
    b.update(&a, LoadBalancing::RoundRobin, outlier);
    fail(&b, a[0], 1, now);
    assert_eq!(status_of(&b, a[0], now).ejected_for, Some(secs(10)));
}

#[test]
fn failure_after_the_balancer_is_gone_is_harmless() {
    let a = addrs(1);
    let b = Balancer::new(&a, LoadBalancing::RoundRobin, od());
    let p = b.pick(&[], Instant::now()).unwrap();
    drop(b);
    p.failure(Instant::now());
}

#[test]
fn stress_many_threads_counters_end_at_zero() {
    let a = addrs(8);
    for policy in [LoadBalancing::RoundRobin, LoadBalancing::LeastRequest] {
        let outlier = OutlierDetection {
            consecutive_failures: 3,
            base_ejection_seconds: 1,
            max_ejection_seconds: 5,
            max_ejection_percent: 50,
        };
        let b = Arc::new(Balancer::new(&a, policy, outlier));
        let t0 = Instant::now();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let b = Arc::clone(&b);
                let a = a.clone();
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    let mut picks = 0u64;
                    for i in 0..20_000u64 {
                        let now = t0 + Duration::from_millis(i / 10);
                        let exclude = if i % 7 == 0 { &a[..2] } else { &[][..] };
                        let p = b.pick(exclude, now).unwrap();
                        picks += 1;
                        // Endpoint 0 and 1 fail often; others mostly succeed.
                        let bad = p.addr() == a[0] || p.addr() == a[1];
                        match (i + t) % 5 {
                            0 => held.push(p),
                            1 | 2 if bad => p.failure(now),
                            1 => p.failure(now),
                            3 => drop(p),
                            _ => p.success(),
                        }
                        if held.len() > 16 {
                            held.drain(..8);
                        }
                        if t == 0 && i % 5000 == 0 {
                            let n = a.len() - (i / 5000) as usize % 3;
                            b.update(&a[..n], policy, outlier);
                        }
                    }
                    picks
                })
            })
            .collect();
        let picks: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(picks, 8 * 20_000);
        b.update(&a, policy, outlier);
        let st = b.status(t0);
        assert_eq!(st.len(), a.len());
        assert!(st.iter().all(|s| s.in_flight == 0), "{st:?}");
        // Never more than half ejected at once (looking after the last report: the
        // threads' clocks run at different speeds, so earlier instants would also see
        // ejections decided later).
        assert!(ejected(&b, t0 + secs(2)).len() <= 4);
    }
}
