//! Draining: stop taking new connections on ingress, let in-flight work finish, then
//! report drained. The counters here are what `GET /drain` shows.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

/// Where draining stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainPhase {
    /// Taking connections as usual.
    Serving,
    /// Ingress listeners stopped; in-flight ingress work is finishing.
    Draining,
    /// Draining, and no ingress connection is open any more.
    Drained,
}

impl DrainPhase {
    /// `serving`, `draining` or `drained`.
    pub fn as_str(self) -> &'static str {
        match self {
            DrainPhase::Serving => "serving",
            DrainPhase::Draining => "draining",
            DrainPhase::Drained => "drained",
        }
    }
}

/// A point-in-time view of draining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainStatus {
    /// The phase.
    pub phase: DrainPhase,
    /// Ingress requests (HTTP) and connections (TCP) in flight.
    pub in_flight: usize,
    /// Ingress connections open.
    pub connections: usize,
}

/// The drain state of one proxy.
#[derive(Debug)]
pub(crate) struct Drain {
    draining: AtomicBool,
    signal: watch::Sender<bool>,
    connections: AtomicUsize,
    requests: AtomicUsize,
    changed: Notify,
}

impl Drain {
    pub(crate) fn new() -> Drain {
        Drain {
            draining: AtomicBool::new(false),
            signal: watch::Sender::new(false),
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    /// Starts draining (idempotent).
    pub(crate) fn start(&self) {
        if !self.draining.swap(true, SeqCst) {
            self.signal.send_replace(true);
            self.changed.notify_waiters();
        }
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(SeqCst)
    }

    /// Fires once when draining starts.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.signal.subscribe()
    }

    pub(crate) fn status(&self) -> DrainStatus {
        let connections = self.connections.load(SeqCst);
        let phase = if !self.is_draining() {
            DrainPhase::Serving
        } else if connections == 0 {
            DrainPhase::Drained
        } else {
            DrainPhase::Draining
        };
        DrainStatus {
            phase,
            in_flight: self.requests.load(Relaxed),
            connections,
        }
    }

    /// Waits until drained.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.status().phase == DrainPhase::Drained {
                return;
            }
            notified.await;
        }
    }

    /// An ingress connection opens; it counts until the guard drops.
    pub(crate) fn connection(self: &Arc<Self>) -> DrainConn {
        self.connections.fetch_add(1, SeqCst);
        DrainConn(Arc::clone(self))
    }

    pub(crate) fn request_started(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    pub(crate) fn request_ended(&self) {
        self.requests.fetch_sub(1, Relaxed);
    }
}

/// One open ingress connection.
#[derive(Debug)]
pub(crate) struct DrainConn(Arc<Drain>);

impl Drop for DrainConn {
    fn drop(&mut self) {
        if self.0.connections.fetch_sub(1, SeqCst) == 1 && self.0.is_draining() {
            self.0.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drained_after_the_last_connection() {
        let d = Arc::new(Drain::new());
        let c = d.connection();
        assert_eq!(d.status().phase, DrainPhase::Serving);
        d.start();
        assert_eq!(d.status().phase, DrainPhase::Draining);
        let waiter = tokio::spawn({
            let d = Arc::clone(&d);
            async move { d.drained().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        drop(c);
        waiter.await.unwrap();
        assert_eq!(d.status().phase, DrainPhase::Drained);
    }

    #[tokio::test]
    async fn drained_at_once_without_connections() {
        let d = Arc::new(Drain::new());
        d.start();
        d.drained().await;
        assert!(*d.subscribe().borrow());
    }
}
