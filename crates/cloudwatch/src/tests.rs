//! The operations end to end on a store in a temporary directory.

use berth_awsproto::{decode_form, Api, Context, Input, QueryFlavour};
use serde_json::{json, Value};

use super::*;

fn service() -> (CloudWatch, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MetricStore::open(dir.path()).unwrap());
    (CloudWatch::new(store), dir)
}

/// A minute-aligned time an hour ago, so that every datapoint is recent.
fn base() -> f64 {
    let now = berth_awsproto::now().floor() as i64;
    (now - now.rem_euclid(60) - 3600) as f64
}

fn put(cw: &CloudWatch, name: &str, dims: Value, points: &[(f64, f64)]) {
    let data: Vec<Value> = points
        .iter()
        .map(|(t, v)| json!({"MetricName": name, "Dimensions": dims, "Value": v, "Timestamp": t, "Unit": "Count", "StorageResolution": 1}))
        .collect();
    cw.call(
        &Context::default(),
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": data}),
    )
    .unwrap();
}

#[test]
fn statistics_per_period() {
    let (cw, _d) = service();
    let t = base();
    put(
        &cw,
        "Hits",
        json!([{"Name": "Svc", "Value": "a"}]),
        &[(t, 1.0), (t + 10.0, 3.0), (t + 70.0, 10.0)],
    );
    let ask = |period: i64, extra: Value| {
        let mut input = json!({"Namespace": "App", "MetricName": "Hits", "Dimensions": [{"Name": "Svc", "Value": "a"}],
            "StartTime": t, "EndTime": t + 120.0, "Period": period});
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        cw.call(&Context::default(), "GetMetricStatistics", input)
    };
    let out = ask(
        60,
        json!({"Statistics": ["Sum", "SampleCount", "Average", "Maximum"]}),
    )
    .unwrap();
    assert_eq!(out["Label"], "Hits");
    assert_eq!(
        out["Datapoints"],
        json!([
            {"Timestamp": t, "Sum": 4.0, "SampleCount": 2.0, "Average": 2.0, "Maximum": 3.0, "Unit": "Count"},
            {"Timestamp": t + 60.0, "Sum": 10.0, "SampleCount": 1.0, "Average": 10.0, "Maximum": 10.0, "Unit": "Count"},
        ])
    );
    let out = ask(10, json!({"ExtendedStatistics": ["p50"]})).unwrap();
    let got: Vec<(f64, f64)> = out["Datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["Timestamp"].as_f64().unwrap() - t,
                d["ExtendedStatistics"]["p50"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [(0.0, 1.0), (10.0, 3.0), (70.0, 10.0)]);
    let out = ask(60, json!({"Statistics": ["Sum"], "Unit": "Bytes"})).unwrap();
    assert_eq!(out["Datapoints"], json!([]));
    let errors = [
        (
            ask(7, json!({"Statistics": ["Sum"]})),
            INVALID_PARAMETER_VALUE,
        ),
        (
            ask(1, json!({"Statistics": ["Sum"], "EndTime": t + 7200.0})),
            INVALID_PARAMETER_COMBINATION,
        ),
        (ask(60, json!({})), INVALID_PARAMETER_COMBINATION),
        (
            ask(
                60,
                json!({"Statistics": ["Sum"], "ExtendedStatistics": ["p9"]}),
            ),
            INVALID_PARAMETER_COMBINATION,
        ),
        (
            ask(60, json!({"ExtendedStatistics": ["p101"]})),
            INVALID_PARAMETER_VALUE,
        ),
        (
            ask(60, json!({"Statistics": ["Sum"], "StartTime": t + 500.0})),
            INVALID_PARAMETER_VALUE,
        ),
        (
            ask(60, json!({"Statistics": ["Sum"], "Period": null})),
            MISSING_PARAMETER,
        ),
    ];
    for (i, (got, code)) in errors.into_iter().enumerate() {
        assert_eq!(got.unwrap_err().code, code, "case {i}");
    }
}

#[test]
fn metrics_are_listed_filtered_and_paged() {
    let (cw, _d) = service();
    let t = base();
    let data: Vec<Value> = (0..1001)
        .map(|i| json!({"MetricName": "M", "Dimensions": [{"Name": "N", "Value": format!("{i}")}, {"Name": "Kind", "Value": if i % 2 == 0 { "even" } else { "odd" }}], "Value": 1, "Timestamp": t}))
        .collect();
    let ctx = Context::default();
    let e = cw
        .call(
            &ctx,
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": data}),
        )
        .unwrap_err();
    assert_eq!(
        e.code, INVALID_PARAMETER_VALUE,
        "1001 datapoints are too many"
    );
    cw.call(
        &ctx,
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": data[..1000]}),
    )
    .unwrap();
    let mut seen = 0;
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut input = json!({"Namespace": "App"});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let out = cw.call(&ctx, "ListMetrics", input).unwrap();
        seen += out["Metrics"].as_array().unwrap().len();
        pages += 1;
        match out["NextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (1000, 2));
    let odd = cw
        .call(
            &ctx,
            "ListMetrics",
            json!({"Dimensions": [{"Name": "Kind", "Value": "odd"}], "RecentlyActive": "PT3H"}),
        )
        .unwrap();
    assert_eq!(odd["Metrics"].as_array().unwrap().len(), 500);
    let one = cw
        .call(
            &ctx,
            "ListMetrics",
            json!({"Dimensions": [{"Name": "N", "Value": "7"}, {"Name": "Kind"}]}),
        )
        .unwrap();
    assert_eq!(
        one["Metrics"],
        json!([{"Namespace": "App", "MetricName": "M", "Dimensions": [{"Name": "Kind", "Value": "odd"}, {"Name": "N", "Value": "7"}]}])
    );
    let none = cw
        .call(
            &Context::new("111122223333", "us-east-1"),
            "ListMetrics",
            json!({}),
        )
        .unwrap();
    assert_eq!(none["Metrics"], json!([]), "another account sees nothing");
    let e = cw
        .call(&ctx, "ListMetrics", json!({"NextToken": "garbage!"}))
        .unwrap_err();
    assert_eq!(e.code, INVALID_PARAMETER_VALUE);
}

fn gmd(
    cw: &CloudWatch,
    queries: Value,
    t: f64,
    extra: Value,
) -> Result<Value, berth_awsproto::ApiError> {
    let mut input = json!({"MetricDataQueries": queries, "StartTime": t, "EndTime": t + 240.0, "ScanBy": "TimestampAscending"});
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    cw.call(&Context::default(), "GetMetricData", input)
}

fn stat(id: &str, name: &str, stat: &str) -> Value {
    json!({"Id": id, "MetricStat": {"Metric": {"Namespace": "App", "MetricName": name}, "Period": 60, "Stat": stat}, "ReturnData": false})
}

#[test]
fn metric_math_over_stored_data() {
    let (cw, _d) = service();
    let t = base();
    put(
        &cw,
        "Requests",
        json!([]),
        &[
            (t, 10.0),
            (t + 5.0, 10.0),
            (t + 60.0, 40.0),
            (t + 180.0, 8.0),
        ],
    );
    put(&cw, "Errors", json!([]), &[(t, 2.0), (t + 60.0, 4.0)]);
    let queries = json!([
        stat("r", "Requests", "Sum"),
        stat("e", "Errors", "Sum"),
        {"Id": "rate", "Expression": "100 * e / r", "Label": "Error rate"},
        {"Id": "filled", "Expression": "FILL(e, 0)"},
        {"Id": "total", "Expression": "SUM([r, e])"},
        {"Id": "scalar", "Expression": "SUM(r)"},
        {"Id": "lin", "Expression": "FILL(r, LINEAR)"},
    ]);
    let out = gmd(&cw, queries, t, json!({})).unwrap();
    let results = out["MetricDataResults"].as_array().unwrap();
    let series = |id: &str| -> Vec<(f64, f64)> {
        let r = results.iter().find(|r| r["Id"] == id).unwrap();
        assert_eq!(r["StatusCode"], "Complete");
        let ts = r["Timestamps"].as_array().unwrap();
        ts.iter()
            .zip(r["Values"].as_array().unwrap())
            .map(|(a, b)| (a.as_f64().unwrap() - t, b.as_f64().unwrap()))
            .collect()
    };
    assert_eq!(
        results.len(),
        5,
        "queries with ReturnData false are not returned"
    );
    assert_eq!(series("rate"), [(0.0, 10.0), (60.0, 10.0)]);
    assert_eq!(results[0]["Label"], "Error rate");
    assert_eq!(
        series("filled"),
        [(0.0, 2.0), (60.0, 4.0), (120.0, 0.0), (180.0, 0.0)]
    );
    assert_eq!(series("total"), [(0.0, 22.0), (60.0, 44.0), (180.0, 8.0)]);
    assert_eq!(
        series("scalar"),
        [(0.0, 68.0), (60.0, 68.0), (120.0, 68.0), (180.0, 68.0)]
    );
    assert_eq!(
        series("lin"),
        [(0.0, 20.0), (60.0, 40.0), (120.0, 24.0), (180.0, 8.0)]
    );
}

#[test]
fn pages_and_order() {
    let (cw, _d) = service();
    let t = base();
    put(
        &cw,
        "Requests",
        json!([]),
        &[(t, 1.0), (t + 60.0, 2.0), (t + 120.0, 3.0)],
    );
    let q = json!([{"Id": "a", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Requests"}, "Period": 60, "Stat": "Sum"}},
                   {"Id": "b", "Expression": "a * 2"}]);
    let first = gmd(
        &cw,
        q.clone(),
        t,
        json!({"MaxDatapoints": 4, "ScanBy": "TimestampDescending"}),
    )
    .unwrap();
    let r = &first["MetricDataResults"];
    assert_eq!(r[0]["Values"], json!([3.0, 2.0, 1.0]));
    assert_eq!(r[0]["StatusCode"], "Complete");
    assert_eq!(r[1]["Values"], json!([6.0]));
    assert_eq!(r[1]["StatusCode"], "PartialData");
    let token = first["NextToken"].as_str().unwrap();
    let second = gmd(
        &cw,
        q.clone(),
        t,
        json!({"MaxDatapoints": 4, "ScanBy": "TimestampDescending", "NextToken": token}),
    )
    .unwrap();
    assert_eq!(second["MetricDataResults"].as_array().unwrap().len(), 1);
    assert_eq!(second["MetricDataResults"][0]["Values"], json!([4.0, 2.0]));
    assert_eq!(second["MetricDataResults"][0]["StatusCode"], "Complete");
    assert!(second.get("NextToken").is_none());
    let e = gmd(&cw, q, t, json!({"NextToken": "bm9wZQ"})).unwrap_err();
    assert_eq!(e.code, INVALID_NEXT_TOKEN);
}

#[test]
fn bad_queries_are_refused() {
    let (cw, _d) = service();
    let t = base();
    let m = |id: &str| json!({"Id": id, "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "R"}, "Period": 60, "Stat": "Sum"}});
    let cases = [
        (json!([m("M1")]), VALIDATION_ERROR, "Id"),
        (json!([m("m1"), m("m1")]), VALIDATION_ERROR, "not unique"),
        (
            json!([{"Id": "e1", "Expression": "m9 * 2"}]),
            VALIDATION_ERROR,
            "m9",
        ),
        (
            json!([m("m1"), {"Id": "e1", "Expression": "m1 +"}]),
            VALIDATION_ERROR,
            "e1",
        ),
        (
            json!([{"Id": "e1", "Expression": "e2"}, {"Id": "e2", "Expression": "e1"}]),
            VALIDATION_ERROR,
            "circular",
        ),
        (json!([{"Id": "e1"}]), VALIDATION_ERROR, "Exactly one"),
        (
            json!([{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "R"}, "Period": 60, "Stat": "Median"}}]),
            INVALID_PARAMETER_VALUE,
            "MetricDataQueries.member.1.MetricStat.Stat",
        ),
        (
            json!([{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "R"}, "Period": 61, "Stat": "Sum"}}]),
            INVALID_PARAMETER_VALUE,
            "Period",
        ),
        (
            json!([{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "App"}, "Period": 60, "Stat": "Sum"}}]),
            MISSING_PARAMETER,
            "MetricName",
        ),
        (json!([]), VALIDATION_ERROR, "MetricDataQueries"),
    ];
    for (q, code, text) in cases {
        let e = gmd(&cw, q.clone(), t, json!({})).unwrap_err();
        assert_eq!(e.code, code, "{q}: {}", e.message);
        assert!(e.message.contains(text), "{q}: {}", e.message);
    }
    let e = gmd(&cw, json!([m("m1")]), t, json!({"EndTime": t})).unwrap_err();
    assert_eq!(e.code, VALIDATION_ERROR);
    let e = gmd(
        &cw,
        json!([m("m1"), {"Id": "e", "Expression": "m1 / 0"}]),
        t,
        json!({}),
    )
    .unwrap();
    assert_eq!(e["MetricDataResults"][1]["Values"], json!([]));
}

#[test]
fn division_by_zero_drops_points_with_a_message() {
    let (cw, _d) = service();
    let t = base();
    put(&cw, "R", json!([]), &[(t, 0.0), (t + 60.0, 2.0)]);
    let q = json!([stat("m1", "R", "Sum"), {"Id": "e", "Expression": "1 / m1"}]);
    let out = gmd(&cw, q, t, json!({})).unwrap();
    let r = &out["MetricDataResults"][0];
    assert_eq!(r["Values"], json!([0.5]));
    assert_eq!(r["Messages"][0]["Code"], "ArithmeticError");
}

#[test]
fn the_query_protocol_reads_forms() {
    let (cw, _d) = service();
    let body = "Namespace=App&MetricData.member.1.MetricName=Q&MetricData.member.1.Value=2.5\
                &MetricData.member.1.Dimensions.member.1.Name=a&MetricData.member.1.Dimensions.member.1.Value=b\
                &MetricData.member.1.Unit=Seconds";
    let form = decode_form(body.as_bytes()).unwrap();
    cw.invoke(
        &Context::default(),
        "PutMetricData",
        Input::Form(form.params, QueryFlavour::Query),
    )
    .unwrap();
    let form = decode_form(b"Namespace=App&Dimensions.member.1.Name=a").unwrap();
    let out = cw
        .invoke(
            &Context::default(),
            "ListMetrics",
            Input::Form(form.params, QueryFlavour::Query),
        )
        .unwrap();
    assert_eq!(out["Metrics"][0]["MetricName"], "Q");
    let form = decode_form(
        b"Namespace=AWS%2FECS&MetricData.member.1.MetricName=Q&MetricData.member.1.Value=1",
    )
    .unwrap();
    let e = cw
        .invoke(
            &Context::default(),
            "PutMetricData",
            Input::Form(form.params, QueryFlavour::Query),
        )
        .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        (
            INVALID_PARAMETER_VALUE,
            "The value AWS/ECS for parameter Namespace is invalid."
        )
    );
}
