//! The operations end to end on a real database, with a fixed clock.

use berth_awsproto::fixed::Fixed;
use berth_awsproto::{Api, ApiError, Context};
use serde_json::{json, Value};

use super::*;

const T0: f64 = 1_700_000_000.0;
const NOW: i64 = 1_700_000_000_000;

struct Env {
    _dir: tempfile::TempDir,
    logs: Logs,
    ctx: Context,
    _clock: Fixed,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::open(dir.path()).unwrap();
    Env {
        _dir: dir,
        logs,
        ctx: Context::new("111122223333", "eu-west-1"),
        _clock: Fixed::start(T0, 1),
    }
}

impl Env {
    fn ok(&self, op: &str, input: Value) -> Value {
        self.logs
            .call(&self.ctx, op, input.clone())
            .unwrap_or_else(|e| panic!("{op} {input}: {e}"))
    }

    fn fails(&self, op: &str, input: Value, code: &str) -> ApiError {
        let e = self.logs.call(&self.ctx, op, input.clone()).unwrap_err();
        assert_eq!(e.code, code, "{op} {input}: {e}");
        e
    }

    fn group_and_stream(&self, group: &str, stream: &str) {
        self.ok("CreateLogGroup", json!({"logGroupName": group}));
        self.ok(
            "CreateLogStream",
            json!({"logGroupName": group, "logStreamName": stream}),
        );
    }

    fn put(&self, group: &str, stream: &str, events: &[(i64, &str)]) -> Value {
        let events: Vec<Value> = events
            .iter()
            .map(|(t, m)| json!({"timestamp": t, "message": m}))
            .collect();
        self.ok(
            "PutLogEvents",
            json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
        )
    }
}

fn messages(out: &Value) -> Vec<String> {
    out["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn groups_are_created_described_and_deleted() {
    let e = env();
    e.ok(
        "CreateLogGroup",
        json!({"logGroupName": "/ecs/web", "tags": {"team": "a"}, "kmsKeyId": "k"}),
    );
    e.fails(
        "CreateLogGroup",
        json!({"logGroupName": "/ecs/web"}),
        "ResourceAlreadyExistsException",
    );
    let out = e.ok("DescribeLogGroups", json!({}));
    assert_eq!(
        out,
        json!({"logGroups": [{
            "logGroupName": "/ecs/web",
            "creationTime": NOW,
            "metricFilterCount": 0,
            "arn": "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/web:*",
            "storedBytes": 0,
            "kmsKeyId": "k",
            "logGroupClass": "STANDARD",
            "logGroupArn": "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/web",
            "deletionProtectionEnabled": false,
        }]})
    );
    // Another account or region sees nothing.
    let other = Context::new("444455556666", "eu-west-1");
    let out = e.logs.call(&other, "DescribeLogGroups", json!({})).unwrap();
    assert_eq!(out["logGroups"], json!([]));
    e.ok("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}));
    e.fails(
        "DeleteLogGroup",
        json!({"logGroupName": "/ecs/web"}),
        "ResourceNotFoundException",
    );
}

#[test]
fn describe_log_groups_pages_and_filters() {
    let e = env();
    for n in ["a1", "a2", "b/X", "b/y", "c"] {
        e.ok("CreateLogGroup", json!({"logGroupName": n}));
    }
    let names = |v: &Value| -> Vec<String> {
        v["logGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["logGroupName"].as_str().unwrap().to_string())
            .collect()
    };
    let p1 = e.ok("DescribeLogGroups", json!({"limit": 2}));
    assert_eq!(names(&p1), ["a1", "a2"]);
    let p2 = e.ok(
        "DescribeLogGroups",
        json!({"limit": 2, "nextToken": p1["nextToken"]}),
    );
    assert_eq!(names(&p2), ["b/X", "b/y"]);
    let p3 = e.ok(
        "DescribeLogGroups",
        json!({"limit": 2, "nextToken": p2["nextToken"]}),
    );
    assert_eq!(names(&p3), ["c"]);
    assert!(p3.get("nextToken").is_none());
    let pre = e.ok("DescribeLogGroups", json!({"logGroupNamePrefix": "b/"}));
    assert_eq!(names(&pre), ["b/X", "b/y"]);
    let pat = e.ok("DescribeLogGroups", json!({"logGroupNamePattern": "x"}));
    assert_eq!(names(&pat), ["b/X"]);
    e.fails(
        "DescribeLogGroups",
        json!({"logGroupNamePattern": "x", "logGroupNamePrefix": "b"}),
        "InvalidParameterException",
    );
    let err = e.fails(
        "DescribeLogGroups",
        json!({"limit": 51}),
        "InvalidParameterException",
    );
    assert!(err.message.contains("'limit'"), "{}", err.message);
    e.fails(
        "DescribeLogGroups",
        json!({"nextToken": "!!"}),
        "InvalidParameterException",
    );
    e.fails(
        "DescribeLogGroups",
        json!({"colour": 1}),
        "InvalidParameterException",
    );
}

#[test]
fn streams_are_described_in_order_and_paged() {
    let e = env();
    e.ok("CreateLogGroup", json!({"logGroupName": "g"}));
    for s in ["s1", "s2", "s3"] {
        e.ok(
            "CreateLogStream",
            json!({"logGroupName": "g", "logStreamName": s}),
        );
    }
    e.fails(
        "CreateLogStream",
        json!({"logGroupName": "g", "logStreamName": "s1"}),
        "ResourceAlreadyExistsException",
    );
    let err = e.fails(
        "CreateLogStream",
        json!({"logGroupName": "nope", "logStreamName": "s1"}),
        "ResourceNotFoundException",
    );
    assert_eq!(err.message, "The specified log group does not exist.");
    e.put("g", "s3", &[(NOW - 10, "x")]);
    e.put("g", "s1", &[(NOW - 5, "y"), (NOW - 4, "zz")]);
    let names = |v: &Value| -> Vec<String> {
        v["logStreams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["logStreamName"].as_str().unwrap().to_string())
            .collect()
    };
    let by_time = e.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "orderBy": "LastEventTime", "descending": true, "limit": 2}),
    );
    assert_eq!(names(&by_time), ["s1", "s3"]);
    let rest = e.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "orderBy": "LastEventTime", "descending": true,
               "limit": 2, "nextToken": by_time["nextToken"]}),
    );
    assert_eq!(names(&rest), ["s2"]);
    assert!(rest.get("nextToken").is_none());
    let s1 = &by_time["logStreams"][0];
    assert_eq!(s1["firstEventTimestamp"], NOW - 5);
    assert_eq!(s1["lastEventTimestamp"], NOW - 4);
    assert_eq!(s1["lastIngestionTime"], NOW);
    assert_eq!(s1["storedBytes"], 3);
    assert_eq!(
        s1["arn"],
        "arn:aws:logs:eu-west-1:111122223333:log-group:g:log-stream:s1"
    );
    let desc = e.ok(
        "DescribeLogStreams",
        json!({"logGroupIdentifier": "arn:aws:logs:eu-west-1:111122223333:log-group:g", "descending": true}),
    );
    assert_eq!(names(&desc), ["s3", "s2", "s1"]);
    let pre = e.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "logStreamNamePrefix": "s2"}),
    );
    assert_eq!(names(&pre), ["s2"]);
    e.fails(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "logStreamNamePrefix": "s", "orderBy": "LastEventTime"}),
        "InvalidParameterException",
    );
    e.fails(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "orderBy": "Size"}),
        "InvalidParameterException",
    );
    e.ok(
        "DeleteLogStream",
        json!({"logGroupName": "g", "logStreamName": "s1"}),
    );
    let g = e.ok("DescribeLogGroups", json!({}));
    assert_eq!(g["logGroups"][0]["storedBytes"], 1);
}

#[test]
fn put_log_events_reports_rejections_and_missing_resources() {
    let e = env();
    e.group_and_stream("g", "s");
    let out = e.put(
        "g",
        "s",
        &[
            (NOW - 15 * DAY_MS, "old"),
            (NOW, "ok"),
            (NOW + 3 * 3_600_000, "new"),
        ],
    );
    assert_eq!(
        out["rejectedLogEventsInfo"],
        json!({"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 2})
    );
    assert_eq!(out["nextSequenceToken"].as_str().unwrap().len(), 56);
    let out = e.put("g", "s", &[(NOW, "again")]);
    assert!(out.get("rejectedLogEventsInfo").is_none());
    let err = e.fails(
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "nope", "logEvents": [{"timestamp": NOW, "message": "x"}]}),
        "ResourceNotFoundException",
    );
    assert_eq!(err.message, "The specified log stream does not exist.");
    e.fails(
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s",
               "logEvents": [{"timestamp": NOW, "message": "b"}, {"timestamp": NOW - 1, "message": "a"}]}),
        "InvalidParameterException",
    );
    // A refused batch writes nothing.
    let got = e.ok(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true}),
    );
    assert_eq!(messages(&got), ["ok", "again"]);
    e.fails(
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": NOW, "message": "x", "level": 1}]}),
        "InvalidParameterException",
    );
}

#[test]
fn get_log_events_pages_forward_and_backward() {
    let e = env();
    e.group_and_stream("g", "s");
    let events: Vec<(i64, String)> = (0..10).map(|i| (NOW - 100 + i, format!("m{i}"))).collect();
    let refs: Vec<(i64, &str)> = events.iter().map(|(t, m)| (*t, m.as_str())).collect();
    e.put("g", "s", &refs);
    let get = |extra: Value| {
        let mut input = json!({"logGroupName": "g", "logStreamName": "s", "limit": 4});
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        e.ok("GetLogEvents", input)
    };
    // The tail by default.
    let last = get(json!({}));
    assert_eq!(messages(&last), ["m6", "m7", "m8", "m9"]);
    let back = get(json!({"nextToken": last["nextBackwardToken"]}));
    assert_eq!(messages(&back), ["m2", "m3", "m4", "m5"]);
    let back2 = get(json!({"nextToken": back["nextBackwardToken"]}));
    assert_eq!(messages(&back2), ["m0", "m1"]);
    let end = get(json!({"nextToken": back2["nextBackwardToken"]}));
    assert_eq!(messages(&end), Vec::<String>::new());
    assert_eq!(end["nextBackwardToken"], back2["nextBackwardToken"]);
    // Forward from the head, to the end, where the token comes back.
    let mut token = Value::Null;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let mut input = json!({"startFromHead": true});
        if !token.is_null() {
            input["nextToken"] = token.clone();
        }
        let page = get(input);
        if page["nextForwardToken"] == token {
            assert!(messages(&page).is_empty());
            break;
        }
        seen.extend(messages(&page));
        token = page["nextForwardToken"].clone();
    }
    assert_eq!(seen.len(), 10);
    // New events show up behind the forward token.
    e.put("g", "s", &[(NOW, "late")]);
    let more = get(json!({"nextToken": token}));
    assert_eq!(messages(&more), ["late"]);
    assert_eq!(more["events"][0]["ingestionTime"], NOW);
    // A time range.
    let range = get(json!({"startTime": NOW - 98, "endTime": NOW - 96, "startFromHead": true}));
    assert_eq!(messages(&range), ["m2", "m3"]);
    e.fails(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "nextToken": "f/bogus"}),
        "InvalidParameterException",
    );
    e.fails(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "limit": 10001}),
        "InvalidParameterException",
    );
}

#[test]
fn filter_log_events_interleaves_streams_and_matches_patterns() {
    let e = env();
    e.group_and_stream("g", "web/1");
    e.ok(
        "CreateLogStream",
        json!({"logGroupName": "g", "logStreamName": "web/2"}),
    );
    e.ok(
        "CreateLogStream",
        json!({"logGroupName": "g", "logStreamName": "db"}),
    );
    e.put(
        "g",
        "web/1",
        &[(NOW - 30, "ERROR one"), (NOW - 10, "INFO two")],
    );
    e.put(
        "g",
        "web/2",
        &[(NOW - 20, r#"{"level":"ERROR","code":500}"#)],
    );
    e.put("g", "db", &[(NOW - 5, "ERROR db")]);
    let all = e.ok(
        "FilterLogEvents",
        json!({"logGroupName": "g", "interleaved": true}),
    );
    assert_eq!(
        messages(&all),
        [
            "ERROR one",
            r#"{"level":"ERROR","code":500}"#,
            "INFO two",
            "ERROR db"
        ]
    );
    let first = &all["events"][0];
    assert_eq!(first["logStreamName"], "web/1");
    assert!(first["eventId"].is_string());
    assert_eq!(all["searchedLogStreams"], json!([]));
    let errors = e.ok(
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "ERROR", "logStreamNamePrefix": "web"}),
    );
    assert_eq!(
        messages(&errors),
        ["ERROR one", r#"{"level":"ERROR","code":500}"#]
    );
    let json_match = e.ok(
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "{ $.code >= 500 }"}),
    );
    assert_eq!(messages(&json_match).len(), 1);
    let named = e.ok(
        "FilterLogEvents",
        json!({"logGroupName": "g", "logStreamNames": ["db", "web/2"], "startTime": NOW - 20, "endTime": NOW - 5}),
    );
    assert_eq!(messages(&named), [r#"{"level":"ERROR","code":500}"#]);
    // Paging, one event at a time.
    let mut token: Option<Value> = None;
    let mut seen = Vec::new();
    loop {
        let mut input = json!({"logGroupName": "g", "limit": 1});
        if let Some(t) = &token {
            input["nextToken"] = t.clone();
        }
        let page = e.ok("FilterLogEvents", input);
        seen.extend(messages(&page));
        match page.get("nextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(seen, messages(&all));
    let err = e.fails(
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "{ $.code > }"}),
        "InvalidParameterException",
    );
    assert_eq!(err.message, "Invalid filter pattern");
    e.fails(
        "FilterLogEvents",
        json!({"logGroupName": "g", "logStreamNames": ["a"], "logStreamNamePrefix": "a"}),
        "InvalidParameterException",
    );
    e.fails(
        "FilterLogEvents",
        json!({"logGroupName": "nope"}),
        "ResourceNotFoundException",
    );
}

#[test]
fn retention_hides_then_the_sweep_deletes() {
    let e = env();
    e.group_and_stream("g", "s");
    e.put(
        "g",
        "s",
        &[(NOW - 3 * DAY_MS, "old"), (NOW - 2 * DAY_MS - 1, "older")],
    );
    e.put("g", "s", &[(NOW - 1000, "new")]);
    let err = e.fails(
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 2}),
        "InvalidParameterException",
    );
    assert!(err.message.contains("retentionInDays"), "{}", err.message);
    e.ok(
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 1}),
    );
    let g = e.ok("DescribeLogGroups", json!({}));
    assert_eq!(g["logGroups"][0]["retentionInDays"], 1);
    let got = e.ok(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true}),
    );
    assert_eq!(messages(&got), ["new"]);
    // Expired at once for new batches too.
    let out = e.put("g", "s", &[(NOW - 2 * DAY_MS, "late"), (NOW, "fresh")]);
    assert_eq!(
        out["rejectedLogEventsInfo"],
        json!({"expiredLogEventEndIndex": 0})
    );
    assert_eq!(e.logs.sweep(NOW).unwrap(), 2);
    assert_eq!(e.logs.sweep(NOW).unwrap(), 0);
    let g = e.ok("DescribeLogGroups", json!({}));
    assert_eq!(g["logGroups"][0]["storedBytes"], 8);
    let s = e.ok("DescribeLogStreams", json!({"logGroupName": "g"}));
    assert_eq!(s["logStreams"][0]["firstEventTimestamp"], NOW - 1000);
    e.ok("DeleteRetentionPolicy", json!({"logGroupName": "g"}));
    let g = e.ok("DescribeLogGroups", json!({}));
    assert!(g["logGroups"][0].get("retentionInDays").is_none());
    e.fails(
        "PutRetentionPolicy",
        json!({"logGroupName": "nope", "retentionInDays": 1}),
        "ResourceNotFoundException",
    );
}

#[test]
fn tags_by_arn_and_by_group_name() {
    let e = env();
    e.ok(
        "CreateLogGroup",
        json!({"logGroupName": "g", "tags": {"a": "1"}}),
    );
    let arn = "arn:aws:logs:eu-west-1:111122223333:log-group:g";
    e.ok(
        "TagResource",
        json!({"resourceArn": arn, "tags": {"b": "2"}}),
    );
    e.ok(
        "TagLogGroup",
        json!({"logGroupName": "g", "tags": {"c": "3"}}),
    );
    let t = e.ok("ListTagsForResource", json!({"resourceArn": arn}));
    assert_eq!(t, json!({"tags": {"a": "1", "b": "2", "c": "3"}}));
    e.ok(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["a"]}),
    );
    e.ok("UntagLogGroup", json!({"logGroupName": "g", "tags": ["b"]}));
    let t = e.ok("ListTagsLogGroup", json!({"logGroupName": "g"}));
    assert_eq!(t, json!({"tags": {"c": "3"}}));
    e.fails(
        "TagResource",
        json!({"resourceArn": "arn:aws:logs:eu-west-1:111122223333:log-group:nope", "tags": {"a": "b"}}),
        "ResourceNotFoundException",
    );
    e.fails(
        "ListTagsForResource",
        json!({"resourceArn": "arn:aws:logs:us-east-1:111122223333:log-group:g"}),
        "ResourceNotFoundException",
    );
    let many: serde_json::Map<String, Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    let err = e.fails(
        "TagResource",
        json!({"resourceArn": arn, "tags": many}),
        "TooManyTagsException",
    );
    assert_eq!(err.extra["resourceName"], arn);
    e.fails(
        "TagResource",
        json!({"resourceArn": arn, "tags": {"bad!": "x"}}),
        "InvalidParameterException",
    );
}

#[test]
fn unknown_operations_and_members() {
    let e = env();
    e.fails("PutMetricFilter", json!({}), "UnknownOperationException");
    e.fails(
        "CreateLogGroup",
        json!({"logGroupName": "g", "colour": "red"}),
        "InvalidParameterException",
    );
    e.fails("CreateLogGroup", json!({}), "InvalidParameterException");
    e.fails(
        "CreateLogGroup",
        json!({"logGroupName": "bad name"}),
        "InvalidParameterException",
    );
    e.fails(
        "CreateLogGroup",
        json!({"logGroupName": "g", "logGroupClass": "CHEAP"}),
        "InvalidParameterException",
    );
}

#[test]
fn events_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::default();
    {
        let logs = Logs::open(dir.path()).unwrap();
        logs.call(&ctx, "CreateLogGroup", json!({"logGroupName": "g"}))
            .unwrap();
        logs.call(
            &ctx,
            "CreateLogStream",
            json!({"logGroupName": "g", "logStreamName": "s"}),
        )
        .unwrap();
        logs.call(
            &ctx,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": now_ms(), "message": "kept"}]}),
        )
        .unwrap();
    }
    let logs = Logs::open(dir.path()).unwrap();
    let got = logs
        .call(
            &ctx,
            "GetLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s"}),
        )
        .unwrap();
    assert_eq!(messages(&got), ["kept"]);
}
