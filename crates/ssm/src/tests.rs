//! The operations end to end on a store in a temporary directory.

use std::sync::Arc;

use berth_awsproto::{Api, ApiError, Context};
use berth_credentials::Sealer;
use berth_store::Store;
use serde_json::{json, Value};

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    ssm: Ssm,
    ctx: Context,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let sealer = Arc::new(Sealer::from_key([7; 32]).unwrap());
    Fixture {
        ssm: Ssm::new(store.clone(), sealer),
        store,
        _dir: dir,
        ctx: Context::new("111122223333", "eu-west-1"),
    }
}

impl Fixture {
    fn ok(&self, op: &str, input: Value) -> Value {
        self.ssm
            .call(&self.ctx, op, input.clone())
            .unwrap_or_else(|e| panic!("{op} {input}: {e}"))
    }

    fn fails(&self, op: &str, input: Value, code: &str) -> ApiError {
        let e = self.ssm.call(&self.ctx, op, input.clone()).unwrap_err();
        assert_eq!(e.code, code, "{op} {input}: {e}");
        e
    }

    fn put(&self, name: &str, value: &str, kind: &str) -> Value {
        self.ok(
            "PutParameter",
            json!({"Name": name, "Value": value, "Type": kind}),
        )
    }
}

#[test]
fn put_get_overwrite_and_versions() {
    let f = fixture();
    let out = f.put("/app/db/host", "db1", "String");
    assert_eq!(out, json!({"Version": 1, "Tier": "Standard"}));
    f.fails(
        "PutParameter",
        json!({"Name": "/app/db/host", "Value": "db2", "Type": "String"}),
        "ParameterAlreadyExists",
    );
    let out = f.ok(
        "PutParameter",
        json!({"Name": "/app/db/host", "Value": "db2", "Overwrite": true}),
    );
    assert_eq!(out["Version"], 2);
    let p = &f.ok("GetParameter", json!({"Name": "/app/db/host"}))["Parameter"];
    assert_eq!(p["Value"], "db2");
    assert_eq!(p["Type"], "String");
    assert_eq!(p["Version"], 2);
    assert_eq!(p["DataType"], "text");
    assert_eq!(
        p["ARN"],
        "arn:aws:ssm:eu-west-1:111122223333:parameter/app/db/host"
    );
    assert!(p["LastModifiedDate"].as_f64().unwrap() > 1.6e9);
    assert!(p.get("Selector").is_none());
    let p = &f.ok("GetParameter", json!({"Name": "/app/db/host:1"}))["Parameter"];
    assert_eq!(
        (p["Value"].as_str(), p["Selector"].as_str()),
        (Some("db1"), Some(":1"))
    );
    let arn = "arn:aws:ssm:eu-west-1:111122223333:parameter/app/db/host:1";
    let p = &f.ok("GetParameter", json!({"Name": arn}))["Parameter"];
    assert_eq!(
        (p["Name"].as_str(), p["Value"].as_str()),
        (Some("/app/db/host"), Some("db1"))
    );
    f.fails(
        "GetParameter",
        json!({"Name": "/app/db/host:9"}),
        "ParameterVersionNotFound",
    );
    f.fails(
        "GetParameter",
        json!({"Name": "/app/db/nope"}),
        "ParameterNotFound",
    );
    f.fails(
        "GetParameter",
        json!({"Name": "/app/db/host:nolabel"}),
        "ParameterNotFound",
    );
    let other = "arn:aws:ssm:us-east-1:111122223333:parameter/app/db/host";
    f.fails("GetParameter", json!({"Name": other}), "ParameterNotFound");
}

#[test]
fn secure_strings_are_sealed_and_opened_on_request() {
    let f = fixture();
    f.put("/app/secret", "hunter2-plaintext", "SecureString");
    let p = &f.ok("GetParameter", json!({"Name": "/app/secret"}))["Parameter"];
    let sealed = p["Value"].as_str().unwrap();
    assert_ne!(sealed, "hunter2-plaintext");
    assert!(!sealed.contains("hunter2"));
    let p = &f.ok(
        "GetParameter",
        json!({"Name": "/app/secret", "WithDecryption": true}),
    )["Parameter"];
    assert_eq!(p["Value"], "hunter2-plaintext");
    let d = f.ok("DescribeParameters", json!({}));
    assert_eq!(d["Parameters"][0]["KeyId"], "alias/aws/ssm");
    // The record holds the sealed bytes only.
    let raw = f
        .store
        .read(|r| berth_store::Read::get(r, "ssm/111122223333/eu-west-1/parameter//app/secret"))
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("hunter2"));
    let h = f.ok(
        "GetParameterHistory",
        json!({"Name": "/app/secret", "WithDecryption": true}),
    );
    assert_eq!(h["Parameters"][0]["Value"], "hunter2-plaintext");
}

#[test]
fn get_parameters_lists_the_invalid_ones() {
    let f = fixture();
    f.put("plain", "p", "String");
    f.put("/a/b", "ab", "StringList");
    let out = f.ok(
        "GetParameters",
        json!({"Names": ["/a/b", "missing", "plain:7", "plain",
                        "arn:aws:ssm:eu-west-1:111122223333:parameter/plain", "/a/b"]}),
    );
    let names: Vec<&str> = out["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/a/b", "plain", "plain"]);
    assert_eq!(out["InvalidParameters"], json!(["missing", "plain:7"]));
    f.fails("GetParameters", json!({"Names": []}), "ValidationException");
    let eleven: Vec<String> = (0..11).map(|n| format!("p{n}")).collect();
    f.fails(
        "GetParameters",
        json!({"Names": eleven}),
        "ValidationException",
    );
}

#[test]
fn bad_input_is_refused_with_the_field_named() {
    let f = fixture();
    let e = f.fails(
        "PutParameter",
        json!({"Name": "x", "Value": "v", "Type": "Text"}),
        "ValidationException",
    );
    assert!(e.message.contains("Type"), "{}", e.message);
    let e = f.fails(
        "PutParameter",
        json!({"Name": "x", "Value": "v", "Colour": 1}),
        "SerializationException",
    );
    assert!(e.message.contains("Colour"), "{}", e.message);
    let e = f.fails("PutParameter", json!({"Value": "v"}), "ValidationException");
    assert!(e.message.contains("'name'"), "{}", e.message);
    f.fails(
        "PutParameter",
        json!({"Name": "x", "Value": "v"}),
        "ValidationException",
    );
    f.fails(
        "PutParameter",
        json!({"Name": "x", "Value": "", "Type": "String"}),
        "ValidationException",
    );
    f.fails(
        "PutParameter",
        json!({"Name": "x", "Value": "v", "Type": "String", "Overwrite": true, "Tags": [{"Key": "k", "Value": "v"}]}),
        "ValidationException",
    );
    f.fails(
        "PutParameter",
        json!({"Name": "x", "Value": "abc", "Type": "String", "AllowedPattern": "^\\d+$"}),
        "ParameterPatternMismatchException",
    );
    f.fails(
        "PutParameter",
        json!({"Name": "x", "Value": "1", "Type": "String", "AllowedPattern": "("}),
        "InvalidAllowedPatternException",
    );
    f.fails(
        "PutParameter",
        json!({"Name": "/aws/x/y", "Value": "1", "Type": "String"}),
        "AccessDeniedException",
    );
    f.fails(
        "PutParameter",
        json!({"Name": "x", "Value": "1", "Type": "String", "Policies": "[]"}),
        "ValidationException",
    );
    f.fails(
        "GetParameter",
        json!({"Name": "bad name"}),
        "ValidationException",
    );
    // Nothing was written by any of them.
    f.fails("GetParameter", json!({"Name": "x"}), "ParameterNotFound");
}

#[test]
fn by_path_pages_and_filters() {
    let f = fixture();
    for n in 0..13 {
        f.put(&format!("/svc/p{n:02}"), &format!("v{n}"), "String");
    }
    f.put("/svc/deep/x", "x", "SecureString");
    f.put("/other", "o", "String");
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"Path": "/svc"});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let out = f.ok("GetParametersByPath", input);
        let page = out["Parameters"].as_array().unwrap();
        assert!(page.len() <= 10);
        names.extend(page.iter().map(|p| p["Name"].as_str().unwrap().to_string()));
        match out.get("NextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(names.len(), 13);
    assert!(names.iter().all(|n| !n.contains("deep")));
    let out = f.ok(
        "GetParametersByPath",
        json!({"Path": "/svc/", "Recursive": true, "MaxResults": 10,
        "ParameterFilters": [{"Key": "Type", "Values": ["SecureString"]}], "WithDecryption": true}),
    );
    assert_eq!(out["Parameters"][0]["Value"], "x");
    assert_eq!(out["Parameters"].as_array().unwrap().len(), 1);
    f.fails(
        "GetParametersByPath",
        json!({"Path": "/svc", "MaxResults": 11}),
        "ValidationException",
    );
    f.fails(
        "GetParametersByPath",
        json!({"Path": "/svc", "NextToken": "!!"}),
        "InvalidNextToken",
    );
    f.fails(
        "GetParametersByPath",
        json!({"Path": "svc"}),
        "ValidationException",
    );
    f.fails(
        "GetParametersByPath",
        json!({"Path": "/svc", "ParameterFilters": [{"Key": "Name", "Values": ["x"]}]}),
        "InvalidFilterKey",
    );
}

#[test]
fn describe_filters() {
    let f = fixture();
    f.put("/a/one", "1", "String");
    f.put("/a/two", "2", "SecureString");
    f.put("/b/three", "3", "String");
    f.ok("PutParameter", json!({"Name": "/a/big", "Value": "x".repeat(5000), "Type": "String", "Tier": "Intelligent-Tiering",
        "Tags": [{"Key": "env", "Value": "prod"}], "Description": "large"}));
    let names = |input: Value| -> Vec<String> {
        let out = f.ok("DescribeParameters", input);
        out["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(json!({})), ["/a/big", "/a/one", "/a/two", "/b/three"]);
    assert_eq!(
        names(json!({"ParameterFilters": [{"Key": "Path", "Values": ["/a"]}]})),
        ["/a/big", "/a/one", "/a/two"]
    );
    assert_eq!(
        names(json!({"ParameterFilters": [{"Key": "Tier", "Values": ["Advanced"]}]})),
        ["/a/big"]
    );
    assert_eq!(
        names(json!({"ParameterFilters": [{"Key": "tag:env"}]})),
        ["/a/big"]
    );
    assert_eq!(
        names(
            json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/b"]}]})
        ),
        ["/b/three"]
    );
    assert_eq!(
        names(json!({"Filters": [{"Key": "Type", "Values": ["SecureString"]}]})),
        ["/a/two"]
    );
    let out = f.ok("DescribeParameters", json!({"MaxResults": 2}));
    assert_eq!(out["Parameters"].as_array().unwrap().len(), 2);
    let next = f.ok(
        "DescribeParameters",
        json!({"MaxResults": 2, "NextToken": out["NextToken"]}),
    );
    assert_eq!(next["Parameters"][0]["Name"], "/a/two");
    let big = &f.ok(
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Name", "Values": ["/a/big"]}]}),
    )["Parameters"][0];
    assert_eq!(big["Description"], "large");
    assert_eq!(big["Tier"], "Advanced");
    assert_eq!(big["Policies"], json!([]));
    assert_eq!(big["LastModifiedUser"], "arn:aws:iam::111122223333:root");
    f.fails(
        "DescribeParameters",
        json!({"Filters": [], "ParameterFilters": []}),
        "ValidationException",
    );
    f.fails(
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Label", "Values": ["x"]}]}),
        "InvalidFilterKey",
    );
    f.fails(
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Type", "Option": "Contains", "Values": ["String"]}]}),
        "InvalidFilterOption",
    );
    f.fails(
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Type", "Values": ["Text"]}]}),
        "InvalidFilterValue",
    );
    f.fails(
        "DescribeParameters",
        json!({"MaxResults": 51}),
        "ValidationException",
    );
}

#[test]
fn history_labels_and_deletes() {
    let f = fixture();
    for v in ["a", "b", "c"] {
        f.ok(
            "PutParameter",
            json!({"Name": "h", "Value": v, "Type": "String", "Overwrite": true}),
        );
    }
    let out = f.ok(
        "LabelParameterVersion",
        json!({"Name": "h", "ParameterVersion": 2, "Labels": ["prod", "1bad"]}),
    );
    assert_eq!(
        out,
        json!({"InvalidLabels": ["1bad"], "ParameterVersion": 2})
    );
    assert_eq!(
        f.ok("GetParameter", json!({"Name": "h:prod"}))["Parameter"]["Value"],
        "b"
    );
    // Moving the label.
    f.ok(
        "LabelParameterVersion",
        json!({"Name": "h", "Labels": ["prod"]}),
    );
    assert_eq!(
        f.ok("GetParameter", json!({"Name": "h:prod"}))["Parameter"]["Value"],
        "c"
    );
    let h = f.ok("GetParameterHistory", json!({"Name": "h", "MaxResults": 2}));
    assert_eq!(h["Parameters"][0]["Version"], 1);
    assert_eq!(h["Parameters"][1]["Labels"], json!([]));
    let rest = f.ok(
        "GetParameterHistory",
        json!({"Name": "h", "NextToken": h["NextToken"]}),
    );
    assert_eq!(rest["Parameters"][0]["Labels"], json!(["prod"]));
    assert!(rest.get("NextToken").is_none());
    let out = f.ok(
        "UnlabelParameterVersion",
        json!({"Name": "h", "ParameterVersion": 3, "Labels": ["prod", "none"]}),
    );
    assert_eq!(
        out,
        json!({"RemovedLabels": ["prod"], "InvalidLabels": ["none"]})
    );
    f.fails(
        "LabelParameterVersion",
        json!({"Name": "h", "ParameterVersion": 9, "Labels": ["x"]}),
        "ParameterVersionNotFound",
    );
    f.fails(
        "GetParameterHistory",
        json!({"Name": "nope"}),
        "ParameterNotFound",
    );
    f.ok("DeleteParameter", json!({"Name": "h"}));
    f.fails("DeleteParameter", json!({"Name": "h"}), "ParameterNotFound");
    f.put("d1", "1", "String");
    let out = f.ok(
        "DeleteParameters",
        json!({"Names": ["d1", "d2", "bad name", "d1"]}),
    );
    assert_eq!(
        out,
        json!({"DeletedParameters": ["d1"], "InvalidParameters": ["d2", "bad name"]})
    );
}

#[test]
fn version_limit_keeps_a_hundred() {
    let f = fixture();
    for n in 0..101 {
        f.ok(
            "PutParameter",
            json!({"Name": "many", "Value": format!("v{n}"), "Type": "String", "Overwrite": true}),
        );
    }
    let p = &f.ok("GetParameter", json!({"Name": "many"}))["Parameter"];
    assert_eq!(p["Version"], 101);
    f.fails(
        "GetParameter",
        json!({"Name": "many:1"}),
        "ParameterVersionNotFound",
    );
    f.ok(
        "LabelParameterVersion",
        json!({"Name": "many", "ParameterVersion": 2, "Labels": ["keep"]}),
    );
    f.fails(
        "PutParameter",
        json!({"Name": "many", "Value": "x", "Overwrite": true}),
        "ParameterMaxVersionLimitExceeded",
    );
}

#[test]
fn tags() {
    let f = fixture();
    f.ok(
        "PutParameter",
        json!({"Name": "/t", "Value": "1", "Type": "String", "Tags": [{"Key": "b", "Value": "1"}]}),
    );
    let list = |f: &Fixture| {
        f.ok(
            "ListTagsForResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/t"}),
        )["TagList"]
            .clone()
    };
    f.ok("AddTagsToResource", json!({"ResourceType": "Parameter", "ResourceId": "/t", "Tags": [{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}]}));
    assert_eq!(
        list(&f),
        json!([{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}])
    );
    f.ok(
        "RemoveTagsFromResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/t", "TagKeys": ["a", "zz"]}),
    );
    assert_eq!(list(&f), json!([{"Key": "b", "Value": "3"}]));
    f.fails(
        "ListTagsForResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/none"}),
        "InvalidResourceId",
    );
    f.fails(
        "ListTagsForResource",
        json!({"ResourceType": "Document", "ResourceId": "/t"}),
        "InvalidResourceId",
    );
    f.fails(
        "ListTagsForResource",
        json!({"ResourceType": "Bucket", "ResourceId": "/t"}),
        "InvalidResourceType",
    );
    let many: Vec<Value> = (0..50)
        .map(|n| json!({"Key": format!("k{n}"), "Value": "v"}))
        .collect();
    f.fails(
        "AddTagsToResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/t", "Tags": many}),
        "TooManyTagsError",
    );
    f.fails("AddTagsToResource", json!({"ResourceType": "Parameter", "ResourceId": "/t", "Tags": [{"Key": "aws:x", "Value": "v"}]}), "ValidationException");
    assert_eq!(list(&f), json!([{"Key": "b", "Value": "3"}]));
}

#[test]
fn accounts_and_regions_do_not_see_each_other() {
    let f = fixture();
    f.put("shared-name", "1", "String");
    let other = Context::new("111122223333", "us-west-2");
    let e = f
        .ssm
        .call(&other, "GetParameter", json!({"Name": "shared-name"}))
        .unwrap_err();
    assert_eq!(e.code, "ParameterNotFound");
    let out = f.ssm.call(&other, "DescribeParameters", json!({})).unwrap();
    assert_eq!(out["Parameters"], json!([]));
}
