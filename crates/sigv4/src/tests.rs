use super::*;
use http::{HeaderName, HeaderValue};
use serde_json::Value;

struct Vector {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
    region: String,
    service: String,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Requests botocore signed (testdata/make_vectors.py), and its secret.
fn vectors() -> (Credentials, Vec<Vector>) {
    let v: Value = serde_json::from_str(include_str!("../testdata/vectors.json")).unwrap();
    let creds = Credentials {
        access_key_id: v["accessKeyId"].as_str().unwrap().to_string(),
        secret_access_key: v["secret"].as_str().unwrap().to_string(),
    };
    let reqs = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut headers = HeaderMap::new();
            for h in r["headers"].as_array().unwrap() {
                let name = HeaderName::from_bytes(h[0].as_str().unwrap().as_bytes()).unwrap();
                headers.append(name, HeaderValue::from_str(h[1].as_str().unwrap()).unwrap());
            }
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            Vector {
                method: s("method"),
                path: s("path"),
                query: s("query"),
                headers,
                body: unhex(r["body"].as_str().unwrap()),
                region: s("region"),
                service: s("service"),
            }
        })
        .collect();
    (creds, reqs)
}

fn request(v: &Vector) -> Request<'_> {
    Request {
        method: &v.method,
        path: &v.path,
        query: &v.query,
        headers: &v.headers,
        body: &v.body,
    }
}

fn signed_at(v: &Vector) -> SystemTime {
    parse_amz_date(v.headers["x-amz-date"].to_str().unwrap()).unwrap()
}

fn auth_of(v: &Vector) -> Authorization {
    parse_authorization(v.headers.get("authorization").and_then(|h| h.to_str().ok())).unwrap()
}

#[test]
fn what_botocore_signs_verifies() {
    let (creds, vectors) = vectors();
    for v in &vectors {
        let auth = auth_of(v);
        assert_eq!(auth.access_key_id, creds.access_key_id);
        assert_eq!(
            (auth.region.as_str(), auth.service.as_str()),
            (v.region.as_str(), v.service.as_str())
        );
        verify(&request(v), &auth, &creds.secret_access_key, signed_at(v))
            .unwrap_or_else(|e| panic!("{} {}: {e}", v.method, v.path));
    }
}

#[test]
fn signing_gives_botocore_signature() {
    let (creds, vectors) = vectors();
    for v in &vectors {
        let mut headers = v.headers.clone();
        headers.remove("authorization");
        headers.remove("x-amz-date");
        let req = Request {
            headers: &headers,
            ..request(v)
        };
        let [(_, date), (_, authorization)] =
            sign(&req, &creds, &v.region, &v.service, signed_at(v));
        assert_eq!(date, v.headers["x-amz-date"]);
        assert_eq!(
            authorization, v.headers["authorization"],
            "{} {}",
            v.method, v.path
        );
    }
}

#[test]
fn any_change_to_a_signed_part_is_a_mismatch() {
    let (creds, vectors) = vectors();
    let v = &vectors[0];
    let auth = auth_of(v);
    let at = signed_at(v);
    let body = b"{\"x\":1}".to_vec();
    let req = Request {
        body: &body,
        ..request(v)
    };
    assert_eq!(
        verify(&req, &auth, &creds.secret_access_key, at),
        Err(AuthError::Mismatch)
    );
    let mut headers = v.headers.clone();
    headers.insert(
        "x-amz-target",
        HeaderValue::from_static("AmazonEC2ContainerServiceV20141113.DeleteCluster"),
    );
    let req = Request {
        headers: &headers,
        ..request(v)
    };
    assert_eq!(
        verify(&req, &auth, &creds.secret_access_key, at),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        verify(&request(v), &auth, "another secret", at),
        Err(AuthError::Mismatch)
    );
    // An unsigned header may change.
    let mut headers = v.headers.clone();
    headers.insert("user-agent", HeaderValue::from_static("curl"));
    let req = Request {
        headers: &headers,
        ..request(v)
    };
    assert_eq!(verify(&req, &auth, &creds.secret_access_key, at), Ok(()));
}

#[test]
fn time_must_be_within_fifteen_minutes() {
    let (creds, vectors) = vectors();
    let v = &vectors[0];
    let auth = auth_of(v);
    let at = signed_at(v);
    let cases = [
        (at + Duration::from_secs(14 * 60), true),
        (at - Duration::from_secs(14 * 60), true),
        (at + Duration::from_secs(20 * 60), false),
        (at - Duration::from_secs(20 * 60), false),
    ];
    for (now, ok) in cases {
        let r = verify(&request(v), &auth, &creds.secret_access_key, now);
        match (r, ok) {
            (Ok(()), true) => {}
            (Err(AuthError::Skewed(m)), false) => assert!(m.starts_with("Signature "), "{m}"),
            (other, _) => panic!("{now:?}: {other:?}"),
        }
    }
}

#[test]
fn malformed_headers_are_incomplete() {
    let good = "Credential=AK/20260101/us-east-1/ecs/aws4_request";
    let sig = "Signature=".to_string() + &"0".repeat(64);
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "Missing"),
        (Some("Bearer abc".into()), "Incomplete"),
        (Some(format!("{ALGORITHM} {good}, {sig}")), "Incomplete"),
        (Some(format!("{ALGORITHM} SignedHeaders=host, {sig}")), "Incomplete"),
        (Some(format!("{ALGORITHM} {good}, SignedHeaders=host, Signature=0")), "Incomplete"),
        (Some(format!("{ALGORITHM} Credential=AK/2026/us-east-1/ecs/aws4_request, SignedHeaders=host, {sig}")), "BadScope"),
        (Some(format!("{ALGORITHM} Credential=AK/20260101/us-east-1/ecs/aws5_request, SignedHeaders=host, {sig}")), "BadScope"),
        (Some(format!("{ALGORITHM} Credential=AK/20260101/us-east-1, SignedHeaders=host, {sig}")), "Incomplete"),
        (Some(format!("{ALGORITHM} garbage")), "Incomplete"),
        (Some(format!("{ALGORITHM} {good}, SignedHeaders=host, {sig}")), "Ok"),
    ];
    for (header, want) in cases {
        let got = match parse_authorization(header.as_deref()) {
            Ok(_) => "Ok",
            Err(AuthError::Missing) => "Missing",
            Err(AuthError::Incomplete(_)) => "Incomplete",
            Err(AuthError::BadScope(_)) => "BadScope",
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(got, want, "{header:?}");
    }
}

#[test]
fn host_must_be_signed_and_dates_agree() {
    let (creds, vectors) = vectors();
    let v = &vectors[0];
    let at = signed_at(v);
    let mut auth = auth_of(v);
    auth.signed_headers.retain(|h| h != "host");
    assert!(matches!(
        verify(&request(v), &auth, &creds.secret_access_key, at),
        Err(AuthError::Incomplete(_))
    ));
    let mut auth = auth_of(v);
    auth.date = "20200101".into();
    assert!(matches!(
        verify(&request(v), &auth, &creds.secret_access_key, at),
        Err(AuthError::BadScope(_))
    ));
    let mut headers = v.headers.clone();
    headers.remove("x-amz-date");
    let req = Request {
        headers: &headers,
        ..request(v)
    };
    assert!(matches!(
        verify(&req, &auth_of(v), &creds.secret_access_key, at),
        Err(AuthError::Incomplete(_))
    ));
}
