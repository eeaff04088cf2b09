//! The per-request deadline of hyper's path (the fast path keeps one timer per
//! connection instead).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

/// A request's per-request deadline: one timer for the whole request, from its head to
/// the last byte of its response (the response body takes it over). Registered with the
/// runtime's timer only once something waits past a first poll.
pub(crate) struct Deadline(Option<Pin<Box<Sleep>>>);

impl Deadline {
    /// A deadline `after` from now; `None`: no limit.
    pub(crate) fn after(after: Option<Duration>) -> Deadline {
        Deadline(after.map(|d| Box::pin(tokio::time::sleep(d))))
    }

    /// Runs `fut` until the deadline; `None` when the deadline passed first. `fut` is
    /// polled first, so one that is ready at once never touches the timer. (A plain
    /// future, not an `async fn`: that one would hold `fut` twice, and a request's
    /// future is large enough already.)
    pub(crate) fn run<F: Future>(&mut self, fut: F) -> Until<'_, F> {
        Until {
            deadline: self,
            fut,
        }
    }

    /// Whether the deadline passed (registers `cx` to be woken when it does).
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.0 {
            Some(s) => s.as_mut().poll(cx).is_ready(),
            None => false,
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Deadline::run`]'s future.
    pub(crate) struct Until<'a, F> {
        deadline: &'a mut Deadline,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Until<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.project();
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Some(v));
        }
        if this.deadline.poll_expired(cx) {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}
