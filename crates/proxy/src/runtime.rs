//! The running proxy's shared core and snapshot application.
//!
//! Applying a snapshot: validate it, bind the listeners it adds (one socket per worker; a
//! failure leaves everything as it was), build the new [`State`] (reusing balancers,
//! pools, budgets), swap each kept listener's route, have every worker start the new
//! listeners and stop the removed ones (and wait until they all have), then publish the
//! state (`ArcSwap`) and report ready. Applies are serialized by an async mutex that the
//! request path never takes; requests only load `Arc`s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use berth_proxy_config::alb::TargetsReport;
use berth_proxy_config::AnySnapshot;
use berth_telemetry::Metrics;
use tokio::sync::oneshot;

use crate::error::ApplyError;
use crate::health::HealthReport;
use crate::listener::WorkerStatus;
use crate::serving::{ListenerShared, Serving, Settings};
use crate::state::{self, BuildCtx, LogWriterFactory, State};
use crate::worker::{self, Cmd, Worker};

/// The running proxy: what the admin endpoint and snapshot application work on.
pub(crate) struct Inner {
    /// What every listener and connection shares.
    pub serving: Arc<Serving>,
    pub metrics: Arc<Metrics>,
    pub current: ArcSwapOption<State>,
    pub ready: AtomicBool,
    log_writer: Option<LogWriterFactory>,
    health_report: HealthReport,
    listeners: tokio::sync::Mutex<Listeners>,
    workers: Vec<Worker>,
}

/// A listener bound for a snapshot: its configured address, the address it got, and
/// one socket per worker.
type Bound = (SocketAddr, SocketAddr, Vec<std::net::TcpListener>);

struct Listeners {
    open: HashMap<SocketAddr, Arc<ListenerShared>>,
    closed: bool,
}

/// Waits for every worker's acknowledgement (a worker that is gone does not block).
async fn acked(acks: Vec<oneshot::Receiver<()>>) {
    for a in acks {
        let _ = a.await;
    }
}

impl Inner {
    pub(crate) fn new(
        settings: Settings,
        max_header_bytes: usize,
        log_writer: Option<LogWriterFactory>,
        health_report: Box<dyn std::io::Write + Send>,
        workers: Vec<Worker>,
    ) -> Inner {
        Inner {
            serving: Arc::new(Serving::new(settings, max_header_bytes)),
            metrics: Arc::new(Metrics::new()),
            current: ArcSwapOption::empty(),
            ready: AtomicBool::new(false),
            log_writer,
            health_report: HealthReport::new(health_report),
            listeners: tokio::sync::Mutex::new(Listeners {
                open: HashMap::new(),
                closed: false,
            }),
            workers,
        }
    }

    /// How many workers serve connections.
    pub(crate) fn worker_count(&self) -> usize {
        self.workers.len()
    }

    pub(crate) fn worker_statuses(&self) -> Vec<WorkerStatus> {
        worker::statuses(&self.workers)
    }

    /// Applies `snapshot` (see the module documentation).
    pub(crate) async fn apply(self: &Arc<Self>, snapshot: AnySnapshot) -> Result<(), ApplyError> {
        snapshot.validate()?;
        let mut listeners = self.listeners.lock().await;
        if listeners.closed {
            return Err(ApplyError::Closed);
        }
        let prev = self.current.load_full();
        if let Some(p) = &prev {
            if snapshot.version() < p.version {
                return Err(ApplyError::Stale {
                    current: p.version,
                    offered: snapshot.version(),
                });
            }
            if snapshot.version() == p.version {
                return Ok(());
            }
        }
        // Bind what is new first: if one fails, nothing has changed.
        let bound = self.bind_new(&listeners, &snapshot)?;
        let version = snapshot.version();
        let ctx = BuildCtx {
            metrics: &self.metrics,
            connect_timeout: self.serving.settings.connect_timeout,
            log_writer: self.log_writer.as_ref(),
            workers: self.workers.len(),
            health_report: &self.health_report,
        };
        let state = match snapshot {
            AnySnapshot::ServiceConnect(s) => state::build(s, prev.as_deref(), &ctx)?,
            AnySnapshot::LoadBalancer(s) => crate::alb_state::build(s, prev.as_deref(), &ctx)?,
        };
        for (addr, route) in &state.routes {
            if let Some(shared) = listeners.open.get(addr) {
                shared.slot.store(Arc::clone(route));
            }
        }
        let mut acks = self.start(&mut listeners, bound, &state);
        acks.extend(self.stop_gone(&mut listeners, &state));
        acked(acks).await;
        if let Some(p) = &prev {
            for d in p.dims.difference(&state.dims) {
                self.metrics.remove_listener(d);
            }
            self.retire_load_balancer(p, &state);
        }
        if let Some(alb) = &state.alb {
            for g in alb.groups.values() {
                g.health.run();
            }
        }
        self.current.store(Some(Arc::new(state)));
        self.ready.store(true, SeqCst);
        tracing::info!(version, "snapshot applied");
        Ok(())
    }

    /// Stops the health checks of `prev`'s target groups that `state` no longer has, and
    /// drops the metrics of a load balancer `state` no longer runs.
    fn retire_load_balancer(&self, prev: &State, state: &State) {
        let Some(old) = &prev.alb else { return };
        let new = state.alb.as_ref().filter(|n| n.arn == old.arn);
        for (key, g) in &old.groups {
            let kept = new.and_then(|n| n.groups.get(key));
            if !kept.is_some_and(|k| Arc::ptr_eq(&k.health, &g.health)) {
                g.health.stop();
            }
        }
        if new.is_none() {
            self.metrics.remove_load_balancer(&old.dimension);
        }
    }

    /// The health of the load balancer's targets.
    pub(crate) fn targets(&self) -> TargetsReport {
        let state = self.current.load_full();
        let alb = state.as_ref().and_then(|s| s.alb.as_ref());
        TargetsReport {
            version: state.as_ref().map(|s| s.version),
            load_balancer_arn: alb.map(|a| a.arn.clone()),
            target_groups: (alb.into_iter())
                .flat_map(|a| a.groups.iter())
                .map(|(k, g)| (k.clone(), g.health.report()))
                .collect(),
        }
    }

    /// Binds the listeners `snapshot` has and nothing serves yet: (configured address,
    /// bound address, one socket per worker) each.
    fn bind_new(
        &self,
        listeners: &Listeners,
        snapshot: &AnySnapshot,
    ) -> Result<Vec<Bound>, ApplyError> {
        let wanted: Vec<SocketAddr> = match snapshot {
            AnySnapshot::ServiceConnect(s) => (s.egress.iter().map(|e| e.listen))
                .chain(s.ingress.iter().map(|g| g.listen))
                .collect(),
            AnySnapshot::LoadBalancer(s) => (s.load_balancer.listeners.iter())
                .map(|l| l.listen())
                .collect(),
        };
        let mut bound: Vec<Bound> = Vec::new();
        for addr in wanted {
            if listeners.open.contains_key(&addr) || bound.iter().any(|(a, ..)| *a == addr) {
                continue;
            }
            match worker::bind(addr, self.workers.len()) {
                Ok((local, sockets)) => bound.push((addr, local, sockets)),
                Err(source) => return Err(ApplyError::Bind { addr, source }),
            }
        }
        Ok(bound)
    }

    /// Hands each newly bound listener to every worker; returns their acknowledgements.
    fn start(
        &self,
        listeners: &mut Listeners,
        bound: Vec<Bound>,
        state: &State,
    ) -> Vec<oneshot::Receiver<()>> {
        let mut acks = Vec::new();
        for (addr, local, sockets) in bound {
            let route = Arc::clone(&state.routes[&addr]);
            let shared = Arc::new(ListenerShared::new(route, Arc::clone(&self.serving), local));
            for (w, listener) in self.workers.iter().zip(sockets) {
                let (done, ack) = oneshot::channel();
                w.send(Cmd::Start {
                    addr,
                    listener,
                    shared: Arc::clone(&shared),
                    done,
                });
                acks.push(ack);
            }
            listeners.open.insert(addr, shared);
        }
        acks
    }

    /// Stops, on every worker, the listeners `state` no longer has; returns their
    /// acknowledgements.
    fn stop_gone(&self, listeners: &mut Listeners, state: &State) -> Vec<oneshot::Receiver<()>> {
        let gone: Vec<SocketAddr> = listeners
            .open
            .keys()
            .filter(|a| !state.routes.contains_key(a))
            .copied()
            .collect();
        let mut acks = Vec::new();
        for addr in gone {
            listeners.open.remove(&addr);
            tracing::info!(%addr, "listener removed");
            for w in &self.workers {
                let (done, ack) = oneshot::channel();
                w.send(Cmd::Stop { addr, done });
                acks.push(ack);
            }
        }
        acks
    }

    /// The address a configured listener is bound to.
    pub(crate) async fn listener_addr(&self, listen: SocketAddr) -> Option<SocketAddr> {
        self.listeners
            .lock()
            .await
            .open
            .get(&listen)
            .map(|h| h.local)
    }

    /// Stops every listener and has the workers exit once their connections are done
    /// (after `grace` at most); no snapshot is applied after this.
    pub(crate) async fn close(&self, grace: Duration) {
        let mut listeners = self.listeners.lock().await;
        listeners.closed = true;
        listeners.open.clear();
        for w in &self.workers {
            w.send(Cmd::Exit { grace });
        }
    }

    /// Has the workers exit at once (the proxy is dropped without `shutdown`).
    pub(crate) fn abandon(&self) {
        for w in &self.workers {
            w.send(Cmd::Exit {
                grace: Duration::ZERO,
            });
        }
    }
}
