//! Unit tests: every operation through `CloudMap::call`, and the free functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_awsproto::{Api, ApiError, Context};
use berth_store::{Store, StoreError};
use serde_json::{json, Value};

use crate::*;

struct T {
    _dir: tempfile::TempDir,
    cm: CloudMap,
    ctx: Context,
}

fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    T {
        _dir: dir,
        cm: CloudMap::new(store),
        ctx: Context::default(),
    }
}

impl T {
    fn call(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        self.cm.call(&self.ctx, op, input)
    }
    fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input)
            .unwrap_or_else(|e| panic!("{op} failed: {e}"))
    }
    fn err(&self, op: &str, input: Value) -> ApiError {
        match self.call(op, input) {
            Ok(v) => panic!("{op} succeeded: {v}"),
            Err(e) => e,
        }
    }
    fn http_ns(&self, name: &str) -> String {
        let op = self.ok("CreateHttpNamespace", json!({"Name": name}));
        let op = self.ok("GetOperation", json!({"OperationId": op["OperationId"]}));
        op["Operation"]["Targets"]["NAMESPACE"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn service(&self, ns: &str, name: &str) -> String {
        let v = self.ok("CreateService", json!({"Name": name, "NamespaceId": ns}));
        v["Service"]["Id"].as_str().unwrap().to_string()
    }
    fn register(&self, srv: &str, id: &str, attrs: Value) -> String {
        let v = self.ok(
            "RegisterInstance",
            json!({"ServiceId": srv, "InstanceId": id, "Attributes": attrs}),
        );
        v["OperationId"].as_str().unwrap().to_string()
    }
    fn revision(&self, ns: &str, svc: &str) -> i64 {
        self.ok(
            "DiscoverInstancesRevision",
            json!({"NamespaceName": ns, "ServiceName": svc}),
        )["InstancesRevision"]
            .as_i64()
            .unwrap()
    }
}

fn assert_code(e: &ApiError, code: &str, status: u16) {
    assert_eq!(e.code, code, "{e}");
    assert_eq!(e.status, status, "{e}");
}

fn is_op_id(s: &str) -> bool {
    let (a, b) = s.split_once('-').unwrap();
    a.len() == 32
        && b.len() == 8
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

// ----- namespaces -----

#[test]
fn http_namespace_create_get_list_like_aws() {
    let t = setup();
    let out = t.ok(
        "CreateHttpNamespace",
        json!({"Name": "service-connect", "CreatorRequestId": "service-connect", "Description": "d"}),
    );
    let op_id = out["OperationId"].as_str().unwrap();
    assert!(is_op_id(op_id), "{op_id}");
    let op = t.ok("GetOperation", json!({"OperationId": op_id}))["Operation"].clone();
    assert_eq!(op["Type"], "CREATE_NAMESPACE");
    assert_eq!(op["Status"], "SUCCESS");
    assert_eq!(op["OwnerAccount"], "123456789012");
    assert!(op["CreateDate"].is_f64() && op["UpdateDate"].is_f64());
    let id = op["Targets"]["NAMESPACE"].as_str().unwrap();
    assert!(id.starts_with("ns-") && id.len() == 19, "{id}");

    let ns = t.ok("GetNamespace", json!({"Id": id}))["Namespace"].clone();
    assert_eq!(
        ns,
        json!({
            "Id": id,
            "Arn": format!("arn:aws:servicediscovery:us-east-1:123456789012:namespace/{id}"),
            "ResourceOwner": "123456789012",
            "Name": "service-connect",
            "Type": "HTTP",
            "Description": "d",
            "ServiceCount": 0,
            "Properties": {"DnsProperties": {"SOA": {}}, "HttpProperties": {"HttpName": "service-connect"}},
            "CreateDate": ns["CreateDate"],
            "CreatorRequestId": "service-connect",
        })
    );
    // By ARN too.
    let by_arn = t.ok("GetNamespace", json!({"Id": ns["Arn"]}));
    assert_eq!(by_arn["Namespace"]["Id"], id);

    let list = t.ok(
        "ListNamespaces",
        json!({"Filters": [{"Name": "NAME", "Values": ["service-connect"], "Condition": "EQ"}]}),
    );
    let items = list["Namespaces"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["Id"], id);
    assert!(items[0].get("CreatorRequestId").is_none());
    assert!(list.get("NextToken").is_none());
}

#[test]
fn dns_namespaces_are_recorded() {
    let t = setup();
    t.ok(
        "CreatePrivateDnsNamespace",
        json!({"Name": "retailstore.local", "Vpc": "vpc-1c56417b",
               "Properties": {"DnsProperties": {"SOA": {"TTL": 60}}}}),
    );
    t.ok("CreatePublicDnsNamespace", json!({"Name": "example.com"}));
    let list = t.ok("ListNamespaces", json!({}))["Namespaces"].clone();
    let private = list
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["Type"] == "DNS_PRIVATE")
        .unwrap();
    assert_eq!(private["Properties"]["DnsProperties"]["SOA"]["TTL"], 60);
    assert!(private["Properties"]["DnsProperties"]["HostedZoneId"]
        .as_str()
        .unwrap()
        .starts_with('Z'));
    assert_eq!(
        private["Properties"]["HttpProperties"]["HttpName"],
        "retailstore.local"
    );
    let e = t.err("CreatePrivateDnsNamespace", json!({"Name": "x.local"}));
    assert_code(&e, "InvalidInput", 400);
    assert!(e.message.contains("Vpc"), "{}", e.message);
    let e = t.err("CreatePublicDnsNamespace", json!({"Name": "nodot"}));
    assert_code(&e, "InvalidInput", 400);
    let e = t.err(
        "CreatePublicDnsNamespace",
        json!({"Name": "a.com", "Properties": {"DnsProperties": {"SOA": {"TTL": -1}}}}),
    );
    assert!(
        e.message.contains("Properties.DnsProperties.SOA.TTL"),
        "{}",
        e.message
    );
}

#[test]
fn namespace_name_validation() {
    let t = setup();
    let e = t.err("CreateHttpNamespace", json!({}));
    assert_code(&e, "InvalidInput", 400);
    assert!(e.message.contains("'Name'"), "{}", e.message);
    for bad in ["", "has space", "arn:aws:x"] {
        let e = t.err("CreateHttpNamespace", json!({"Name": bad}));
        assert_code(&e, "InvalidInput", 400);
        assert!(e.message.contains("Name"), "{}", e.message);
    }
    let e = t.err(
        "CreateHttpNamespace",
        json!({"Name": "ok", "Description": "x".repeat(1025)}),
    );
    assert!(e.message.contains("Description"), "{}", e.message);
}

#[test]
fn wrong_json_types_are_serialization_exceptions() {
    let t = setup();
    let e = t.err("CreateHttpNamespace", json!({"Name": 5}));
    assert_code(&e, "SerializationException", 400);
    assert!(e.message.contains("Name"), "{}", e.message);
    let e = t.err("ListNamespaces", json!({"MaxResults": "ten"}));
    assert_code(&e, "SerializationException", 400);
    let e = t.err("ListNamespaces", json!([1]));
    assert_code(&e, "SerializationException", 400);
}

#[test]
fn unknown_operation() {
    let t = setup();
    let e = t.err("CreateWidget", json!({}));
    assert_eq!(e.code, "UnknownOperationException");
}

#[test]
fn namespace_idempotency_already_exists_and_duplicate_request() {
    let t = setup();
    let a = t.ok(
        "CreateHttpNamespace",
        json!({"Name": "n1", "CreatorRequestId": "req-1"}),
    );
    let b = t.ok(
        "CreateHttpNamespace",
        json!({"Name": "n1", "CreatorRequestId": "req-1"}),
    );
    assert_eq!(
        a["OperationId"], b["OperationId"],
        "retry returns the same operation"
    );
    assert_eq!(
        t.ok("ListNamespaces", json!({}))["Namespaces"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let e = t.err(
        "CreateHttpNamespace",
        json!({"Name": "n1", "CreatorRequestId": "req-2"}),
    );
    assert_code(&e, "NamespaceAlreadyExists", 400);
    assert_eq!(e.extra["CreatorRequestId"], "req-1");
    assert!(e.extra["NamespaceId"].as_str().unwrap().starts_with("ns-"));
    let e = t.err("CreateHttpNamespace", json!({"Name": "n1"}));
    assert_code(&e, "NamespaceAlreadyExists", 400);

    let e = t.err(
        "CreateHttpNamespace",
        json!({"Name": "other", "CreatorRequestId": "req-1"}),
    );
    assert_code(&e, "DuplicateRequest", 409);
    assert_eq!(e.extra["DuplicateOperationId"], a["OperationId"]);
}

#[test]
fn list_namespaces_filters() {
    let t = setup();
    t.http_ns("alpha");
    t.http_ns("alpine");
    t.http_ns("beta");
    t.ok("CreatePublicDnsNamespace", json!({"Name": "example.com"}));
    let names = |v: Value| -> Vec<String> {
        let mut n: Vec<String> = v["Namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["Name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let f = |filters: Value| t.ok("ListNamespaces", json!({"Filters": filters}));
    assert_eq!(
        names(f(
            json!([{"Name": "NAME", "Values": ["al"], "Condition": "BEGINS_WITH"}])
        )),
        vec!["alpha", "alpine"]
    );
    assert_eq!(
        names(f(json!([{"Name": "HTTP_NAME", "Values": ["beta"]}]))),
        vec!["beta"]
    );
    assert_eq!(
        names(f(
            json!([{"Name": "TYPE", "Values": ["DNS_PUBLIC"], "Condition": "EQ"}])
        )),
        vec!["example.com"]
    );
    assert_eq!(
        names(f(
            json!([{"Name": "TYPE", "Values": ["DNS_PUBLIC", "HTTP"], "Condition": "IN"}])
        ))
        .len(),
        4
    );
    assert_eq!(
        names(f(json!([
            {"Name": "TYPE", "Values": ["HTTP"]},
            {"Name": "NAME", "Values": ["b"], "Condition": "BEGINS_WITH"}
        ]))),
        vec!["beta"]
    );
    assert_eq!(
        names(f(json!([{"Name": "RESOURCE_OWNER", "Values": ["SELF"]}]))).len(),
        4
    );
    assert!(names(f(
        json!([{"Name": "RESOURCE_OWNER", "Values": ["OTHER_ACCOUNTS"]}])
    ))
    .is_empty());

    for bad in [
        json!([{"Name": "TYPE", "Values": ["NOPE"]}]),
        json!([{"Name": "TYPE", "Values": ["HTTP"], "Condition": "BEGINS_WITH"}]),
        json!([{"Name": "NAME", "Values": ["a", "b"], "Condition": "EQ"}]),
        json!([{"Name": "COLOR", "Values": ["a"]}]),
        json!([{"Name": "NAME", "Values": ["a"], "Condition": "LIKE"}]),
        json!([{"Name": "NAME"}]),
    ] {
        let e = t.err("ListNamespaces", json!({"Filters": bad}));
        assert_code(&e, "InvalidInput", 400);
        assert!(e.message.contains("Filters"), "{}", e.message);
    }
}

#[test]
fn list_namespaces_pagination() {
    let t = setup();
    for i in 0..5 {
        t.http_ns(&format!("ns{i}"));
    }
    let mut seen = Vec::new();
    let mut token: Option<Value> = None;
    loop {
        let mut input = json!({"MaxResults": 2});
        if let Some(tok) = &token {
            input["NextToken"] = tok.clone();
        }
        let page = t.ok("ListNamespaces", input);
        let items = page["Namespaces"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|n| n["Id"].as_str().unwrap().to_string()));
        match page.get("NextToken") {
            Some(tok) => token = Some(tok.clone()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 5);

    for bad in [0, 101] {
        let e = t.err("ListNamespaces", json!({"MaxResults": bad}));
        assert_code(&e, "InvalidInput", 400);
        assert!(e.message.contains("MaxResults"), "{}", e.message);
    }
    let e = t.err("ListNamespaces", json!({"NextToken": "!!!"}));
    assert_code(&e, "InvalidInput", 400);
    let e = t.err(
        "ListNamespaces",
        json!({"NextToken": berth_awsproto::encode_token("elsewhere/x")}),
    );
    assert_code(&e, "InvalidInput", 400);
}

#[test]
fn delete_namespace_in_use_then_deleted() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    assert_eq!(
        t.ok("GetNamespace", json!({"Id": ns}))["Namespace"]["ServiceCount"],
        1
    );
    let e = t.err("DeleteNamespace", json!({"Id": ns}));
    assert_code(&e, "ResourceInUse", 409);
    t.ok("DeleteService", json!({"Id": srv}));
    let out = t.ok("DeleteNamespace", json!({"Id": ns}));
    let op = t.ok("GetOperation", json!({"OperationId": out["OperationId"]}));
    assert_eq!(op["Operation"]["Type"], "DELETE_NAMESPACE");
    assert_eq!(op["Operation"]["Targets"]["NAMESPACE"], ns.as_str());
    let e = t.err("GetNamespace", json!({"Id": ns}));
    assert_code(&e, "NamespaceNotFound", 404);
    let e = t.err("DeleteNamespace", json!({"Id": ns}));
    assert_code(&e, "NamespaceNotFound", 404);
    // The name is free again.
    t.http_ns("n");
}

#[test]
fn namespace_not_found_and_missing_id() {
    let t = setup();
    let e = t.err("GetNamespace", json!({"Id": "ns-doesnotexist0000"}));
    assert_code(&e, "NamespaceNotFound", 404);
    let e = t.err("GetNamespace", json!({}));
    assert_code(&e, "InvalidInput", 400);
    assert!(e.message.contains("'Id'"), "{}", e.message);
}

#[test]
fn update_http_namespace() {
    let t = setup();
    let ns = t.http_ns("n");
    let out = t.ok(
        "UpdateHttpNamespace",
        json!({"Id": ns, "Namespace": {"Description": "new"}}),
    );
    let op = t.ok("GetOperation", json!({"OperationId": out["OperationId"]}));
    assert_eq!(op["Operation"]["Type"], "UPDATE_NAMESPACE");
    assert_eq!(
        t.ok("GetNamespace", json!({"Id": ns}))["Namespace"]["Description"],
        "new"
    );
    let e = t.err("UpdateHttpNamespace", json!({"Id": ns, "Namespace": {}}));
    assert!(e.message.contains("Namespace.Description"), "{}", e.message);
    let e = t.err("UpdateHttpNamespace", json!({"Id": ns}));
    assert!(e.message.contains("'Namespace'"), "{}", e.message);
    t.ok("CreatePublicDnsNamespace", json!({"Name": "example.com"}));
    let pub_id = t.ok(
        "ListNamespaces",
        json!({"Filters": [{"Name": "TYPE", "Values": ["DNS_PUBLIC"]}]}),
    )["Namespaces"][0]["Id"]
        .clone();
    let e = t.err(
        "UpdateHttpNamespace",
        json!({"Id": pub_id, "Namespace": {"Description": "x"}}),
    );
    assert_code(&e, "InvalidInput", 400);
    t.ok(
        "UpdatePublicDnsNamespace",
        json!({"Id": pub_id, "Namespace": {"Properties": {"DnsProperties": {"SOA": {"TTL": 30}}}}}),
    );
    let got = t.ok("GetNamespace", json!({"Id": pub_id}));
    assert_eq!(
        got["Namespace"]["Properties"]["DnsProperties"]["SOA"]["TTL"],
        30
    );
    let e = t.err(
        "UpdateHttpNamespace",
        json!({"Id": "ns-nope", "Namespace": {"Description": "x"}}),
    );
    assert_code(&e, "NamespaceNotFound", 404);
}

// ----- operations -----

#[test]
fn get_operation_not_found() {
    let t = setup();
    let e = t.err("GetOperation", json!({"OperationId": "nope"}));
    assert_code(&e, "OperationNotFound", 404);
    let e = t.err("GetOperation", json!({}));
    assert_code(&e, "InvalidInput", 400);
}

#[test]
fn list_operations_filters() {
    let t = setup();
    let before = berth_awsproto::now() - 1.0;
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    let reg = t.register(&srv, "i-1", json!({}));
    let dereg = t.ok(
        "DeregisterInstance",
        json!({"ServiceId": srv, "InstanceId": "i-1"}),
    )["OperationId"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = |filters: Value| -> Vec<String> {
        let mut v: Vec<String> = t.ok("ListOperations", json!({"Filters": filters}))["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                assert_eq!(o["Status"], "SUCCESS");
                o["Id"].as_str().unwrap().to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(json!([])).len(), 3);
    assert_eq!(
        ids(json!([{"Name": "TYPE", "Values": ["REGISTER_INSTANCE"]}])),
        vec![reg.clone()]
    );
    let mut both = vec![reg.clone(), dereg.clone()];
    both.sort();
    assert_eq!(ids(json!([{"Name": "SERVICE_ID", "Values": [srv]}])), both);
    assert_eq!(
        ids(json!([{"Name": "NAMESPACE_ID", "Values": [ns]}])).len(),
        3
    );
    assert_eq!(
        ids(json!([{"Name": "STATUS", "Values": ["PENDING", "SUCCESS"], "Condition": "IN"}])).len(),
        3
    );
    assert!(ids(json!([{"Name": "STATUS", "Values": ["FAIL"]}])).is_empty());
    let now = berth_awsproto::now() + 1.0;
    assert_eq!(
        ids(json!([{"Name": "UPDATE_DATE", "Values": [before.to_string(), now.to_string()], "Condition": "BETWEEN"}]))
            .len(),
        3
    );
    assert!(
        ids(json!([{"Name": "UPDATE_DATE", "Values": ["1", "2"], "Condition": "BETWEEN"}]))
            .is_empty()
    );
    let page = t.ok("ListOperations", json!({"MaxResults": 2}));
    assert_eq!(page["Operations"].as_array().unwrap().len(), 2);
    let rest = t.ok(
        "ListOperations",
        json!({"MaxResults": 2, "NextToken": page["NextToken"]}),
    );
    assert_eq!(rest["Operations"].as_array().unwrap().len(), 1);
    assert!(rest.get("NextToken").is_none());

    for bad in [
        json!([{"Name": "UPDATE_DATE", "Values": ["1"], "Condition": "BETWEEN"}]),
        json!([{"Name": "UPDATE_DATE", "Values": ["1", "2"], "Condition": "EQ"}]),
        json!([{"Name": "UPDATE_DATE", "Values": ["x", "2"], "Condition": "BETWEEN"}]),
        json!([{"Name": "TYPE", "Values": ["DANCE"]}]),
        json!([{"Name": "SERVICE_ID", "Values": ["a", "b"], "Condition": "IN"}]),
    ] {
        let e = t.err("ListOperations", json!({"Filters": bad}));
        assert_code(&e, "InvalidInput", 400);
    }
}

// ----- services -----

#[test]
fn create_and_get_http_service() {
    let t = setup();
    let ns = t.http_ns("service-connect");
    let out = t.ok(
        "CreateService",
        json!({"Name": "nginx", "NamespaceId": ns, "Description": "d", "CreatorRequestId": "c1",
               "Tags": [{"Key": "k", "Value": "v"}]}),
    );
    let s = &out["Service"];
    let id = s["Id"].as_str().unwrap();
    assert!(id.starts_with("srv-") && id.len() == 20, "{id}");
    assert_eq!(
        s["Arn"],
        format!("arn:aws:servicediscovery:us-east-1:123456789012:service/{id}")
    );
    assert_eq!(s["Type"], "HTTP");
    assert_eq!(s["NamespaceId"], ns.as_str());
    assert_eq!(s["InstanceCount"], 0);
    assert_eq!(s["CreatorRequestId"], "c1");
    assert_eq!(s["ResourceOwner"], "123456789012");
    assert!(s.get("DnsConfig").is_none());
    let got = t.ok("GetService", json!({"Id": id}));
    assert_eq!(&got["Service"], s);
    let by_arn = t.ok("GetService", json!({"Id": s["Arn"]}));
    assert_eq!(&by_arn["Service"], s);
}

#[test]
fn create_service_in_dns_namespace_and_by_arn() {
    let t = setup();
    t.ok(
        "CreatePrivateDnsNamespace",
        json!({"Name": "example.local", "Vpc": "vpc-1"}),
    );
    let ns = t.ok("ListNamespaces", json!({}))["Namespaces"][0].clone();
    // NamespaceId only inside DnsConfig (deprecated form), ARN form.
    let out = t.ok(
        "CreateService",
        json!({"Name": "myservice",
               "DnsConfig": {"NamespaceId": ns["Id"], "DnsRecords": [{"Type": "A", "TTL": 60}]}}),
    );
    assert_eq!(out["Service"]["Type"], "DNS_HTTP");
    assert_eq!(out["Service"]["DnsConfig"]["RoutingPolicy"], "MULTIVALUE");
    let out = t.ok(
        "CreateService",
        json!({"Name": "api", "NamespaceId": ns["Arn"], "Type": "HTTP"}),
    );
    assert_eq!(out["Service"]["Type"], "HTTP");
    let e = t.err(
        "CreateService",
        json!({"Name": "x", "NamespaceId": ns["Id"], "HealthCheckConfig": {"Type": "HTTP"}}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err(
        "CreateService",
        json!({"Name": "x", "NamespaceId": ns["Id"], "Type": "HTTP",
               "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 60}]}}),
    );
    assert_code(&e, "InvalidInput", 400);
}

#[test]
fn create_service_validation() {
    let t = setup();
    let ns = t.http_ns("n");
    let e = t.err("CreateService", json!({"Name": "web"}));
    assert_code(&e, "InvalidInput", 400);
    assert!(e.message.contains("NamespaceId"), "{}", e.message);
    let e = t.err("CreateService", json!({"NamespaceId": ns}));
    assert!(e.message.contains("'Name'"), "{}", e.message);
    for bad in ["-web", "web-", "a..b", "has space", ""] {
        let e = t.err("CreateService", json!({"Name": bad, "NamespaceId": ns}));
        assert_code(&e, "InvalidInput", 400);
        assert!(e.message.contains("Name"), "{}", e.message);
    }
    let e = t.err(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "Type": "DNS"}),
    );
    assert!(e.message.contains("Type"), "{}", e.message);
    let e = t.err(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 60}]}}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "DnsConfig": {"DnsRecords": [{"Type": "MX", "TTL": 60}]}}),
    );
    assert!(
        e.message.contains("DnsConfig.DnsRecords.member.Type"),
        "{}",
        e.message
    );
    let e = t.err(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "HealthCheckConfig": {"Type": "HTTP", "FailureThreshold": 11}}),
    );
    assert!(
        e.message.contains("HealthCheckConfig.FailureThreshold"),
        "{}",
        e.message
    );
    let e = t.err(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "HealthCheckConfig": {"Type": "HTTP"},
               "HealthCheckCustomConfig": {}}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err(
        "CreateService",
        json!({"Name": "web", "NamespaceId": "ns-missing"}),
    );
    assert_code(&e, "NamespaceNotFound", 404);
}

#[test]
fn service_already_exists_and_idempotency() {
    let t = setup();
    let ns = t.http_ns("n");
    let a = t.ok(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "CreatorRequestId": "r1"}),
    );
    let b = t.ok(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "CreatorRequestId": "r1"}),
    );
    assert_eq!(a["Service"]["Id"], b["Service"]["Id"]);
    let e = t.err(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "CreatorRequestId": "r2"}),
    );
    assert_code(&e, "ServiceAlreadyExists", 400);
    assert_eq!(e.extra["ServiceId"], a["Service"]["Id"]);
    assert_eq!(e.extra["ServiceArn"], a["Service"]["Arn"]);
    assert_eq!(e.extra["CreatorRequestId"], "r1");
    // Same name in another namespace is fine.
    let ns2 = t.http_ns("n2");
    t.service(&ns2, "web");
}

#[test]
fn list_services_filters_and_pagination() {
    let t = setup();
    let ns1 = t.http_ns("n1");
    let ns2 = t.http_ns("n2");
    for i in 0..3 {
        t.service(&ns1, &format!("a{i}"));
    }
    for i in 0..2 {
        t.service(&ns2, &format!("b{i}"));
    }
    let count = |input: Value| {
        t.ok("ListServices", input)["Services"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(json!({})), 5);
    assert_eq!(
        count(json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [ns1]}]})),
        3
    );
    assert_eq!(
        count(
            json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [ns1, ns2], "Condition": "IN"}]})
        ),
        5
    );
    assert_eq!(
        count(json!({"Filters": [{"Name": "RESOURCE_OWNER", "Values": ["SELF"]}]})),
        5
    );
    let first = t.ok("ListServices", json!({}))["Services"][0].clone();
    assert!(
        first.get("NamespaceId").is_none(),
        "ServiceSummary has no NamespaceId"
    );
    assert_eq!(first["InstanceCount"], 0);

    // Pagination, filtered and not.
    for filters in [
        json!([]),
        json!([{"Name": "NAMESPACE_ID", "Values": [ns1]}]),
    ] {
        let mut all = Vec::new();
        let mut token: Option<Value> = None;
        loop {
            let mut input = json!({"MaxResults": 1, "Filters": filters});
            if let Some(tok) = &token {
                input["NextToken"] = tok.clone();
            }
            let page = t.ok("ListServices", input);
            all.extend(page["Services"].as_array().unwrap().iter().cloned());
            match page.get("NextToken") {
                Some(tok) => token = Some(tok.clone()),
                None => break,
            }
        }
        assert_eq!(
            all.len(),
            if filters.as_array().unwrap().is_empty() {
                5
            } else {
                3
            }
        );
    }
    let e = t.err(
        "ListServices",
        json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [ns1], "Condition": "BEGINS_WITH"}]}),
    );
    assert_code(&e, "InvalidInput", 400);
}

#[test]
fn update_service() {
    let t = setup();
    t.ok("CreatePublicDnsNamespace", json!({"Name": "example.com"}));
    let ns = t.ok("ListNamespaces", json!({}))["Namespaces"][0]["Id"].clone();
    let srv = t.ok(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 60}]}}),
    )["Service"]["Id"]
        .clone();
    let out = t.ok(
        "UpdateService",
        json!({"Id": srv, "Service": {"Description": "new",
               "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 300}]},
               "HealthCheckConfig": {"Type": "HTTPS", "ResourcePath": "/health", "FailureThreshold": 3}}}),
    );
    let op = t.ok("GetOperation", json!({"OperationId": out["OperationId"]}));
    assert_eq!(op["Operation"]["Type"], "UPDATE_SERVICE");
    assert_eq!(op["Operation"]["Targets"]["SERVICE"], srv);
    let s = t.ok("GetService", json!({"Id": srv}))["Service"].clone();
    assert_eq!(s["Description"], "new");
    assert_eq!(s["DnsConfig"]["DnsRecords"][0]["TTL"], 300);
    assert_eq!(s["HealthCheckConfig"]["ResourcePath"], "/health");
    let e = t.err(
        "UpdateService",
        json!({"Id": srv, "Service": {"DnsConfig": {"DnsRecords": [{"Type": "AAAA", "TTL": 300}]}}}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err("UpdateService", json!({"Id": srv}));
    assert!(e.message.contains("'Service'"), "{}", e.message);
    let e = t.err("UpdateService", json!({"Id": "srv-nope", "Service": {}}));
    assert_code(&e, "ServiceNotFound", 404);
}

#[test]
fn delete_service_in_use_and_not_found() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    t.register(&srv, "i-1", json!({}));
    let e = t.err("DeleteService", json!({"Id": srv}));
    assert_code(&e, "ResourceInUse", 409);
    t.ok(
        "DeregisterInstance",
        json!({"ServiceId": srv, "InstanceId": "i-1"}),
    );
    assert_eq!(t.ok("DeleteService", json!({"Id": srv})), json!({}));
    let e = t.err("DeleteService", json!({"Id": srv}));
    assert_code(&e, "ServiceNotFound", 404);
    let e = t.err("GetService", json!({"Id": srv}));
    assert_code(&e, "ServiceNotFound", 404);
    // The name is free again.
    t.service(&ns, "web");
}

#[test]
fn service_attributes() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    let got = t.ok("GetServiceAttributes", json!({"ServiceId": srv}));
    assert_eq!(got["ServiceAttributes"]["Attributes"], json!({}));
    t.ok(
        "UpdateServiceAttributes",
        json!({"ServiceId": srv, "Attributes": {"a": "1", "b": "2"}}),
    );
    t.ok(
        "DeleteServiceAttributes",
        json!({"ServiceId": srv, "Attributes": ["a"]}),
    );
    let got = t.ok("GetServiceAttributes", json!({"ServiceId": srv}));
    assert_eq!(got["ServiceAttributes"]["Attributes"], json!({"b": "2"}));
    assert!(got["ServiceAttributes"]["ServiceArn"]
        .as_str()
        .unwrap()
        .ends_with(&srv));
    let many: BTreeMap<String, String> = (0..30).map(|i| (format!("k{i}"), "v".into())).collect();
    let e = t.err(
        "UpdateServiceAttributes",
        json!({"ServiceId": srv, "Attributes": many}),
    );
    assert_code(&e, "ServiceAttributesLimitExceededException", 400);
    let e = t.err(
        "UpdateServiceAttributes",
        json!({"ServiceId": srv, "Attributes": {}}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err("DeleteServiceAttributes", json!({"ServiceId": srv}));
    assert!(e.message.contains("Attributes"), "{}", e.message);
    let e = t.err("GetServiceAttributes", json!({"ServiceId": "srv-nope"}));
    assert_code(&e, "ServiceNotFound", 404);
}

// ----- instances -----

#[test]
fn register_get_list_reregister_deregister() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    let op = t.register(
        &srv,
        "i-1",
        json!({"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80", "color": "green"}),
    );
    assert!(is_op_id(&op));
    let o = t.ok("GetOperation", json!({"OperationId": op}))["Operation"].clone();
    assert_eq!(o["Type"], "REGISTER_INSTANCE");
    assert_eq!(
        o["Targets"],
        json!({"NAMESPACE": ns, "SERVICE": srv, "INSTANCE": "i-1"})
    );

    let got = t.ok(
        "GetInstance",
        json!({"ServiceId": srv, "InstanceId": "i-1"}),
    );
    assert_eq!(got["ResourceOwner"], "123456789012");
    assert_eq!(got["Instance"]["Id"], "i-1");
    assert_eq!(got["Instance"]["Attributes"]["color"], "green");

    // Re-register replaces the attributes.
    t.register(&srv, "i-1", json!({"AWS_INSTANCE_IPV4": "10.0.0.2"}));
    let got = t.ok(
        "GetInstance",
        json!({"ServiceId": srv, "InstanceId": "i-1"}),
    );
    assert_eq!(
        got["Instance"]["Attributes"],
        json!({"AWS_INSTANCE_IPV4": "10.0.0.2"})
    );
    assert_eq!(
        t.ok("GetService", json!({"Id": srv}))["Service"]["InstanceCount"],
        1
    );

    let out = t.ok(
        "DeregisterInstance",
        json!({"ServiceId": srv, "InstanceId": "i-1"}),
    );
    let o = t.ok("GetOperation", json!({"OperationId": out["OperationId"]}));
    assert_eq!(o["Operation"]["Type"], "DEREGISTER_INSTANCE");
    let e = t.err(
        "GetInstance",
        json!({"ServiceId": srv, "InstanceId": "i-1"}),
    );
    assert_code(&e, "InstanceNotFound", 404);
}

#[test]
fn deregister_missing_instance_or_service() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    let e = t.err(
        "DeregisterInstance",
        json!({"ServiceId": srv, "InstanceId": "nope"}),
    );
    assert_code(&e, "InstanceNotFound", 404);
    let e = t.err(
        "DeregisterInstance",
        json!({"ServiceId": "srv-nope", "InstanceId": "x"}),
    );
    assert_code(&e, "ServiceNotFound", 404);
    let e = t.err(
        "RegisterInstance",
        json!({"ServiceId": "srv-nope", "InstanceId": "x", "Attributes": {}}),
    );
    assert_code(&e, "ServiceNotFound", 404);
}

#[test]
fn register_instance_validation() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    let reg = |id: &str, attrs: Value| {
        t.err(
            "RegisterInstance",
            json!({"ServiceId": srv, "InstanceId": id, "Attributes": attrs}),
        )
    };
    let cases = [
        ("i 1", json!({}), "InstanceId"),
        (&"x".repeat(65), json!({}), "InstanceId"),
        (
            "i",
            json!({"AWS_INSTANCE_IPV4": "300.1.1.1"}),
            "AWS_INSTANCE_IPV4",
        ),
        (
            "i",
            json!({"AWS_INSTANCE_IPV4": "::1"}),
            "AWS_INSTANCE_IPV4",
        ),
        (
            "i",
            json!({"AWS_INSTANCE_IPV6": "10.0.0.1"}),
            "AWS_INSTANCE_IPV6",
        ),
        (
            "i",
            json!({"AWS_INSTANCE_PORT": "70000"}),
            "AWS_INSTANCE_PORT",
        ),
        (
            "i",
            json!({"AWS_INSTANCE_PORT": "http"}),
            "AWS_INSTANCE_PORT",
        ),
        ("i", json!({"AWS_INSTANCE_PORT": "-1"}), "AWS_INSTANCE_PORT"),
        ("i", json!({"bad key": "v"}), "Attributes"),
        ("i", json!({"k": " leading"}), "Attributes.k"),
        ("i", json!({"k": "x".repeat(1025)}), "Attributes.k"),
        (
            "i",
            json!({"AWS_INIT_HEALTH_STATUS": "MAYBE"}),
            "AWS_INIT_HEALTH_STATUS",
        ),
    ];
    for (id, attrs, field) in cases {
        let e = reg(id, attrs.clone());
        assert_code(&e, "InvalidInput", 400);
        assert!(e.message.contains(field), "{attrs}: {}", e.message);
    }
    let many: BTreeMap<String, String> = (0..31).map(|i| (format!("k{i}"), "v".into())).collect();
    assert_code(&reg("i", json!(many)), "InvalidInput", 400);
    let e = t.err(
        "RegisterInstance",
        json!({"ServiceId": srv, "InstanceId": "i"}),
    );
    assert!(e.message.contains("'Attributes'"), "{}", e.message);
    let e = t.err(
        "RegisterInstance",
        json!({"ServiceId": srv, "InstanceId": "i", "Attributes": {"k": 1}}),
    );
    assert_code(&e, "SerializationException", 400);
    // Accepted edge cases.
    t.register(
        &srv,
        "ok",
        json!({"AWS_INSTANCE_PORT": "65535", "k": "", "v": "a b"}),
    );
}

#[test]
fn dns_records_require_matching_attributes() {
    let t = setup();
    t.ok(
        "CreatePrivateDnsNamespace",
        json!({"Name": "x.local", "Vpc": "vpc-1"}),
    );
    let ns = t.ok("ListNamespaces", json!({}))["Namespaces"][0]["Id"].clone();
    let srv = t.ok(
        "CreateService",
        json!({"Name": "s", "NamespaceId": ns,
               "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 10}, {"Type": "SRV", "TTL": 10}]}}),
    )["Service"]["Id"]
        .clone();
    let e = t.err(
        "RegisterInstance",
        json!({"ServiceId": srv, "InstanceId": "i", "Attributes": {"AWS_INSTANCE_PORT": "80"}}),
    );
    assert!(e.message.contains("AWS_INSTANCE_IPV4"), "{}", e.message);
    let e = t.err(
        "RegisterInstance",
        json!({"ServiceId": srv, "InstanceId": "i", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1"}}),
    );
    assert!(e.message.contains("AWS_INSTANCE_PORT"), "{}", e.message);
    t.ok(
        "RegisterInstance",
        json!({"ServiceId": srv, "InstanceId": "i",
               "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}}),
    );
}

#[test]
fn list_instances_pagination() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    for i in 0..5 {
        t.register(
            &srv,
            &format!("i-{i}"),
            json!({"AWS_INSTANCE_IPV4": "10.0.0.1"}),
        );
    }
    let page = t.ok("ListInstances", json!({"ServiceId": srv, "MaxResults": 3}));
    assert_eq!(page["ResourceOwner"], "123456789012");
    let items = page["Instances"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["Id"], "i-0");
    assert_eq!(items[0]["Attributes"]["AWS_INSTANCE_IPV4"], "10.0.0.1");
    assert_eq!(items[0]["CreatedByAccount"], "123456789012");
    let rest = t.ok(
        "ListInstances",
        json!({"ServiceId": srv, "MaxResults": 3, "NextToken": page["NextToken"]}),
    );
    assert_eq!(rest["Instances"].as_array().unwrap().len(), 2);
    assert!(rest.get("NextToken").is_none());
    let e = t.err(
        "ListInstances",
        json!({"ServiceId": srv, "MaxResults": 101}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err("ListInstances", json!({"ServiceId": "srv-nope"}));
    assert_code(&e, "ServiceNotFound", 404);
}

#[test]
fn discover_instances_filters_and_revision() {
    let t = setup();
    let ns = t.http_ns("service-connect");
    let srv = t.service(&ns, "nginx");
    let other = t.service(&ns, "other");
    let r0 = t.revision("service-connect", "nginx");
    t.register(
        &srv,
        "a",
        json!({"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80", "az": "1a", "v": "1"}),
    );
    let r1 = t.revision("service-connect", "nginx");
    assert!(r1 > r0);
    t.register(
        &srv,
        "b",
        json!({"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "80", "az": "1b", "v": "1"}),
    );
    t.register(
        &srv,
        "c",
        json!({"AWS_INSTANCE_IPV4": "10.0.0.3", "AWS_INSTANCE_PORT": "80", "az": "1b", "v": "2"}),
    );
    let r2 = t.revision("service-connect", "nginx");
    assert!(r2 > r1);
    // Changes to another service don't move this revision.
    t.register(&other, "x", json!({}));
    assert_eq!(t.revision("service-connect", "nginx"), r2);

    let disc = |extra: Value| {
        let mut input = json!({"NamespaceName": "service-connect", "ServiceName": "nginx"});
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        let out = t.ok("DiscoverInstances", input);
        assert_eq!(out["InstancesRevision"], r2);
        let mut ids: Vec<String> = out["Instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["InstanceId"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let all = t.ok(
        "DiscoverInstances",
        json!({"NamespaceName": "service-connect", "ServiceName": "nginx"}),
    );
    assert_eq!(
        all["Instances"][0],
        json!({"InstanceId": "a", "NamespaceName": "service-connect", "ServiceName": "nginx",
               "HealthStatus": "HEALTHY",
               "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80", "az": "1a", "v": "1"}})
    );
    assert_eq!(disc(json!({})), vec!["a", "b", "c"]);
    assert_eq!(
        disc(json!({"QueryParameters": {"az": "1b"}})),
        vec!["b", "c"]
    );
    assert_eq!(
        disc(json!({"QueryParameters": {"az": "1b", "v": "2"}})),
        vec!["c"]
    );
    assert_eq!(
        disc(json!({"QueryParameters": {"az": "1b"}, "OptionalParameters": {"v": "1"}})),
        vec!["b"]
    );
    assert_eq!(
        disc(json!({"QueryParameters": {"az": "1b"}, "OptionalParameters": {"v": "9"}})),
        vec!["b", "c"],
        "optional parameters matching nothing are ignored"
    );
    assert!(disc(json!({"QueryParameters": {"az": "1z"}})).is_empty());
    assert_eq!(disc(json!({"MaxResults": 2})).len(), 2);
    assert_eq!(disc(json!({"HealthStatus": "ALL"})).len(), 3);

    t.ok(
        "DeregisterInstance",
        json!({"ServiceId": srv, "InstanceId": "a"}),
    );
    let r3 = t.revision("service-connect", "nginx");
    assert!(r3 > r2);

    for bad in [
        json!({"NamespaceName": "service-connect", "ServiceName": "nginx", "MaxResults": 1001}),
        json!({"NamespaceName": "service-connect", "ServiceName": "nginx", "HealthStatus": "SICK"}),
        json!({"NamespaceName": "service-connect"}),
        json!({"ServiceName": "nginx"}),
    ] {
        assert_code(&t.err("DiscoverInstances", bad), "InvalidInput", 400);
    }
    let e = t.err(
        "DiscoverInstances",
        json!({"NamespaceName": "nope", "ServiceName": "nginx"}),
    );
    assert_code(&e, "NamespaceNotFound", 404);
    let e = t.err(
        "DiscoverInstances",
        json!({"NamespaceName": "service-connect", "ServiceName": "nope"}),
    );
    assert_code(&e, "ServiceNotFound", 404);
    let e = t.err(
        "DiscoverInstancesRevision",
        json!({"NamespaceName": "service-connect", "ServiceName": "nope"}),
    );
    assert_code(&e, "ServiceNotFound", 404);
}

#[test]
fn custom_health_checks() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.ok(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "HealthCheckCustomConfig": {"FailureThreshold": 3}}),
    )["Service"]
        .clone();
    assert_eq!(
        srv["HealthCheckCustomConfig"],
        json!({"FailureThreshold": 1})
    );
    let srv = srv["Id"].as_str().unwrap().to_string();
    t.register(&srv, "a", json!({}));
    t.register(&srv, "b", json!({"AWS_INIT_HEALTH_STATUS": "UNHEALTHY"}));
    let status = t.ok("GetInstancesHealthStatus", json!({"ServiceId": srv}));
    assert_eq!(status["Status"], json!({"a": "HEALTHY", "b": "UNHEALTHY"}));

    let disc = |h: &str| -> Vec<String> {
        t.ok(
            "DiscoverInstances",
            json!({"NamespaceName": "n", "ServiceName": "web", "HealthStatus": h}),
        )["Instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["InstanceId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(disc("HEALTHY"), vec!["a"]);
    assert_eq!(disc("UNHEALTHY"), vec!["b"]);
    assert_eq!(disc("ALL"), vec!["a", "b"]);
    assert_eq!(disc("HEALTHY_OR_ELSE_ALL"), vec!["a"]);

    let r = t.revision("n", "web");
    t.ok(
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": srv, "InstanceId": "a", "Status": "UNHEALTHY"}),
    );
    let r2 = t.revision("n", "web");
    assert!(r2 > r, "health changes move InstancesRevision");
    assert!(disc("HEALTHY").is_empty());
    assert_eq!(disc("HEALTHY_OR_ELSE_ALL"), vec!["a", "b"], "fails open");
    // Same status again: no change.
    t.ok(
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": srv, "InstanceId": "a", "Status": "UNHEALTHY"}),
    );
    assert_eq!(t.revision("n", "web"), r2);

    let e = t.err(
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": srv, "InstanceId": "a", "Status": "UNKNOWN"}),
    );
    assert!(e.message.contains("Status"), "{}", e.message);
    let e = t.err(
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": srv, "InstanceId": "zz", "Status": "HEALTHY"}),
    );
    assert_code(&e, "InstanceNotFound", 404);
}

#[test]
fn custom_health_not_found() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    t.register(&srv, "a", json!({}));
    let e = t.err(
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": srv, "InstanceId": "a", "Status": "HEALTHY"}),
    );
    assert_code(&e, "CustomHealthNotFound", 404);
}

#[test]
fn get_instances_health_status() {
    let t = setup();
    let ns = t.http_ns("n");
    let srv = t.service(&ns, "web");
    for i in 0..3 {
        t.register(&srv, &format!("i{i}"), json!({}));
    }
    let page = t.ok(
        "GetInstancesHealthStatus",
        json!({"ServiceId": srv, "MaxResults": 2}),
    );
    assert_eq!(page["Status"], json!({"i0": "HEALTHY", "i1": "HEALTHY"}));
    let rest = t.ok(
        "GetInstancesHealthStatus",
        json!({"ServiceId": srv, "MaxResults": 2, "NextToken": page["NextToken"]}),
    );
    assert_eq!(rest["Status"], json!({"i2": "HEALTHY"}));
    let some = t.ok(
        "GetInstancesHealthStatus",
        json!({"ServiceId": srv, "Instances": ["i2"]}),
    );
    assert_eq!(some["Status"], json!({"i2": "HEALTHY"}));
    let e = t.err(
        "GetInstancesHealthStatus",
        json!({"ServiceId": srv, "Instances": ["nope"]}),
    );
    assert_code(&e, "InstanceNotFound", 404);
    let e = t.err(
        "GetInstancesHealthStatus",
        json!({"ServiceId": srv, "Instances": []}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err("GetInstancesHealthStatus", json!({"ServiceId": "srv-x"}));
    assert_code(&e, "ServiceNotFound", 404);
}

// ----- tags -----

#[test]
fn tags_on_namespaces_and_services() {
    let t = setup();
    t.ok(
        "CreateHttpNamespace",
        json!({"Name": "n", "Tags": [{"Key": "Project", "Value": "Zeta"}]}),
    );
    let ns = t.ok("ListNamespaces", json!({}))["Namespaces"][0].clone();
    let arn = ns["Arn"].clone();
    assert_eq!(
        t.ok("ListTagsForResource", json!({"ResourceARN": arn})),
        json!({"Tags": [{"Key": "Project", "Value": "Zeta"}]})
    );
    t.ok(
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "Department", "Value": "Engineering"},
                                            {"Key": "Project", "Value": "Omega"}]}),
    );
    assert_eq!(
        t.ok("ListTagsForResource", json!({"ResourceARN": arn})),
        json!({"Tags": [{"Key": "Project", "Value": "Omega"}, {"Key": "Department", "Value": "Engineering"}]})
    );
    t.ok(
        "UntagResource",
        json!({"ResourceARN": arn, "TagKeys": ["Project"]}),
    );
    assert_eq!(
        t.ok("ListTagsForResource", json!({"ResourceARN": arn})),
        json!({"Tags": [{"Key": "Department", "Value": "Engineering"}]})
    );

    let srv = t.ok(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns["Id"]}),
    )["Service"]["Arn"]
        .clone();
    t.ok(
        "TagResource",
        json!({"ResourceARN": srv, "Tags": [{"Key": "a", "Value": ""}]}),
    );
    assert_eq!(
        t.ok("ListTagsForResource", json!({"ResourceARN": srv})),
        json!({"Tags": [{"Key": "a", "Value": ""}]})
    );
    let e = t.err(
        "TagResource",
        json!({"ResourceARN": srv, "Tags": [{"Key": "", "Value": "x"}]}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err(
        "TagResource",
        json!({"ResourceARN": srv, "Tags": [{"Key": "aws:x", "Value": "x"}]}),
    );
    assert_code(&e, "InvalidInput", 400);
    let e = t.err("TagResource", json!({"ResourceARN": srv}));
    assert!(e.message.contains("'Tags'"), "{}", e.message);
    let e = t.err(
        "TagResource",
        json!({"ResourceARN": "not-an-arn", "Tags": []}),
    );
    assert_code(&e, "InvalidInput", 400);
}

#[test]
fn tags_resource_not_found() {
    let t = setup();
    for arn in [
        "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-nope",
        "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-nope",
        "arn:aws:ecs:us-east-1:123456789012:cluster/x",
    ] {
        let e = t.err("ListTagsForResource", json!({"ResourceARN": arn}));
        assert_code(&e, "ResourceNotFoundException", 404);
        let e = t.err(
            "TagResource",
            json!({"ResourceARN": arn, "Tags": [{"Key": "k", "Value": "v"}]}),
        );
        assert_code(&e, "ResourceNotFoundException", 404);
        let e = t.err(
            "UntagResource",
            json!({"ResourceARN": arn, "TagKeys": ["k"]}),
        );
        assert_code(&e, "ResourceNotFoundException", 404);
    }
    // Another region's ARN does not resolve here.
    let ns = t.http_ns("n");
    let other = format!("arn:aws:servicediscovery:eu-west-1:123456789012:namespace/{ns}");
    let e = t.err("ListTagsForResource", json!({"ResourceARN": other}));
    assert_code(&e, "ResourceNotFoundException", 404);
}

#[test]
fn too_many_tags() {
    let t = setup();
    let tags: Vec<Value> = (0..51)
        .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
        .collect();
    let e = t.err("CreateHttpNamespace", json!({"Name": "n", "Tags": tags}));
    assert_code(&e, "TooManyTagsException", 400);
    let ns = t.http_ns("n");
    let e = t.err(
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "Tags": tags}),
    );
    assert_code(&e, "TooManyTagsException", 400);
    let arn = t.ok("GetNamespace", json!({"Id": ns}))["Namespace"]["Arn"].clone();
    t.ok(
        "TagResource",
        json!({"ResourceARN": arn, "Tags": tags[..50]}),
    );
    let e = t.err(
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "one-more", "Value": "v"}]}),
    );
    assert_code(&e, "TooManyTagsException", 400);
    assert_eq!(e.extra["ResourceName"], arn);
    // Replacing an existing key is not "more".
    t.ok(
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "k0", "Value": "w"}]}),
    );
}

#[test]
fn accounts_and_regions_are_isolated() {
    let t = setup();
    let ns = t.http_ns("n");
    let other = Context {
        account: "111122223333".into(),
        region: "us-west-2".into(),
        caller: Default::default(),
    };
    let e =
        t.cm.call(&other, "GetNamespace", json!({"Id": ns}))
            .unwrap_err();
    assert_code(&e, "NamespaceNotFound", 404);
    // The same name is free there.
    t.cm.call(&other, "CreateHttpNamespace", json!({"Name": "n"}))
        .unwrap();
}

// ----- free functions -----

#[derive(Debug)]
enum OtherError {
    Api(ApiError),
    Store(#[allow(dead_code)] StoreError),
}
impl From<StoreError> for OtherError {
    fn from(e: StoreError) -> Self {
        OtherError::Store(e)
    }
}
impl From<ApiError> for OtherError {
    fn from(e: ApiError) -> Self {
        OtherError::Api(e)
    }
}

#[test]
fn free_functions_in_a_foreign_transaction() {
    let t = setup();
    let ctx = t.ctx.clone();
    let store = t.cm.store().clone();
    let tags = vec![("k".to_string(), "v".to_string())];
    let ((ns, svc, op), _) = store
        .write(|w| {
            w.put_json("ecs/cluster/x", &json!({"name": "x"}))?;
            let ns = create_http_namespace_in(
                w,
                &ctx,
                "service-connect",
                Some("tok"),
                Some("d"),
                &tags,
            )?;
            assert_eq!(
                find_namespace(w, &ctx, "service-connect")?.as_ref(),
                Some(&ns)
            );
            let svc = create_service_in(w, &ctx, &ns.id, "nginx", None, &tags)?;
            let attrs: BTreeMap<String, String> =
                [("AWS_INSTANCE_IPV4".to_string(), "10.0.0.9".to_string())].into();
            let op = register_instance_in(w, &ctx, &svc.id, "task-1", &attrs)?;
            Ok::<_, OtherError>((ns, svc, op))
        })
        .unwrap();
    assert_eq!(ns.kind, "HTTP");
    assert_eq!(ns.name, "service-connect");
    assert!(ns.arn.ends_with(&format!("namespace/{}", ns.id)));
    assert_eq!(svc.namespace_id, ns.id);
    assert_eq!(svc.name, "nginx");
    assert!(svc.arn.ends_with(&format!("service/{}", svc.id)));

    // The namespace has its create operation.
    let ops = t.ok(
        "ListOperations",
        json!({"Filters": [{"Name": "TYPE", "Values": ["CREATE_NAMESPACE"]}]}),
    );
    assert_eq!(ops["Operations"].as_array().unwrap().len(), 1);
    let got = t.ok("GetNamespace", json!({"Id": ns.id}));
    assert_eq!(got["Namespace"]["CreatorRequestId"], "tok");
    assert_eq!(got["Namespace"]["Description"], "d");
    assert_eq!(
        t.ok("GetOperation", json!({"OperationId": op}))["Operation"]["Type"],
        "REGISTER_INSTANCE"
    );
    let got = t.ok("GetService", json!({"Id": svc.id}));
    assert_eq!(got["Service"]["Type"], "HTTP");
    assert_eq!(got["Service"]["InstanceCount"], 1);

    store
        .read(|r| {
            assert_eq!(find_namespace(r, &ctx, &ns.id)?.as_ref(), Some(&ns));
            assert_eq!(find_namespace(r, &ctx, &ns.arn)?.as_ref(), Some(&ns));
            assert_eq!(
                find_namespace(r, &ctx, "service-connect")?.as_ref(),
                Some(&ns)
            );
            assert_eq!(find_namespace(r, &ctx, "nope")?, None);
            assert_eq!(find_namespace(r, &ctx, "ns-nope")?, None);
            assert_eq!(
                find_namespace(
                    r,
                    &ctx,
                    "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-nope"
                )?,
                None
            );
            assert_eq!(find_service(r, &ctx, &ns.id, "nginx")?.as_ref(), Some(&svc));
            assert_eq!(
                find_service(r, &ctx, &ns.arn, "nginx")?.as_ref(),
                Some(&svc)
            );
            assert_eq!(find_service(r, &ctx, &ns.id, "other")?, None);
            Ok::<_, OtherError>(())
        })
        .unwrap();

    // Errors roll the whole foreign transaction back.
    let res = store.write(|w| {
        w.put_json("ecs/cluster/y", &json!({"name": "y"}))?;
        create_http_namespace_in(w, &ctx, "service-connect", None, None, &[])?;
        Ok::<_, OtherError>(())
    });
    match res {
        Err(OtherError::Api(e)) => assert_code(&e, "NamespaceAlreadyExists", 400),
        other => panic!("{other:?}"),
    }
    assert!(store.read(|r| r.get("ecs/cluster/y")).unwrap().is_none());

    // Idempotent with the same creator request id.
    let (again, _) = store
        .write(|w| {
            Ok::<_, OtherError>(create_http_namespace_in(
                w,
                &ctx,
                "service-connect",
                Some("tok"),
                None,
                &[],
            )?)
        })
        .unwrap();
    assert_eq!(again, ns);

    let err = |f: &dyn Fn(&mut berth_store::Writer<'_>) -> Result<(), ApiError>| -> ApiError {
        match store.write(|w| f(w).map_err(OtherError::from)) {
            Err(OtherError::Api(e)) => e,
            other => panic!("{other:?}"),
        }
    };
    let e = err(&|w| create_service_in(w, &ctx, &ns.id, "nginx", None, &[]).map(|_| ()));
    assert_code(&e, "ServiceAlreadyExists", 400);
    let e = err(&|w| create_service_in(w, &ctx, "ns-nope", "x", None, &[]).map(|_| ()));
    assert_code(&e, "NamespaceNotFound", 404);
    let e = err(&|w| delete_service_in(w, &ctx, &svc.id));
    assert_code(&e, "ResourceInUse", 409);
    let e = err(&|w| deregister_instance_in(w, &ctx, &svc.id, "nope").map(|_| ()));
    assert_code(&e, "InstanceNotFound", 404);
    let e = err(&|w| {
        register_instance_in(
            w,
            &ctx,
            &svc.id,
            "t",
            &[("AWS_INSTANCE_PORT".into(), "x".into())].into(),
        )
        .map(|_| ())
    });
    assert_code(&e, "InvalidInput", 400);

    let rev = t.revision("service-connect", "nginx");
    let (op, _) = store
        .write(|w| Ok::<_, OtherError>(deregister_instance_in(w, &ctx, &svc.arn, "task-1")?))
        .unwrap();
    assert!(is_op_id(&op));
    assert!(t.revision("service-connect", "nginx") > rev);
    store
        .write(|w| Ok::<_, OtherError>(delete_service_in(w, &ctx, &svc.id)?))
        .unwrap();
    let e = t.err("GetService", json!({"Id": svc.id}));
    assert_code(&e, "ServiceNotFound", 404);
}

/// A rough latency check at the benchmark's scale: 1,000 services, 10,000 instances.
/// Run with `cargo test -p berth-cloudmap --release -- --ignored --nocapture scale`.
#[test]
#[ignore]
fn scale_register_and_discover_latency() {
    let t = setup();
    let ns = t.http_ns("bench");
    let mut services = Vec::new();
    for i in 0..1000 {
        services.push(t.service(&ns, &format!("svc{i}")));
    }
    let mut reg = Vec::new();
    for i in 0..10_000 {
        let srv = &services[i % 1000];
        let start = std::time::Instant::now();
        t.register(
            srv,
            &format!("task-{i}"),
            json!({"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "8080"}),
        );
        reg.push(start.elapsed());
    }
    let mut disc = Vec::new();
    for i in 0..5000 {
        let start = std::time::Instant::now();
        let out = t.ok(
            "DiscoverInstances",
            json!({"NamespaceName": "bench", "ServiceName": format!("svc{}", i % 1000)}),
        );
        disc.push(start.elapsed());
        assert_eq!(out["Instances"].as_array().unwrap().len(), 10);
    }
    for (name, mut v) in [("RegisterInstance", reg), ("DiscoverInstances", disc)] {
        v.sort();
        let p = |q: f64| v[((v.len() as f64) * q) as usize - 1];
        println!(
            "{name}: p50 {:?} p99 {:?} max {:?}",
            p(0.5),
            p(0.99),
            v[v.len() - 1]
        );
    }
}
