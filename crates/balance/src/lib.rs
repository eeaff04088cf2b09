//! Load balancing for the berth proxy: which endpoint of an upstream each request
//! attempt goes to, which endpoints are taken out for failing, and how many retries
//! the upstream can take.
//!
//! # Balancing
//!
//! A [`Balancer`] holds one upstream's endpoints, in the order of the configuration
//! snapshot, and their state. [`Balancer::pick`] chooses among the *candidates*: the
//! endpoints that are neither excluded by the caller (endpoints this request already
//! tried) nor ejected. When every non-excluded endpoint is ejected, they all become
//! candidates again ("panic mode": better to try a suspect endpoint than to fail the
//! request outright).
//!
//! - **Round robin** ([`LoadBalancing::RoundRobin`]): a shared counter advances on
//!   every pick; the pick is the candidate at rank `counter % candidates`. With every
//!   endpoint a candidate, that is each endpoint in turn; an ejected endpoint's share
//!   spreads evenly over the others instead of going to its neighbour.
//! - **Least request** ([`LoadBalancing::LeastRequest`]): the power of two random
//!   choices — two distinct random candidates, and the one with fewer requests in
//!   flight (a random one of the two on a tie). It avoids both the herd behaviour of
//!   "always the least loaded" and the cost of scanning every endpoint.
//!
//! A [`Pick`] counts as in flight on its endpoint until it is reported
//! ([`Pick::success`], [`Pick::failure`]) or dropped.
//!
//! # Outlier detection
//!
//! Passive health checking as in Envoy: `consecutive_failures` failures in a row (5xx,
//! connect failure, reset, timeout) eject an endpoint for `base_ejection_seconds × n`,
//! where `n` counts its ejections (1, 2, 3, ...), capped at `max_ejection_seconds`
//! (30 s, 60 s, 90 s, ... 300 s by default). The ejection ends by itself when its time
//! is up, with the failure count reset. Every `max_ejection_seconds` an endpoint stays
//! healthy takes one off its ejection count, so an endpoint that recovered for good is
//! eventually treated as new. Failures reported while an endpoint is ejected (requests
//! already in flight, panic-mode picks) do not count.
//!
//! At most `max_ejection_percent` of the endpoints (rounded down) are ejected at once,
//! but with two or more endpoints one can always be ejected (unless the percentage is
//! 0, which turns ejection off). An endpoint that reaches
//! the threshold when the limit is reached stays in and is ejected on a later failure
//! once there is room.
//!
//! # Concurrency
//!
//! The endpoint list is an immutable snapshot behind an [`arc_swap::ArcSwap`]: a pick
//! loads it without locking, reads a few atomics, and increments the chosen endpoint's
//! in-flight count; it allocates nothing. A [`Pick`] holds its endpoint (one reference
//! count), so endpoints removed by [`Balancer::update`] live on until their last pick
//! is gone. Ejection decisions, rare, take a mutex so that the ejection limit holds.
//! Time is always passed in (`now`) and never read, so behaviour is deterministic
//! under test.
//!
//! # Retry budget
//!
//! [`RetryBudget`] limits retries to a share of the requests of the last ten seconds,
//! plus a floor per second, so that retries cannot turn a failing upstream into an
//! overloaded one.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use berth_balance::{Balancer, LoadBalancing, OutlierDetection, RetryBudget};
//!
//! let endpoints = ["10.0.0.1:8080".parse().unwrap(), "10.0.0.2:8080".parse().unwrap()];
//! let balancer = Balancer::new(&endpoints, LoadBalancing::RoundRobin, OutlierDetection::default());
//! let budget = RetryBudget::new(20, 10);
//!
//! let now = Instant::now();
//! budget.deposit(now);
//! let first = balancer.pick(&[], now).unwrap();
//! let tried = first.addr();
//! first.failure(now); // say, a 503
//! if budget.try_withdraw(now) {
//!     let retry = balancer.pick(&[tried], now).unwrap();
//!     assert_ne!(retry.addr(), tried);
//!     retry.success();
//! }
//! ```

#![warn(missing_docs)]

mod budget;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
pub use berth_proxy_config::{LoadBalancing, OutlierDetection};
use rand::Rng;

pub use budget::RetryBudget;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The endpoints of one upstream and their health; shared by all connections (Send +
/// Sync, cheap to share in an `Arc`).
pub struct Balancer {
    shared: Arc<Shared>,
}

/// What the balancer and its endpoints share.
struct Shared {
    /// The current snapshot.
    set: ArcSwap<Set>,
    /// The round-robin counter (kept across updates).
    rr: AtomicUsize,
    /// The instant ejection times count from: the `now` of the first ejection.
    epoch: OnceLock<Instant>,
    /// The latest end of any ejection so far (nanoseconds since `epoch`, 0: none).
    /// Once it has passed no endpoint is ejected and picks take the short path.
    ejected_until_max: AtomicU64,
    /// Serializes ejections and updates, so the ejection limit holds.
    lock: Mutex<()>,
}

/// One snapshot of the endpoints and settings.
struct Set {
    endpoints: Vec<Arc<Endpoint>>,
    policy: LoadBalancing,
    outlier: OutlierDetection,
}

/// One endpoint and its state.
struct Endpoint {
    addr: SocketAddr,
    in_flight: AtomicUsize,
    failures: AtomicU32,
    /// How many times it was ejected (before decay).
    ejections: AtomicU32,
    /// The end of its current or last ejection, in nanoseconds since the epoch; 0 when
    /// never ejected. It is ejected while this is in the future.
    ejected_until: AtomicU64,
    shared: Weak<Shared>,
}

impl Shared {
    /// `now` in nanoseconds since the epoch (0 before it, or before any ejection).
    fn nanos(&self, now: Instant) -> u64 {
        match self.epoch.get() {
            Some(epoch) => saturating_nanos(now.saturating_duration_since(*epoch)),
            None => 0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ejects `ep` if it is still over the failure threshold and the limit allows.
    fn try_eject(&self, ep: &Endpoint, now: Instant) {
        let _guard = self.lock();
        let set = self.set.load();
        if !set.endpoints.iter().any(|e| std::ptr::eq(&**e, ep)) {
            return; // Removed by an update meanwhile.
        }
        let od = set.outlier;
        self.epoch.get_or_init(|| now);
        let now_n = self.nanos(now);
        if ep.is_ejected(now_n) || ep.failures.load(Relaxed) < od.consecutive_failures.max(1) {
            return; // Ejected, or reset by a success, meanwhile.
        }
        let n = set.endpoints.len();
        let ejected = set.endpoints.iter().filter(|e| e.is_ejected(now_n)).count();
        let percent = od.max_ejection_percent.min(100) as usize;
        let limit = match percent {
            0 => 0, // Ejection turned off.
            p => (n * p / 100).max(usize::from(n >= 2)),
        };
        if ejected >= limit {
            return;
        }
        let count = ep.ejections_at(now_n, &od).saturating_add(1);
        let seconds = od
            .base_ejection_seconds
            .saturating_mul(u64::from(count))
            .min(od.max_ejection_seconds);
        let until = now_n.saturating_add(seconds.saturating_mul(NANOS_PER_SECOND));
        ep.ejections.store(count, Relaxed);
        ep.failures.store(0, Relaxed);
        ep.ejected_until.store(until, Relaxed);
        self.ejected_until_max.fetch_max(until, Relaxed);
    }
}

impl Endpoint {
    fn new(addr: SocketAddr, shared: Weak<Shared>) -> Endpoint {
        Endpoint {
            addr,
            in_flight: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            shared,
        }
    }

    fn is_ejected(&self, now_n: u64) -> bool {
        self.ejected_until.load(Relaxed) > now_n
    }

    /// The ejection count at `now_n`, after decay: one less for every
    /// `max_ejection_seconds` spent healthy since the last ejection ended.
    fn ejections_at(&self, now_n: u64, od: &OutlierDetection) -> u32 {
        let count = self.ejections.load(Relaxed);
        let until = self.ejected_until.load(Relaxed);
        if count == 0 || until > now_n {
            return count;
        }
        let period = od.max_ejection_seconds.saturating_mul(NANOS_PER_SECOND);
        if period == 0 {
            return 0;
        }
        let periods = (now_n - until) / period;
        count.saturating_sub(u32::try_from(periods).unwrap_or(u32::MAX))
    }

    fn record_failure(&self, now: Instant) {
        let Some(shared) = self.shared.upgrade() else {
            return; // The balancer is gone.
        };
        if self.is_ejected(shared.nanos(now)) {
            return;
        }
        let threshold = shared.set.load().outlier.consecutive_failures.max(1);
        let failures = self
            .failures
            .fetch_update(Relaxed, Relaxed, |f| Some(f.saturating_add(1)))
            .unwrap_or_else(|f| f)
            .saturating_add(1);
        if failures >= threshold {
            shared.try_eject(self, now);
        }
    }
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Set {
    fn build(
        endpoints: &[SocketAddr],
        policy: LoadBalancing,
        outlier: OutlierDetection,
        shared: &Weak<Shared>,
        old: Option<&Set>,
    ) -> Set {
        let old: HashMap<SocketAddr, &Arc<Endpoint>> = old
            .map(|s| s.endpoints.iter().map(|e| (e.addr, e)).collect())
            .unwrap_or_default();
        let mut seen = HashSet::with_capacity(endpoints.len());
        let endpoints = endpoints
            .iter()
            .filter(|a| seen.insert(**a))
            .map(|a| match old.get(a) {
                Some(e) => Arc::clone(e),
                None => Arc::new(Endpoint::new(*a, shared.clone())),
            })
            .collect();
        Set {
            endpoints,
            policy,
            outlier,
        }
    }
}

impl Balancer {
    /// A balancer over `endpoints` (in this order; duplicates are ignored), all healthy.
    pub fn new(
        endpoints: &[SocketAddr],
        policy: LoadBalancing,
        outlier: OutlierDetection,
    ) -> Balancer {
        let shared = Arc::new_cyclic(|weak| Shared {
            set: ArcSwap::from_pointee(Set::build(endpoints, policy, outlier, weak, None)),
            rr: AtomicUsize::new(0),
            epoch: OnceLock::new(),
            ejected_until_max: AtomicU64::new(0),
            lock: Mutex::new(()),
        });
        Balancer { shared }
    }

    /// Replaces the endpoint list (a new snapshot). Endpoints that stay keep their
    /// state (in-flight count, failures, ejection); new ones start healthy; removed
    /// ones are dropped once no [`Pick`] holds them. The new settings apply at once.
    pub fn update(
        &self,
        endpoints: &[SocketAddr],
        policy: LoadBalancing,
        outlier: OutlierDetection,
    ) {
        let _guard = self.shared.lock();
        let weak = Arc::downgrade(&self.shared);
        let old = self.shared.set.load();
        let set = Set::build(endpoints, policy, outlier, &weak, Some(&old));
        self.shared.set.store(Arc::new(set));
    }

    /// Chooses an endpoint for one attempt, not one of `exclude` (endpoints already
    /// tried by this request) when another exists, skipping ejected endpoints. When
    /// every candidate is ejected, it still returns one (better to try than to fail:
    /// "panic mode"). `None` only when there are no endpoints, or all are excluded.
    pub fn pick(&self, exclude: &[SocketAddr], now: Instant) -> Option<Pick> {
        let shared = &*self.shared;
        let set = shared.set.load();
        let eps = &set.endpoints;
        if eps.is_empty() {
            return None;
        }
        let now_n = shared.nanos(now);
        let index = if exclude.is_empty() && now_n >= shared.ejected_until_max.load(Relaxed) {
            // Nothing excluded, nothing ejected: every endpoint is a candidate.
            choose(shared, &set, eps.len(), |k| k)
        } else {
            let healthy = |e: &Endpoint| !e.is_ejected(now_n) && !exclude.contains(&e.addr);
            let allowed = |e: &Endpoint| !exclude.contains(&e.addr);
            let h = eps.iter().filter(|e| healthy(e)).count();
            if h > 0 {
                choose(shared, &set, h, |k| nth(eps, k, healthy))
            } else {
                let a = eps.iter().filter(|e| allowed(e)).count();
                if a == 0 {
                    return None;
                }
                choose(shared, &set, a, |k| nth(eps, k, allowed))
            }
        };
        let ep = Arc::clone(&eps[index]);
        ep.in_flight.fetch_add(1, Relaxed);
        Some(Pick { ep })
    }

    /// A point-in-time view for the admin endpoint and metrics, in snapshot order.
    pub fn status(&self, now: Instant) -> Vec<EndpointStatus> {
        let set = self.shared.set.load();
        let now_n = self.shared.nanos(now);
        set.endpoints
            .iter()
            .map(|e| {
                let until = e.ejected_until.load(Relaxed);
                EndpointStatus {
                    addr: e.addr,
                    in_flight: e.in_flight.load(Relaxed),
                    consecutive_failures: e.failures.load(Relaxed),
                    ejections: e.ejections_at(now_n, &set.outlier),
                    ejected_for: (until > now_n).then(|| Duration::from_nanos(until - now_n)),
                }
            })
            .collect()
    }

    /// The number of endpoints (ejected ones included).
    pub fn len(&self) -> usize {
        self.shared.set.load().endpoints.len()
    }

    /// True when there are no endpoints at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Balancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.shared.set.load();
        f.debug_struct("Balancer")
            .field("policy", &set.policy)
            .field(
                "endpoints",
                &set.endpoints.iter().map(|e| e.addr).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The index of the `k`-th endpoint (from 0) that passes `f`.
fn nth(eps: &[Arc<Endpoint>], k: usize, f: impl Fn(&Endpoint) -> bool) -> usize {
    eps.iter()
        .enumerate()
        .filter(|(_, e)| f(e))
        .nth(k)
        .map_or(0, |(i, _)| i)
}

/// Chooses among `count` (> 0) candidates; `index(k)` maps a candidate's rank to its
/// index in the set.
fn choose(shared: &Shared, set: &Set, count: usize, index: impl Fn(usize) -> usize) -> usize {
    match set.policy {
        LoadBalancing::RoundRobin => index(shared.rr.fetch_add(1, Relaxed) % count),
        LoadBalancing::LeastRequest => {
            if count == 1 {
                return index(0);
            }
            let mut rng = rand::thread_rng();
            let a = rng.gen_range(0..count);
            let mut b = rng.gen_range(0..count - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (index(a), index(b));
            let (fa, fb) = (
                set.endpoints[a].in_flight.load(Relaxed),
                set.endpoints[b].in_flight.load(Relaxed),
            );
            match fa.cmp(&fb) {
                std::cmp::Ordering::Less => a,
                std::cmp::Ordering::Greater => b,
                std::cmp::Ordering::Equal => {
                    if rng.gen() {
                        a
                    } else {
                        b
                    }
                }
            }
        }
    }
}

/// One attempt on one endpoint; counts as in flight until reported or dropped.
///
/// Dropping a `Pick` without reporting (the client went away, a 4xx, ...) only releases
/// the in-flight count.
pub struct Pick {
    ep: Arc<Endpoint>,
}

impl Pick {
    /// The endpoint to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.ep.addr
    }

    /// A response that is not a 5xx: resets the endpoint's consecutive failures.
    pub fn success(self) {
        if self.ep.failures.load(Relaxed) != 0 {
            self.ep.failures.store(0, Relaxed);
        }
    }

    /// A 5xx response, a connect failure, a reset or a timeout: counts toward ejection.
    pub fn failure(self, now: Instant) {
        self.ep.record_failure(now);
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        self.ep.in_flight.fetch_sub(1, Relaxed);
    }
}

impl fmt::Debug for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pick").field("addr", &self.ep.addr).finish()
    }
}

/// One endpoint's state at one instant, for the admin endpoint and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStatus {
    /// The endpoint.
    pub addr: SocketAddr,
    /// Picks not yet reported or dropped.
    pub in_flight: usize,
    /// Failures since the last success or ejection.
    pub consecutive_failures: u32,
    /// Its ejection count (after decay): the next ejection lasts one more base period.
    pub ejections: u32,
    /// How much longer it stays ejected; `None` when it is not.
    pub ejected_for: Option<Duration>,
}

#[cfg(test)]
mod tests;
