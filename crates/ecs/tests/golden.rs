//! Golden answers of the ECS API (and the Cloud Map records it keeps): a fixed sequence
//! of operations (the three examples' calls, an agent's reports, a rolling deployment,
//! standalone tasks, tags, deletions and a table of bad inputs), run on one thread with
//! a fixed clock and seeded ids, so every answer is the same bytes every run. The
//! transcript is compared with `tests/golden/api.txt`: any change in what the API
//! answers shows as a diff. `BLESS=1 cargo test -p berth-ecs --test golden` rewrites
//! the file (review the diff before committing it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_awsproto::fixed::Fixed;
use berth_awsproto::{Api, Context};
use berth_cloudmap::CloudMap;
use berth_ecs::Ecs;
use berth_store::{Read, Store};
use serde_json::{json, Value};

mod common;

use common::Transcript;

struct Golden {
    ecs: Ecs,
    cloudmap: CloudMap,
    pca: berth_acmpca::AcmPca,
    ctx: Context,
    clock: Fixed,
    out: Transcript,
    /// The CAs' certificates (their base64 bodies) and what the transcript calls them:
    /// their keys are random, so views show the name rather than the PEM.
    ca_certificates: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Golden {
    fn new() -> Golden {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        Golden {
            ecs: Ecs::new(store.clone()),
            pca: berth_acmpca::AcmPca::new(store.clone()),
            cloudmap: CloudMap::new(store),
            ctx: common::ctx(),
            clock: Fixed::start(1_767_225_600.0, 13),
            out: Transcript::default(),
            ca_certificates: Vec::new(),
            _dir: dir,
        }
    }

    fn section(&mut self, title: &str) {
        self.out.section(title);
    }

    fn record(
        &mut self,
        what: &str,
        input: &Value,
        result: Result<Value, berth_awsproto::ApiError>,
    ) -> Value {
        self.out.record(what, input, result)
    }

    /// An ECS call; its answer (or error) goes into the transcript.
    fn ecs(&mut self, op: &str, input: Value) -> Value {
        let r = self.ecs.call(&self.ctx, op, input.clone());
        self.record(&format!("ecs {op}"), &input, r)
    }

    /// A Cloud Map call.
    fn sd(&mut self, op: &str, input: Value) -> Value {
        let r = self.cloudmap.call(&self.ctx, op, input.clone());
        self.record(&format!("servicediscovery {op}"), &input, r)
    }

    /// An ACTIVE root CA, made as the AWS docs make one (not in the transcript): its ARN.
    fn active_ca(&mut self) -> String {
        self.root_ca("rules CA", "EC_prime256v1", json!([]))
    }

    /// An ACTIVE root CA with `common_name`, a key of `key_algorithm` (signing with
    /// SHA-256, SHA-384 for P-384) and `tags`, made as `active_ca` makes one.
    fn root_ca(&mut self, common_name: &str, key_algorithm: &str, tags: Value) -> String {
        use base64::Engine as _;
        use berth_awsproto::Api as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let signing = berth_acmpca::KeyAlgorithm::parse(key_algorithm)
            .and_then(berth_acmpca::default_signing)
            .expect("a key berth's CAs make")
            .as_str();
        let call = |op: &str, input: Value| self.pca.call(&self.ctx, op, input).unwrap();
        let mut create = json!({
            "CertificateAuthorityType": "ROOT",
            "CertificateAuthorityConfiguration": {"KeyAlgorithm": key_algorithm,
                "SigningAlgorithm": signing, "Subject": {"CommonName": common_name}}});
        if tags.as_array().is_some_and(|t| !t.is_empty()) {
            create["Tags"] = tags;
        }
        let arn = call("CreateCertificateAuthority", create)["CertificateAuthorityArn"]
            .as_str()
            .unwrap()
            .to_string();
        let csr = call(
            "GetCertificateAuthorityCsr",
            json!({"CertificateAuthorityArn": arn}),
        );
        let cert = call(
            "IssueCertificate",
            json!({"CertificateAuthorityArn": arn,
            "Csr": b64(csr["Csr"].as_str().unwrap()), "SigningAlgorithm": signing,
            "TemplateArn": "arn:aws:acm-pca:::template/RootCACertificate/V1",
            "Validity": {"Value": 10, "Type": "YEARS"}}),
        );
        let pem = call(
            "GetCertificate",
            json!({"CertificateAuthorityArn": arn,
            "CertificateArn": cert["CertificateArn"]}),
        );
        call(
            "ImportCertificateAuthorityCertificate",
            json!({"CertificateAuthorityArn": arn,
            "Certificate": b64(pem["Certificate"].as_str().unwrap())}),
        );
        let body = pem_bodies(pem["Certificate"].as_str().unwrap()).remove(0);
        self.ca_certificates
            .push((body, format!("<certificate of {common_name}>")));
        arn
    }

    /// `v` with every PEM certificate in its strings shown by name (see
    /// `ca_certificates`).
    fn name_certificates(&self, v: &mut Value) {
        match v {
            Value::String(s) if s.contains("-----BEGIN CERTIFICATE-----") => {
                let names: Vec<&str> = pem_bodies(s)
                    .iter()
                    .map(|b| {
                        (self.ca_certificates.iter())
                            .find(|(c, _)| c == b)
                            .map_or("<an unknown certificate>", |(_, n)| n.as_str())
                    })
                    .collect();
                *s = names.concat();
            }
            Value::Array(a) => a.iter_mut().for_each(|v| self.name_certificates(v)),
            Value::Object(o) => o.values_mut().for_each(|v| self.name_certificates(v)),
            _ => {}
        }
    }

    /// The controllers' pass, as the server runs it after every commit.
    fn reconcile(&mut self) {
        self.ecs.reconcile().expect("reconcile");
    }

    fn tick(&mut self, secs: f64) {
        self.clock.advance(secs);
    }

    /// An agent's view of its instance.
    fn view(&mut self, cluster: &str, instance_id: &str) -> Value {
        let r =
            berth_ecs::agent::instance_view(&self.ecs, &self.ctx, cluster, instance_id).map(|v| {
                let mut v = serde_json::to_value(v).expect("a view is JSON");
                self.name_certificates(&mut v);
                v
            });
        self.record(&format!("view {cluster}/{instance_id}"), &json!({}), r)
    }

    fn connect(&mut self, cluster: &str, instance_id: &str, connected: bool) {
        berth_ecs::agent::set_agent_connected(
            &self.ecs,
            &self.ctx,
            cluster,
            instance_id,
            connected,
        )
        .expect("agent connected");
    }
}

/// The base64 bodies of the PEM certificates in `pem`, in order.
fn pem_bodies(pem: &str) -> Vec<String> {
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|b| {
            let b = b
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap_or_default();
            b.split_whitespace().collect()
        })
        .collect()
}

/// Every stored cluster, service, task and container instance reads back as its typed
/// record and writes back as the same JSON.
fn round_trip_store(g: &Golden) {
    use berth_ecs::records::{Cluster, ContainerInstance, Service, Task};
    fn check<T: serde::de::DeserializeOwned + serde::Serialize>(key: &str, v: &Value) -> usize {
        let typed: T = serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("{key} does not read as its record: {e}\n{v}"));
        let again = serde_json::to_value(&typed).unwrap();
        assert_eq!(&again, v, "{key} changes when written back");
        1
    }
    let root = "ecs/123456789012/us-west-2/";
    let stored: Vec<(String, Value)> = g
        .ecs
        .store()
        .read(|r| r.scan(root, None, usize::MAX))
        .unwrap()
        .into_iter()
        .filter(|(k, _)| {
            let kind = k[root.len()..].split('/').next().unwrap();
            ["cluster", "service", "task", "instance"].contains(&kind)
        })
        .map(|(k, v)| {
            let v = serde_json::from_slice(&v).unwrap();
            (k, v)
        })
        .collect();
    let mut checked = 0;
    for (key, v) in &stored {
        let kind = key[root.len()..].split('/').next().unwrap();
        checked += match kind {
            "cluster" => check::<Cluster>(key, v),
            "service" => check::<Service>(key, v),
            "task" => check::<Task>(key, v),
            "instance" => check::<ContainerInstance>(key, v),
            _ => 0,
        };
    }
    assert!(checked > 5, "only {checked} records checked");
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Makes a network as `berth up` imports it (in the golden account and region).
fn import_network(g: &Golden, doc: Value) {
    let docs: Vec<berth_ec2::NetworkImport> = match doc {
        Value::Array(a) => a
            .into_iter()
            .map(|d| serde_json::from_value(d).unwrap())
            .collect(),
        d => vec![serde_json::from_value(d).unwrap()],
    };
    for doc in docs {
        let doc = doc.in_region(&g.ctx.region);
        g.ecs
            .store()
            .write(|w| berth_ec2::import_in(w, &g.ctx, &doc))
            .unwrap();
    }
}

/// Replaces every JSON string of `v` equal to `placeholder` by `arn` (object keys aside).
fn substitute(v: &mut Value, placeholder: &str, arn: &str) {
    match v {
        Value::String(s) if s == placeholder => *s = arn.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|v| substitute(v, placeholder, arn)),
        Value::Object(o) => o.values_mut().for_each(|v| substitute(v, placeholder, arn)),
        _ => {}
    }
}

/// Replays an example's `example.json` calls, as `berth up` does, after importing its
/// network and making its private CAs (tagged as `berth up` tags them; the CAs' calls
/// are not in the transcript), whose ARNs take their placeholders' places.
fn replay_example(g: &mut Golden, name: &str) {
    let dir = examples_dir().join(name);
    if let Ok(text) = std::fs::read_to_string(dir.join("network.json")) {
        import_network(g, serde_json::from_str(&text).unwrap());
    }
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("example.json")).unwrap()).unwrap();
    let mut cas = Vec::new();
    for ca in spec["privateCas"].as_array().into_iter().flatten() {
        let placeholder = ca["placeholder"].as_str().unwrap();
        let tags = json!([{"Key": "berth:example", "Value": format!("{name}/{placeholder}")},
            {"Key": "Name", "Value": ca["commonName"]}]);
        let key = ca["keyAlgorithm"].as_str().unwrap_or("EC_prime256v1");
        let arn = g.root_ca(ca["commonName"].as_str().unwrap(), key, tags);
        cas.push((placeholder.to_string(), arn));
    }
    for step in spec["steps"].as_array().unwrap() {
        let op = step["ecs"].as_str().unwrap();
        let mut input = match step["file"].as_str() {
            Some(f) => {
                serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
            }
            None => json!({}),
        };
        if let Some(set) = step["input"].as_object() {
            for (k, v) in set {
                input[k] = v.clone();
            }
        }
        if let Some(set) = step["set"].as_object() {
            for (k, v) in set {
                input[k] = v.clone();
            }
        }
        for (placeholder, arn) in &cas {
            substitute(&mut input, placeholder, arn);
        }
        g.ecs(op, input);
        g.tick(0.5);
        g.reconcile();
    }
}

fn task_arns(list: &Value) -> Vec<String> {
    list["taskArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn last(arn: &str) -> String {
    arn.rsplit('/').next().unwrap().to_string()
}

/// Reports a task's address, then RUNNING, as an agent does.
fn run_to_running(g: &mut Golden, cluster: &str, task: &Value, ip: &str) {
    let arn = task["taskArn"].as_str().unwrap();
    let eni = task["attachments"][0]["id"].as_str().map(str::to_string);
    let mut pending = json!({"cluster": cluster, "task": arn, "status": "PENDING"});
    if let Some(eni) = eni {
        pending["attachments"] = json!([{"attachmentArn": eni, "status": "ATTACHED",
            "details": [{"name": "privateIPv4Address", "value": ip}]}]);
    }
    g.ecs("SubmitTaskStateChange", pending);
    g.tick(1.0);
    let containers: Vec<Value> = task["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!({"containerName": c["name"], "status": "RUNNING"}))
        .collect();
    g.ecs(
        "SubmitTaskStateChange",
        json!({"cluster": cluster, "task": arn, "status": "RUNNING", "containers": containers}),
    );
    g.tick(0.5);
    g.reconcile();
}

fn nginx_walkthrough(g: &mut Golden) {
    g.section("nginx (seed 002): the tutorial, an agent, a rolling deployment");
    replay_example(g, "nginx");
    g.ecs("DescribeClusters", json!({"clusters": ["tutorial"], "include": ["ATTACHMENTS", "SETTINGS", "STATISTICS", "TAGS", "CONFIGURATIONS"]}));
    g.ecs("ListClusters", json!({}));
    g.ecs(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "service-connect-nginx", "include": ["TAGS"]}),
    );
    g.ecs("DescribeServices", json!({"cluster": "tutorial", "services": ["service-connect-nginx-service"], "include": ["TAGS"]}));
    g.ecs(
        "ListServicesByNamespace",
        json!({"namespace": "service-connect"}),
    );
    let list = g.ecs("ListTasks", json!({"cluster": "tutorial"}));
    g.ecs(
        "DescribeTasks",
        json!({"cluster": "tutorial", "tasks": task_arns(&list), "include": ["TAGS"]}),
    );

    // An agent joins; the scheduler places the task; the agent reports it running.
    let inst = g.ecs(
        "RegisterContainerInstance",
        json!({"cluster": "tutorial", "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192}],
            "attributes": [{"name": "ecs.os-type", "value": "linux"}]}),
    );
    let inst_arn = inst["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string();
    let inst_id = last(&inst_arn);
    g.connect("tutorial", &inst_id, true);
    g.tick(0.5);
    g.reconcile();
    let view = g.view("tutorial", &inst_id);
    let first = view["tasks"][0].clone();
    let list = g.ecs("ListTasks", json!({"cluster": "tutorial"}));
    let d = g.ecs(
        "DescribeTasks",
        json!({"cluster": "tutorial", "tasks": task_arns(&list)}),
    );
    run_to_running(g, "tutorial", &d["tasks"][0], "10.213.0.7");
    let container = d["tasks"][0]["containers"][0]["name"].clone();
    g.ecs("SubmitContainerStateChange", json!({"cluster": "tutorial", "task": first["taskArn"], "containerName": container, "status": "RUNNING", "networkBindings": []}));
    g.tick(1.0);
    g.reconcile();
    g.view("tutorial", &inst_id);
    g.ecs(
        "DescribeServices",
        json!({"cluster": "tutorial", "services": ["service-connect-nginx-service"]}),
    );
    g.ecs(
        "DescribeContainerInstances",
        json!({"cluster": "tutorial", "containerInstances": [inst_arn]}),
    );
    g.ecs("ListContainerInstances", json!({"cluster": "tutorial"}));
    g.sd("ListNamespaces", json!({}));
    g.sd("ListServices", json!({}));
    g.sd(
        "DiscoverInstances",
        json!({"NamespaceName": "service-connect", "ServiceName": "nginx"}),
    );

    // A second revision and a rolling deployment to it.
    let td = g.ecs(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "service-connect-nginx"}),
    );
    let mut again = td["taskDefinition"].clone();
    for k in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        again.as_object_mut().unwrap().remove(k);
    }
    again["containerDefinitions"][0]["environment"] = json!([{"name": "REVISION", "value": "2"}]);
    g.ecs("RegisterTaskDefinition", again);
    g.ecs(
        "UpdateService",
        json!({"cluster": "tutorial", "service": "service-connect-nginx-service",
        "taskDefinition": "service-connect-nginx:2", "desiredCount": 2}),
    );
    g.tick(0.5);
    g.reconcile();
    g.ecs(
        "DescribeServices",
        json!({"cluster": "tutorial", "services": ["service-connect-nginx-service"]}),
    );
    let list = g.ecs(
        "ListTasks",
        json!({"cluster": "tutorial", "desiredStatus": "RUNNING"}),
    );
    let d = g.ecs(
        "DescribeTasks",
        json!({"cluster": "tutorial", "tasks": task_arns(&list)}),
    );
    let mut ip = 20;
    for t in d["tasks"].as_array().unwrap().clone() {
        if t["lastStatus"] != "RUNNING" {
            ip += 1;
            run_to_running(g, "tutorial", &t, &format!("10.213.0.{ip}"));
        }
    }
    g.tick(1.0);
    g.reconcile();
    g.ecs(
        "DescribeServices",
        json!({"cluster": "tutorial", "services": ["service-connect-nginx-service"]}),
    );
    let view = g.view("tutorial", &inst_id);
    // The old task stops: the agent reports it.
    for t in view["tasks"].as_array().unwrap().clone() {
        if t["desiredStatus"] == "STOPPED" {
            g.ecs(
                "SubmitTaskStateChange",
                json!({"cluster": "tutorial", "task": t["taskArn"], "status": "STOPPED",
                "reason": "stopped by the agent"}),
            );
        }
    }
    g.tick(1.0);
    g.reconcile();
    g.ecs(
        "DescribeServices",
        json!({"cluster": "tutorial", "services": ["service-connect-nginx-service"]}),
    );
    let list = g.ecs(
        "ListTasks",
        json!({"cluster": "tutorial", "desiredStatus": "STOPPED"}),
    );
    g.ecs(
        "DescribeTasks",
        json!({"cluster": "tutorial", "tasks": task_arns(&list)}),
    );
    g.sd(
        "DiscoverInstances",
        json!({"NamespaceName": "service-connect", "ServiceName": "nginx"}),
    );

    // A standalone task, stopped by the user.
    let run = g.ecs("RunTask", json!({"cluster": "tutorial", "taskDefinition": "service-connect-nginx:1", "count": 1,
        "launchType": "FARGATE", "startedBy": "golden", "tags": [{"key": "k", "value": "v"}],
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "ENABLED"}}}));
    g.tick(0.5);
    g.reconcile();
    let arn = run["tasks"][0]["taskArn"].clone();
    g.ecs(
        "StopTask",
        json!({"cluster": "tutorial", "task": arn, "reason": "golden stop"}),
    );
    g.ecs(
        "DescribeTasks",
        json!({"cluster": "tutorial", "tasks": [arn], "include": ["TAGS"]}),
    );
    g.ecs(
        "ListTasks",
        json!({"cluster": "tutorial", "startedBy": "golden", "desiredStatus": "STOPPED"}),
    );

    // The agent goes away: its tasks are lost and replaced once it is back.
    g.connect("tutorial", &inst_id, false);
    g.tick(11.0);
    g.reconcile();
    g.ecs(
        "DescribeServices",
        json!({"cluster": "tutorial", "services": ["service-connect-nginx-service"]}),
    );
    g.ecs(
        "DescribeContainerInstances",
        json!({"cluster": "tutorial", "containerInstances": [inst_arn.clone()]}),
    );
    g.connect("tutorial", &inst_id, true);
    g.tick(0.5);
    g.reconcile();
    g.view("tutorial", &inst_id);
}

fn retail_and_cats_dogs(g: &mut Golden) {
    g.section("retail-store (seed 000)");
    replay_example(g, "retail-store");
    g.ecs("DescribeServices", json!({"cluster": "retail-store-ecs-cluster", "services": ["ui", "catalog", "orders", "checkout", "missing"]}));
    g.ecs(
        "ListServices",
        json!({"cluster": "retail-store-ecs-cluster", "maxResults": 2}),
    );
    g.ecs("ListTaskDefinitionFamilies", json!({}));
    g.ecs("ListTaskDefinitions", json!({"sort": "DESC"}));
    for family in [
        "retail-store-ecs-ui",
        "retail-store-ecs-catalog",
        "retail-store-ecs-orders",
        "retail-store-ecs-checkout",
    ] {
        g.ecs("DescribeTaskDefinition", json!({"taskDefinition": family}));
    }
    g.section("cats-dogs (seed 004)");
    replay_example(g, "cats-dogs");
    g.ecs(
        "DescribeServices",
        json!({"cluster": "cats-dogs-cluster", "services": ["cats", "dogs", "web"]}),
    );
    for family in ["catsdef", "dogsdef", "webdef"] {
        g.ecs("DescribeTaskDefinition", json!({"taskDefinition": family}));
    }
    let inst = g.ecs(
        "RegisterContainerInstance",
        json!({"cluster": "cats-dogs-cluster"}),
    );
    let inst_id = last(
        inst["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap(),
    );
    g.connect("cats-dogs-cluster", &inst_id, true);
    g.tick(0.5);
    g.reconcile();
    let view = g.view("cats-dogs-cluster", &inst_id);
    let mut ip = 40;
    let list = g.ecs("ListTasks", json!({"cluster": "cats-dogs-cluster"}));
    let d = g.ecs(
        "DescribeTasks",
        json!({"cluster": "cats-dogs-cluster", "tasks": task_arns(&list)}),
    );
    for t in d["tasks"].as_array().unwrap().clone() {
        ip += 1;
        run_to_running(g, "cats-dogs-cluster", &t, &format!("10.213.0.{ip}"));
    }
    let _ = view;
    g.view("cats-dogs-cluster", &inst_id);
    g.ecs(
        "DescribeServices",
        json!({"cluster": "cats-dogs-cluster", "services": ["cats", "dogs", "web"]}),
    );
}

fn tags_and_deletes(g: &mut Golden) {
    g.section("tags, deletions");
    let arn = "arn:aws:ecs:us-west-2:123456789012:cluster/tutorial";
    g.ecs("TagResource", json!({"resourceArn": arn, "tags": [{"key": "team", "value": "a"}, {"key": "env", "value": "dev"}]}));
    g.ecs(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["env"]}),
    );
    g.ecs("ListTagsForResource", json!({"resourceArn": arn}));
    g.ecs("UpdateCluster", json!({"cluster": "tutorial", "settings": [{"name": "containerInsights", "value": "enabled"}]}));
    g.ecs("UpdateClusterSettings", json!({"cluster": "tutorial", "settings": [{"name": "containerInsights", "value": "disabled"}]}));
    g.ecs(
        "DeleteService",
        json!({"cluster": "tutorial", "service": "service-connect-nginx-service", "force": true}),
    );
    g.tick(0.5);
    g.reconcile();
    g.ecs(
        "DescribeServices",
        json!({"cluster": "tutorial", "services": ["service-connect-nginx-service"]}),
    );
    g.ecs(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "service-connect-nginx:1"}),
    );
    g.ecs(
        "ListTaskDefinitions",
        json!({"familyPrefix": "service-connect-nginx", "status": "INACTIVE"}),
    );
    let list = g.ecs("ListContainerInstances", json!({"cluster": "tutorial"}));
    let inst = list["containerInstanceArns"][0].clone();
    g.ecs(
        "DeregisterContainerInstance",
        json!({"cluster": "tutorial", "containerInstance": inst, "force": true}),
    );
    g.tick(0.5);
    g.reconcile();
    g.ecs("DeleteCluster", json!({"cluster": "tutorial"}));
    g.ecs(
        "DescribeClusters",
        json!({"clusters": ["tutorial", "nope"]}),
    );
}

/// Bad inputs, one per line: (operation, input). Each answer is an error naming the field.
fn bad_inputs() -> Vec<(&'static str, Value)> {
    vec![
        ("CreateCluster", json!({"clusterName": "bad name"})),
        ("CreateCluster", json!({"clusterName": 7})),
        ("DescribeClusters", json!({"clusters": "tutorial"})),
        ("UpdateCluster", json!({"cluster": "nope", "settings": []})),
        (
            "DeleteCluster",
            json!({"cluster": "retail-store-ecs-cluster"}),
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "f", "containerDefinitions": []}),
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "x", "memory": 4}]}),
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "f", "networkMode": "wide", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64}]}),
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "f", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "4096", "networkMode": "awsvpc", "containerDefinitions": [{"name": "a", "image": "x"}]}),
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "f", "memory": "512", "containerDefinitions": [{"name": "a", "image": "x", "portMappings": [{"containerPort": 80, "appProtocol": "http"}]}]}),
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "f", "memory": "512", "containerDefinitions": [{"name": "a", "image": "x", "links": ["b"]}, {"name": "b", "image": "y"}]}),
        ),
        (
            "DescribeTaskDefinition",
            json!({"taskDefinition": "nope:1"}),
        ),
        (
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "service-connect-nginx"}),
        ),
        (
            "CreateService",
            json!({"cluster": "retail-store-ecs-cluster", "serviceName": "ui", "taskDefinition": "retail-store-ecs-ui", "desiredCount": 1}),
        ),
        (
            "CreateService",
            json!({"cluster": "retail-store-ecs-cluster", "serviceName": "x", "taskDefinition": "nope", "desiredCount": 1}),
        ),
        (
            "CreateService",
            json!({"cluster": "retail-store-ecs-cluster", "serviceName": "x", "taskDefinition": "retail-store-ecs-ui", "desiredCount": -1}),
        ),
        (
            "CreateService",
            json!({"cluster": "retail-store-ecs-cluster", "serviceName": "x", "taskDefinition": "retail-store-ecs-ui", "desiredCount": 1,
            "serviceConnectConfiguration": {"enabled": true, "services": [{"portName": "nope"}]}}),
        ),
        (
            "CreateService",
            json!({"cluster": "retail-store-ecs-cluster", "serviceName": "x", "taskDefinition": "retail-store-ecs-catalog", "desiredCount": 1,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"]}},
            "serviceConnectConfiguration": {"enabled": true, "services": [{"portName": "application", "discoveryName": "catalog"}]}}),
        ),
        (
            "CreateService",
            json!({"cluster": "retail-store-ecs-cluster", "serviceName": "x", "taskDefinition": "retail-store-ecs-catalog", "desiredCount": 1,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"]}},
            "serviceConnectConfiguration": {"enabled": true, "namespace": "nowhere", "services": [{"portName": "application", "discoveryName": "x"}]}}),
        ),
        (
            "CreateService",
            json!({"cluster": "retail-store-ecs-cluster", "serviceName": "x", "taskDefinition": "retail-store-ecs-catalog", "desiredCount": 1,
            "deploymentConfiguration": {"maximumPercent": 50, "minimumHealthyPercent": 100}}),
        ),
        (
            "UpdateService",
            json!({"cluster": "retail-store-ecs-cluster", "service": "nope", "desiredCount": 1}),
        ),
        (
            "UpdateService",
            json!({"cluster": "retail-store-ecs-cluster", "service": "ui", "taskDefinition": "nope:9"}),
        ),
        (
            "DescribeServices",
            json!({"cluster": "nope", "services": ["ui"]}),
        ),
        (
            "DescribeServices",
            json!({"cluster": "retail-store-ecs-cluster", "services": []}),
        ),
        (
            "ListServices",
            json!({"cluster": "retail-store-ecs-cluster", "maxResults": 0}),
        ),
        (
            "ListServices",
            json!({"cluster": "retail-store-ecs-cluster", "nextToken": "garbage!"}),
        ),
        (
            "DeleteService",
            json!({"cluster": "retail-store-ecs-cluster", "service": "ui"}),
        ),
        (
            "RunTask",
            json!({"cluster": "retail-store-ecs-cluster", "taskDefinition": "nope"}),
        ),
        (
            "RunTask",
            json!({"cluster": "retail-store-ecs-cluster", "taskDefinition": "retail-store-ecs-ui", "count": 11}),
        ),
        (
            "RunTask",
            json!({"cluster": "retail-store-ecs-cluster", "taskDefinition": "retail-store-ecs-ui", "launchType": "FARGATE"}),
        ),
        (
            "StopTask",
            json!({"cluster": "retail-store-ecs-cluster", "task": "0123456789abcdef0123456789abcdef"}),
        ),
        (
            "DescribeTasks",
            json!({"cluster": "retail-store-ecs-cluster", "tasks": ["0123456789abcdef0123456789abcdef"]}),
        ),
        (
            "ListTasks",
            json!({"cluster": "retail-store-ecs-cluster", "desiredStatus": "PENDING"}),
        ),
        (
            "SubmitTaskStateChange",
            json!({"cluster": "retail-store-ecs-cluster", "task": "0123456789abcdef0123456789abcdef", "status": "RUNNING"}),
        ),
        ("RegisterContainerInstance", json!({"cluster": "nope"})),
        (
            "DescribeContainerInstances",
            json!({"cluster": "retail-store-ecs-cluster", "containerInstances": ["nope"]}),
        ),
        (
            "TagResource",
            json!({"resourceArn": "arn:aws:ecs:us-west-2:123456789012:cluster/nope", "tags": [{"key": "a", "value": "b"}]}),
        ),
        (
            "TagResource",
            json!({"resourceArn": "arn:aws:ecs:us-west-2:123456789012:cluster/retail-store-ecs-cluster", "tags": [{"key": "aws:x", "value": "b"}]}),
        ),
        ("ListTagsForResource", json!({"resourceArn": "not-an-arn"})),
        ("NoSuchOperation", json!({})),
    ]
}

fn bad_input_table(g: &mut Golden) {
    g.section("bad inputs");
    for (op, input) in bad_inputs() {
        g.ecs(op, input);
    }
}

/// `base` with the top-level members of `patch` set over it (`null` removes one).
fn patched(base: &Value, patch: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            out.as_object_mut().unwrap().remove(k);
        } else {
            out[k] = v.clone();
        }
    }
    out
}

/// Task definitions for the service rules: one per network mode and Service Connect
/// obstacle, each with the named ports `http` (8080, http), `tcp` (9000) and `grpc`.
fn rules_task_definitions(g: &mut Golden) {
    let ports = json!([
        {"name": "http", "containerPort": 8080, "appProtocol": "http"},
        {"name": "tcp", "containerPort": 9000},
        {"name": "grpc", "containerPort": 9090, "appProtocol": "grpc"}
    ]);
    let app = json!({"name": "app", "image": "x", "portMappings": ports});
    g.ecs(
        "RegisterTaskDefinition",
        json!({"family": "rules-bridge", "memory": "512", "containerDefinitions": [app]}),
    );
    g.ecs("RegisterTaskDefinition", json!({"family": "rules-bridge", "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "x", "portMappings": [{"name": "other", "containerPort": 7000}]}]}));
    g.ecs(
        "RegisterTaskDefinition",
        json!({"family": "rules-bridge", "memory": "1024", "containerDefinitions": [app]}),
    );
    g.ecs(
        "RegisterTaskDefinition",
        json!({"family": "rules-vpc", "networkMode": "awsvpc", "memory": "512", "cpu": "256",
        "requiresCompatibilities": ["FARGATE"], "containerDefinitions": [app]}),
    );
    g.ecs("RegisterTaskDefinition", json!({"family": "rules-nomem",
        "containerDefinitions": [{"name": "app", "image": "x", "memory": 64, "portMappings": ports}]}));
    g.ecs(
        "RegisterTaskDefinition",
        json!({"family": "rules-host", "networkMode": "host", "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "x"}]}),
    );
    g.ecs("RegisterTaskDefinition", json!({"family": "rules-links", "memory": "512",
        "containerDefinitions": [{"name": "a", "image": "x", "links": ["b"]}, {"name": "b", "image": "y"}]}));
    g.ecs(
        "RegisterTaskDefinition",
        json!({"family": "rules-old", "memory": "512", "containerDefinitions": [app]}),
    );
    g.ecs(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "rules-old:1"}),
    );
}

/// CreateService inputs that each break one rule (or several, to show which answers
/// first), over a valid bridge-mode service of cluster `rules`.
fn bad_creates(base: &Value) -> Vec<Value> {
    let vpc = json!({"awsvpcConfiguration": {"subnets": ["subnet-s"]}});
    let sc = |services: Value| json!({"enabled": true, "services": services});
    let http = |extra: Value| {
        let mut e = json!({"portName": "http"});
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    };
    let p = |patch: Value| patched(base, patch);
    vec![
        p(json!({"serviceName": null})),
        p(json!({"serviceName": "bad name"})),
        p(json!({"launchType": "SPOT"})),
        p(json!({"schedulingStrategy": "BATCH"})),
        p(json!({"propagateTags": "ALL"})),
        p(json!({"deploymentController": {"type": "BLUE"}})),
        p(json!({"launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "cp"}]})),
        p(json!({"desiredCount": null})),
        p(json!({"desiredCount": -1, "schedulingStrategy": "DAEMON"})),
        p(json!({"taskDefinition": null})),
        p(json!({"tags": [{"key": "aws:x", "value": "v"}]})),
        p(json!({"tags": [{"value": "v"}]})),
        p(json!({"deploymentConfiguration": {"minimumHealthyPercent": 101}})),
        p(json!({"deploymentConfiguration": {"minimumHealthyPercent": -1, "maximumPercent": 50}})),
        p(json!({"healthCheckGracePeriodSeconds": -1})),
        p(json!({"launchType": "SPOT", "serviceName": "bad name"})),
        p(json!({"propagateTags": "ALL", "desiredCount": -1})),
        p(json!({"desiredCount": -1, "deploymentConfiguration": {"maximumPercent": 50}})),
        p(json!({"cluster": "nope"})),
        p(json!({"taskDefinition": "rules-old:1"})),
        p(json!({"taskDefinition": "rules-vpc"})),
        p(json!({"networkConfiguration": vpc})),
        p(json!({"taskDefinition": "rules-vpc", "networkConfiguration": {}})),
        p(
            json!({"taskDefinition": "rules-vpc", "networkConfiguration": {"awsvpcConfiguration": {}}}),
        ),
        p(
            json!({"taskDefinition": "rules-vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": vec!["subnet-s"; 17]}}}),
        ),
        p(
            json!({"taskDefinition": "rules-vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"], "securityGroups": vec!["sg-g"; 6]}}}),
        ),
        p(
            json!({"taskDefinition": "rules-vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"], "assignPublicIp": "YES"}}}),
        ),
        p(json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}})),
        p(json!({"launchType": "FARGATE"})),
        p(json!({"serviceConnectConfiguration": {}})),
        p(
            json!({"serviceConnectConfiguration": {"enabled": false, "services": [{"portName": "http"}]}}),
        ),
        p(json!({"cluster": "rules-plain", "serviceConnectConfiguration": sc(json!([]))})),
        p(json!({"serviceConnectConfiguration": {"enabled": true, "namespace": "nowhere"}})),
        p(json!({"taskDefinition": "rules-host", "serviceConnectConfiguration": sc(json!([]))})),
        p(json!({"taskDefinition": "rules-nomem", "serviceConnectConfiguration": sc(json!([]))})),
        p(json!({"taskDefinition": "rules-links", "serviceConnectConfiguration": sc(json!([]))})),
        p(json!({"serviceConnectConfiguration": sc(json!([{}]))})),
        p(json!({"serviceConnectConfiguration": sc(json!([{"portName": "nope"}]))})),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"discoveryName": "Bad"}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"discoveryName": "-x"}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"discoveryName": "a.b"}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"discoveryName": "x".repeat(65)}))]))}),
        ),
        p(json!({"serviceConnectConfiguration": sc(json!([http(json!({})), http(json!({}))]))})),
        p(
            json!({"serviceConnectConfiguration": sc(json!([{"portName": "tcp", "discoveryName": "http"}, http(json!({}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"clientAliases": [{"port": 1}, {"port": 2}]}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"clientAliases": [{"dnsName": "a"}]}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"clientAliases": [{"port": 0}]}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"clientAliases": [{"port": 65536}]}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"clientAliases": [{"port": 80, "dnsName": "UPPER.x"}]}))]))}),
        ),
        p(json!({"serviceConnectConfiguration": sc(json!([
            http(json!({"clientAliases": [{"port": 80, "dnsName": "same"}]})),
            {"portName": "tcp", "clientAliases": [{"port": 80, "dnsName": "same"}]}]))})),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"ingressPortOverride": 70000}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"ingressPortOverride": 8080}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"timeout": {"idleTimeoutSeconds": -1}}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([{"portName": "tcp", "timeout": {"perRequestTimeoutSeconds": 5}}]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"timeout": {"perRequestTimeoutSeconds": -5}}))]))}),
        ),
        p(json!({"serviceConnectConfiguration": sc(json!([http(json!({"tls": {}}))]))})),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"tls": {"issuerCertificateAuthority": {}}}))]))}),
        ),
        p(json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {}}})),
        p(
            json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {"logDriver": "nope"}}}),
        ),
        p(
            json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {"logDriver": "awslogs"}, "accessLogConfiguration": {}}}),
        ),
        p(
            json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {"logDriver": "awslogs"}, "accessLogConfiguration": {"format": "XML"}}}),
        ),
        p(
            json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {"logDriver": "awslogs"},
            "accessLogConfiguration": {"format": "JSON", "includeQueryParameters": "MAYBE"}}}),
        ),
        p(
            json!({"serviceConnectConfiguration": {"enabled": true, "accessLogConfiguration": {"format": "JSON"}}}),
        ),
        p(json!({"serviceConnectConfiguration": sc(json!([
            http(json!({"timeout": {"idleTimeoutSeconds": -1}})), {"portName": "nope"}]))})),
        p(
            json!({"serviceConnectConfiguration": {"enabled": true, "services": [http(json!({"tls": {}}))],
            "logConfiguration": {"logDriver": "nope"}}}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"discoveryName": "Bad", "clientAliases": [{"port": 0}, {"port": 0}]}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"ingressPortOverride": 0, "timeout": {"idleTimeoutSeconds": -1}}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([{"portName": "tcp", "timeout": {"perRequestTimeoutSeconds": -1, "idleTimeoutSeconds": -1}}]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"discoveryName": "taken"}))]))}),
        ),
        p(
            json!({"serviceConnectConfiguration": sc(json!([http(json!({"discoveryName": "fresh", "clientAliases": [{"port": 80, "dnsName": "taken-alias"}]}))]))}),
        ),
        p(json!({"availabilityZoneRebalancing": "SOMETIMES"})),
        p(json!({"availabilityZoneRebalancing": "SOMETIMES", "taskDefinition": "nope"})),
        p(
            json!({"availabilityZoneRebalancing": "SOMETIMES", "serviceConnectConfiguration": sc(json!([{"portName": "nope"}]))}),
        ),
    ]
}

/// Every rule of CreateService, UpdateService, DescribeServices, ListServices,
/// ListServicesByNamespace and DeleteService, and what valid requests make of their
/// defaults: Service Connect resolution, name claims and their release.
fn service_rules(g: &mut Golden) {
    g.section("service rules");
    g.ecs(
        "CreateCluster",
        json!({"clusterName": "rules", "serviceConnectDefaults": {"namespace": "rules.local"}}),
    );
    g.ecs("CreateCluster", json!({"clusterName": "rules-plain"}));
    g.tick(0.5);
    g.reconcile();
    rules_task_definitions(g);
    let base = json!({"cluster": "rules", "serviceName": "x", "taskDefinition": "rules-bridge:1", "desiredCount": 1});
    // Names another service holds.
    g.ecs("CreateService", patched(&base, json!({"serviceName": "holder", "desiredCount": 0,
        "serviceConnectConfiguration": {"enabled": true, "services": [
            {"portName": "http", "discoveryName": "taken", "clientAliases": [{"port": 80, "dnsName": "taken-alias"}]}]}})));
    for input in bad_creates(&base) {
        g.ecs("CreateService", input);
    }

    // Valid services, each with defaults to fill in.
    let ca = g.active_ca();
    g.ecs("CreateService", patched(&base, json!({"serviceName": "full", "clientToken": "token-1",
        "serviceConnectConfiguration": {"enabled": true, "namespace": "rules.local", "services": [
            {"portName": "http", "discoveryName": "web", "ingressPortOverride": 15000,
             "clientAliases": [{"port": 80, "dnsName": "web.rules"}],
             "timeout": {"idleTimeoutSeconds": 30, "perRequestTimeoutSeconds": 10},
             "tls": {"issuerCertificateAuthority": {"awsPcaAuthorityArn": ca}, "kmsKey": "k", "roleArn": "r"}},
            {"portName": "tcp", "clientAliases": [{"port": 9000}], "timeout": {"idleTimeoutSeconds": 0}},
            {"portName": "grpc", "timeout": {}}],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
        "accessLogConfiguration": {"format": "JSON"}}})));
    g.ecs(
        "CreateService",
        patched(
            &base,
            json!({"serviceName": "full", "clientToken": "token-1"}),
        ),
    );
    g.ecs(
        "CreateService",
        patched(
            &base,
            json!({"serviceName": "other", "clientToken": "token-1"}),
        ),
    );
    g.ecs("CreateService", patched(&base, json!({"serviceName": "sc-off", "serviceConnectConfiguration": {"enabled": false, "services": []}})));
    g.ecs("CreateService", patched(&base, json!({"serviceName": "daemon", "schedulingStrategy": "DAEMON", "desiredCount": null,
        "serviceConnectConfiguration": {"enabled": true, "services": [], "logConfiguration": {"logDriver": "json-file"},
            "accessLogConfiguration": {"format": "TEXT", "includeQueryParameters": "ENABLED"}}})));
    g.ecs("CreateService", patched(&base, json!({"serviceName": "capacity", "capacityProviderStrategy": [{"capacityProvider": "cp", "weight": 1}]})));
    g.ecs("CreateService", patched(&base, json!({"serviceName": "fargate", "taskDefinition": "rules-vpc", "launchType": "FARGATE",
        "platformVersion": "1.3.0", "availabilityZoneRebalancing": "ENABLED", "healthCheckGracePeriodSeconds": 30,
        "tags": [{"key": "team", "value": "a"}], "propagateTags": "SERVICE", "deploymentController": {"type": "ECS"},
        "placementConstraints": [{"type": "distinctInstance"}], "enableExecuteCommand": true, "enableECSManagedTags": true,
        "role": "arn:aws:iam::123456789012:role/r",
        "deploymentConfiguration": {"maximumPercent": 150, "minimumHealthyPercent": 50, "alarms": {"enable": false, "rollback": false, "alarmNames": []},
            "deploymentCircuitBreaker": {"enable": true, "rollback": true}},
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s1", "subnet-s2"], "securityGroups": ["sg-g"]}},
        "serviceConnectConfiguration": {"enabled": true, "services": [{"portName": "grpc", "discoveryName": "vpc-grpc", "clientAliases": [{"port": 50051}]}]}})));

    // UpdateService.
    let up = |patch: Value| patched(&json!({"cluster": "rules", "service": "full"}), patch);
    for input in [
        up(json!({"service": null})),
        up(json!({"desiredCount": -1})),
        up(json!({"propagateTags": "X"})),
        up(json!({"propagateTags": "X", "desiredCount": -1})),
        up(json!({"service": "nope"})),
        up(json!({"cluster": "nope"})),
        up(json!({"taskDefinition": "rules-old:1"})),
        up(json!({"taskDefinition": "rules-vpc"})),
        up(json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}})),
        up(
            json!({"service": "fargate", "networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}}),
        ),
        up(json!({"deploymentConfiguration": {"minimumHealthyPercent": 101}})),
        up(
            json!({"deploymentConfiguration": {"minimumHealthyPercent": 101},
            "serviceConnectConfiguration": {"enabled": true, "services": [{"portName": "nope"}]}}),
        ),
        up(json!({"taskDefinition": "rules-bridge:2"})),
        up(
            json!({"serviceConnectConfiguration": {"enabled": true, "services": [{"portName": "http", "discoveryName": "taken"}]}}),
        ),
        up(
            json!({"service": "holder", "serviceConnectConfiguration": {"enabled": true, "services": [
            {"portName": "http", "discoveryName": "web"}]}}),
        ),
    ] {
        g.ecs("UpdateService", input);
    }
    g.ecs("UpdateService", up(json!({"desiredCount": 3})));
    g.tick(1.0);
    // The stored configuration, checked again against a new task definition.
    g.ecs(
        "UpdateService",
        up(json!({"taskDefinition": "rules-bridge:3"})),
    );
    g.tick(1.0);
    g.ecs("UpdateService", up(json!({"forceNewDeployment": true, "placementStrategy": [{"type": "spread", "field": "instanceId"}],
        "healthCheckGracePeriodSeconds": 5, "enableExecuteCommand": true, "enableECSManagedTags": true,
        "propagateTags": "TASK_DEFINITION", "loadBalancers": [], "serviceRegistries": [],
        "placementConstraints": [], "capacityProviderStrategy": [],
        "deploymentConfiguration": {"maximumPercent": 300}})));
    g.tick(1.0);
    g.ecs("UpdateService", up(json!({"serviceConnectConfiguration": {"enabled": true, "services": [
        {"portName": "http", "discoveryName": "web2", "clientAliases": [{"port": 80, "dnsName": "web.rules"}]}]}})));
    g.ecs(
        "ListServicesByNamespace",
        json!({"namespace": "rules.local"}),
    );
    // "web" is free again.
    g.ecs("UpdateService", up(json!({"service": "holder", "serviceConnectConfiguration": {"enabled": true, "services": [
        {"portName": "http", "discoveryName": "web"}]}})));
    g.tick(1.0);
    g.ecs("UpdateService", up(json!({"service": "fargate", "platformVersion": "LATEST",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s2"], "assignPublicIp": "ENABLED"}}})));
    g.ecs(
        "UpdateService",
        up(json!({"service": "fargate", "taskDefinition": "rules-vpc:1"})),
    );
    g.ecs(
        "UpdateService",
        up(json!({"serviceConnectConfiguration": {"enabled": false}})),
    );
    g.ecs(
        "ListServicesByNamespace",
        json!({"namespace": "rules.local", "maxResults": 1}),
    );
    g.ecs("ListServicesByNamespace", json!({"namespace": "nowhere"}));
    g.ecs("ListServicesByNamespace", json!({}));
    g.ecs(
        "ListServicesByNamespace",
        json!({"namespace": "rules.local", "maxResults": 101}),
    );

    // Describe, list, delete.
    g.ecs(
        "DescribeServices",
        json!({"cluster": "rules", "services": ["fargate", "sc-off"], "include": ["TAGS"]}),
    );
    g.ecs(
        "DescribeServices",
        json!({"cluster": "rules", "services": ["fargate"], "include": ["EVERYTHING"]}),
    );
    g.ecs("DescribeServices", json!({"cluster": "rules"}));
    g.ecs(
        "DescribeServices",
        json!({"cluster": "rules", "services": vec!["a"; 11]}),
    );
    g.ecs("ListServices", json!({"cluster": "rules"}));
    g.ecs(
        "ListServices",
        json!({"cluster": "rules", "launchType": "FARGATE"}),
    );
    g.ecs(
        "ListServices",
        json!({"cluster": "rules", "schedulingStrategy": "DAEMON"}),
    );
    g.ecs(
        "ListServices",
        json!({"cluster": "rules", "launchType": "SPOT"}),
    );
    g.ecs(
        "ListServices",
        json!({"cluster": "rules", "schedulingStrategy": "BATCH"}),
    );
    let page = g.ecs("ListServices", json!({"cluster": "rules", "maxResults": 3}));
    g.ecs(
        "ListServices",
        json!({"cluster": "rules", "maxResults": 3, "nextToken": page["nextToken"]}),
    );
    g.ecs("DeleteService", json!({"cluster": "rules"}));
    g.ecs(
        "DeleteService",
        json!({"cluster": "rules", "service": "nope"}),
    );
    g.ecs(
        "DeleteService",
        json!({"cluster": "rules", "service": "full"}),
    );
    g.ecs(
        "DeleteService",
        json!({"cluster": "rules", "service": "daemon"}),
    );
    g.ecs(
        "DeleteService",
        json!({"cluster": "rules", "service": "full", "force": true}),
    );
    g.ecs(
        "DeleteService",
        json!({"cluster": "rules", "service": "full", "force": true}),
    );
    g.ecs("UpdateService", up(json!({"desiredCount": 1})));
    g.ecs(
        "ListServicesByNamespace",
        json!({"namespace": "rules.local"}),
    );
    g.ecs("ListServices", json!({"cluster": "rules"}));
    // Its names are free for a new service; the deleted one can be created again.
    g.ecs("CreateService", patched(&base, json!({"serviceName": "full", "serviceConnectConfiguration": {"enabled": true,
        "services": [{"portName": "http", "discoveryName": "web2", "clientAliases": [{"port": 80, "dnsName": "web.rules"}]}]}})));
    g.sd("ListServices", json!({}));
}

/// RunTask and StartTask on cluster `rules`: what a task takes from its task definition
/// (containers, sizes, network), the checks against it, and an agent's view of a task
/// whose definition has health checks, sizes and a named port.
fn standalone_tasks(g: &mut Golden) {
    g.section("standalone tasks");
    g.ecs(
        "RegisterTaskDefinition",
        json!({"family": "solo", "cpu": "0.5 vCPU", "memory": "1 GB",
        "containerDefinitions": [
            {"name": "app", "image": "app:1", "cpu": 128, "memoryReservation": 256,
             "portMappings": [{"name": "http", "containerPort": 8080, "appProtocol": "http"}],
             "healthCheck": {"command": ["CMD", "true"]}},
            {"name": "side", "image": "side:1", "memory": 128, "essential": false}]}),
    );
    g.ecs(
        "RegisterTaskDefinition",
        json!({"family": "solo-vpc", "networkMode": "awsvpc", "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "x"}]}),
    );
    let run = |patch: Value| {
        patched(
            &json!({"cluster": "rules", "taskDefinition": "solo"}),
            patch,
        )
    };
    for input in [
        run(json!({"overrides": {"containerOverrides": [{"name": "nope"}]}})),
        run(json!({"taskDefinition": "rules-old:1"})),
        run(json!({"taskDefinition": "solo-vpc"})),
        run(
            json!({"taskDefinition": "solo-vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}}),
        ),
        run(json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"]}}})),
        run(json!({"launchType": "FARGATE"})),
        run(json!({"taskDefinition": "nope"})),
        run(json!({"taskDefinition": null})),
        run(
            json!({"overrides": {"containerOverrides": [{"name": "side", "command": ["x"]}], "memory": "2048"}}),
        ),
        run(
            json!({"taskDefinition": "solo-vpc:1", "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s1"]}}}),
        ),
    ] {
        g.ecs("RunTask", input);
    }
    let inst = g.ecs(
        "RegisterContainerInstance",
        json!({"cluster": "rules", "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}]}),
    );
    let inst_arn = inst["containerInstance"]["containerInstanceArn"].clone();
    let inst_id = last(inst_arn.as_str().unwrap());
    g.ecs(
        "StartTask",
        json!({"cluster": "rules", "taskDefinition": "rules-old:1", "containerInstances": [inst_arn]}),
    );
    g.ecs(
        "StartTask",
        json!({"cluster": "rules", "taskDefinition": "solo", "containerInstances": [inst_arn]}),
    );
    g.view("rules", &inst_id);
}

/// Seed 003's annotated configuration, as written: four entries on one port of namespace
/// `internal` (the last with `dnsName: ""`, read as not given), the service it makes and
/// what its task's proxy is told (an egress per client alias).
fn seed003_overview(g: &mut Golden) {
    g.section("Service Connect configuration overview (seed 003)");
    g.sd("CreateHttpNamespace", json!({"Name": "internal"}));
    g.ecs("CreateCluster", json!({"clusterName": "overview"}));
    g.tick(0.5);
    g.reconcile();
    g.ecs(
        "RegisterTaskDefinition",
        json!({"family": "overview", "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "x",
            "portMappings": [{"name": "http", "containerPort": 8080, "appProtocol": "http"}]}]}),
    );
    g.ecs("CreateService", json!({"cluster": "overview", "serviceName": "overview",
        "taskDefinition": "overview", "desiredCount": 1,
        "serviceConnectConfiguration": {"enabled": true, "namespace": "internal", "services": [
            {"portName": "http"},
            {"discoveryName": "http-second", "portName": "http"},
            {"clientAliases": [{"dnsName": "db", "port": 81}], "discoveryName": "http-three", "portName": "http"},
            {"clientAliases": [{"dnsName": "", "port": 81}], "discoveryName": "http-four", "portName": "http",
             "ingressPortOverride": 99}]}}));
    g.ecs("ListServicesByNamespace", json!({"namespace": "internal"}));
    let inst = g.ecs(
        "RegisterContainerInstance",
        json!({"cluster": "overview", "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}]}),
    );
    let inst_id = last(
        inst["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap(),
    );
    g.connect("overview", &inst_id, true);
    g.tick(0.5);
    g.reconcile();
    g.view("overview", &inst_id);
}

#[test]
fn api_answers_match_the_golden_transcript() {
    let mut g = Golden::new();
    import_network(
        &g,
        json!({"vpcs": [{"vpcId": "vpc-golden", "cidrBlock": "10.9.0.0/16",
            "subnets": [
                {"subnetId": "subnet-1", "cidrBlock": "10.9.0.0/24", "availabilityZone": "us-east-1a"},
                {"subnetId": "subnet-s", "cidrBlock": "10.9.1.0/24", "availabilityZone": "us-east-1a"},
                {"subnetId": "subnet-s1", "cidrBlock": "10.9.2.0/24", "availabilityZone": "us-east-1b"},
                {"subnetId": "subnet-s2", "cidrBlock": "10.9.3.0/24", "availabilityZone": "us-east-1c"}],
            "securityGroups": [{"groupId": "sg-g", "groupName": "g", "description": "golden",
                "ingress": [{"ipProtocol": "-1", "sourceGroup": "self"}]}]}]}),
    );
    nginx_walkthrough(&mut g);
    round_trip_store(&g);
    retail_and_cats_dogs(&mut g);
    bad_input_table(&mut g);
    round_trip_store(&g);
    tags_and_deletes(&mut g);
    service_rules(&mut g);
    standalone_tasks(&mut g);
    seed003_overview(&mut g);
    round_trip_store(&g);
    g.out.check("api.txt");
}
