use std::sync::Arc;

use berth_awsproto::{Api, Context};
use berth_store::Store;
use serde_json::{json, Value};

use super::deployment::deployment_id;
use super::rules::check_dns_label;
use crate::Ecs;

#[test]
fn deployment_ids_look_like_aws() {
    let id = deployment_id();
    assert!(id.starts_with("ecs-svc/"));
    assert_eq!(id.len(), "ecs-svc/".len() + 19);
}

struct Fixture {
    ecs: Ecs,
    ctx: Context,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn call(&self, op: &str, input: Value) -> Result<Value, berth_awsproto::ApiError> {
        self.ecs.call(&self.ctx, op, input)
    }

    fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input.clone())
            .unwrap_or_else(|e| panic!("{op} {input}: {e:?}"))
    }
}

/// Cluster `c` (default namespace `c.local`, ACTIVE) and `plain` (none); task
/// definitions `bridge` (ports `http` 8080 http, `tcp` 9000, `grpc` 9090 grpc), `vpc`
/// (awsvpc, same ports), `nomem`, `host`, `links` and `old:1` (INACTIVE); services
/// `web` (bridge, serving `http` as `web` with alias `web:80`) and `vpc` (awsvpc).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture {
        ecs: Ecs::new(Arc::new(Store::open(dir.path()).unwrap())),
        ctx: Context {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            caller: Default::default(),
        },
        _dir: dir,
    };
    import_network(&f);
    f.ok(
        "CreateCluster",
        json!({"clusterName": "c", "serviceConnectDefaults": {"namespace": "c.local"}}),
    );
    f.ok("CreateCluster", json!({"clusterName": "plain"}));
    f.ecs.reconcile().unwrap();
    let ports = json!([
        {"name": "http", "containerPort": 8080, "appProtocol": "http"},
        {"name": "tcp", "containerPort": 9000},
        {"name": "grpc", "containerPort": 9090, "appProtocol": "grpc"}
    ]);
    let app = json!({"name": "app", "image": "x", "portMappings": ports});
    for td in [
        json!({"family": "bridge", "memory": "512", "containerDefinitions": [app]}),
        json!({"family": "vpc", "networkMode": "awsvpc", "memory": "512", "containerDefinitions": [app]}),
        json!({"family": "nomem", "containerDefinitions": [{"name": "app", "image": "x", "memory": 64}]}),
        json!({"family": "host", "networkMode": "host", "memory": "512", "containerDefinitions": [{"name": "app", "image": "x"}]}),
        json!({"family": "links", "memory": "512", "containerDefinitions": [
            {"name": "a", "image": "x", "links": ["b"]}, {"name": "b", "image": "y"}]}),
        json!({"family": "old", "memory": "512", "containerDefinitions": [app]}),
    ] {
        f.ok("RegisterTaskDefinition", td);
    }
    f.ok(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "old:1"}),
    );
    f.ok("CreateService", json!({"cluster": "c", "serviceName": "web", "taskDefinition": "bridge", "desiredCount": 1,
        "serviceConnectConfiguration": {"enabled": true, "services": [
            {"portName": "http", "discoveryName": "web", "clientAliases": [{"port": 80, "dnsName": "web"}]}]}}));
    f.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "vpc", "taskDefinition": "vpc", "desiredCount": 1,
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"]}}}),
    );
    f
}

/// Two VPCs: `vpc-a` (subnets `subnet-s`, `subnet-s2`, group `sg-g`) and `vpc-b`
/// (subnet `subnet-t`, group `sg-h`).
fn import_network(f: &Fixture) {
    let doc: berth_ec2::NetworkImport = serde_json::from_value(json!({"vpcs": [
        {"vpcId": "vpc-a", "cidrBlock": "10.0.0.0/16", "subnets": [
            {"subnetId": "subnet-s", "cidrBlock": "10.0.0.0/24", "availabilityZone": "eu-west-1a"},
            {"subnetId": "subnet-s2", "cidrBlock": "10.0.1.0/24", "availabilityZone": "eu-west-1b"}],
         "securityGroups": [{"groupId": "sg-g", "groupName": "g", "description": "g"}]},
        {"vpcId": "vpc-b", "cidrBlock": "10.1.0.0/16", "subnets": [
            {"subnetId": "subnet-t", "cidrBlock": "10.1.0.0/24", "availabilityZone": "eu-west-1a"}],
         "securityGroups": [{"groupId": "sg-h", "groupName": "h", "description": "h"}]}]}))
    .unwrap();
    f.ecs
        .store
        .write(|w| berth_ec2::import_in(w, &f.ctx, &doc))
        .unwrap();
}

/// `base` with the members of `patch` set over it, each named by its path
/// (`deploymentConfiguration.maximumPercent`); `null` removes a member.
fn patched(base: &Value, patch: &Value) -> Value {
    let mut out = base.clone();
    for (path, v) in patch.as_object().unwrap() {
        let (parents, last) = match path.rsplit_once('.') {
            Some((parents, last)) => (Some(parents), last),
            None => (None, path.as_str()),
        };
        let mut at = &mut out;
        for p in parents.into_iter().flat_map(|p| p.split('.')) {
            at = &mut at[p];
        }
        if v.is_null() {
            at.as_object_mut().unwrap().remove(last);
        } else {
            at[last] = v.clone();
        }
    }
    out
}

/// A Service Connect configuration serving `entries`.
fn sc(entries: Value) -> Value {
    json!({"enabled": true, "services": entries})
}

const INVALID: &str = "InvalidParameterException";

/// A bad input: operation, patch over the operation's valid input, error code, what the
/// message says. Where several rules fail, the first in the API's order answers.
type Case = (&'static str, Value, &'static str, &'static str);

const C: &str = "CreateService";
const U: &str = "UpdateService";

/// Every case.
fn cases() -> Vec<Case> {
    [create_cases(), service_connect_cases(), other_cases()].concat()
}

#[rustfmt::skip]
fn create_cases() -> Vec<Case> {
    let c = C;
    vec![
        // CreateService, before the store.
        (c, json!({"serviceName": null}), INVALID, "serviceName is required."),
        (c, json!({"serviceName": "a b"}), INVALID, "serviceName 'a b' is invalid"),
        (c, json!({"launchType": "SPOT"}), INVALID, "launchType 'SPOT' is invalid: it must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES."),
        (c, json!({"schedulingStrategy": "BATCH"}), INVALID, "schedulingStrategy 'BATCH' is invalid"),
        (c, json!({"propagateTags": "ALL"}), INVALID, "propagateTags 'ALL' is invalid"),
        (c, json!({"deploymentController.type": "BLUE"}), INVALID, "deploymentController.type 'BLUE' is invalid"),
        (c, json!({"launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "cp"}]}), INVALID, "both a launchType and capacityProviderStrategy"),
        (c, json!({"desiredCount": null}), INVALID, "desiredCount is required when schedulingStrategy is REPLICA."),
        (c, json!({"desiredCount": -1, "schedulingStrategy": "DAEMON"}), INVALID, "desiredCount -1 must be 0 or more."),
        (c, json!({"taskDefinition": null}), INVALID, "taskDefinition is required."),
        (c, json!({"tags": [{"key": "aws:x", "value": "v"}]}), INVALID, "reserved prefix 'aws:'"),
        (c, json!({"deploymentConfiguration": {"minimumHealthyPercent": 101}}), INVALID, "deploymentConfiguration.minimumHealthyPercent 101 must be between 0 and 100."),
        (c, json!({"deploymentConfiguration": {"maximumPercent": 50}}), INVALID, "deploymentConfiguration.maximumPercent 50 must be at least 100."),
        (c, json!({"healthCheckGracePeriodSeconds": -1}), INVALID, "healthCheckGracePeriodSeconds is out of range."),
        (c, json!({"serviceName": "a b", "launchType": "SPOT"}), INVALID, "serviceName 'a b'"),
        (c, json!({"propagateTags": "ALL", "desiredCount": -1}), INVALID, "propagateTags"),
        (c, json!({"desiredCount": 1.5}), "SerializationException", "desiredCount"),
        // CreateService, in the store.
        (c, json!({"cluster": "nope"}), "ClusterNotFoundException", "Cluster not found."),
        (c, json!({"serviceName": "web"}), INVALID, "Creation of service was not idempotent."),
        (c, json!({"taskDefinition": "nope"}), INVALID, "The specified task definition 'nope' does not exist."),
        (c, json!({"taskDefinition": "old:1"}), INVALID, "TaskDefinition 'old:1' is inactive."),
        (c, json!({"taskDefinition": "vpc"}), INVALID, "Network Configuration must be provided when networkMode 'awsvpc' is specified."),
        (c, json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"]}}}), INVALID, "Network Configuration is not valid for the given networkMode"),
        (c, json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}}), INVALID, "networkConfiguration.awsvpcConfiguration.subnets can not be empty."),
        (c, json!({"taskDefinition": "vpc", "networkConfiguration": {}}), INVALID, "networkConfiguration.awsvpcConfiguration is required."),
        (c, json!({"taskDefinition": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": vec!["subnet-s"; 17]}}}), INVALID, "subnets: at most 16 subnets."),
        (c, json!({"taskDefinition": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"], "securityGroups": vec!["sg-g"; 6]}}}), INVALID, "securityGroups: at most 5 security groups."),
        // The network, against EC2.
        (c, json!({"taskDefinition": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-nope"]}}}), INVALID, "Error retrieving subnet information for [subnet-nope]: The subnet ID 'subnet-nope' does not exist (ErrorCode: InvalidSubnetID.NotFound)"),
        (c, json!({"taskDefinition": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"], "securityGroups": ["sg-g", "sg-nope"]}}}), INVALID, "Error retrieving security group information for [sg-nope]: The security group 'sg-nope' does not exist (ErrorCode: InvalidGroup.NotFound)"),
        (c, json!({"taskDefinition": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s", "subnet-t"]}}}), INVALID, "subnet-s and subnet-t are in different VPCs (vpc-a, vpc-b)"),
        (c, json!({"taskDefinition": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"], "securityGroups": ["sg-h"]}}}), INVALID, "Security group sg-h and subnet subnet-s belong to different networks."),
        (c, json!({"taskDefinition": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-s"], "assignPublicIp": "YES"}}}), INVALID, "assignPublicIp 'YES' is invalid"),
        (c, json!({"launchType": "FARGATE"}), INVALID, "Fargate only supports network mode 'awsvpc'."),
        (c, json!({"availabilityZoneRebalancing": "SOMETIMES"}), INVALID, "availabilityZoneRebalancing 'SOMETIMES' is invalid"),
        (c, json!({"availabilityZoneRebalancing": "SOMETIMES", "taskDefinition": "nope"}), INVALID, "does not exist"),
    ]
}

#[rustfmt::skip]
fn service_connect_cases() -> Vec<Case> {
    let c = C;
    vec![
        (c, json!({"serviceConnectConfiguration": {}}), INVALID, "serviceConnectConfiguration.enabled is required."),
        (c, json!({"serviceConnectConfiguration": {"enabled": false, "services": [{"portName": "http"}]}}), INVALID, "can only be set when Service Connect is enabled."),
        (c, json!({"cluster": "plain", "serviceConnectConfiguration": sc(json!([]))}), INVALID, "the cluster has no Service Connect default namespace."),
        (c, json!({"serviceConnectConfiguration": {"enabled": true, "namespace": "nowhere"}}), "NamespaceNotFoundException", "'nowhere' was not found."),
        (c, json!({"taskDefinition": "host", "serviceConnectConfiguration": sc(json!([]))}), INVALID, "not 'host'."),
        (c, json!({"taskDefinition": "nomem", "serviceConnectConfiguration": sc(json!([]))}), INVALID, "requires a task-level memory limit"),
        (c, json!({"taskDefinition": "links", "serviceConnectConfiguration": sc(json!([]))}), INVALID, "container 'a' uses links"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{}]))}), INVALID, "serviceConnectConfiguration.services[0].portName is required."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "nope"}]))}), INVALID, "services[0].portName 'nope' does not match the name of any port mapping"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "discoveryName": "Bad"}]))}), INVALID, "services[0].discoveryName 'Bad' is invalid: up to 64"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "discoveryName": "a.b"}]))}), INVALID, "discoveryName 'a.b' is invalid"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http"}, {"portName": "http"}]))}), INVALID, "services[1].discoveryName 'http' is used more than once"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "clientAliases": [{"port": 1}, {"port": 2}]}]))}), INVALID, "services[0].clientAliases: at most 1 client alias per service."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "clientAliases": [{"dnsName": "a"}]}]))}), INVALID, "services[0].clientAliases[0].port is required."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "clientAliases": [{"port": 65536}]}]))}), INVALID, "clientAliases[0].port 65536 must be between 1 and 65535."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "clientAliases": [{"port": 80, "dnsName": "A"}]}]))}), INVALID, "clientAliases[0].dnsName 'A' is invalid: up to 127"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "clientAliases": [{"port": 80, "dnsName": "s"}]},
            {"portName": "tcp", "clientAliases": [{"port": 80, "dnsName": "s"}]}]))}), INVALID, "services[1].clientAliases[0]: the alias s:80 is used more than once"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "discoveryName": "a", "clientAliases": [{"port": 81, "dnsName": ""}]},
            {"portName": "tcp", "clientAliases": [{"port": 81, "dnsName": "a.c.local"}]}]))}), INVALID, "services[1].clientAliases[0]: the alias a.c.local:81 is used more than once"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "discoveryName": "web", "clientAliases": [{"port": 80, "dnsName": ""}]}]))}), INVALID, "the discoveryName 'web' is already used"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "ingressPortOverride": 0}]))}), INVALID, "services[0].ingressPortOverride 0 must be between 1 and 65535."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "ingressPortOverride": 8080}]))}), INVALID, "ingressPortOverride 8080 must differ from the container port of 'http'."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "timeout": {"idleTimeoutSeconds": -1}}]))}), INVALID, "services[0].timeout.idleTimeoutSeconds -1 is out of range."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "tcp", "timeout": {"perRequestTimeoutSeconds": 5}}]))}), INVALID, "port mapping 'tcp' has an appProtocol"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "timeout": {"perRequestTimeoutSeconds": -5}}]))}), INVALID, "perRequestTimeoutSeconds -5 is out of range."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "tls": {}}]))}), INVALID, "services[0].tls.issuerCertificateAuthority.awsPcaAuthorityArn is required."),
        (c, json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {}}}), INVALID, "serviceConnectConfiguration.logConfiguration.logDriver is required."),
        (c, json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {"logDriver": "x"}}}), INVALID, "logConfiguration.logDriver 'x' is invalid"),
        (c, json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {"logDriver": "awslogs"}, "accessLogConfiguration": {}}}), INVALID, "accessLogConfiguration.format is required."),
        (c, json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {"logDriver": "awslogs"}, "accessLogConfiguration": {"format": "XML"}}}), INVALID, "format 'XML' is invalid: it must be one of TEXT, JSON."),
        (c, json!({"serviceConnectConfiguration": {"enabled": true, "logConfiguration": {"logDriver": "awslogs"},
            "accessLogConfiguration": {"format": "JSON", "includeQueryParameters": "X"}}}), INVALID, "includeQueryParameters 'X' is invalid: it must be one of DISABLED, ENABLED."),
        (c, json!({"serviceConnectConfiguration": {"enabled": true, "accessLogConfiguration": {"format": "JSON"}}}), INVALID, "accessLogConfiguration requires serviceConnectConfiguration.logConfiguration."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "timeout": {"idleTimeoutSeconds": -1}}, {"portName": "nope"}]))}), INVALID, "services[0].timeout"),
        (c, json!({"serviceConnectConfiguration": {"enabled": true, "services": [{"portName": "http", "tls": {}}], "logConfiguration": {}}}), INVALID, "services[0].tls"),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "discoveryName": "web"}]))}), INVALID, "the discoveryName 'web' is already used in namespace 'c.local' by arn:aws:ecs:eu-west-1:123456789012:service/c/web."),
        (c, json!({"serviceConnectConfiguration": sc(json!([{"portName": "http", "discoveryName": "x", "clientAliases": [{"port": 80, "dnsName": "web"}]}]))}), INVALID, "the client alias web:80 is already used"),
    ]
}

/// UpdateService, DescribeServices, ListServices, ListServicesByNamespace, DeleteService.
#[rustfmt::skip]
fn other_cases() -> Vec<Case> {
    let u = U;
    let (d, l, n, x) = ("DescribeServices", "ListServices", "ListServicesByNamespace", "DeleteService");
    vec![
        (u, json!({"service": null}), INVALID, "service is required."),
        (u, json!({"desiredCount": -1, "propagateTags": "X"}), INVALID, "desiredCount -1 must be 0 or more."),
        (u, json!({"propagateTags": "X"}), INVALID, "propagateTags 'X' is invalid"),
        (u, json!({"service": "nope"}), "ServiceNotFoundException", "Service not found."),
        (u, json!({"taskDefinition": "old:1"}), INVALID, "is inactive."),
        (u, json!({"taskDefinition": "vpc"}), INVALID, "Network Configuration must be provided"),
        (u, json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}}), INVALID, "Network Configuration is not valid"),
        (u, json!({"service": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}}), INVALID, "subnets can not be empty."),
        (u, json!({"service": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-gone"]}}}), INVALID, "The subnet ID 'subnet-gone' does not exist"),
        (u, json!({"service": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-t"], "securityGroups": ["sg-g"]}}}), INVALID, "Security group sg-g and subnet subnet-t belong to different networks."),
        (u, json!({"taskDefinition": "nomem"}), INVALID, "requires a task-level memory limit"),
        (u, json!({"deploymentConfiguration": {"maximumPercent": 99}}), INVALID, "deploymentConfiguration.maximumPercent 99 must be at least 100."),
        (u, json!({"deploymentConfiguration": {"maximumPercent": 99}, "serviceConnectConfiguration": sc(json!([{"portName": "nope"}]))}), INVALID, "portName 'nope'"),
        (u, json!({"service": "vpc", "serviceConnectConfiguration": sc(json!([{"portName": "http", "discoveryName": "web"}]))}), INVALID, "the discoveryName 'web' is already used"),
        (d, json!({"services": null}), INVALID, "services is required."),
        (d, json!({"services": []}), INVALID, "services: between 1 and 10 services"),
        (d, json!({"include": ["ALL"]}), INVALID, "include 'ALL' is invalid: it must be one of TAGS."),
        (d, json!({"cluster": "nope"}), "ClusterNotFoundException", "Cluster not found."),
        (l, json!({"maxResults": 101}), INVALID, "maxResults 101 is out of range"),
        (l, json!({"launchType": "SPOT"}), INVALID, "launchType 'SPOT' is invalid"),
        (l, json!({"schedulingStrategy": "X"}), INVALID, "schedulingStrategy 'X' is invalid"),
        (l, json!({"nextToken": "garbage!"}), INVALID, "nextToken"),
        (n, json!({"namespace": ""}), INVALID, "namespace is required."),
        (n, json!({"namespace": "nowhere"}), "NamespaceNotFoundException", "'nowhere' was not found."),
        (x, json!({"service": null}), INVALID, "service is required."),
        (x, json!({"service": "nope"}), "ServiceNotFoundException", "Service not found."),
        (x, json!({}), INVALID, "cannot be stopped while it is scaled above 0."),
    ]
}

/// The valid input each operation's cases patch.
fn valid(op: &str) -> Value {
    match op {
        "CreateService" => {
            json!({"cluster": "c", "serviceName": "new", "taskDefinition": "bridge", "desiredCount": 1})
        }
        "ListServices" => json!({"cluster": "c"}),
        "ListServicesByNamespace" => json!({"namespace": "c.local"}),
        "DescribeServices" => json!({"cluster": "c", "services": ["web"]}),
        _ => json!({"cluster": "c", "service": "web"}),
    }
}

#[test]
fn bad_inputs_answer_the_first_broken_rule_and_write_nothing() {
    let f = fixture();
    for (op, patch, code, says) in cases() {
        let valid = valid(op);
        let input = patched(&valid, &patch);
        let before = f.ecs.store.revision();
        let e = f
            .call(op, input.clone())
            .expect_err(&format!("{op} {input} succeeded"));
        assert_eq!(e.code, code, "{op} {input}: {}", e.message);
        assert!(
            e.message.contains(says),
            "{op} {input}:\n  says  {}\n  not   {says}",
            e.message
        );
        assert_eq!(f.ecs.store.revision(), before, "{op} {input} wrote");
    }
}

#[test]
fn every_valid_input_of_the_cases_is_valid() {
    let f = fixture();
    for op in [
        "ListServices",
        "ListServicesByNamespace",
        "DescribeServices",
        "CreateService",
    ] {
        f.ok(op, valid(op));
    }
    f.ok("UpdateService", valid("UpdateService"));
}

/// Client aliases Service Connect accepts: the `dnsName` given, what the deployment
/// echoes, and the name the alias answers to (claimed in the namespace).
#[rustfmt::skip]
fn accepted_aliases() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (json!({"port": 81}), "new.c.local", "new.c.local:81"),
        // Seed 003: an empty dnsName is read as not given.
        (json!({"port": 81, "dnsName": ""}), "", "new.c.local:81"),
        (json!({"port": 81, "dnsName": "db"}), "db", "db:81"),
        (json!({"port": 81, "dnsName": "db.internal"}), "db.internal", "db.internal:81"),
    ]
}

#[test]
fn accepted_aliases_are_echoed_and_claim_their_name() {
    let f = fixture();
    for (alias, echoed, claims) in accepted_aliases() {
        let entry = json!([{"portName": "http", "discoveryName": "new", "clientAliases": [alias]}]);
        let input = patched(
            &valid(C),
            &json!({"serviceConnectConfiguration": sc(entry.clone())}),
        );
        let out = f.ok(C, input);
        let d = &out["service"]["deployments"][0]["serviceConnectConfiguration"];
        assert_eq!(
            d["services"][0]["clientAliases"][0]["dnsName"], echoed,
            "{alias}"
        );
        // The name is taken: another service cannot claim it.
        let port = claims.rsplit_once(':').unwrap().1.parse::<u16>().unwrap();
        let dns = claims.rsplit_once(':').unwrap().0;
        let other = json!([{"portName": "tcp", "discoveryName": "other", "clientAliases": [{"port": port, "dnsName": dns}]}]);
        let input = patched(
            &valid(C),
            &json!({"serviceName": "other", "serviceConnectConfiguration": sc(other)}),
        );
        let e = f.call(C, input).expect_err(claims);
        assert!(
            e.message
                .contains(&format!("the client alias {claims} is already used")),
            "{}",
            e.message
        );
        f.ok(
            "UpdateService",
            json!({"cluster": "c", "service": "new", "desiredCount": 0}),
        );
        f.ok("DeleteService", json!({"cluster": "c", "service": "new"}));
    }
}

#[test]
fn dns_labels() {
    for (value, max, dots, ok) in [
        ("nginx", 64, false, true),
        ("-x", 64, false, false),
        ("a.b", 64, false, false),
        ("a.b", 127, true, true),
        ("Upper", 64, false, false),
        ("", 64, false, false),
        ("a_b-1", 64, false, true),
    ] {
        assert_eq!(
            check_dns_label(value, "f", max, dots).is_ok(),
            ok,
            "{value}"
        );
    }
}
