//! Seed 004: cats and dogs, and web, their client.

use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::json;

use crate::client::{join, summary};
use crate::http::{ok_text, segments, Ctx, Resp};
use crate::App;

/// Web's upstream variables, and their defaults (the seed's client aliases).
pub const CATS_URL: &str = "CATS_URL";
pub const DOGS_URL: &str = "DOGS_URL";
const CATS_DEFAULT: &str = "http://cats/cats/";
const DOGS_DEFAULT: &str = "http://dogs/dogs/";

/// `cats` or `dogs`.
pub(crate) fn pet(ctx: &Ctx, req: Request<Incoming>) -> Resp {
    let (collection, animal, name, sound) = match ctx.app {
        App::Cats => ("cats", "cat", "Tom", "meow"),
        _ => ("dogs", "dog", "Rex", "woof"),
    };
    let segs = segments(&req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, [] | ["health"]) => ok_text(),
        (&Method::GET, [c]) if *c == collection => ctx.json(
            StatusCode::OK,
            json!({"animal": animal, "name": name, "sound": sound}),
        ),
        _ => ctx.not_found(&req),
    }
}

pub(crate) async fn web(ctx: &Ctx, req: Request<Incoming>) -> Resp {
    let segs = segments(&req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, ["health"]) => ok_text(),
        (&Method::GET, []) => {
            let cats = ctx.config.var(CATS_URL).unwrap_or(CATS_DEFAULT);
            let dogs = ctx.config.var(DOGS_URL).unwrap_or(DOGS_DEFAULT);
            let (cats, dogs) = tokio::join!(call(ctx, CATS_URL, cats), call(ctx, DOGS_URL, dogs));
            let status = if cats.1 && dogs.1 {
                StatusCode::OK
            } else {
                StatusCode::BAD_GATEWAY
            };
            ctx.json(status, json!({"cats": cats.0, "dogs": dogs.0}))
        }
        _ => ctx.not_found(&req),
    }
}

/// One of web's calls: `(summary, 2xx)`.
async fn call(ctx: &Ctx, var: &str, base: &str) -> (serde_json::Value, bool) {
    let started = Instant::now();
    let url = match join(base, "") {
        Ok(u) => u,
        Err(e) => {
            return (
                json!({"url": base, "error": format!("{var}: {e}"), "ms": 0}),
                false,
            )
        }
    };
    let r = ctx.client.call(Method::GET, &url, None).await;
    summary(&url, &r, started, true)
}
