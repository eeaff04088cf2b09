//! When a failed attempt is tried again: at most `retries.maxRetries` times, only for a
//! connect failure, a reset before any response byte, or a 503 answer, only when the
//! request body can be sent again, and only while the upstream's retry budget allows.
//! Each retry goes to an endpoint the request has not tried (the balancer excludes them).

use http::StatusCode;

use crate::error::ProxyError;

/// How an attempt ended, as far as retrying goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Attempt<'a> {
    /// The target answered with this status.
    Answered(StatusCode),
    /// The attempt failed.
    Failed(&'a ProxyError),
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Keep the outcome: it is final.
    Done,
    /// Try another endpoint, if the budget allows.
    Retry,
}

/// The retry policy of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Retries allowed (`retries.maxRetries`).
    pub max_retries: u32,
    /// Retries done so far.
    pub done: u32,
}

impl Policy {
    pub(crate) fn new(max_retries: u32) -> Policy {
        Policy {
            max_retries,
            done: 0,
        }
    }

    /// Whether another attempt could still follow this one (the request must then keep
    /// what it needs to be sent again).
    pub(crate) fn may_retry(&self) -> bool {
        self.done < self.max_retries
    }

    /// Decides after an attempt; `replayable` says whether the body can be sent again.
    pub(crate) fn decide(&self, attempt: Attempt<'_>, replayable: bool) -> Decision {
        let wanted = match attempt {
            Attempt::Answered(s) => s == StatusCode::SERVICE_UNAVAILABLE,
            Attempt::Failed(e) => e.retryable,
        };
        if wanted && replayable && self.may_retry() {
            Decision::Retry
        } else {
            Decision::Done
        }
    }

    /// A retry is going ahead.
    pub(crate) fn retrying(&mut self) {
        self.done += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Side};

    #[test]
    fn retries_connect_failures_resets_and_503_only() {
        let p = Policy::new(2);
        let connect = ProxyError::new(Side::Upstream, ErrorKind::Connect, true);
        let garbage = ProxyError::new(Side::Upstream, ErrorKind::Protocol, false);
        let timeout = ProxyError::new(Side::Upstream, ErrorKind::Timeout, false);
        assert_eq!(p.decide(Attempt::Failed(&connect), true), Decision::Retry);
        assert_eq!(p.decide(Attempt::Failed(&garbage), true), Decision::Done);
        assert_eq!(p.decide(Attempt::Failed(&timeout), true), Decision::Done);
        assert_eq!(
            p.decide(Attempt::Answered(StatusCode::SERVICE_UNAVAILABLE), true),
            Decision::Retry
        );
        assert_eq!(
            p.decide(Attempt::Answered(StatusCode::INTERNAL_SERVER_ERROR), true),
            Decision::Done
        );
        assert_eq!(
            p.decide(Attempt::Answered(StatusCode::OK), true),
            Decision::Done
        );
    }

    #[test]
    fn not_without_a_replayable_body_nor_past_the_limit() {
        let mut p = Policy::new(2);
        let connect = ProxyError::new(Side::Upstream, ErrorKind::Connect, true);
        assert_eq!(p.decide(Attempt::Failed(&connect), false), Decision::Done);
        p.retrying();
        assert!(p.may_retry());
        p.retrying();
        assert!(!p.may_retry());
        assert_eq!(p.decide(Attempt::Failed(&connect), true), Decision::Done);
        assert_eq!(
            Policy::new(0).decide(Attempt::Failed(&connect), true),
            Decision::Done
        );
    }
}
