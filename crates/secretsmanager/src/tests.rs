//! The API end to end on a temporary store, under a fixed clock.

use std::sync::Arc;

use berth_awsproto::fixed::Fixed;
use berth_awsproto::{Api, ApiError, Context};
use berth_credentials::Sealer;
use berth_store::{Read, Store};
use serde_json::{json, Value};

use crate::*;

const T0: f64 = 1_700_000_000.0;
const TOKEN1: &str = "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1";
const TOKEN2: &str = "EXAMPLE2-90ab-cdef-fedc-ba987SECRET2";
const TOKEN3: &str = "EXAMPLE3-90ab-cdef-fedc-ba987SECRET3";
const ARN_PREFIX: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";

struct T {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    sm: SecretsManager,
    ctx: Context,
    clock: Fixed,
}

fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let sealer = Arc::new(Sealer::from_key([7; 32]).unwrap());
    T {
        _dir: dir,
        sm: SecretsManager::new(store.clone(), sealer),
        store,
        ctx: Context::default(),
        clock: Fixed::start(T0, 1),
    }
}

impl T {
    fn call(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        self.sm.call(&self.ctx, op, input)
    }

    fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input).unwrap_or_else(|e| panic!("{op}: {e}"))
    }

    fn fails(&self, op: &str, input: Value) -> ApiError {
        match self.call(op, input) {
            Ok(v) => panic!("{op} succeeded: {v}"),
            Err(e) => e,
        }
    }

    fn code(&self, op: &str, input: Value) -> String {
        self.fails(op, input).code
    }

    fn value(&self, input: Value) -> Value {
        self.ok("GetSecretValue", input)
    }

    /// Every stored byte string.
    fn stored(&self) -> Vec<(String, Vec<u8>)> {
        let mut all = self
            .store
            .read(|r| r.scan("secretsmanager", None, usize::MAX))
            .unwrap();
        all.sort();
        all
    }
}

#[test]
fn create_and_get_by_name_full_and_partial_arn() {
    let t = setup();
    let out = t.ok(
        "CreateSecret",
        json!({"Name": "prod/db", "SecretString": "s3cret", "ClientRequestToken": TOKEN1, "Description": "the db"}),
    );
    let arn = out["ARN"].as_str().unwrap().to_string();
    let suffix = arn.strip_prefix(&format!("{ARN_PREFIX}prod/db-")).unwrap();
    assert_eq!(suffix.len(), 6);
    assert_eq!(
        out,
        json!({"ARN": arn, "Name": "prod/db", "VersionId": TOKEN1})
    );
    let want = json!({
        "ARN": arn, "Name": "prod/db", "VersionId": TOKEN1, "SecretString": "s3cret",
        "VersionStages": ["AWSCURRENT"], "CreatedDate": T0,
    });
    for id in [
        "prod/db".to_string(),
        arn.clone(),
        format!("{ARN_PREFIX}prod/db"),
    ] {
        assert_eq!(t.value(json!({"SecretId": id})), want, "{id}");
    }
    for id in [
        format!("{ARN_PREFIX}prod/d"),
        format!("{ARN_PREFIX}prod/db-AAAAAA"),
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db".to_string(),
        "prod".to_string(),
    ] {
        let e = t.fails("GetSecretValue", json!({"SecretId": id}));
        assert_eq!(e.code, "ResourceNotFoundException", "{id}");
        assert_eq!(
            e.message,
            "Secrets Manager can't find the specified secret."
        );
    }
}

#[test]
fn a_name_that_looks_suffixed_is_found_by_its_partial_arn() {
    let t = setup();
    // "retail-store-ecs-orders" ends like a suffix: "-orders".
    let arn = t.ok(
        "CreateSecret",
        json!({"Name": "retail-store-ecs-orders", "SecretString": "x"}),
    )["ARN"]
        .as_str()
        .unwrap()
        .to_string();
    t.ok(
        "CreateSecret",
        json!({"Name": "retail-store-ecs", "SecretString": "y"}),
    );
    let partial = format!("{ARN_PREFIX}retail-store-ecs-orders");
    assert_eq!(t.value(json!({"SecretId": partial}))["ARN"], arn.as_str());
    assert_eq!(t.value(json!({"SecretId": partial}))["SecretString"], "x");
    assert_eq!(t.value(json!({"SecretId": arn}))["SecretString"], "x");
}

#[test]
fn versions_and_stages() {
    let t = setup();
    t.ok(
        "CreateSecret",
        json!({"Name": "s", "SecretString": "v1", "ClientRequestToken": TOKEN1}),
    );
    t.clock.advance(10.0);
    let put = t.ok(
        "PutSecretValue",
        json!({"SecretId": "s", "SecretString": "v2", "ClientRequestToken": TOKEN2}),
    );
    assert_eq!(put["VersionStages"], json!(["AWSCURRENT"]));
    assert_eq!(t.value(json!({"SecretId": "s"}))["SecretString"], "v2");
    let prev = t.value(json!({"SecretId": "s", "VersionStage": "AWSPREVIOUS"}));
    assert_eq!(
        (prev["SecretString"].clone(), prev["VersionId"].clone()),
        (json!("v1"), json!(TOKEN1))
    );
    assert_eq!(
        t.value(json!({"SecretId": "s", "VersionId": TOKEN1}))["VersionStages"],
        json!(["AWSPREVIOUS"])
    );
    // A pending version does not move AWSCURRENT.
    let put = t.ok(
        "PutSecretValue",
        json!({"SecretId": "s", "SecretString": "v3", "ClientRequestToken": TOKEN3, "VersionStages": ["AWSPENDING", "blue"]}),
    );
    assert_eq!(put["VersionStages"], json!(["AWSPENDING", "blue"]));
    assert_eq!(t.value(json!({"SecretId": "s"}))["SecretString"], "v2");
    assert_eq!(
        t.value(json!({"SecretId": "s", "VersionStage": "blue"}))["SecretString"],
        "v3"
    );
    let e = t.fails(
        "GetSecretValue",
        json!({"SecretId": "s", "VersionStage": "green"}),
    );
    assert_eq!(e.code, "ResourceNotFoundException");
    assert!(e.message.ends_with("staging label: green"), "{}", e.message);
    assert_eq!(
        t.code(
            "GetSecretValue",
            json!({"SecretId": "s", "VersionId": TOKEN1, "VersionStage": "AWSCURRENT"})
        ),
        "ResourceNotFoundException"
    );
    let d = t.ok("DescribeSecret", json!({"SecretId": "s"}));
    assert_eq!(
        d["VersionIdsToStages"],
        json!({TOKEN1: ["AWSPREVIOUS"], TOKEN2: ["AWSCURRENT"], TOKEN3: ["AWSPENDING", "blue"]})
    );
    // Making v3 current: v2 becomes previous, v1 is deprecated.
    t.ok(
        "UpdateSecretVersionStage",
        json!({"SecretId": "s", "VersionStage": "AWSCURRENT", "MoveToVersionId": TOKEN3, "RemoveFromVersionId": TOKEN2}),
    );
    assert_eq!(t.value(json!({"SecretId": "s"}))["SecretString"], "v3");
    let listed = t.ok("ListSecretVersionIds", json!({"SecretId": "s"}));
    let ids: Vec<&str> = listed["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VersionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [TOKEN2, TOKEN3]);
    let all = t.ok(
        "ListSecretVersionIds",
        json!({"SecretId": "s", "IncludeDeprecated": true}),
    );
    assert_eq!(
        all["Versions"][0],
        json!({"VersionId": TOKEN1, "CreatedDate": T0, "LastAccessedDate": 1_699_920_000.0, "KmsKeyIds": ["DefaultEncryptionKey"]})
    );
    assert_eq!(
        all["Versions"][2]["VersionStages"],
        json!(["AWSPENDING", "blue", "AWSCURRENT"])
    );
    let e = t.fails(
        "UpdateSecretVersionStage",
        json!({"SecretId": "s", "VersionStage": "AWSCURRENT", "MoveToVersionId": TOKEN1}),
    );
    assert_eq!(e.code, "InvalidParameterException");
    assert!(e.message.contains(TOKEN3), "{}", e.message);
}

#[test]
fn repeated_calls_with_one_token_are_idempotent() {
    let t = setup();
    let first = t.ok(
        "CreateSecret",
        json!({"Name": "s", "SecretString": "v1", "ClientRequestToken": TOKEN1}),
    );
    let again = t.ok(
        "CreateSecret",
        json!({"Name": "s", "SecretString": "v1", "ClientRequestToken": TOKEN1}),
    );
    assert_eq!(first, again);
    assert_eq!(
        t.code(
            "CreateSecret",
            json!({"Name": "s", "SecretString": "v2", "ClientRequestToken": TOKEN1})
        ),
        "ResourceExistsException"
    );
    let e = t.fails(
        "CreateSecret",
        json!({"Name": "s", "SecretString": "v1", "ClientRequestToken": TOKEN2}),
    );
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        (
            "ResourceExistsException",
            "The operation failed because the secret s already exists."
        )
    );
    let p1 = t.ok(
        "PutSecretValue",
        json!({"SecretId": "s", "SecretString": "v2", "ClientRequestToken": TOKEN2}),
    );
    let rev = t.store.revision();
    let p2 = t.ok(
        "PutSecretValue",
        json!({"SecretId": "s", "SecretString": "v2", "ClientRequestToken": TOKEN2}),
    );
    assert_eq!(p1, p2);
    assert_eq!(t.store.revision(), rev, "a repeat writes nothing");
    let e = t.fails(
        "PutSecretValue",
        json!({"SecretId": "s", "SecretString": "other", "ClientRequestToken": TOKEN2}),
    );
    assert_eq!(e.code, "ResourceExistsException");
    assert_eq!(
        t.ok("ListSecretVersionIds", json!({"SecretId": "s"}))["Versions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn binary_values_round_trip() {
    let t = setup();
    t.ok(
        "CreateSecret",
        json!({"Name": "bin", "SecretBinary": "AAEC/w=="}),
    );
    let v = t.value(json!({"SecretId": "bin"}));
    assert_eq!(v["SecretBinary"], "AAEC/w==");
    assert!(v.get("SecretString").is_none());
    t.ok(
        "UpdateSecret",
        json!({"SecretId": "bin", "SecretString": "now text"}),
    );
    let v = t.value(json!({"SecretId": "bin"}));
    assert_eq!(v["SecretString"], "now text");
    assert!(v.get("SecretBinary").is_none());
    assert_eq!(
        t.value(json!({"SecretId": "bin", "VersionStage": "AWSPREVIOUS"}))["SecretBinary"],
        "AAEC/w=="
    );
}

#[test]
fn a_secret_without_a_value_has_no_version() {
    let t = setup();
    let out = t.ok(
        "CreateSecret",
        json!({"Name": "empty", "Tags": [{"Key": "team", "Value": "a"}]}),
    );
    assert!(out.get("VersionId").is_none());
    let e = t.fails("GetSecretValue", json!({"SecretId": "empty"}));
    assert_eq!(e.code, "ResourceNotFoundException");
    assert!(
        e.message.ends_with("staging label: AWSCURRENT"),
        "{}",
        e.message
    );
    let d = t.ok("DescribeSecret", json!({"SecretId": "empty"}));
    assert!(d.get("VersionIdsToStages").is_none());
    assert_eq!(d["Tags"], json!([{"Key": "team", "Value": "a"}]));
    let u = t.ok(
        "UpdateSecret",
        json!({"SecretId": "empty", "SecretString": "now", "ClientRequestToken": TOKEN1}),
    );
    assert_eq!(u["VersionId"], TOKEN1);
    assert_eq!(t.value(json!({"SecretId": "empty"}))["SecretString"], "now");
}

#[test]
fn update_and_describe() {
    let t = setup();
    let arn = t.ok(
        "CreateSecret",
        json!({"Name": "s", "SecretString": "v1", "KmsKeyId": "alias/mine"}),
    )["ARN"]
        .clone();
    t.clock.advance(100.0);
    let u = t.ok(
        "UpdateSecret",
        json!({"SecretId": "s", "Description": "new", "KmsKeyId": ""}),
    );
    assert_eq!(u, json!({"ARN": arn, "Name": "s"}));
    let d = t.ok("DescribeSecret", json!({"SecretId": "s"}));
    let current = d["VersionIdsToStages"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        d,
        json!({
            "ARN": arn, "Name": "s", "Description": "new", "RotationEnabled": false,
            "LastChangedDate": T0 + 100.0, "CreatedDate": T0,
            "VersionIdsToStages": {current: ["AWSCURRENT"]},
        })
    );
    t.value(json!({"SecretId": "s"}));
    let d = t.ok("DescribeSecret", json!({"SecretId": "s"}));
    assert_eq!(
        d["LastAccessedDate"], 1_699_920_000.0,
        "a day, midnight UTC"
    );
    let versions = t.ok("ListSecretVersionIds", json!({"SecretId": "s"}));
    assert_eq!(versions["Versions"][0]["KmsKeyIds"], json!(["alias/mine"]));
    assert!(!d.to_string().contains("v1"));
}

#[test]
fn deletion_window_restore_and_sweep() {
    let t = setup();
    let arn = t.ok("CreateSecret", json!({"Name": "s", "SecretString": "v1"}))["ARN"].clone();
    t.ok(
        "PutSecretValue",
        json!({"SecretId": "s", "SecretString": "v2"}),
    );
    let week = 7.0 * 86400.0;
    let d = t.ok(
        "DeleteSecret",
        json!({"SecretId": "s", "RecoveryWindowInDays": 7}),
    );
    assert_eq!(
        d,
        json!({"ARN": arn, "Name": "s", "DeletionDate": T0 + week})
    );
    assert_eq!(
        t.ok("DescribeSecret", json!({"SecretId": "s"}))["DeletedDate"],
        T0 + week
    );
    let e = t.fails("GetSecretValue", json!({"SecretId": "s"}));
    assert_eq!(e.code, "InvalidRequestException");
    assert!(e.message.contains("marked for deletion"));
    for (op, input) in [
        (
            "PutSecretValue",
            json!({"SecretId": "s", "SecretString": "v3"}),
        ),
        ("UpdateSecret", json!({"SecretId": "s", "Description": "d"})),
        (
            "TagResource",
            json!({"SecretId": "s", "Tags": [{"Key": "a", "Value": "b"}]}),
        ),
        ("DeleteSecret", json!({"SecretId": "s"})),
        ("CreateSecret", json!({"Name": "s", "SecretString": "v"})),
    ] {
        assert_eq!(t.code(op, input), "InvalidRequestException", "{op}");
    }
    assert_eq!(t.ok("ListSecrets", json!({}))["SecretList"], json!([]));
    let listed = t.ok("ListSecrets", json!({"IncludePlannedDeletion": true}));
    assert_eq!(listed["SecretList"][0]["DeletedDate"], T0 + week);
    // Restored, it answers again; deleted again (30 days by default), the sweep
    // removes it only once the window has passed.
    assert_eq!(
        t.ok("RestoreSecret", json!({"SecretId": arn})),
        json!({"ARN": arn, "Name": "s"})
    );
    assert_eq!(t.value(json!({"SecretId": "s"}))["SecretString"], "v2");
    let d = t.ok("DeleteSecret", json!({"SecretId": "s"}));
    assert_eq!(d["DeletionDate"], T0 + 30.0 * 86400.0);
    assert_eq!(t.sm.sweep(T0 + 30.0 * 86400.0 - 1.0).unwrap(), 0);
    assert_eq!(t.stored().len(), 3, "the record and two sealed values");
    assert_eq!(t.sm.sweep(T0 + 30.0 * 86400.0).unwrap(), 1);
    assert!(t.stored().is_empty(), "values go with the secret");
    assert_eq!(
        t.code("DescribeSecret", json!({"SecretId": "s"})),
        "ResourceNotFoundException"
    );
    // The name is free again, under a new ARN.
    let again = t.ok("CreateSecret", json!({"Name": "s", "SecretString": "v"}));
    assert_ne!(again["ARN"], arn);
    assert_eq!(
        t.code("GetSecretValue", json!({"SecretId": arn})),
        "ResourceNotFoundException"
    );
}

#[test]
fn forced_deletion_and_its_rules() {
    let t = setup();
    t.ok("CreateSecret", json!({"Name": "s", "SecretString": "v1"}));
    let cases = [
        (
            json!({"SecretId": "s", "RecoveryWindowInDays": 6}),
            "InvalidParameterException",
        ),
        (
            json!({"SecretId": "s", "RecoveryWindowInDays": 31}),
            "InvalidParameterException",
        ),
        (
            json!({"SecretId": "s", "RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": true}),
            "InvalidParameterException",
        ),
        (json!({"SecretId": "nope"}), "ResourceNotFoundException"),
    ];
    for (input, code) in cases {
        assert_eq!(t.code("DeleteSecret", input.clone()), code, "{input}");
    }
    // Scheduled first, then forced: gone at once.
    t.ok("DeleteSecret", json!({"SecretId": "s"}));
    let d = t.ok(
        "DeleteSecret",
        json!({"SecretId": "s", "ForceDeleteWithoutRecovery": true}),
    );
    assert_eq!(d["DeletionDate"], T0);
    assert!(t.stored().is_empty());
    // Forcing the deletion of what does not exist succeeds, as on AWS.
    let d = t.ok(
        "DeleteSecret",
        json!({"SecretId": "ghost", "ForceDeleteWithoutRecovery": true}),
    );
    assert_eq!(d["Name"], "ghost");
    assert!(d["ARN"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{ARN_PREFIX}ghost-")));
    assert!(t.stored().is_empty());
}

#[test]
fn values_are_stored_only_sealed_and_bound_to_their_version() {
    let t = setup();
    let plain = "correct horse battery staple";
    t.ok(
        "CreateSecret",
        json!({"Name": "s", "SecretString": plain, "ClientRequestToken": TOKEN1}),
    );
    t.ok("PutSecretValue", json!({"SecretId": "s", "SecretString": format!("{plain} 2"), "ClientRequestToken": TOKEN2}));
    let stored = t.stored();
    for (key, bytes) in &stored {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{key} holds the value"
        );
    }
    // A sealed value copied onto another version does not open.
    let keys = Keys::of(&t.ctx);
    let v1 = t
        .store
        .read(|r| r.get(&keys.value("s", TOKEN1)))
        .unwrap()
        .unwrap();
    t.store
        .write(|w| w.put(&keys.value("s", TOKEN2), &v1))
        .unwrap();
    assert_eq!(
        t.code("GetSecretValue", json!({"SecretId": "s"})),
        "DecryptionFailure"
    );
    assert_eq!(
        t.value(json!({"SecretId": "s", "VersionId": TOKEN1}))["SecretString"],
        plain
    );
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let t = setup();
    t.ok("CreateSecret", json!({"Name": "s", "SecretString": "v"}));
    let rev = t.store.revision();
    let long = "n".repeat(513);
    let cases = [
        (
            "CreateSecret",
            json!({"Name": "a b"}),
            "InvalidParameterException",
            "Name",
        ),
        (
            "CreateSecret",
            json!({"Name": long}),
            "ValidationException",
            "'Name'",
        ),
        (
            "CreateSecret",
            json!({"Name": "x", "SecretString": "a", "SecretBinary": "AA=="}),
            "InvalidParameterException",
            "both",
        ),
        (
            "CreateSecret",
            json!({"Name": "x", "ClientRequestToken": "short"}),
            "ValidationException",
            "'ClientRequestToken'",
        ),
        (
            "CreateSecret",
            json!({"Name": "x", "Tags": [{"Key": "aws:x"}]}),
            "InvalidParameterException",
            "Tags.1",
        ),
        (
            "CreateSecret",
            json!({"Name": "x", "AddReplicaRegions": [{"Region": "eu-west-1"}]}),
            "InvalidParameterException",
            "AddReplicaRegions",
        ),
        (
            "CreateSecret",
            json!({"Name": "x", "Colour": "red"}),
            "SerializationException",
            "Colour",
        ),
        (
            "CreateSecret",
            json!({"SecretString": "v"}),
            "ValidationException",
            "Name",
        ),
        (
            "CreateSecret",
            json!({"Name": "x", "SecretBinary": "!!"}),
            "SerializationException",
            "SecretBinary",
        ),
        (
            "CreateSecret",
            json!({"Name": "x", "SecretString": "v".repeat(65537)}),
            "ValidationException",
            "'SecretString'",
        ),
        (
            "CreateSecret",
            json!({"Name": 5}),
            "SerializationException",
            "Name",
        ),
        (
            "PutSecretValue",
            json!({"SecretId": "s"}),
            "InvalidRequestException",
            "SecretString or SecretBinary",
        ),
        (
            "PutSecretValue",
            json!({"SecretId": "s", "SecretString": "v", "VersionStages": []}),
            "ValidationException",
            "'VersionStages'",
        ),
        (
            "PutSecretValue",
            json!({"SecretId": "nope", "SecretString": "v"}),
            "ResourceNotFoundException",
            "can't find",
        ),
        (
            "GetSecretValue",
            json!({"SecretId": "s", "VersionId": "short"}),
            "ValidationException",
            "'VersionId'",
        ),
        (
            "GetSecretValue",
            json!({}),
            "ValidationException",
            "SecretId",
        ),
        (
            "UpdateSecret",
            json!({"SecretId": "nope", "Description": "d"}),
            "ResourceNotFoundException",
            "can't find",
        ),
        (
            "ListSecrets",
            json!({"MaxResults": 101}),
            "ValidationException",
            "'MaxResults'",
        ),
        (
            "ListSecrets",
            json!({"NextToken": "!!"}),
            "InvalidNextTokenException",
            "NextToken",
        ),
        (
            "ListSecrets",
            json!({"Filters": [{"Key": "colour", "Values": ["x"]}]}),
            "ValidationException",
            "colour",
        ),
        (
            "ListSecrets",
            json!({"SortOrder": "up"}),
            "ValidationException",
            "up",
        ),
        (
            "ListSecretVersionIds",
            json!({"SecretId": "s", "MaxResults": 0}),
            "ValidationException",
            "'MaxResults'",
        ),
        (
            "TagResource",
            json!({"SecretId": "s", "Tags": [{"Key": ""}]}),
            "ValidationException",
            "'Tags.1.Key'",
        ),
        (
            "TagResource",
            json!({"SecretId": "nope", "Tags": []}),
            "ResourceNotFoundException",
            "can't find",
        ),
        (
            "UntagResource",
            json!({"SecretId": "s", "TagKeys": [""]}),
            "ValidationException",
            "'TagKeys.1'",
        ),
        (
            "UpdateSecretVersionStage",
            json!({"SecretId": "s", "VersionStage": "AWSCURRENT"}),
            "InvalidParameterException",
            "MoveToVersionId",
        ),
        (
            "GetRandomPassword",
            json!({"PasswordLength": 0}),
            "ValidationException",
            "'PasswordLength'",
        ),
        (
            "RotateSecret",
            json!({"SecretId": "s"}),
            "UnknownOperationException",
            "RotateSecret",
        ),
    ];
    for (op, input, code, needle) in cases {
        let e = t.fails(op, input.clone());
        assert_eq!(e.code, code, "{op} {input}: {e}");
        assert!(e.message.contains(needle), "{op} {input}: {e}");
    }
    assert_eq!(t.store.revision(), rev, "nothing written");
}

#[test]
fn tags_and_list_filters_and_pages() {
    let t = setup();
    for (n, name) in ["prod/db", "prod/api", "test/db"].iter().enumerate() {
        t.ok(
            "CreateSecret",
            json!({"Name": name, "SecretString": "v", "Description": format!("The {name} secret")}),
        );
        t.clock.advance(1.0 + n as f64);
    }
    t.ok("TagResource", json!({"SecretId": "prod/db", "Tags": [{"Key": "team", "Value": "orders"}, {"Key": "env", "Value": "prod"}]}));
    t.ok(
        "TagResource",
        json!({"SecretId": "prod/db", "Tags": [{"Key": "team", "Value": "payments"}]}),
    );
    assert_eq!(
        t.ok("DescribeSecret", json!({"SecretId": "prod/db"}))["Tags"],
        json!([{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "prod"}])
    );
    t.ok(
        "UntagResource",
        json!({"SecretId": "prod/db", "TagKeys": ["env", "missing"]}),
    );
    assert_eq!(
        t.ok("DescribeSecret", json!({"SecretId": "prod/db"}))["Tags"],
        json!([{"Key": "team", "Value": "payments"}])
    );
    let names = |input: Value| -> Vec<String> {
        t.ok("ListSecrets", input)["SecretList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(json!({})), ["prod/db", "prod/api", "test/db"]);
    assert_eq!(
        names(json!({"SortOrder": "desc"})),
        ["test/db", "prod/api", "prod/db"]
    );
    assert_eq!(
        names(json!({"SortBy": "name"})),
        ["prod/api", "prod/db", "test/db"]
    );
    assert_eq!(
        names(json!({"Filters": [{"Key": "name", "Values": ["prod/"]}]})),
        ["prod/db", "prod/api"]
    );
    assert_eq!(
        names(json!({"Filters": [{"Key": "name", "Values": ["!prod/"]}]})),
        ["test/db"]
    );
    assert_eq!(
        names(json!({"Filters": [{"Key": "tag-key", "Values": ["team"]}]})),
        ["prod/db"]
    );
    assert_eq!(
        names(json!({"Filters": [{"Key": "tag-value", "Values": ["pay"]}]})),
        ["prod/db"]
    );
    assert_eq!(
        names(json!({"Filters": [{"Key": "description", "Values": ["the test"]}]})),
        ["test/db"]
    );
    assert_eq!(
        names(json!({"Filters": [{"Key": "all", "Values": ["DB"]}]})),
        ["prod/db", "test/db"]
    );
    assert_eq!(
        names(
            json!({"Filters": [{"Key": "name", "Values": ["prod"]}, {"Key": "all", "Values": ["payments"]}]})
        ),
        ["prod/db"]
    );
    let entry = &t.ok(
        "ListSecrets",
        json!({"Filters": [{"Key": "name", "Values": ["test/"]}]}),
    )["SecretList"][0];
    assert_eq!(
        entry["SecretVersionsToStages"].as_object().unwrap().len(),
        1
    );
    assert!(entry.get("SecretString").is_none());
    // Pages of one, in order, until no token.
    let mut seen = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"MaxResults": 1});
        if let Some(tk) = &token {
            input["NextToken"] = json!(tk);
        }
        let page = t.ok("ListSecrets", input);
        seen.extend(
            page["SecretList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["Name"].as_str().unwrap().to_string()),
        );
        match page.get("NextToken") {
            Some(tk) => token = Some(tk.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["prod/db", "prod/api", "test/db"]);
}

#[test]
fn version_listing_pages() {
    let t = setup();
    t.ok("CreateSecret", json!({"Name": "s", "SecretString": "v0"}));
    for n in 1..5 {
        t.ok("PutSecretValue", json!({"SecretId": "s", "SecretString": format!("v{n}"), "VersionStages": [format!("l{n}")]}));
    }
    let mut ids = vec![];
    let mut input = json!({"SecretId": "s", "MaxResults": 2});
    loop {
        let page = t.ok("ListSecretVersionIds", input.clone());
        ids.extend(
            page["Versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["VersionId"].clone()),
        );
        match page.get("NextToken") {
            Some(tk) => input["NextToken"] = tk.clone(),
            None => break,
        }
    }
    assert_eq!(ids.len(), 5);
    let e = t.fails(
        "ListSecretVersionIds",
        json!({"SecretId": "s", "NextToken": berth_awsproto::encode_token("gone")}),
    );
    assert_eq!(e.code, "InvalidNextTokenException");
}

#[test]
fn due_deletions_is_a_table() {
    let rec = |deleted: Option<f64>| SecretRec {
        arn: format!("{ARN_PREFIX}x-AbCdEf"),
        name: "x".into(),
        secret_type: None,
        description: None,
        kms_key_id: None,
        created_date: 0.0,
        last_changed_date: 0.0,
        last_accessed_date: None,
        deleted_date: deleted,
        tags: vec![],
        versions: vec![],
    };
    let recs = [rec(None), rec(Some(10.0)), rec(Some(20.0))];
    let due = |now| {
        due_deletions(&recs, now)
            .iter()
            .map(|r| r.deleted_date)
            .collect::<Vec<_>>()
    };
    assert_eq!(due(5.0), []);
    assert_eq!(due(10.0), [Some(10.0)]);
    assert_eq!(due(25.0), [Some(10.0), Some(20.0)]);
}

#[test]
fn batch_get_by_ids_and_by_filters() {
    let t = setup();
    for n in 0..5 {
        t.ok(
            "CreateSecret",
            json!({"Name": format!("b/{n}"), "SecretString": format!("v{n}")}),
        );
        t.clock.advance(1.0);
    }
    t.ok("CreateSecret", json!({"Name": "b/novalue"}));
    t.ok("DeleteSecret", json!({"SecretId": "b/4"}));
    let out = t.ok(
        "BatchGetSecretValue",
        json!({"SecretIdList": ["b/0", format!("{ARN_PREFIX}b/1"), "b/missing", "b/4", "b/novalue"]}),
    );
    let values: Vec<&str> = out["SecretValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["SecretString"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["v0", "v1"]);
    let errors: Vec<(&str, &str)> = out["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["SecretId"].as_str().unwrap(),
                e["ErrorCode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("b/missing", "ResourceNotFoundException"),
            ("b/4", "InvalidRequestException"),
            ("b/novalue", "ResourceNotFoundException"),
        ]
    );
    let mut got = vec![];
    let mut input = json!({"Filters": [{"Key": "name", "Values": ["b/"]}], "MaxResults": 2});
    loop {
        let page = t.ok("BatchGetSecretValue", input.clone());
        got.extend(
            page["SecretValues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["Name"].clone()),
        );
        match page.get("NextToken") {
            Some(tk) => input["NextToken"] = tk.clone(),
            None => break,
        }
    }
    assert_eq!(
        got,
        [json!("b/0"), json!("b/1"), json!("b/2"), json!("b/3")]
    );
    assert_eq!(
        t.code("BatchGetSecretValue", json!({})),
        "InvalidParameterException"
    );
    assert_eq!(
        t.code(
            "BatchGetSecretValue",
            json!({"SecretIdList": ["a"], "Filters": []})
        ),
        "InvalidParameterException"
    );
    assert_eq!(
        t.code("BatchGetSecretValue", json!({"SecretIdList": []})),
        "ValidationException"
    );
    assert_eq!(
        t.code(
            "BatchGetSecretValue",
            json!({"Filters": [{"Key": "name", "Values": ["b"]}], "MaxResults": 21})
        ),
        "ValidationException"
    );
}
