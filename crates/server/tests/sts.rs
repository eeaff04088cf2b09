//! STS over the AWS query protocol: the AWS SDK for Rust, and raw forms for the XML
//! answers and errors, and for what SDKs never send.

mod common;

use common::{ecs_raw, post, query_raw, TestServer};

const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_get_caller_identity_names_the_account_of_the_credentials() {
    let s = TestServer::start().await;
    let out = s.sts("test").get_caller_identity().send().await.unwrap();
    assert_eq!(out.account(), Some("123456789012"));
    assert_eq!(out.arn(), Some("arn:aws:iam::123456789012:root"));
    assert_eq!(out.user_id(), Some("123456789012"));
    let out = s
        .sts("111122223333")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(out.account(), Some("111122223333"));
    assert_eq!(out.arn(), Some("arn:aws:iam::111122223333:root"));
    // An action berth does not serve: the SDK reads the code from the XML error.
    let e = s
        .sts("111122223333")
        .assume_role()
        .role_arn("arn:aws:iam::111122223333:role/r")
        .role_session_name("s")
        .send()
        .await
        .unwrap_err();
    use aws_sdk_sts::error::ProvideErrorMetadata;
    assert_eq!(e.code(), Some("InvalidAction"), "{e:?}");
    assert!(
        e.message().unwrap_or_default().contains("AssumeRole"),
        "{e:?}"
    );
    use aws_sdk_sts::operation::RequestId;
    assert_eq!(e.request_id().map(str::len), Some(36), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_caller_identity_answers_in_xml() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let r = query_raw(
            addr,
            "sts",
            "111122223333",
            "Action=GetCallerIdentity&Version=2011-06-15",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("text/xml"));
        let rid = r.header("x-amzn-requestid").unwrap();
        assert_eq!(
            r.text(),
            format!(
                "<GetCallerIdentityResponse xmlns=\"{STS_NS}\"><GetCallerIdentityResult>\
                 <Account>111122223333</Account><Arn>arn:aws:iam::111122223333:root</Arn>\
                 <UserId>111122223333</UserId></GetCallerIdentityResult>\
                 <ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>\
                 </GetCallerIdentityResponse>"
            )
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_errors_are_error_responses_and_the_server_keeps_serving() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        for (form, code, says) in [
            ("Action=AssumeRoot&Version=2011-06-15", "InvalidAction", "AssumeRoot"),
            ("Action=GetCallerIdentity&Version=2011-06-16", "NoSuchVersion", "2011-06-16"),
            ("Action=GetCallerIdentity", "MissingParameter", "Version"),
            ("Version=2011-06-15", "MissingAction", "Action"),
            ("Action=GetCallerIdentity&Version=2011-06-15&X=%E0%80", "MalformedQueryString", "UTF-8"),
            ("Action=GetCallerIdentity&Version=2011-06-15&A.=1", "MalformedQueryString", "A."),
        ] {
            let r = query_raw(addr, "sts", "111122223333", form);
            assert_eq!(r.status, 400, "{form}: {}", r.text());
            assert_eq!(r.header("content-type"), Some("text/xml"));
            let rid = r.header("x-amzn-requestid").unwrap();
            let body = r.text();
            assert!(
                body.starts_with(&format!(
                    "<ErrorResponse xmlns=\"{STS_NS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>"
                )),
                "{form}: {body}"
            );
            assert!(body.ends_with(&format!("</Error><RequestId>{rid}</RequestId></ErrorResponse>")), "{body}");
            assert!(body.contains(says), "{form}: {body}");
        }
        let r = query_raw(addr, "sts", "111122223333", "Action=GetCallerIdentity&Version=2011-06-15");
        assert_eq!(r.status, 200, "{}", r.text());
        let r = ecs_raw(addr, "ListClusters", "{}");
        assert_eq!(r.status, 200);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_1_0_requests_reach_a_json_1_1_service() {
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
                ("Content-Type", "application/x-amz-json-1.0"),
            ],
            b"{}",
        );
        assert_eq!(r.status, 200);
        // Answered in the service's own version.
        assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
        assert_eq!(r.json()["clusterArns"], serde_json::json!([]));
    })
    .await
    .unwrap();
}
