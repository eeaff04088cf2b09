//! The real apps on loopback ephemeral ports: each route, the whole retail chain
//! (ui → catalog, orders, checkout; checkout → orders), web → cats and dogs, 502 when an
//! upstream is down, 500 when an upstream variable is missing, and a clean shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use berth_demo::{App, Config, SERVED_BY_HEADER};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running app; dropping it shuts it down.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<berth_demo::Result<()>>>,
}

impl Running {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts down; returns what `serve_with` returned.
    async fn stop(mut self) -> berth_demo::Result<()> {
        let _ = self.stop.take().expect("once").send(());
        tokio::time::timeout(Duration::from_secs(10), self.task.take().expect("once"))
            .await
            .expect("serve returns after shutdown")
            .expect("serve does not panic")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start(app: App, config: Config) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(berth_demo::serve_with(app, listener, config, async {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task: Some(task),
    }
}

/// An address nothing listens on.
async fn closed_port() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

struct Answer {
    status: u16,
    served_by: String,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn send(method: Method, url: &str, accept: &str, body: Option<Value>) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header("accept", accept);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(15), client.request(req))
        .await
        .expect("an answer in time")
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let served_by = header(SERVED_BY_HEADER);
    let content_type = header("content-type");
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        served_by,
        content_type,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(url: &str) -> Answer {
    send(Method::GET, url, "application/json", None).await
}

async fn post(url: &str, body: Option<Value>) -> Answer {
    send(Method::POST, url, "application/json", body).await
}

/// catalog, orders, checkout (→ orders), ui (→ the three), tasks `cat-1`, `ord-1`, ...
struct Store {
    catalog: Running,
    orders: Running,
    checkout: Running,
    ui: Running,
}

async fn store() -> Store {
    let catalog = start(App::RetailCatalog, Config::new("cat-1")).await;
    let orders = start(App::RetailOrders, Config::new("ord-1")).await;
    let checkout = start(
        App::RetailCheckout,
        Config::new("chk-1").with_var("RETAIL_CHECKOUT_ENDPOINTS_ORDERS", &orders.url()),
    )
    .await;
    let ui = start(
        App::RetailUi,
        Config::new("ui-1")
            .with_var("RETAIL_UI_ENDPOINTS_CATALOG", &catalog.url())
            .with_var("RETAIL_UI_ENDPOINTS_ORDERS", &orders.url())
            .with_var("RETAIL_UI_ENDPOINTS_CHECKOUT", &checkout.url()),
    )
    .await;
    Store {
        catalog,
        orders,
        checkout,
        ui,
    }
}

#[tokio::test]
async fn catalog_routes() {
    let c = start(App::RetailCatalog, Config::new("cat-1")).await;
    let a = get(&format!("{}/health", c.url())).await;
    assert_eq!((a.status, a.text.trim()), (200, "OK"));
    assert_eq!(a.served_by, "retail-catalog/cat-1");
    let a = get(&format!("{}/catalogue", c.url())).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "application/json");
    let v = a.json();
    assert_eq!(v["servedBy"], "retail-catalog/cat-1");
    let products = v["products"].as_array().unwrap();
    assert!(products.len() >= 3, "{v}");
    for p in products {
        assert!(p["id"].is_string() && p["name"].is_string() && p["price"].is_number());
    }
    let id = products[2]["id"].as_str().unwrap();
    let a = get(&format!("{}/catalogue/{id}", c.url())).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["name"], products[2]["name"]);
    let a = get(&format!("{}/catalogue/nope", c.url())).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["servedBy"], "retail-catalog/cat-1");
    let a = get(&format!("{}/elsewhere", c.url())).await;
    assert_eq!(a.status, 404);
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("GET /elsewhere"));
    c.stop().await.unwrap();
}

#[tokio::test]
async fn orders_are_taken_and_listed() {
    let o = start(App::RetailOrders, Config::new("ord-1")).await;
    for path in ["/actuator/health", "/health"] {
        let a = get(&format!("{}{path}", o.url())).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.served_by, "retail-orders/ord-1");
    }
    let a = get(&format!("{}/orders", o.url())).await;
    assert_eq!(a.json()["orders"], json!([]));
    let a = post(
        &format!("{}/orders", o.url()),
        Some(json!({"customerId": "c1", "items": [{"productId": "1", "quantity": 2}]})),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let order = a.json();
    assert_eq!(order["servedBy"], "retail-orders/ord-1");
    assert_eq!(order["customerId"], "c1");
    let id = order["id"].as_str().unwrap().to_string();
    let a = post(
        &format!("{}/orders", o.url()),
        Some(json!({"customerId": "c2"})),
    )
    .await;
    assert_eq!(a.status, 201);
    assert_ne!(a.json()["id"].as_str().unwrap(), id, "ids are unique");
    let list = get(&format!("{}/orders", o.url())).await.json();
    let orders = list["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0]["id"], id.as_str());
    assert_eq!(orders[0]["items"][0]["quantity"], 2);
    let a = post(&format!("{}/orders", o.url()), Some(json!([1, 2]))).await;
    assert_eq!(a.status, 400);
    let a = send(
        Method::POST,
        &format!("{}/orders", o.url()),
        "application/json",
        None,
    )
    .await;
    assert_eq!(a.status, 201, "an empty body is an empty order");
}

#[tokio::test]
async fn the_retail_chain() {
    let s = store().await;
    for path in ["/health", "/actuator/health"] {
        assert_eq!(get(&format!("{}{path}", s.ui.url())).await.status, 200);
    }
    let a = get(&format!("{}/checkout/demo", s.checkout.url())).await;
    assert_eq!(a.status, 200);
    let cart = a.json();
    assert_eq!(cart["customerId"], "demo");
    assert_eq!(cart["servedBy"], "retail-checkout/chk-1");
    assert!(!cart["items"].as_array().unwrap().is_empty(), "{cart}");

    let a = get(&format!("{}/", s.ui.url())).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.served_by, "retail-ui/ui-1");
    let v = a.json();
    assert_eq!(v["servedBy"], "retail-ui/ui-1");
    for (name, by, path) in [
        ("catalog", "retail-catalog/cat-1", "/catalogue"),
        ("orders", "retail-orders/ord-1", "/orders"),
        ("checkout", "retail-checkout/chk-1", "/checkout/demo"),
    ] {
        let call = &v["calls"][name];
        assert_eq!(call["servedBy"], by, "{v}");
        assert_eq!(call["status"], 200, "{v}");
        assert!(call["ms"].is_u64(), "{v}");
        assert!(call.get("error").is_none(), "{v}");
        assert!(call["url"].as_str().unwrap().ends_with(path), "{v}");
    }

    let a = send(Method::GET, &format!("{}/", s.ui.url()), "text/html", None).await;
    assert_eq!(a.status, 200);
    assert!(
        a.content_type.starts_with("text/html"),
        "{}",
        a.content_type
    );
    for by in [
        "retail-catalog/cat-1",
        "retail-orders/ord-1",
        "retail-checkout/chk-1",
        "retail-ui/ui-1",
    ] {
        assert!(a.text.contains(by), "{by} missing from {}", a.text);
    }

    // Checkout through the ui: ui → checkout → orders.
    let a = post(&format!("{}/cart/checkout", s.ui.url()), None).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let v = a.json();
    assert_eq!(v["servedBy"], "retail-ui/ui-1");
    assert_eq!(v["checkout"]["servedBy"], "retail-checkout/chk-1");
    let order = &v["checkout"]["order"];
    assert_eq!(order["servedBy"], "retail-orders/ord-1");
    assert_eq!(order["customerId"], "demo");
    assert_eq!(order["items"], cart["items"]);
    let list = get(&format!("{}/orders", s.orders.url())).await.json();
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    assert_eq!(list["orders"][0]["id"], order["id"]);

    // Checkout directly, for another customer.
    let a = post(&format!("{}/checkout/c9/submit", s.checkout.url()), None).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()["order"]["customerId"], "c9");
    let list = get(&format!("{}/orders", s.orders.url())).await.json();
    assert_eq!(list["orders"].as_array().unwrap().len(), 2);

    for r in [s.ui, s.checkout, s.orders, s.catalog] {
        r.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_down_upstream_is_a_502_naming_it() {
    let s = store().await;
    // The ui with catalog down: the other calls still answer.
    let ui = start(
        App::RetailUi,
        Config::new("ui-2")
            .with_var("RETAIL_UI_ENDPOINTS_CATALOG", &closed_port().await)
            .with_var("RETAIL_UI_ENDPOINTS_ORDERS", &s.orders.url())
            .with_var("RETAIL_UI_ENDPOINTS_CHECKOUT", &s.checkout.url()),
    )
    .await;
    let a = get(&format!("{}/", ui.url())).await;
    assert_eq!(a.status, 502, "{}", a.text);
    let v = a.json();
    assert!(v["calls"]["catalog"]["error"].is_string(), "{v}");
    assert!(v["calls"]["catalog"].get("status").is_none(), "{v}");
    assert_eq!(v["calls"]["orders"]["status"], 200, "{v}");
    assert_eq!(v["calls"]["checkout"]["status"], 200, "{v}");
    let a = send(Method::GET, &format!("{}/", ui.url()), "text/html", None).await;
    assert_eq!(a.status, 502);
    assert!(a.text.contains("<b>"), "the error is shown: {}", a.text);

    // An upstream that answers 404 is a failure too.
    let ui404 = start(
        App::RetailUi,
        Config::new("ui-3")
            .with_var("RETAIL_UI_ENDPOINTS_CATALOG", &s.orders.url())
            .with_var("RETAIL_UI_ENDPOINTS_ORDERS", &s.orders.url())
            .with_var("RETAIL_UI_ENDPOINTS_CHECKOUT", &s.checkout.url()),
    )
    .await;
    let v = get(&format!("{}/", ui404.url())).await.json();
    assert_eq!(v["calls"]["catalog"]["status"], 404, "{v}");
    assert!(v["calls"]["catalog"]["error"].is_string(), "{v}");

    // Checkout with orders down.
    let checkout = start(
        App::RetailCheckout,
        Config::new("chk-2").with_var("RETAIL_CHECKOUT_ENDPOINTS_ORDERS", &closed_port().await),
    )
    .await;
    let a = post(&format!("{}/checkout/demo/submit", checkout.url()), None).await;
    assert_eq!(a.status, 502, "{}", a.text);
    let v = a.json();
    assert_eq!(v["upstream"], "orders");
    assert_eq!(v["servedBy"], "retail-checkout/chk-2");
    assert!(v["error"].as_str().unwrap().contains("orders"), "{v}");

    // The ui's checkout through that checkout: a 502 naming checkout.
    let ui_b = start(
        App::RetailUi,
        Config::new("ui-4").with_var("RETAIL_UI_ENDPOINTS_CHECKOUT", &checkout.url()),
    )
    .await;
    let a = post(&format!("{}/cart/checkout", ui_b.url()), None).await;
    assert_eq!(a.status, 502, "{}", a.text);
    let v = a.json();
    assert_eq!(v["upstream"], "checkout");
    assert_eq!(v["call"]["status"], 502, "{v}");
    assert_eq!(v["call"]["answer"]["upstream"], "orders", "{v}");

    // An upstream that does not answer in time: a listener that never accepts.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ui_slow = start(
        App::RetailUi,
        Config::new("ui-5")
            .with_var(
                "RETAIL_UI_ENDPOINTS_CATALOG",
                &format!("http://{}", silent.local_addr().unwrap()),
            )
            .with_var("RETAIL_UI_ENDPOINTS_ORDERS", &s.orders.url())
            .with_var("RETAIL_UI_ENDPOINTS_CHECKOUT", &s.checkout.url()),
    )
    .await;
    let started = std::time::Instant::now();
    let v = get(&format!("{}/", ui_slow.url())).await.json();
    let took = started.elapsed();
    assert!(
        v["calls"]["catalog"]["error"]
            .as_str()
            .unwrap()
            .contains("5s"),
        "{v}"
    );
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_missing_variable_is_a_500_naming_it() {
    let ui = start(App::RetailUi, Config::new("ui-1")).await;
    let a = get(&format!("{}/", ui.url())).await;
    assert_eq!(a.status, 500);
    let v = a.json();
    let e = v["error"].as_str().unwrap();
    for var in [
        "RETAIL_UI_ENDPOINTS_CATALOG",
        "RETAIL_UI_ENDPOINTS_ORDERS",
        "RETAIL_UI_ENDPOINTS_CHECKOUT",
    ] {
        assert!(e.contains(var), "{e}");
    }
    assert_eq!(v["servedBy"], "retail-ui/ui-1");
    // Health does not depend on the upstreams.
    assert_eq!(get(&format!("{}/health", ui.url())).await.status, 200);
    let a = post(&format!("{}/cart/checkout", ui.url()), None).await;
    assert_eq!(a.status, 500);
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("RETAIL_UI_ENDPOINTS_CHECKOUT"));

    let c = start(App::RetailCheckout, Config::new("chk-1")).await;
    let a = post(&format!("{}/checkout/demo/submit", c.url()), None).await;
    assert_eq!(a.status, 500);
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("RETAIL_CHECKOUT_ENDPOINTS_ORDERS"));

    // Not a URL: a 500 naming the variable too.
    let c = start(
        App::RetailCheckout,
        Config::new("chk-2").with_var("RETAIL_CHECKOUT_ENDPOINTS_ORDERS", "https://orders"),
    )
    .await;
    let a = post(&format!("{}/checkout/demo/submit", c.url()), None).await;
    assert_eq!(a.status, 500);
    let e = a.json()["error"].as_str().unwrap().to_string();
    assert!(
        e.contains("RETAIL_CHECKOUT_ENDPOINTS_ORDERS") && e.contains("http://"),
        "{e}"
    );
}

#[tokio::test]
async fn cats_and_dogs() {
    let cats = start(App::Cats, Config::new("c1")).await;
    let dogs = start(App::Dogs, Config::new("d1")).await;
    for path in ["/", "/health"] {
        assert_eq!(get(&format!("{}{path}", cats.url())).await.status, 200);
    }
    for path in ["/cats/", "/cats"] {
        let a = get(&format!("{}{path}", cats.url())).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.served_by, "cats/c1");
        let v = a.json();
        assert_eq!(
            (v["animal"].as_str(), v["servedBy"].as_str()),
            (Some("cat"), Some("cats/c1"))
        );
    }
    assert_eq!(get(&format!("{}/dogs/", cats.url())).await.status, 404);
    let v = get(&format!("{}/dogs/", dogs.url())).await.json();
    assert_eq!(
        (v["animal"].as_str(), v["servedBy"].as_str()),
        (Some("dog"), Some("dogs/d1"))
    );

    let web = start(
        App::Web,
        Config::new("w1")
            .with_var("CATS_URL", &format!("{}/cats/", cats.url()))
            .with_var("DOGS_URL", &format!("{}/dogs/", dogs.url())),
    )
    .await;
    assert_eq!(get(&format!("{}/health", web.url())).await.status, 200);
    let a = get(&format!("{}/", web.url())).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    assert_eq!(v["servedBy"], "web/w1");
    assert_eq!(v["cats"]["servedBy"], "cats/c1");
    assert_eq!(v["dogs"]["servedBy"], "dogs/d1");
    assert_eq!(v["cats"]["answer"]["animal"], "cat");
    assert_eq!(v["dogs"]["answer"]["animal"], "dog");

    // dogs down: 502, cats still shown.
    let dogs_url = format!("{}/dogs/", dogs.url());
    dogs.stop().await.unwrap();
    let web2 = start(
        App::Web,
        Config::new("w2")
            .with_var("CATS_URL", &format!("{}/cats/", cats.url()))
            .with_var("DOGS_URL", &dogs_url),
    )
    .await;
    let a = get(&format!("{}/", web2.url())).await;
    assert_eq!(a.status, 502, "{}", a.text);
    let v = a.json();
    assert_eq!(v["cats"]["servedBy"], "cats/c1");
    assert!(v["dogs"]["error"].is_string(), "{v}");
    web.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_with_an_idle_keep_alive_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = start(App::RetailCatalog, Config::new("cat-1")).await;
    let mut s = tokio::net::TcpStream::connect(c.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // The connection stays open and idle; shutdown still returns at once.
    let started = std::time::Instant::now();
    c.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "the idle connection is closed");
}
