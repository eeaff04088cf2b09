//! berth's demo applications: small HTTP/1.1 servers (hyper 1) that stand in for the
//! container images of the seeds in berth's examples, so that a walkthrough shows real
//! requests going through the berth proxies from one service to the next.
//!
//! | app               | default listen | routes                                                                 |
//! |-------------------|----------------|------------------------------------------------------------------------|
//! | `retail-catalog`  | `0.0.0.0:8080` | `GET /health`, `GET /catalogue`, `GET /catalogue/{id}`                 |
//! | `retail-orders`   | `0.0.0.0:8080` | `GET /actuator/health`, `GET /health`, `GET /orders`, `POST /orders`   |
//! | `retail-checkout` | `0.0.0.0:8080` | `GET /health`, `GET /checkout/{customer}`, `POST /checkout/{customer}/submit` (→ orders) |
//! | `retail-ui`       | `0.0.0.0:8080` | `GET /actuator/health`, `GET /health`, `GET /` (→ catalog, orders, checkout), `POST /cart/checkout` (→ checkout → orders) |
//! | `cats`, `dogs`    | `0.0.0.0:80`   | `GET /` and `GET /health` (health), `GET /cats/` (`/dogs/`)            |
//! | `web`             | `0.0.0.0:80`   | `GET /health`, `GET /` (→ `$CATS_URL`, `$DOGS_URL`)                    |
//!
//! `PORT` overrides the port ([`App::listen_from_env`]). The upstreams are named by the
//! seeds' variables: `RETAIL_UI_ENDPOINTS_CATALOG`, `RETAIL_UI_ENDPOINTS_ORDERS`,
//! `RETAIL_UI_ENDPOINTS_CHECKOUT`, `RETAIL_CHECKOUT_ENDPOINTS_ORDERS` (`http://host[:port][/base]`;
//! a missing one is a 500 naming it) and, for `web`, `CATS_URL` (default
//! `http://cats/cats/`) and `DOGS_URL` (default `http://dogs/dogs/`). Upstream calls
//! are plain HTTP/1.1 with a keep-alive pool and a 5 s timeout; a failed or non-2xx
//! call makes the caller answer 502 and say which upstream failed.
//!
//! Every response carries `x-demo-served-by: <app>/<task id>` (the task id is the last
//! `/` segment of `ECS_TASK_ARN`, else `HOSTNAME`, else `local`), and every JSON body
//! has `"servedBy"` with the same value. Each request is logged as one line on stdout
//! (what `berth logs` shows). [`serve`] stops accepting when its shutdown future
//! completes, lets open requests finish (up to 5 s) and returns.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

mod client;
mod http;
mod pets;
mod retail;

/// The response header naming the app and task that answered.
pub const SERVED_BY_HEADER: &str = "x-demo-served-by";

/// Errors of the demo applications.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name that is not one of [`App::ALL`].
    #[error("unknown demo application {0:?} (known: retail-ui, retail-catalog, retail-orders, retail-checkout, cats, dogs, web)")]
    UnknownApp(String),
    /// `PORT` is set but not a port number.
    #[error("PORT={0:?} is not a port number")]
    BadPort(String),
    /// The listening socket could not be made.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The listener's own address is unknown.
    #[error("the listener's address: {0}")]
    LocalAddr(std::io::Error),
}

/// The result of this crate's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One of the demo applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum App {
    /// The retail store's front (`retail-store-sample-ui`).
    RetailUi,
    /// The retail store's product catalog (`retail-store-sample-catalog`).
    RetailCatalog,
    /// The retail store's orders (`retail-store-sample-orders`).
    RetailOrders,
    /// The retail store's carts and checkout (`retail-store-sample-checkout`).
    RetailCheckout,
    /// Seed 004's `cats`.
    Cats,
    /// Seed 004's `dogs`.
    Dogs,
    /// Seed 004's `web`, the client of cats and dogs.
    Web,
}

impl App {
    /// Every app, in a fixed order.
    pub const ALL: [App; 7] = [
        App::RetailUi,
        App::RetailCatalog,
        App::RetailOrders,
        App::RetailCheckout,
        App::Cats,
        App::Dogs,
        App::Web,
    ];

    /// The app's name (`retail-ui`, ..., `web`), what [`FromStr`] takes.
    pub fn name(self) -> &'static str {
        match self {
            App::RetailUi => "retail-ui",
            App::RetailCatalog => "retail-catalog",
            App::RetailOrders => "retail-orders",
            App::RetailCheckout => "retail-checkout",
            App::Cats => "cats",
            App::Dogs => "dogs",
            App::Web => "web",
        }
    }

    /// The port of the seed's container: 8080 for the retail store, 80 for cats and dogs.
    pub fn default_port(self) -> u16 {
        match self {
            App::RetailUi | App::RetailCatalog | App::RetailOrders | App::RetailCheckout => 8080,
            App::Cats | App::Dogs | App::Web => 80,
        }
    }

    /// `0.0.0.0:<port>`, the port from `PORT` if set (and not empty), else
    /// [`default_port`](App::default_port).
    pub fn listen_from_env(self) -> Result<SocketAddr> {
        let port = match std::env::var("PORT") {
            Ok(p) if !p.trim().is_empty() => {
                p.trim().parse::<u16>().map_err(|_| Error::BadPort(p))?
            }
            _ => self.default_port(),
        };
        Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
    }
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for App {
    type Err = Error;

    fn from_str(s: &str) -> Result<App> {
        App::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::UnknownApp(s.to_string()))
    }
}

/// What an app reads from its environment, captured once (so tests can run several apps
/// in one process, each with its own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The task id of `servedBy` (see [`task_id`]).
    pub task_id: String,
    /// Environment variables (the apps read their upstreams' here).
    pub vars: BTreeMap<String, String>,
}

impl Config {
    /// The process environment.
    pub fn from_env() -> Config {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        Config {
            task_id: task_id(
                vars.get("ECS_TASK_ARN").map(String::as_str),
                vars.get("HOSTNAME").map(String::as_str),
            ),
            vars,
        }
    }

    /// No variables, task id `task_id`.
    pub fn new(task_id: &str) -> Config {
        Config {
            task_id: task_id.to_string(),
            vars: BTreeMap::new(),
        }
    }

    /// With the variable `name` set to `value`.
    pub fn with_var(mut self, name: &str, value: &str) -> Config {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    /// The variable `name`, unless unset or empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// The task id of `servedBy`: the last `/` segment of the task ARN, else the host
/// name, else `local` (empty values count as unset).
pub fn task_id(task_arn: Option<&str>, hostname: Option<&str>) -> String {
    let arn = task_arn
        .and_then(|a| a.trim().rsplit('/').next())
        .filter(|s| !s.is_empty());
    let host = hostname.map(str::trim).filter(|s| !s.is_empty());
    arn.or(host).unwrap_or("local").to_string()
}

/// Runs `app` on `listen` with the process environment ([`Config::from_env`]) until
/// `shutdown` completes.
pub async fn serve(app: App, listen: SocketAddr, shutdown: impl Future) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
    serve_with(app, listener, Config::from_env(), shutdown).await
}

/// Runs `app` on a bound listener with `config` until `shutdown` completes; then stops
/// accepting, closes idle connections, lets requests in flight finish (up to 5 s) and
/// returns.
pub async fn serve_with(
    app: App,
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future,
) -> Result<()> {
    http::serve(app, listener, config, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for app in App::ALL {
            assert_eq!(app.name().parse::<App>().unwrap(), app);
            assert_eq!(app.to_string(), app.name());
        }
        let e = "nginx".parse::<App>().unwrap_err();
        assert!(e.to_string().contains("\"nginx\""), "{e}");
        assert!(e.to_string().contains("retail-checkout"), "{e}");
    }

    #[test]
    fn task_id_prefers_the_arn() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:task/retail/0f3c9a";
        assert_eq!(task_id(Some(arn), Some("host")), "0f3c9a");
        assert_eq!(task_id(None, Some("host")), "host");
        assert_eq!(task_id(Some(""), Some(" ")), "local");
        assert_eq!(task_id(None, None), "local");
    }

    #[test]
    fn ports() {
        assert_eq!(App::RetailUi.default_port(), 8080);
        assert_eq!(App::Cats.default_port(), 80);
        assert_eq!(App::Web.default_port(), 80);
    }

    #[test]
    fn config_vars() {
        let c = Config::new("t")
            .with_var("A", " http://a ")
            .with_var("B", "");
        assert_eq!(c.var("A"), Some("http://a"));
        assert_eq!(c.var("B"), None);
        assert_eq!(c.var("C"), None);
    }
}
