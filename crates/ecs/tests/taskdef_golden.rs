//! Golden answers of the task-definition operations: definitions that use every member
//! the API model has (and members it doesn't), each network mode and launch type, and
//! one bad input per validation message, plus inputs with several problems (the first
//! one found is the answer). Run with a fixed clock, compared byte for byte with
//! `tests/golden/taskdef.txt`; `BLESS=1 cargo test -p berth-ecs --test taskdef_golden`
//! rewrites it (review the diff before committing it).

#![recursion_limit = "256"]

use std::sync::Arc;

use berth_awsproto::fixed::Fixed;
use berth_awsproto::{Api, Context};
use berth_ecs::Ecs;
use berth_store::Store;
use serde_json::{json, Value};

mod common;

use common::Transcript;

struct Golden {
    ecs: Ecs,
    ctx: Context,
    out: Transcript,
    _clock: Fixed,
    _dir: tempfile::TempDir,
}

impl Golden {
    fn new() -> Golden {
        let dir = tempfile::tempdir().unwrap();
        Golden {
            ecs: Ecs::new(Arc::new(Store::open(dir.path()).unwrap())),
            ctx: common::ctx(),
            out: Transcript::default(),
            _clock: Fixed::start(1_767_225_600.0, 13),
            _dir: dir,
        }
    }

    fn section(&mut self, title: &str) {
        self.out.section(title);
    }

    /// An ECS call; its answer (or error) goes into the transcript.
    fn ecs(&mut self, op: &str, input: Value) -> Value {
        let r = self.ecs.call(&self.ctx, op, input.clone());
        self.out.record(&format!("ecs {op}"), &input, r)
    }
}

/// `base` with each `(path, value)` set; a path is member names and list indices joined
/// by dots, and a null value removes the member (the API drops nulls).
fn patch(mut base: Value, set: &[(&str, Value)]) -> Value {
    for (path, v) in set {
        let mut cur = &mut base;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            cur = match p.parse::<usize>() {
                Ok(i) => &mut cur[i],
                Err(_) => &mut cur[*p],
            };
        }
        let last = parts[parts.len() - 1];
        match (last.parse::<usize>(), cur) {
            (Ok(i), cur) => cur[i] = v.clone(),
            (Err(_), Value::Object(m)) if v.is_null() => {
                m.remove(last);
            }
            (Err(_), cur) => cur[last] = v.clone(),
        }
    }
    base
}

/// A definition with every member of the model, on EC2 in bridge mode, with members the
/// model doesn't have at several depths.
fn kitchen_sink() -> Value {
    json!({
        "family": "sink",
        "taskRoleArn": "arn:aws:iam::123456789012:role/task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2", "EXTERNAL"],
        "cpu": "2 vCPU",
        "memory": "4 GB",
        "pidMode": "task",
        "ipcMode": "none",
        "bogusTop": {"x": 1},
        "proxyConfiguration": {"type": "APPMESH", "containerName": "app",
            "properties": [{"name": "AppPorts", "value": "8080"}], "bogusProxy": 1},
        "inferenceAccelerators": [{"deviceName": "d1", "deviceType": "eia2.medium"}],
        "ephemeralStorage": {"sizeInGiB": 30},
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "enableFaultInjection": true,
        "trustedExecutionConfiguration": {"isolationMode": "x", "attestationPolicy": "y"},
        "volumes": [
            {"name": "host-data", "host": {"sourcePath": "/data"}},
            {"name": "scratch", "host": {}},
            {"name": "dv", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true,
                "driver": "rexray", "driverOpts": {"a": "b"}, "labels": {"l": "v"}}},
            {"name": "dv-local", "dockerVolumeConfiguration": {"scope": "task"}},
            {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/",
                "transitEncryption": "ENABLED", "transitEncryptionPort": 2049,
                "authorizationConfig": {"accessPointId": "fsap-1", "iam": "ENABLED"}}},
            {"name": "fsx", "fsxWindowsFileServerVolumeConfiguration": {"fileSystemId": "fs-2",
                "rootDirectory": "share",
                "authorizationConfig": {"credentialsParameter": "arn:aws:ssm:::p", "domain": "corp"}}},
            {"name": "s3", "s3filesVolumeConfiguration": {"fileSystemArn": "arn:fs", "rootDirectory": "/r"}},
            {"name": "later", "configuredAtLaunch": true, "bogusVolume": 1}
        ],
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"}],
        "tags": [{"key": "team", "value": "a"}, {"key": "empty"}],
        "containerDefinitions": [
            app_container(),
            {"name": "db", "image": "postgres", "essential": false, "memoryReservation": 256,
                "healthCheck": {"command": ["CMD", "pg_isready"]}, "portMappings": [{"containerPort": 5432}]},
            {"name": "init", "image": "busybox", "essential": false, "memory": 64, "command": ["true"]},
            {"name": "log-router", "image": "fluent-bit", "memory": 64, "essential": false,
                "firelensConfiguration": {"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true"}},
                "logConfiguration": {"logDriver": "json-file"}}
        ]
    })
}

/// The kitchen sink's main container: every member of ContainerDefinition.
fn app_container() -> Value {
    json!({
        "name": "app",
        "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/app:1",
        "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-west-2:123456789012:secret:creds"},
        "cpu": 512, "memory": 1024, "memoryReservation": 512,
        "links": ["db:database"],
        "portMappings": [
            {"containerPort": 8080, "protocol": "tcp", "name": "web", "appProtocol": "http2", "bogusPort": 1},
            {"containerPort": 53, "hostPort": 5353, "protocol": "udp"},
            {"containerPortRange": "9000-9002"}
        ],
        "essential": true,
        "restartPolicy": {"enabled": true, "ignoredExitCodes": [0], "restartAttemptPeriod": 60},
        "entryPoint": ["sh", "-c"],
        "command": ["run"],
        "environment": [{"name": "A", "value": "1"}, {"name": "B"}],
        "environmentFiles": [{"value": "arn:aws:s3:::bucket/a.env", "type": "s3"}],
        "mountPoints": [{"sourceVolume": "host-data", "containerPath": "/data", "readOnly": true}],
        "volumesFrom": [{"sourceContainer": "db", "readOnly": false}],
        "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
            "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse", "permissions": ["read"]}],
            "initProcessEnabled": true, "sharedMemorySize": 64,
            "tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["rw"]}],
            "maxSwap": 0, "swappiness": 60, "bogusLinux": true},
        "secrets": [
            {"name": "S1", "valueFrom": "arn:aws:ssm:us-west-2:123456789012:parameter/p"},
            {"name": "S2", "valueFrom": "arn:aws:secretsmanager:us-west-2:123456789012:secret:s"}
        ],
        "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}, {"containerName": "init", "condition": "SUCCESS"}],
        "startTimeout": 30,
        "stopTimeout": 20,
        "versionConsistency": "enabled",
        "hostname": "app",
        "user": "1000",
        "workingDirectory": "/srv",
        "disableNetworking": false,
        "privileged": true,
        "readonlyRootFilesystem": true,
        "dnsServers": ["10.0.0.2"],
        "dnsSearchDomains": ["corp"],
        "extraHosts": [{"hostname": "h", "ipAddress": "10.0.0.3"}],
        "dockerSecurityOptions": ["no-new-privileges"],
        "interactive": true,
        "pseudoTerminal": false,
        "dockerLabels": {"z": "1", "a": "2"},
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "mode": "non-blocking"},
            "secretOptions": [
                {"name": "k", "valueFrom": "arn:aws:secretsmanager:us-west-2:123456789012:secret:x"},
                {"name": "k2", "valueFrom": "arn:aws:ssm:us-west-2:123456789012:parameter/y"}
            ]},
        "healthCheck": {"command": ["CMD-SHELL", "curl -f localhost:8080"], "interval": 10, "startPeriod": 5, "bogusCheck": 1},
        "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
        "resourceRequirements": [{"type": "GPU", "value": "1"},
            {"type": "GPU", "value": "1", "sharingStrategy": {"nvidiaMps": {"memory": 1, "maxComputePercent": 50}}}],
        "firelensConfiguration": null,
        "credentialSpecs": ["credentialspecdomainless:arn"],
        "bogusContainer": 1
    })
}

/// A Fargate definition with what Fargate allows.
fn fargate_sink() -> Value {
    json!({
        "family": "fsink",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE", "EC2"],
        "cpu": ".5 vCPU",
        "memory": "1GB",
        "ephemeralStorage": {"sizeInGiB": 21},
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"},
        "volumes": [
            {"name": "scratch", "host": {}},
            {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}
        ],
        "containerDefinitions": [
            {"name": "web", "image": "nginx", "cpu": 256, "memoryReservation": 128,
                "portMappings": [{"containerPort": 80, "name": "http", "appProtocol": "http"},
                    {"containerPort": 443, "hostPort": 443, "name": "grpc_1", "appProtocol": "grpc"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
                "mountPoints": [{"sourceVolume": "efs", "containerPath": "/mnt"}],
                "dependsOn": [{"containerName": "side", "condition": "START"}]},
            {"name": "side", "image": "busybox", "essential": false,
                "logConfiguration": {"logDriver": "splunk"}, "stopTimeout": 5}
        ]
    })
}

fn fargate(family: &str) -> Value {
    json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "nginx"}]
    })
}

fn ec2(family: &str) -> Value {
    json!({"family": family, "containerDefinitions": [{"name": "a", "image": "x", "memory": 128}]})
}

fn valid_definitions(g: &mut Golden) {
    g.section("definitions that register");
    g.ecs("RegisterTaskDefinition", kitchen_sink());
    g.ecs("RegisterTaskDefinition", fargate_sink());
    g.ecs("RegisterTaskDefinition", fargate("plain"));
    g.ecs("RegisterTaskDefinition", ec2("plain-ec2"));
    let c0 = "containerDefinitions.0";
    for set in [
        vec![
            ("networkMode", json!("host")),
            (
                c0,
                json!({"name": "a", "image": "x", "memory": 128,
            "portMappings": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 81, "protocol": "udp"}]}),
            ),
        ],
        vec![("networkMode", json!("none"))],
        vec![
            ("networkMode", json!("awsvpc")),
            ("requiresCompatibilities", json!(["MANAGED_INSTANCES"])),
        ],
        vec![(
            "requiresCompatibilities",
            json!(["EXTERNAL", "MANAGED_INSTANCES", "EC2"]),
        )],
        vec![("cpu", json!(" 1024 ")), ("memory", json!("0.5GB"))],
        vec![("cpu", json!("196608")), ("memory", json!("128"))],
        vec![("cpu", json!("128"))],
        vec![(
            c0,
            json!({"name": "a", "image": "x", "memory": 128, "cpu": 0, "essential": true,
            "portMappings": [{"containerPortRange": "1-65535", "protocol": "udp"}]}),
        )],
        vec![(
            c0,
            json!({"name": "a", "image": "x", "memoryReservation": 4,
            "portMappings": [{"containerPort": 65535, "hostPort": 65535}, {"containerPort": 1, "hostPort": 0}]}),
        )],
        vec![(
            c0,
            json!({"name": "a", "image": "x", "memory": 64, "links": [],
            "healthCheck": {"command": ["NONE"], "interval": 5, "timeout": 2, "retries": 1, "startPeriod": 0}}),
        )],
        vec![(
            c0,
            json!({"name": "a", "image": "x", "memory": 64,
            "healthCheck": {"command": ["CMD", "x"], "interval": 300, "timeout": 60, "retries": 10, "startPeriod": 300}}),
        )],
        vec![(
            c0,
            json!({"name": "a", "image": "x", "memory": 64, "environment": [], "mountPoints": [],
            "volumesFrom": [], "portMappings": [], "secrets": [], "dependsOn": [], "ulimits": [],
            "dockerLabels": {}, "environmentFiles": [], "linuxParameters": {}, "logConfiguration": {"logDriver": "gelf", "options": {}}}),
        )],
        vec![(
            c0,
            json!({"name": "a", "image": "x", "memory": 64,
            "logConfiguration": {"logDriver": "syslog", "secretOptions": []}, "startTimeout": 1}),
        )],
        vec![(
            c0,
            json!({"name": "a", "image": "x", "memory": 64,
            "firelensConfiguration": {"type": "fluentd"}, "linuxParameters": {"initProcessEnabled": false}}),
        )],
        vec![
            ("taskRoleArn", Value::Null),
            ("volumes", json!([])),
            ("placementConstraints", json!([])),
            ("tags", json!([])),
        ],
        vec![(
            "volumes",
            json!([{"name": "v", "dockerVolumeConfiguration": {}}, {"name": "w", "efsVolumeConfiguration": {"fileSystemId": "f", "transitEncryption": "DISABLED"}}]),
        )],
        vec![("pidMode", json!("host")), ("ipcMode", json!("host"))],
        vec![("ephemeralStorage", json!({"sizeInGiB": 200}))],
    ] {
        g.ecs("RegisterTaskDefinition", patch(ec2("variant"), &set));
    }
    // Fargate: the sizes it offers, and what keeps FARGATE out of compatibilities.
    for (cpu, mem) in [
        ("256", "512"),
        ("256", "2048"),
        ("512", "4 GB"),
        ("1 vCPU", "8192"),
        ("2048", "16384"),
        ("4096", "30720"),
        ("8192", "61440"),
        ("16 vCPU", "120 GB"),
    ] {
        g.ecs(
            "RegisterTaskDefinition",
            patch(
                fargate("sizes"),
                &[("cpu", json!(cpu)), ("memory", json!(mem))],
            ),
        );
    }
    let no_fargate = patch(
        fargate("ec2-only"),
        &[("requiresCompatibilities", Value::Null)],
    );
    for set in [
        vec![("cpu", json!("300"))],
        vec![("cpu", Value::Null)],
        vec![
            ("memory", Value::Null),
            ("containerDefinitions.0.memory", json!(64)),
        ],
        vec![("pidMode", json!("host"))],
        vec![("ipcMode", json!("task"))],
        vec![(
            "placementConstraints",
            json!([{"type": "memberOf", "expression": "x"}]),
        )],
        vec![(
            "inferenceAccelerators",
            json!([{"deviceName": "d", "deviceType": "t"}]),
        )],
        vec![(
            "volumes",
            json!([{"name": "h", "host": {"sourcePath": "/h"}}]),
        )],
        vec![(
            "volumes",
            json!([{"name": "d", "dockerVolumeConfiguration": {"driver": "local"}}]),
        )],
        vec![("containerDefinitions.0.privileged", json!(true))],
        vec![(
            "containerDefinitions.0.logConfiguration",
            json!({"logDriver": "fluentd"}),
        )],
        vec![(
            "containerDefinitions.0.logConfiguration",
            json!({"logDriver": "awslogs"}),
        )],
    ] {
        g.ecs("RegisterTaskDefinition", patch(no_fargate.clone(), &set));
    }
}

/// One registration per line: (what it sets over the base, the base).
fn bad_definitions() -> Vec<(Value, Vec<(&'static str, Value)>)> {
    let f = fargate("bad");
    let e = ec2("bad");
    let c0 = "containerDefinitions.0";
    let pm = "containerDefinitions.0.portMappings";
    let hc = "containerDefinitions.0.healthCheck";
    let two = |a: Value, b: Value| json!([a, b]);
    vec![
        (f.clone(), vec![("family", Value::Null)]),
        (f.clone(), vec![("family", json!(""))]),
        (f.clone(), vec![("family", json!("x".repeat(256)))]),
        (f.clone(), vec![("family", json!("a/b"))]),
        (f.clone(), vec![("containerDefinitions", Value::Null)]),
        (f.clone(), vec![("containerDefinitions", json!([]))]),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                json!((0..11)
                    .map(|n| json!({"name": format!("c{n}"), "image": "x"}))
                    .collect::<Vec<_>>()),
            )],
        ),
        (f.clone(), vec![("networkMode", json!("vpc"))]),
        (
            f.clone(),
            vec![("requiresCompatibilities", json!(["FARGATE", "LAMBDA"]))],
        ),
        (f.clone(), vec![("pidMode", json!("shared"))]),
        (f.clone(), vec![("ipcMode", json!("shared"))]),
        (
            f.clone(),
            vec![("runtimePlatform", json!({"cpuArchitecture": "RISCV"}))],
        ),
        (
            f.clone(),
            vec![("runtimePlatform", json!({"operatingSystemFamily": "BSD"}))],
        ),
        (
            f.clone(),
            vec![(
                "proxyConfiguration",
                json!({"type": "ISTIO", "containerName": "app"}),
            )],
        ),
        (
            f.clone(),
            vec![("proxyConfiguration", json!({"type": "APPMESH"}))],
        ),
        (
            f.clone(),
            vec![("proxyConfiguration", json!({"containerName": ""}))],
        ),
        (f.clone(), vec![("cpu", json!("lots"))]),
        (f.clone(), vec![("cpu", json!("127"))]),
        (f.clone(), vec![("cpu", json!("196609"))]),
        (f.clone(), vec![("cpu", json!("0.3 vCPU"))]),
        (f.clone(), vec![("cpu", json!(""))]),
        (f.clone(), vec![("memory", json!("3"))]),
        (f.clone(), vec![("memory", json!("2 TB"))]),
        (f.clone(), vec![("memory", json!("-1"))]),
        (f.clone(), vec![("ephemeralStorage", json!({}))]),
        (
            f.clone(),
            vec![("ephemeralStorage", json!({"sizeInGiB": 20}))],
        ),
        (
            f.clone(),
            vec![("ephemeralStorage", json!({"sizeInGiB": 201}))],
        ),
        (f.clone(), vec![("volumes", json!([{"host": {}}]))]),
        (f.clone(), vec![("volumes", json!([{"name": "a b"}]))]),
        (
            f.clone(),
            vec![("volumes", json!([{"name": "v"}, {"name": "v"}]))],
        ),
        (
            f.clone(),
            vec![(
                "volumes",
                json!([{"name": "v", "efsVolumeConfiguration": {}}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "volumes",
                json!([{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "f", "transitEncryption": "ON"}}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "volumes",
                json!([{"name": "v", "dockerVolumeConfiguration": {"scope": "global"}}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "placementConstraints",
                json!((0..11)
                    .map(|_| json!({"type": "memberOf"}))
                    .collect::<Vec<_>>()),
            )],
        ),
        (
            f.clone(),
            vec![(
                "placementConstraints",
                json!([{"type": "distinctInstance"}]),
            )],
        ),
        (
            f.clone(),
            vec![("tags", json!([{"key": "aws:x", "value": "v"}]))],
        ),
        (f.clone(), vec![("tags", json!([{"value": "v"}]))]),
        (
            f.clone(),
            vec![("tags", json!([{"key": "", "value": "v"}]))],
        ),
        (
            f.clone(),
            vec![("tags", json!([{"key": "k", "value": "v".repeat(257)}]))],
        ),
        (
            f.clone(),
            vec![(
                "tags",
                json!((0..51)
                    .map(|n| json!({"key": format!("k{n}")}))
                    .collect::<Vec<_>>()),
            )],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.name", Value::Null)],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.name", json!("a b"))],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x"}),
                    json!({"name": "a", "image": "y"}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.image", Value::Null)],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.image", json!("a\tb"))],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.image", json!("x".repeat(4097)))],
        ),
        (f.clone(), vec![("containerDefinitions.0.cpu", json!(-1))]),
        (f.clone(), vec![("containerDefinitions.0.memory", json!(3))]),
        (
            f.clone(),
            vec![("containerDefinitions.0.memoryReservation", json!(3))],
        ),
        (
            f.clone(),
            vec![
                ("containerDefinitions.0.memory", json!(128)),
                ("containerDefinitions.0.memoryReservation", json!(256)),
            ],
        ),
        (
            e.clone(),
            vec![("containerDefinitions.0.memory", Value::Null)],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.memory", json!(1024))],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.links", json!(["x"]))],
        ),
        (
            e.clone(),
            vec![
                ("networkMode", json!("none")),
                (pm, json!([{"containerPort": 80}])),
            ],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 80, "protocol": "sctp"}]))],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 80, "appProtocol": "tcp"}]))],
        ),
        (
            f.clone(),
            vec![(
                pm,
                json!([{"containerPort": 80, "containerPortRange": "1-2"}]),
            )],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"hostPort": 80, "containerPortRange": "1-2"}]))],
        ),
        (
            e.clone(),
            vec![
                ("networkMode", json!("host")),
                (pm, json!([{"containerPortRange": "1-2"}])),
            ],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPortRange": "2-1"}]))],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPortRange": "0-10"}]))],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPortRange": "10-65536"}]))],
        ),
        (f.clone(), vec![(pm, json!([{"containerPortRange": "10"}]))]),
        (
            f.clone(),
            vec![(
                pm,
                json!([{"containerPort": 9001}, {"containerPortRange": "9000-9010"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                pm,
                json!([{"containerPortRange": "9000-9010"}, {"containerPortRange": "9005-9020"}]),
            )],
        ),
        (f.clone(), vec![(pm, json!([{}]))]),
        (f.clone(), vec![(pm, json!([{"containerPort": 0}]))]),
        (f.clone(), vec![(pm, json!([{"containerPort": 65536}]))]),
        (
            e.clone(),
            vec![(pm, json!([{"containerPort": 80, "hostPort": -1}]))],
        ),
        (
            e.clone(),
            vec![(pm, json!([{"containerPort": 80, "hostPort": 65536}]))],
        ),
        (
            f.clone(),
            vec![(
                pm,
                json!([{"containerPort": 80}, {"containerPort": 80, "protocol": "udp"}]),
            )],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 80, "hostPort": 8080}]))],
        ),
        (
            e.clone(),
            vec![
                ("networkMode", json!("host")),
                (pm, json!([{"containerPort": 80, "hostPort": 0}])),
            ],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 80, "name": "Web"}]))],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 80, "name": ""}]))],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 80, "name": "-web"}]))],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 80, "name": "w".repeat(65)}]))],
        ),
        (
            f.clone(),
            vec![(
                pm,
                json!([{"containerPort": 80, "name": "w"}, {"containerPort": 81, "name": "w"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "portMappings": [{"containerPort": 80, "name": "p"}]}),
                    json!({"name": "b", "image": "x", "portMappings": [{"containerPort": 81, "name": "p"}]}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.environment",
                json!([{"name": "A"}, {"value": "v"}]),
            )],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.environment", json!([{"name": ""}]))],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.environmentFiles",
                json!([{"type": "s3"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.environmentFiles",
                json!([{"value": "arn"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.environmentFiles",
                json!([{"value": "arn", "type": "s4"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.secrets",
                json!([{"valueFrom": "arn"}]),
            )],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.secrets", json!([{"name": "S"}]))],
        ),
        (f.clone(), vec![(hc, json!({}))]),
        (f.clone(), vec![(hc, json!({"command": []}))]),
        (f.clone(), vec![(hc, json!({"command": ["CMD"]}))]),
        (f.clone(), vec![(hc, json!({"command": ["CMD-SHELL"]}))]),
        (f.clone(), vec![(hc, json!({"command": ["curl", "x"]}))]),
        (
            f.clone(),
            vec![(hc, json!({"command": ["CMD", "x"], "interval": 4}))],
        ),
        (
            f.clone(),
            vec![(hc, json!({"command": ["CMD", "x"], "interval": 301}))],
        ),
        (
            f.clone(),
            vec![(hc, json!({"command": ["CMD", "x"], "timeout": 1}))],
        ),
        (
            f.clone(),
            vec![(hc, json!({"command": ["CMD", "x"], "timeout": 61}))],
        ),
        (
            f.clone(),
            vec![(hc, json!({"command": ["CMD", "x"], "retries": 0}))],
        ),
        (
            f.clone(),
            vec![(hc, json!({"command": ["CMD", "x"], "retries": 11}))],
        ),
        (
            f.clone(),
            vec![(hc, json!({"command": ["CMD", "x"], "startPeriod": -1}))],
        ),
        (
            f.clone(),
            vec![(hc, json!({"command": ["CMD", "x"], "startPeriod": 301}))],
        ),
        (
            f.clone(),
            vec![(
                hc,
                json!({"command": ["CMD", "x"], "interval": 0, "timeout": 0}),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.logConfiguration",
                json!({"options": {}}),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.logConfiguration",
                json!({"logDriver": "stdout"}),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.logConfiguration",
                json!({"logDriver": "awslogs", "secretOptions": [{"name": "n"}]}),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.firelensConfiguration",
                json!({"type": "logstash"}),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.firelensConfiguration",
                json!({"options": {}}),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.dependsOn",
                json!([{"containerName": "app", "condition": "READY"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.dependsOn",
                json!([{"containerName": "app"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.dependsOn",
                json!([{"condition": "START"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.dependsOn",
                json!([{"condition": "START"}, {"containerName": "x", "condition": "READY"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.mountPoints",
                json!([{"sourceVolume": "data", "containerPath": "/d"}]),
            )],
        ),
        (
            f.clone(),
            vec![
                ("volumes", json!([{"name": "data"}])),
                (
                    "containerDefinitions.0.mountPoints",
                    json!([{"sourceVolume": "data"}]),
                ),
            ],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.mountPoints",
                json!([{"containerPath": "/d"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.ulimits",
                json!([{"name": "nofile", "softLimit": 1}]),
            )],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.essential", json!(false))],
        ),
        (
            e.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "memory": 64, "links": ["a"]}),
                    json!({"name": "b", "image": "x", "memory": 64}),
                ),
            )],
        ),
        (
            e.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "memory": 64, "links": ["c:alias"]}),
                    json!({"name": "b", "image": "x", "memory": 64}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.volumesFrom",
                json!([{"sourceContainer": "app"}]),
            )],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.volumesFrom", json!([{}]))],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.dependsOn",
                json!([{"containerName": "app", "condition": "START"}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]}),
                    json!({"name": "b", "image": "x"}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "cpu": 200}),
                    json!({"name": "b", "image": "x", "cpu": 100}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "memory": 400}),
                    json!({"name": "b", "image": "x", "memoryReservation": 200}),
                ),
            )],
        ),
        (f.clone(), vec![("networkMode", json!("bridge"))]),
        (f.clone(), vec![("networkMode", Value::Null)]),
        (f.clone(), vec![("cpu", Value::Null)]),
        (
            f.clone(),
            vec![
                ("memory", Value::Null),
                (c0, json!({"name": "a", "image": "x", "memory": 64})),
            ],
        ),
        (f.clone(), vec![("memory", json!("4096"))]),
        (f.clone(), vec![("pidMode", json!("host"))]),
        (f.clone(), vec![("ipcMode", json!("none"))]),
        (
            f.clone(),
            vec![("placementConstraints", json!([{"type": "memberOf"}]))],
        ),
        (f.clone(), vec![("inferenceAccelerators", json!([{}]))]),
        (
            f.clone(),
            vec![(
                "volumes",
                json!([{"name": "h", "host": {"sourcePath": "/h"}}]),
            )],
        ),
        (
            f.clone(),
            vec![(
                "volumes",
                json!([{"name": "d", "dockerVolumeConfiguration": {}}]),
            )],
        ),
        (
            f.clone(),
            vec![("containerDefinitions.0.privileged", json!(true))],
        ),
        (
            e.clone(),
            vec![
                ("requiresCompatibilities", json!(["FARGATE"])),
                ("networkMode", json!("awsvpc")),
                ("cpu", json!("256")),
                ("memory", json!("512")),
                ("containerDefinitions.0.links", json!(["a"])),
            ],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.logConfiguration",
                json!({"logDriver": "gelf"}),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions.0.logConfiguration",
                json!({"logDriver": "awslogs"}),
            )],
        ),
        (
            f.clone(),
            vec![("requiresCompatibilities", json!(["EXTERNAL"]))],
        ),
        // Several problems: the first one found is the answer.
        (
            f.clone(),
            vec![
                ("family", json!("a b")),
                ("containerDefinitions", json!([])),
            ],
        ),
        (
            f.clone(),
            vec![("networkMode", json!("x")), ("pidMode", json!("y"))],
        ),
        (
            f.clone(),
            vec![("cpu", json!("x")), ("networkMode", json!("bridge"))],
        ),
        (
            f.clone(),
            vec![
                ("tags", json!([{"key": "aws:x"}])),
                ("containerDefinitions.0.name", json!("")),
            ],
        ),
        (
            f.clone(),
            vec![
                (
                    "volumes",
                    json!([{"name": "v", "dockerVolumeConfiguration": {"scope": "x"}}]),
                ),
                ("placementConstraints", json!([{"type": "x"}])),
            ],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "links": ["zz"], "essential": false}),
                    json!({"name": "b", "image": "", "essential": false}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "volumesFrom": [{"sourceContainer": "zz"}], "essential": false}),
                    json!({"name": "b", "image": "x", "essential": false}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "volumesFrom": [{"sourceContainer": "zz"}], "cpu": 300}),
                    json!({"name": "b", "image": "x", "links": ["zz"]}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![(
                pm,
                json!([{"containerPort": 80, "name": "Bad", "protocol": "sctp"}]),
            )],
        ),
        (
            f.clone(),
            vec![
                (pm, json!([{"containerPort": 80, "appProtocol": "x"}])),
                ("containerDefinitions.0.memory", json!(2)),
            ],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 0, "name": "Bad"}]))],
        ),
        (
            f.clone(),
            vec![(
                pm,
                json!([{"containerPort": 80, "hostPort": 81, "name": "Bad"}]),
            )],
        ),
        (
            f.clone(),
            vec![(pm, json!([{"containerPort": 80, "hostPort": 70000}]))],
        ),
        (
            f.clone(),
            vec![
                (hc, json!({"command": ["x"], "interval": 1})),
                ("containerDefinitions.0.environment", json!([{}])),
            ],
        ),
        (
            f.clone(),
            vec![
                (hc, json!({"command": ["x"], "interval": 1})),
                (
                    "containerDefinitions.0.logConfiguration",
                    json!({"logDriver": "x"}),
                ),
            ],
        ),
        (
            f.clone(),
            vec![
                ("containerDefinitions.0.secrets", json!([{}])),
                ("containerDefinitions.0.environmentFiles", json!([{}])),
            ],
        ),
        (
            f.clone(),
            vec![
                ("containerDefinitions.0.ulimits", json!([{}])),
                ("containerDefinitions.0.mountPoints", json!([{}])),
            ],
        ),
        (
            f.clone(),
            vec![
                ("containerDefinitions.0.firelensConfiguration", json!({})),
                ("containerDefinitions.0.dependsOn", json!([{}])),
            ],
        ),
        (
            f.clone(),
            vec![(
                "containerDefinitions",
                two(
                    json!({"name": "a", "image": "x", "portMappings": [{"containerPort": 80}], "cpu": -5}),
                    json!({"name": "b", "image": "x", "portMappings": [{"containerPort": 80, "name": "-"}]}),
                ),
            )],
        ),
        (
            f.clone(),
            vec![
                ("containerDefinitions.0.memory", json!(600)),
                ("containerDefinitions.0.cpu", json!(300)),
            ],
        ),
        (
            f.clone(),
            vec![
                ("ephemeralStorage", json!({"sizeInGiB": 1})),
                ("volumes", json!([{"name": ""}])),
            ],
        ),
        (
            f.clone(),
            vec![("proxyConfiguration", json!({})), ("cpu", json!("1"))],
        ),
    ]
}

fn type_errors(g: &mut Golden) {
    g.section("members of the wrong JSON type");
    let f = fargate("types");
    for (path, v) in [
        ("cpu", json!(256)),
        ("family", json!(["a"])),
        ("containerDefinitions", json!({"name": "a"})),
        ("containerDefinitions.0.cpu", json!("100")),
        ("containerDefinitions.0.essential", json!("yes")),
        ("containerDefinitions.0.memory", json!(1.5)),
        ("containerDefinitions.0.memory", json!(4_294_967_296_u64)),
        (
            "containerDefinitions.0.portMappings",
            json!([{"containerPort": "80"}]),
        ),
        (
            "containerDefinitions.0.portMappings",
            json!([{"containerPort": 80.0}]),
        ),
        (
            "containerDefinitions.0.linuxParameters",
            json!({"initProcessEnabled": "true"}),
        ),
        ("containerDefinitions.0.dockerLabels", json!({"a": 1})),
        (
            "containerDefinitions.0.healthCheck",
            json!({"command": "CMD"}),
        ),
        ("volumes", json!([{"name": "v", "host": []}])),
        // An array where the model has an object, even one holding the members in order.
        ("containerDefinitions", json!([["app", "nginx"]])),
        ("containerDefinitions.0.environment", json!([["A", "1"]])),
        ("containerDefinitions.0.portMappings", json!([[80]])),
        (
            "containerDefinitions.0.healthCheck",
            json!([["CMD", "true"], 10, 5, 3, 0]),
        ),
        ("ephemeralStorage", json!({"sizeInGiB": "30"})),
        ("tags", json!({"key": "v"})),
    ] {
        g.ecs("RegisterTaskDefinition", patch(f.clone(), &[(path, v)]));
    }
    g.ecs("RegisterTaskDefinition", json!([1]));
    g.ecs("RegisterTaskDefinition", json!("x"));
}

fn other_operations(g: &mut Golden) {
    g.section("describe, list, deregister");
    for family in ["a", "b", "a", "a-b", "c"] {
        g.ecs("RegisterTaskDefinition", fargate(family));
    }
    g.ecs("DeregisterTaskDefinition", json!({"taskDefinition": "a:1"}));
    g.ecs(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "arn:aws:ecs:us-west-2:123456789012:task-definition/c:1"}),
    );
    g.ecs("DeregisterTaskDefinition", json!({"taskDefinition": "c:1"}));
    for bad in [
        json!({}),
        json!({"taskDefinition": "a"}),
        json!({"taskDefinition": "a:0"}),
        json!({"taskDefinition": "a:x"}),
        json!({"taskDefinition": "a:9"}),
        json!({"taskDefinition": 1}),
    ] {
        g.ecs("DeregisterTaskDefinition", bad);
    }
    for input in [
        json!({"taskDefinition": "a"}),
        json!({"taskDefinition": "a:1"}),
        json!({"taskDefinition": "c"}),
        json!({"taskDefinition": "c:1", "include": ["TAGS"]}),
        json!({"taskDefinition": "sink", "include": ["TAGS"]}),
        json!({"taskDefinition": "arn:aws:ecs:us-west-2:123456789012:task-definition/sink:1"}),
        json!({"taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/sink:1"}),
        json!({"taskDefinition": "arn:aws:ecs:us-west-2:123456789012:task-definition/sink"}),
        json!({"taskDefinition": "sink:0"}),
        json!({"taskDefinition": "a", "include": ["TAGS", "X"]}),
        json!({}),
    ] {
        g.ecs("DescribeTaskDefinition", input);
    }
    for input in [
        json!({}),
        json!({"sort": "DESC", "maxResults": 4}),
        json!({"familyPrefix": "a"}),
        json!({"familyPrefix": "a", "status": "INACTIVE"}),
        json!({"familyPrefix": "bad name"}),
        json!({"status": "DELETE_IN_PROGRESS"}),
        json!({"status": "ALL"}),
        json!({"maxResults": 101}),
        json!({"nextToken": "nope"}),
    ] {
        g.ecs("ListTaskDefinitions", input);
    }
    let mut token = Value::Null;
    loop {
        let mut input = json!({"maxResults": 3});
        if !token.is_null() {
            input["nextToken"] = token.clone();
        }
        let page = g.ecs("ListTaskDefinitions", input);
        token = page["nextToken"].clone();
        if token.is_null() {
            break;
        }
    }
    for input in [
        json!({}),
        json!({"status": "ACTIVE"}),
        json!({"status": "INACTIVE"}),
        json!({"familyPrefix": "a"}),
        json!({"familyPrefix": "a", "maxResults": 1}),
        json!({"status": "DELETE_IN_PROGRESS"}),
    ] {
        g.ecs("ListTaskDefinitionFamilies", input);
    }
}

#[test]
fn taskdef_answers_match_the_golden_transcript() {
    let mut g = Golden::new();
    valid_definitions(&mut g);
    g.section("bad definitions");
    for (base, set) in bad_definitions() {
        g.ecs("RegisterTaskDefinition", patch(base, &set));
    }
    type_errors(&mut g);
    other_operations(&mut g);
    g.out.check("taskdef.txt");
}
