//! Bad input at the protocol level: each gets a clear 4xx and the server keeps serving.

mod common;

use common::{ecs_raw, post, raw, TestServer};

const JSON: &str = "application/x-amz-json-1.1";

fn still_serving(s: &TestServer) {
    let r = ecs_raw(s.addr(), "ListClusters", "{}");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["clusterArns"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_serialization_error() {
    let s = TestServer::start().await;
    let addr = s.addr();
    let r =
        tokio::task::spawn_blocking(move || ecs_raw(addr, "CreateCluster", "{\"clusterName\": "))
            .await
            .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "SerializationException");
    assert_eq!(r.header("x-amzn-errortype"), Some("SerializationException"));
    let r = tokio::task::spawn_blocking(move || ecs_raw(addr, "CreateCluster", "[1,2]"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    // A wrong type names the field.
    let r =
        tokio::task::spawn_blocking(move || ecs_raw(addr, "CreateCluster", "{\"clusterName\": 5}"))
            .await
            .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("clusterName"),
        "{}",
        r.json()
    );
    tokio::task::spawn_blocking(move || still_serving(&s))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_namespace_true_is_refused_and_creates_nothing() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let r = ecs_raw(addr, "CreateCluster", r#"{"clusterName":"tutorial","serviceConnectDefaults":{"namespace":"service-connect"}}"#);
        assert_eq!(r.status, 200);
        let r = ecs_raw(
            addr,
            "CreateService",
            r#"{"cluster":"tutorial","serviceName":"svc","taskDefinition":"x","desiredCount":1,
                "serviceConnectConfiguration":{"enabled":true,"namespace":true,"services":[{"portName":"nginx","clientAliases":[{"port":80}]}]}}"#,
        );
        assert_eq!(r.status, 400);
        let body = r.json();
        assert_eq!(body["__type"], "SerializationException");
        assert!(body["message"].as_str().unwrap().contains("serviceConnectConfiguration.namespace"), "{body}");
        let r = ecs_raw(addr, "ListServices", r#"{"cluster":"tutorial"}"#);
        assert_eq!(r.json()["serviceArns"], serde_json::json!([]));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_targets_methods_and_paths() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let r = post(
            addr,
            "/",
            &[
                ("X-Amz-Target", "NoSuchService.ListClusters"),
                ("Content-Type", JSON),
            ],
            b"{}",
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["__type"], "UnknownOperationException");
        let r = ecs_raw(addr, "NoSuchOperation", "{}");
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["__type"], "UnknownOperationException");
        let r = post(addr, "/", &[("Content-Type", JSON)], b"{}");
        assert_eq!(r.status, 400);
        assert!(r.json()["message"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Target"));
        let r = raw(
            addr,
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 405);
        let r = post(
            addr,
            "/other",
            &[
                (
                    "X-Amz-Target",
                    "AmazonEC2ContainerServiceV20141113.ListClusters",
                ),
                ("Content-Type", JSON),
            ],
            b"{}",
        );
        assert_eq!(r.status, 404);
        still_serving(&s);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_415() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let r = post(
            addr,
            "/",
            &[
                (
                    "X-Amz-Target",
                    "AmazonEC2ContainerServiceV20141113.ListClusters",
                ),
                ("Content-Type", "text/plain"),
            ],
            b"{}",
        );
        assert_eq!(r.status, 415);
        assert_eq!(r.json()["__type"], "UnsupportedMediaTypeException");
        assert!(r.json()["message"].as_str().unwrap().contains("text/plain"));
        still_serving(&s);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413_declared_or_chunked() {
    let s = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let big = format!("{{\"clusterName\": \"{}\"}}", "a".repeat(10_000));
        let r = ecs_raw(addr, "CreateCluster", &big);
        assert_eq!(r.status, 413);
        assert_eq!(r.json()["__type"], "RequestEntityTooLargeException");
        // Chunked, with no Content-Length to reject up front.
        let chunk = "b".repeat(8000);
        let req = format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.CreateCluster\r\nContent-Type: {JSON}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        let r = raw(addr, req.as_bytes());
        assert_eq!(r.status, 413);
        still_serving(&s);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_headers_do_not_stop_the_server() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let r = raw(addr, b"HELLO THERE\r\n\r\n");
        assert_eq!(r.status, 400);
        let huge = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "h".repeat(200_000)
        );
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read, Write};
        let _ = stream.write_all(huge.as_bytes());
        let mut buf = Vec::new();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let _ = stream.read_to_end(&mut buf);
        let head = String::from_utf8_lossy(&buf);
        assert!(
            head.is_empty() || head.starts_with("HTTP/1.1 431") || head.starts_with("HTTP/1.1 400"),
            "{head}"
        );
        still_serving(&s);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_v2_cbor_for_cloud_map() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let cbor = |v: serde_json::Value| berth_awsproto::json_to_cbor(&v, &[]);
        let headers = [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Accept", "application/cbor"),
        ];
        let r = post(
            addr,
            "/service/Route53AutoNaming_v20170314/operation/CreateHttpNamespace",
            &headers,
            &cbor(serde_json::json!({"Name": "cbor-ns"})),
        );
        assert_eq!(r.status, 200, "{:?}", berth_awsproto::cbor_to_json(&r.body));
        assert_eq!(r.header("smithy-protocol"), Some("rpc-v2-cbor"));
        assert_eq!(r.header("content-type"), Some("application/cbor"));
        let r = post(
            addr,
            "/service/Route53AutoNaming_v20170314/operation/ListNamespaces",
            &headers,
            &cbor(serde_json::json!({})),
        );
        assert_eq!(r.status, 200);
        // CreateDate is tagged as a timestamp (tag 1 = 0xc1).
        assert!(r.body.contains(&0xc1));
        let v = berth_awsproto::cbor_to_json(&r.body).unwrap();
        assert_eq!(v["Namespaces"][0]["Name"], "cbor-ns");
        // Errors come back in CBOR with __type.
        let r = post(
            addr,
            "/service/Route53AutoNaming_v20170314/operation/GetNamespace",
            &headers,
            &cbor(serde_json::json!({"Id": "ns-doesnotexist0000"})),
        );
        assert_eq!(r.status, 404);
        let v = berth_awsproto::cbor_to_json(&r.body).unwrap();
        assert_eq!(v["__type"], "NamespaceNotFound");
        // Garbage CBOR.
        let r = post(
            addr,
            "/service/Route53AutoNaming_v20170314/operation/ListNamespaces",
            &headers,
            &[0xff, 0xff, 0x01],
        );
        assert_eq!(r.status, 400);
        still_serving(&s);
    })
    .await
    .unwrap();
}
