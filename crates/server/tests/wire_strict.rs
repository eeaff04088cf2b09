//! Hostile input on the wire, each answered with a typed error that says what is
//! wrong: requests hyper cannot parse, CBOR items the model does not allow, and ARNs
//! of other accounts and regions.

mod common;

use std::net::SocketAddr;

use ciborium::Value as Cbor;
use common::{ecs_raw, post, raw, TestServer};
use serde_json::{json, Value};

fn still_serving(addr: SocketAddr) {
    let r = ecs_raw(addr, "ListClusters", "{}");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_layer_errors_carry_a_type_and_a_message() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let big = format!("POST / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "h".repeat(200_000));
        let cases: Vec<(Vec<u8>, u16, &str, &str)> = vec![
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\nContent-Type: application/x-amz-json-1.1\x01\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
                400, "BadRequestException", "header Content-Type holds the control byte 0x01",
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.List\x00Clusters\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
                400, "BadRequestException", "header X-Amz-Target holds the control byte 0x00",
            ),
            (b"HELLO THERE\r\n\r\n".to_vec(), 400, "BadRequestException", "request line 'HELLO THERE'"),
            (b"POST / HTTP/7.0\r\nHost: x\r\n\r\n".to_vec(), 400, "BadRequestException", "version"),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: twelve\r\n\r\n".to_vec(),
                400, "BadRequestException", "Content-Length 'twelve' is not a length",
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
                400, "BadRequestException", "Content-Length headers disagree",
            ),
            (b"POST / HTTP/1.1\r\nHost x\r\n\r\n".to_vec(), 400, "BadRequestException", "has no colon"),
            (big.into_bytes(), 431, "RequestHeaderFieldsTooLargeException", "64 KiB"),
        ];
        for (request, status, code, says) in cases {
            let shown = String::from_utf8_lossy(&request[..request.len().min(90)]).into_owned();
            let r = raw(addr, &request);
            assert_eq!(r.status, status, "{shown}: {}", r.text());
            let e = r.json();
            assert_eq!(e["__type"], code, "{shown}: {e}");
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{shown}: {message:?} lacks {says:?}");
            assert_eq!(r.header("x-amzn-errortype"), Some(code));
            still_serving(addr);
        }
        // An invalid chunk is the body's fault: the front names it.
        let r = raw(addr, b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\nContent-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["__type"], "SerializationException");
    })
    .await
    .unwrap();
}

fn encode(v: Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(&v, &mut out).unwrap();
    out
}

fn map(members: Vec<(&str, Cbor)>) -> Cbor {
    Cbor::Map(
        members
            .into_iter()
            .map(|(k, v)| (Cbor::Text(k.into()), v))
            .collect(),
    )
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.into())
}

const CBOR_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/cbor"),
    ("smithy-protocol", "rpc-v2-cbor"),
];

fn cbor_call(addr: SocketAddr, service: &str, op: &str, body: Cbor) -> (u16, Value) {
    let path = format!("/service/{service}/operation/{op}");
    let signing = if service.starts_with("Route53AutoNaming") {
        "servicediscovery"
    } else {
        "acm-pca"
    };
    let auth = common::auth_naming("test", "us-west-2", signing);
    let mut headers = CBOR_HEADERS.to_vec();
    headers.push(("Authorization", &auth));
    let r = post(addr, &path, &headers, &encode(body));
    (r.status, berth_awsproto::cbor_to_json(&r.body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cbor_byte_strings_and_big_integers_only_where_the_model_says() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        const SD: &str = "Route53AutoNaming_v20170314";
        let (status, e) = cbor_call(
            addr,
            SD,
            "CreateHttpNamespace",
            map(vec![("Name", Cbor::Bytes(vec![0, 255]))]),
        );
        assert_eq!(status, 400, "{e}");
        assert_eq!(e["__type"], "SerializationException");
        let message = e["Message"].as_str().unwrap();
        assert!(
            message.contains("'Name'") && message.contains("byte string"),
            "{message}"
        );
        let bignum = Cbor::Tag(2, Box::new(Cbor::Bytes(vec![0, 255])));
        let (status, e) = cbor_call(addr, SD, "CreateHttpNamespace", map(vec![("Name", bignum)]));
        assert_eq!(status, 400, "{e}");
        assert!(
            e["Message"].as_str().unwrap().contains("big integer"),
            "{e}"
        );
        let tags = Cbor::Array(vec![map(vec![
            ("Key", text("k")),
            ("Value", Cbor::Bytes(b"v".to_vec())),
        ])]);
        let (status, e) = cbor_call(
            addr,
            SD,
            "CreateHttpNamespace",
            map(vec![("Name", text("ns")), ("Tags", tags)]),
        );
        assert_eq!(status, 400, "{e}");
        assert!(
            e["Message"].as_str().unwrap().contains("'Tags[0].Value'"),
            "{e}"
        );
        // None of it created anything.
        let (status, v) = cbor_call(addr, SD, "ListNamespaces", map(vec![]));
        assert_eq!(status, 200);
        assert_eq!(v["Namespaces"], json!([]));

        // ACM PCA's blobs travel as byte strings.
        const PCA: &str = "ACMPrivateCA";
        let subject = map(vec![("CommonName", text("Root"))]);
        let config = map(vec![
            ("KeyAlgorithm", text("EC_prime256v1")),
            ("SigningAlgorithm", text("SHA256WITHECDSA")),
            ("Subject", subject),
        ]);
        let (status, out) = cbor_call(
            addr,
            PCA,
            "CreateCertificateAuthority",
            map(vec![
                ("CertificateAuthorityType", text("ROOT")),
                ("CertificateAuthorityConfiguration", config),
            ]),
        );
        assert_eq!(status, 200, "{out}");
        let ca = out["CertificateAuthorityArn"].as_str().unwrap().to_string();
        let (_, csr) = cbor_call(
            addr,
            PCA,
            "GetCertificateAuthorityCsr",
            map(vec![("CertificateAuthorityArn", text(&ca))]),
        );
        let csr = csr["Csr"].as_str().unwrap().as_bytes().to_vec();
        let validity = map(vec![
            ("Value", Cbor::Integer(10.into())),
            ("Type", text("YEARS")),
        ]);
        let (status, issued) = cbor_call(
            addr,
            PCA,
            "IssueCertificate",
            map(vec![
                ("CertificateAuthorityArn", text(&ca)),
                ("Csr", Cbor::Bytes(csr)),
                ("SigningAlgorithm", text("SHA256WITHECDSA")),
                (
                    "TemplateArn",
                    text("arn:aws:acm-pca:::template/RootCACertificate/V1"),
                ),
                ("Validity", validity),
            ]),
        );
        assert_eq!(status, 200, "{issued}");
        let cert_arn = issued["CertificateArn"].as_str().unwrap();
        let (status, cert) = cbor_call(
            addr,
            PCA,
            "GetCertificate",
            map(vec![
                ("CertificateAuthorityArn", text(&ca)),
                ("CertificateArn", text(cert_arn)),
            ]),
        );
        assert_eq!(status, 200, "{cert}");
        let pem = cert["Certificate"].as_str().unwrap().as_bytes().to_vec();
        // A blob of one operation is no blob of another.
        let (status, e) = cbor_call(
            addr,
            PCA,
            "DescribeCertificateAuthority",
            map(vec![(
                "CertificateAuthorityArn",
                Cbor::Bytes(ca.as_bytes().to_vec()),
            )]),
        );
        assert_eq!(status, 400, "{e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("'CertificateAuthorityArn'"),
            "{e}"
        );
        let (status, out) = cbor_call(
            addr,
            PCA,
            "ImportCertificateAuthorityCertificate",
            map(vec![
                ("CertificateAuthorityArn", text(&ca)),
                ("Certificate", Cbor::Bytes(pem)),
            ]),
        );
        assert_eq!(status, 200, "{out}");
        let (_, d) = cbor_call(
            addr,
            PCA,
            "DescribeCertificateAuthority",
            map(vec![("CertificateAuthorityArn", text(&ca))]),
        );
        assert_eq!(d["CertificateAuthority"]["Status"], "ACTIVE", "{d}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_echoes_foreign_arns_as_given() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let r = ecs_raw(addr, "CreateCluster", r#"{"clusterName": "web"}"#);
        assert_eq!(r.status, 200);
        let ours = r.json()["cluster"]["clusterArn"]
            .as_str()
            .unwrap()
            .to_string();
        let other_account = ours.replace(":123456789012:", ":999988887777:");
        let other_region = ours.replace(":us-east-1:", ":eu-west-1:");
        assert_ne!(other_account, ours);
        assert_ne!(other_region, ours);
        let body = json!({"clusters": [ours, other_account, other_region, "nope"]});
        let r = ecs_raw(addr, "DescribeClusters", &body.to_string());
        assert_eq!(r.status, 200, "{}", r.text());
        let d = r.json();
        assert_eq!(d["clusters"].as_array().unwrap().len(), 1, "{d}");
        assert_eq!(d["clusters"][0]["clusterArn"], json!(ours));
        let failures: Vec<&str> = d["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                assert_eq!(f["reason"], "MISSING");
                f["arn"].as_str().unwrap()
            })
            .collect();
        let nope = ours.replace("cluster/web", "cluster/nope");
        assert_eq!(
            failures,
            [other_account.as_str(), other_region.as_str(), nope.as_str()]
        );
        // The same for the resources of a cluster.
        let foreign_task =
            "arn:aws:ecs:eu-west-1:999988887777:task/web/0123456789abcdef0123456789abcdef";
        let r = ecs_raw(
            addr,
            "DescribeTasks",
            &json!({"cluster": "web", "tasks": [foreign_task]}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["failures"][0]["arn"], foreign_task);
    })
    .await
    .unwrap();
}
