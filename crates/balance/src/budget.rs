//! The retry budget: retries as a share of recent requests, plus a floor.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How many one-second buckets the window holds.
const BUCKETS: usize = 10;

/// Limits retries to a share of requests plus a floor per second (Envoy/linkerd-style
/// budget), so that retries cannot multiply the load on an upstream that is already
/// failing.
///
/// Over a sliding window of [`RetryBudget::WINDOW`] (ten one-second buckets), the
/// budget counts the original requests ([`deposit`](RetryBudget::deposit)) and the
/// retries ([`try_withdraw`](RetryBudget::try_withdraw)). A retry may proceed while
/// the retries in the window stay under `percent`% of the requests in the window plus
/// `min_per_second` × the window's seconds. Fractions count: at 20%, every request
/// adds a fifth of a retry.
///
/// Lock-free on the request path: each bucket's count is one atomic word holding the
/// second it counts for and the count ([`Slot`]), so a deposit is one compare-and-swap.
/// Withdrawals (retries only) are serialized by a small mutex, so that checking the
/// budget and taking from it is one step.
#[derive(Debug)]
pub struct RetryBudget {
    percent: u64,
    min_per_second: u64,
    /// The instant second 0 starts at: the first `now` seen.
    epoch: OnceLock<Instant>,
    deposits: [Slot; BUCKETS],
    withdrawals: [Slot; BUCKETS],
    withdrawing: Mutex<()>,
}

/// One bucket's count: `second << 32 | count`, the count saturating at `u32::MAX` and
/// reset when a later second reuses the bucket.
#[derive(Debug, Default)]
struct Slot(AtomicU64);

const COUNT_MASK: u64 = u32::MAX as u64;

impl Slot {
    fn add(&self, second: u64) {
        let mut cur = self.0.load(Relaxed);
        loop {
            let (s, n) = (cur >> 32, cur & COUNT_MASK);
            let next = if s < second {
                second << 32 | 1
            } else {
                // The same second, or (an older `now`) a later one: counts there.
                s << 32 | (n + 1).min(COUNT_MASK)
            };
            if next == cur {
                return;
            }
            match self.0.compare_exchange_weak(cur, next, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(v) => cur = v,
            }
        }
    }

    /// The count, if it is for a second of the window ending at `second`.
    fn in_window(&self, second: u64) -> u64 {
        let v = self.0.load(Relaxed);
        if (v >> 32) + BUCKETS as u64 > second {
            v & COUNT_MASK
        } else {
            0
        }
    }
}

fn total(slots: &[Slot; BUCKETS], second: u64) -> u64 {
    slots.iter().map(|s| s.in_window(second)).sum()
}

impl RetryBudget {
    /// The length of the sliding window.
    pub const WINDOW: Duration = Duration::from_secs(BUCKETS as u64);

    /// A budget allowing retries up to `percent`% of requests plus `min_per_second`
    /// per second (both over the window), e.g. `RetryBudget::new(20, 10)`.
    pub fn new(percent: u32, min_per_second: u32) -> RetryBudget {
        RetryBudget {
            percent: u64::from(percent),
            min_per_second: u64::from(min_per_second),
            epoch: OnceLock::new(),
            deposits: Default::default(),
            withdrawals: Default::default(),
            withdrawing: Mutex::new(()),
        }
    }

    fn second(&self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(|| now);
        now.saturating_duration_since(epoch)
            .as_secs()
            .min(COUNT_MASK)
    }

    /// Every original request (not retries) deposits into the budget.
    pub fn deposit(&self, now: Instant) {
        let s = self.second(now);
        self.deposits[(s % BUCKETS as u64) as usize].add(s);
    }

    /// A retry may proceed only if this returns true (it then counts as withdrawn).
    pub fn try_withdraw(&self, now: Instant) -> bool {
        let _one_at_a_time = self.withdrawing.lock().unwrap_or_else(|e| e.into_inner());
        let s = self.second(now);
        let deposits = total(&self.deposits, s);
        let withdrawals = total(&self.withdrawals, s);
        // withdrawals + 1 <= deposits × percent / 100 + floor, without losing fractions.
        let allowed = deposits
            .saturating_mul(self.percent)
            .saturating_add(self.min_per_second * BUCKETS as u64 * 100);
        if withdrawals.saturating_add(1).saturating_mul(100) > allowed {
            return false;
        }
        self.withdrawals[(s % BUCKETS as u64) as usize].add(s);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn withdraw_all(b: &RetryBudget, now: Instant) -> usize {
        (0..100_000).take_while(|_| b.try_withdraw(now)).count()
    }

    #[test]
    fn floor_without_traffic() {
        let t0 = Instant::now();
        let b = RetryBudget::new(20, 10);
        // 10 per second over a 10 s window.
        assert_eq!(withdraw_all(&b, t0), 100);
        assert!(!b.try_withdraw(t0 + Duration::from_secs(5)));
        // The withdrawals leave the window after 10 s.
        assert_eq!(withdraw_all(&b, t0 + Duration::from_secs(10)), 100);
    }

    #[test]
    fn share_of_requests() {
        let t0 = Instant::now();
        let b = RetryBudget::new(20, 0);
        assert!(!b.try_withdraw(t0));
        for _ in 0..4 {
            b.deposit(t0);
        }
        // 20% of 4 is 0.8: not yet a whole retry.
        assert!(!b.try_withdraw(t0));
        b.deposit(t0);
        assert!(b.try_withdraw(t0));
        assert!(!b.try_withdraw(t0));
        for _ in 0..1000 {
            b.deposit(t0 + Duration::from_millis(500));
        }
        assert_eq!(withdraw_all(&b, t0 + Duration::from_secs(1)), 200);
        // The deposits expire with the window, and so do the withdrawals.
        assert_eq!(withdraw_all(&b, t0 + Duration::from_secs(10)), 0);
        b.deposit(t0 + Duration::from_secs(20));
        assert_eq!(withdraw_all(&b, t0 + Duration::from_secs(20)), 0);
    }

    #[test]
    fn percent_and_floor_add_up() {
        let t0 = Instant::now();
        let b = RetryBudget::new(50, 1);
        for _ in 0..10 {
            b.deposit(t0);
        }
        assert_eq!(withdraw_all(&b, t0), 5 + 10);
    }

    #[test]
    fn concurrent_deposits_all_count() {
        let t0 = Instant::now();
        let b = RetryBudget::new(1, 0);
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..25_000 {
                        b.deposit(t0);
                    }
                });
            }
        });
        // 1% of 100,000.
        assert_eq!(withdraw_all(&b, t0), 1000);
    }

    #[test]
    fn sliding_window_drops_old_seconds_one_by_one() {
        let t0 = Instant::now();
        let b = RetryBudget::new(100, 0);
        for s in 0..10 {
            b.deposit(t0 + Duration::from_secs(s));
        }
        assert_eq!(withdraw_all(&b, t0 + Duration::from_secs(9)), 10);
        // At second 10, second 0 (one deposit) has left the window: 9 deposits, and
        // the 10 withdrawals of second 9 remain.
        assert_eq!(withdraw_all(&b, t0 + Duration::from_secs(10)), 0);
        assert_eq!(withdraw_all(&b, t0 + Duration::from_secs(19)), 0);
        // At second 19 seconds 0-9 have all left the window.
        for _ in 0..3 {
            b.deposit(t0 + Duration::from_secs(19));
        }
        assert_eq!(withdraw_all(&b, t0 + Duration::from_secs(19)), 3);
    }
}
