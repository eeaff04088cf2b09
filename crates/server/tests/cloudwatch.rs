//! CloudWatch through the real front: agents' metric reports (`POST
//! /berth/agent/v1/metrics`, signed by a joined agent) read back exactly with
//! `GetMetricData` in JSON 1.0 and RPCv2-CBOR, another cluster's samples refused whole,
//! and the query protocol's XML.

mod common;

use std::net::SocketAddr;

use berth_agent_view::{MetricSample, MetricsPost, MetricsReport, AGENT_METRICS_PATH};
use common::{auth_naming, join_agent, post, Raw, TestServer};
use serde_json::{json, Value};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const CW: &str = "GraniteServiceVersion20100801";

fn ecs_call(addr: SocketAddr, op: &str, auth: &str, body: Value) -> Value {
    let target = format!("{ECS}.{op}");
    let r = post(
        addr,
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", auth),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{op}: {}", r.text());
    r.json()
}

fn cw_json(addr: SocketAddr, op: &str, body: &Value) -> Raw {
    let target = format!("{CW}.{op}");
    let auth = auth_naming("test", "us-west-2", "monitoring");
    post(
        addr,
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Authorization", &auth),
        ],
        body.to_string().as_bytes(),
    )
}

fn sample(name: &str, labels: &[(&str, &str)], unit: &str, agg: [f64; 4]) -> MetricSample {
    MetricSample {
        metric_name: name.into(),
        dimensions: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        unit: unit.into(),
        sum: agg[0],
        count: agg[1],
        min: agg[2],
        max: agg[3],
    }
}

const INBOUND: &[(&str, &str)] = &[
    ("ClusterName", "c"),
    ("ServiceName", "web"),
    ("DiscoveryName", "web-http"),
    ("direction", "ingress"),
];
const OUTBOUND: &[(&str, &str)] = &[
    ("ClusterName", "c"),
    ("ServiceName", "web"),
    ("TargetDiscoveryName", "db"),
    ("direction", "egress"),
];

fn report(at: f64, samples: Vec<MetricSample>) -> MetricsReport {
    MetricsReport {
        task_arn: "arn:aws:ecs:us-west-2:123456789012:task/c/0123".into(),
        timestamp: at,
        samples,
    }
}

struct Agent {
    addr: SocketAddr,
    auth: String,
    instance: String,
}

impl Agent {
    fn post(&self, body: &MetricsPost) -> Raw {
        let path = format!(
            "{AGENT_METRICS_PATH}?cluster=c&containerInstance={}",
            self.instance.replace('/', "%2F")
        );
        let body = serde_json::to_vec(body).unwrap();
        post(
            self.addr,
            &path,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &self.auth),
            ],
            &body,
        )
    }
}

/// Makes cluster `c`, joins an agent to it and registers its instance.
fn joined(addr: SocketAddr, dir: &std::path::Path) -> Agent {
    let root = auth_naming("test", "us-west-2", "ecs");
    ecs_call(addr, "CreateCluster", &root, json!({"clusterName": "c"}));
    let auth = join_agent(addr, dir, "us-west-2", "c");
    let out = ecs_call(
        addr,
        "RegisterContainerInstance",
        &auth,
        json!({"cluster": "c", "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}]}),
    );
    let instance = out["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string();
    Agent {
        addr,
        auth,
        instance,
    }
}

fn query(id: &str, name: &str, dims: &[(&str, &str)], stat: &str) -> Value {
    let dims: Vec<Value> = dims
        .iter()
        .map(|(k, v)| json!({"Name": k, "Value": v}))
        .collect();
    json!({"Id": id, "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": name, "Dimensions": dims}, "Period": 3600, "Stat": stat}})
}

/// Each returned query's values by id.
fn values(out: &Value) -> Vec<(String, Vec<f64>)> {
    out["MetricDataResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v = r["Values"].as_array().unwrap();
            (
                r["Id"].as_str().unwrap().to_string(),
                v.iter().map(|x| x.as_f64().unwrap()).collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_reports_read_back_exactly() {
    let s = TestServer::start().await;
    let addr = s.addr();
    let now = berth_awsproto::now().floor();
    let dir = s.dir.path().to_path_buf();
    let agent = tokio::task::spawn_blocking(move || joined(addr, &dir))
        .await
        .unwrap();
    let posts = [
        MetricsPost {
            reports: vec![report(
                now - 20.0,
                vec![
                    sample("RequestCount", INBOUND, "Count", [5.0, 1.0, 5.0, 5.0]),
                    sample("RequestCount", OUTBOUND, "Count", [2.0, 1.0, 2.0, 2.0]),
                    sample(
                        "TargetResponseTime",
                        INBOUND,
                        "Milliseconds",
                        [50.0, 5.0, 2.5, 25.0],
                    ),
                ],
            )],
        },
        MetricsPost {
            reports: vec![report(
                now - 10.0,
                vec![
                    sample("RequestCount", INBOUND, "Count", [7.0, 1.0, 7.0, 7.0]),
                    sample(
                        "TargetResponseTime",
                        INBOUND,
                        "Milliseconds",
                        [30.0, 5.0, 1.0, 10.0],
                    ),
                ],
            )],
        },
    ];
    let expect = move |addr: SocketAddr| {
        let input = json!({
            "StartTime": now - 1800.0, "EndTime": now + 1800.0,
            "MetricDataQueries": [
                query("service", "RequestCount", &[("ClusterName", "c"), ("ServiceName", "web")], "Sum"),
                query("inbound", "RequestCount", &[("ClusterName", "c"), ("ServiceName", "web"), ("DiscoveryName", "web-http")], "Sum"),
                query("outbound", "RequestCount", &[("ClusterName", "c"), ("ServiceName", "web"), ("TargetDiscoveryName", "db")], "Sum"),
                query("latency", "TargetResponseTime", &[("ClusterName", "c"), ("ServiceName", "web"), ("DiscoveryName", "web-http")], "Average"),
                query("slowest", "TargetResponseTime", &[("ClusterName", "c"), ("ServiceName", "web")], "Maximum"),
                {"Id": "share", "Expression": "100 * outbound / service"},
            ]
        });
        let r = cw_json(addr, "GetMetricData", &input);
        assert_eq!(r.status, 200, "{}", r.text());
        values(&r.json())
    };
    let before = tokio::task::spawn_blocking(move || expect(addr))
        .await
        .unwrap();
    assert!(before.iter().all(|(_, v)| v.is_empty()), "{before:?}");
    let answers = tokio::task::spawn_blocking(move || {
        let a = posts.iter().map(|p| agent.post(p)).collect::<Vec<_>>();
        (agent, a)
    })
    .await
    .unwrap();
    let (agent, answers) = answers;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text());
    }
    let want = vec![
        ("service".to_string(), vec![14.0]),
        ("inbound".to_string(), vec![12.0]),
        ("outbound".to_string(), vec![2.0]),
        ("latency".to_string(), vec![8.0]),
        ("slowest".to_string(), vec![25.0]),
        ("share".to_string(), vec![100.0 * 2.0 / 14.0]),
    ];
    assert_eq!(
        tokio::task::spawn_blocking(move || expect(addr))
            .await
            .unwrap(),
        want
    );
    // Another cluster's sample refuses the whole post: nothing of it is filed.
    let mixed = MetricsPost {
        reports: vec![report(
            now - 5.0,
            vec![
                sample("RequestCount", INBOUND, "Count", [100.0, 1.0, 100.0, 100.0]),
                sample(
                    "RequestCount",
                    &[("ClusterName", "other"), ("ServiceName", "x")],
                    "Count",
                    [1.0, 1.0, 1.0, 1.0],
                ),
            ],
        )],
    };
    let refused = tokio::task::spawn_blocking(move || agent.post(&mixed))
        .await
        .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.json()["__type"], "AccessDeniedException");
    assert_eq!(
        tokio::task::spawn_blocking(move || expect(addr))
            .await
            .unwrap(),
        want
    );
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_agents_post_metrics_and_every_protocol_reads_them() {
    let s = TestServer::start().await;
    let addr = s.addr();
    let dir = s.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let agent = joined(addr, &dir);
        let now = berth_awsproto::now().floor();
        let body = MetricsPost {
            reports: vec![report(
                now,
                vec![sample(
                    "RequestCount",
                    INBOUND,
                    "Count",
                    [3.0, 1.0, 3.0, 3.0],
                )],
            )],
        };
        // The root user's key is no agent's.
        let as_root = Agent {
            auth: auth_naming("test", "us-west-2", "ecs"),
            ..Agent {
                addr,
                auth: String::new(),
                instance: agent.instance.clone(),
            }
        };
        let r = as_root.post(&body);
        assert_ne!(r.status, 200, "{}", r.text());
        let r = agent.post(&body);
        assert_eq!(r.status, 200, "{}", r.text());
        // RPCv2-CBOR: ListMetrics names the three dimension sets.
        let auth = auth_naming("test", "us-west-2", "monitoring");
        let mut cbor = Vec::new();
        ciborium::into_writer(
            &ciborium::Value::Map(vec![(
                ciborium::Value::Text("Namespace".into()),
                ciborium::Value::Text("AWS/ECS".into()),
            )]),
            &mut cbor,
        )
        .unwrap();
        let r = post(
            addr,
            &format!("/service/{CW}/operation/ListMetrics"),
            &[
                ("Content-Type", "application/cbor"),
                ("Accept", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
                ("Authorization", &auth),
            ],
            &cbor,
        );
        assert_eq!(r.status, 200);
        let v: ciborium::Value = ciborium::from_reader(&r.body[..]).unwrap();
        let text = format!("{v:?}");
        assert_eq!(text.matches("RequestCount").count(), 2, "{text}");
        // A CBOR error carries the query error code for botocore.
        let r = post(
            addr,
            &format!("/service/{CW}/operation/GetMetricStatistics"),
            &[
                ("Content-Type", "application/cbor"),
                ("Accept", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
                ("Authorization", &auth),
            ],
            &cbor,
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            r.header("x-amzn-query-error"),
            Some("MissingParameter;Sender")
        );
    })
    .await
    .unwrap();
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_protocol_answers_in_xml() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let form = "Action=PutMetricData&Version=2010-08-01&Namespace=App\
                    &MetricData.member.1.MetricName=Hits&MetricData.member.1.Value=2\
                    &MetricData.member.1.Unit=Count";
        let r = common::query_raw(addr, "monitoring", "123456789012", form);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("<PutMetricDataResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">"), "{}", r.text());
        let r = common::query_raw(addr, "monitoring", "123456789012", "Action=ListMetrics&Version=2010-08-01");
        let text = r.text();
        assert!(text.contains("<Metrics><member><Dimensions></Dimensions><MetricName>Hits</MetricName><Namespace>App</Namespace></member></Metrics>"), "{text}");
        let r = common::query_raw(addr, "monitoring", "123456789012", "Action=PutMetricData&Version=2010-08-01&Namespace=AWS%2FECS&MetricData.member.1.MetricName=x&MetricData.member.1.Value=1");
        assert_eq!(r.status, 400);
        assert!(r.text().contains("<Code>InvalidParameterValue</Code>"), "{}", r.text());
    })
    .await
    .unwrap();
    s.server.shutdown().await;
}
