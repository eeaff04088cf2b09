//! The retry budget: retries as a share of recent requests, plus a floor.

use std::sync::Mutex;
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
/// One small mutex guards the counters: it is taken once per request and once per
/// retry, for a few additions.
#[derive(Debug)]
pub struct RetryBudget {
    percent: u64,
    min_per_second: u64,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// The instant second 0 starts at: the first `now` seen.
    epoch: Option<Instant>,
    buckets: [Bucket; BUCKETS],
}

#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    /// The second (since the epoch) these counts are for.
    second: u64,
    deposits: u64,
    withdrawals: u64,
}

impl Window {
    fn second(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch).as_secs()
    }

    /// The bucket of `second`, emptied first if it held an older second.
    fn bucket(&mut self, second: u64) -> &mut Bucket {
        let b = &mut self.buckets[(second % BUCKETS as u64) as usize];
        if b.second < second {
            *b = Bucket {
                second,
                ..Bucket::default()
            };
        }
        b
    }

    /// Deposits and withdrawals in the window ending at `second`.
    fn totals(&self, second: u64) -> (u64, u64) {
        self.buckets
            .iter()
            .filter(|b| b.second + BUCKETS as u64 > second)
            .fold((0, 0), |(d, w), b| (d + b.deposits, w + b.withdrawals))
    }
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
            window: Mutex::new(Window::default()),
        }
    }

    /// Every original request (not retries) deposits into the budget.
    pub fn deposit(&self, now: Instant) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let s = w.second(now);
        let b = w.bucket(s);
        b.deposits = b.deposits.saturating_add(1);
    }

    /// A retry may proceed only if this returns true (it then counts as withdrawn).
    pub fn try_withdraw(&self, now: Instant) -> bool {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let s = w.second(now);
        let (deposits, withdrawals) = w.totals(s);
        // withdrawals + 1 <= deposits × percent / 100 + floor, without losing fractions.
        let allowed = deposits
            .saturating_mul(self.percent)
            .saturating_add(self.min_per_second * BUCKETS as u64 * 100);
        if withdrawals.saturating_add(1).saturating_mul(100) > allowed {
            return false;
        }
        let b = w.bucket(s);
        b.withdrawals = b.withdrawals.saturating_add(1);
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
