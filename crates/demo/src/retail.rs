//! The retail store (seed 000): ui → catalog, orders, checkout; checkout → orders.

use std::sync::atomic::Ordering;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::client::{join, summary};
use crate::http::{ok_text, read_json, respond, segments, wants_html, Ctx, Resp};

/// The ui's upstream variables (the seed's names).
pub const UI_CATALOG: &str = "RETAIL_UI_ENDPOINTS_CATALOG";
pub const UI_ORDERS: &str = "RETAIL_UI_ENDPOINTS_ORDERS";
pub const UI_CHECKOUT: &str = "RETAIL_UI_ENDPOINTS_CHECKOUT";
/// Checkout's upstream variable.
pub const CHECKOUT_ORDERS: &str = "RETAIL_CHECKOUT_ENDPOINTS_ORDERS";

/// The customer whose cart the ui shows and checks out.
const DEMO_CUSTOMER: &str = "demo";

fn products() -> Value {
    json!([
        {"id": "1", "name": "Pocket Watch", "price": 109},
        {"id": "2", "name": "Wood Watch", "price": 89},
        {"id": "3", "name": "Chronograph", "price": 129},
        {"id": "4", "name": "Gentleman's Watch", "price": 79},
        {"id": "5", "name": "Sport Watch", "price": 59}
    ])
}

/// A new cart's items.
fn default_cart() -> Vec<Value> {
    vec![
        json!({"productId": "1", "name": "Pocket Watch", "quantity": 1, "price": 109}),
        json!({"productId": "5", "name": "Sport Watch", "quantity": 2, "price": 59}),
    ]
}

pub(crate) async fn catalog(ctx: &Ctx, req: Request<Incoming>) -> Resp {
    let segs = segments(&req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, ["health"]) => ok_text(),
        (&Method::GET, ["catalogue"]) => ctx.json(StatusCode::OK, json!({"products": products()})),
        (&Method::GET, ["catalogue", id]) => {
            match products()
                .as_array()
                .expect("an array")
                .iter()
                .find(|p| p["id"] == *id)
            {
                Some(p) => ctx.json(StatusCode::OK, p.clone()),
                None => ctx.error(
                    StatusCode::NOT_FOUND,
                    &format!("no product {id:?}"),
                    json!({}),
                ),
            }
        }
        _ => ctx.not_found(&req),
    }
}

pub(crate) async fn orders(ctx: &Ctx, req: Request<Incoming>) -> Resp {
    let segs = segments(&req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method().clone(), segs.as_slice()) {
        (Method::GET, ["actuator", "health"]) => ctx.json(StatusCode::OK, json!({"status": "UP"})),
        (Method::GET, ["health"]) => ok_text(),
        (Method::GET, ["orders"]) => {
            let list = ctx.orders.lock().expect("not poisoned").clone();
            ctx.json(StatusCode::OK, json!({ "orders": list }))
        }
        (Method::POST, ["orders"]) => {
            let body = match read_json(ctx, req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Value::Object(mut order) = body else {
                return ctx.error(
                    StatusCode::BAD_REQUEST,
                    "an order is a JSON object, e.g. {\"customerId\": \"demo\", \"items\": []}",
                    json!({}),
                );
            };
            let n = ctx.next_order.fetch_add(1, Ordering::Relaxed);
            order.insert("id".into(), json!(format!("{}-{n}", ctx.config.task_id)));
            order.entry("items").or_insert_with(|| json!([]));
            let order = Value::Object(order);
            ctx.orders.lock().expect("not poisoned").push(order.clone());
            ctx.json(StatusCode::CREATED, order)
        }
        _ => ctx.not_found(&req),
    }
}

pub(crate) async fn checkout(ctx: &Ctx, req: Request<Incoming>) -> Resp {
    let segs = segments(&req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, ["health"]) => ok_text(),
        (&Method::GET, ["checkout", customer]) => {
            let items = ctx
                .carts
                .lock()
                .expect("not poisoned")
                .entry(customer.to_string())
                .or_insert_with(default_cart)
                .clone();
            ctx.json(
                StatusCode::OK,
                json!({"customerId": customer, "items": items}),
            )
        }
        (&Method::POST, ["checkout", customer, "submit"]) => submit(ctx, customer).await,
        _ => ctx.not_found(&req),
    }
}

/// Checkout's submit: the cart becomes an order (POST /orders on orders); the cart is
/// emptied (a later look starts a new one).
async fn submit(ctx: &Ctx, customer: &str) -> Resp {
    let Some(base) = ctx.config.var(CHECKOUT_ORDERS) else {
        return ctx.missing_var(&[CHECKOUT_ORDERS]);
    };
    let url = match join(base, "/orders") {
        Ok(u) => u,
        Err(e) => return bad_url(ctx, "orders", CHECKOUT_ORDERS, &e.to_string()),
    };
    let items = ctx
        .carts
        .lock()
        .expect("not poisoned")
        .get(customer)
        .cloned()
        .unwrap_or_else(default_cart);
    let started = Instant::now();
    let result = ctx
        .client
        .call(
            Method::POST,
            &url,
            Some(&json!({"customerId": customer, "items": items})),
        )
        .await;
    match result {
        Ok(a) if a.ok() => {
            ctx.carts.lock().expect("not poisoned").remove(customer);
            ctx.json(StatusCode::CREATED, json!({ "order": a.body }))
        }
        other => upstream_failed(ctx, "orders", &url, &other, started),
    }
}

/// A 500 for an upstream variable that is not a URL.
fn bad_url(ctx: &Ctx, upstream: &str, var: &str, message: &str) -> Resp {
    ctx.error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("{var}: {message}"),
        json!({ "upstream": upstream }),
    )
}

/// A 502 naming the upstream and what it did.
fn upstream_failed(
    ctx: &Ctx,
    upstream: &str,
    url: &str,
    result: &Result<crate::client::Answer, crate::client::CallError>,
    started: Instant,
) -> Resp {
    let (call, _) = summary(url, result, started, true);
    let what = call["error"].as_str().unwrap_or("failed").to_string();
    tracing::warn!(upstream, url, error = %what, "upstream call failed");
    ctx.error(
        StatusCode::BAD_GATEWAY,
        &format!("upstream {upstream} ({url}): {what}"),
        json!({ "upstream": upstream, "call": call }),
    )
}

pub(crate) async fn ui(ctx: &Ctx, req: Request<Incoming>) -> Resp {
    let segs = segments(&req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, ["actuator", "health"]) => ctx.json(StatusCode::OK, json!({"status": "UP"})),
        (&Method::GET, ["health"]) => ok_text(),
        (&Method::GET, []) => home(ctx, wants_html(&req)).await,
        (&Method::POST, ["cart", "checkout"]) => cart_checkout(ctx).await,
        _ => ctx.not_found(&req),
    }
}

/// The ui's page: catalog, orders and the demo cart, fetched concurrently.
async fn home(ctx: &Ctx, html: bool) -> Resp {
    let vars = [UI_CATALOG, UI_ORDERS, UI_CHECKOUT];
    let missing: Vec<&str> = vars
        .iter()
        .copied()
        .filter(|v| ctx.config.var(v).is_none())
        .collect();
    if !missing.is_empty() {
        return ctx.missing_var(&missing);
    }
    let targets = [
        ("catalog", UI_CATALOG, "/catalogue".to_string()),
        ("orders", UI_ORDERS, "/orders".to_string()),
        (
            "checkout",
            UI_CHECKOUT,
            format!("/checkout/{DEMO_CUSTOMER}"),
        ),
    ];
    let mut urls = Vec::new();
    for (name, var, path) in &targets {
        match join(ctx.config.var(var).expect("checked"), path) {
            Ok(u) => urls.push(u),
            Err(e) => return bad_url(ctx, name, var, &e.to_string()),
        }
    }
    let call = |url: String| async move {
        let started = Instant::now();
        let r = ctx.client.call(Method::GET, &url, None).await;
        summary(&url, &r, started, false)
    };
    let (catalog, orders, checkout) = tokio::join!(
        call(urls[0].clone()),
        call(urls[1].clone()),
        call(urls[2].clone())
    );
    let all_ok = catalog.1 && orders.1 && checkout.1;
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    let calls = json!({"catalog": catalog.0, "orders": orders.0, "checkout": checkout.0});
    if html {
        return respond(status, "text/html; charset=utf-8", page(ctx, &calls));
    }
    ctx.json(status, json!({ "calls": calls }))
}

/// A small HTML page of the ui's calls.
fn page(ctx: &Ctx, calls: &Value) -> String {
    let mut rows = String::new();
    for name in ["catalog", "orders", "checkout"] {
        let c = &calls[name];
        let cell = |k: &str| match &c[k] {
            Value::Null => String::new(),
            Value::String(s) => escape(s),
            v => escape(&v.to_string()),
        };
        let result = if c.get("error").is_some() {
            format!("<b>{}</b>", cell("error"))
        } else {
            cell("status")
        };
        rows.push_str(&format!(
            "<tr><td>{name}</td><td>{}</td><td>{result}</td><td>{}</td><td>{} ms</td></tr>\n",
            cell("url"),
            cell("servedBy"),
            cell("ms"),
        ));
    }
    format!(
        "<!doctype html>\n<html><head><title>Retail store (berth demo)</title></head><body>\n\
         <h1>Retail store</h1>\n<p>served by {}</p>\n\
         <table border=\"1\"><tr><th>service</th><th>url</th><th>status</th><th>served by</th><th>time</th></tr>\n\
         {rows}</table>\n\
         <form method=\"post\" action=\"/cart/checkout\"><button>Check out the demo cart</button></form>\n\
         </body></html>\n",
        escape(&ctx.served_by)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The ui's checkout: checkout's submit (which places the order on orders).
async fn cart_checkout(ctx: &Ctx) -> Resp {
    let Some(base) = ctx.config.var(UI_CHECKOUT) else {
        return ctx.missing_var(&[UI_CHECKOUT]);
    };
    let url = match join(base, &format!("/checkout/{DEMO_CUSTOMER}/submit")) {
        Ok(u) => u,
        Err(e) => return bad_url(ctx, "checkout", UI_CHECKOUT, &e.to_string()),
    };
    let started = Instant::now();
    let result = ctx.client.call(Method::POST, &url, None).await;
    match result {
        Ok(a) if a.ok() => ctx.json(StatusCode::CREATED, json!({ "checkout": a.body })),
        other => upstream_failed(ctx, "checkout", &url, &other, started),
    }
}
