//! Examples: a directory with the JSON files of its README's aws CLI commands and an
//! `example.json` manifest saying which ECS calls make the example, in order, and
//! what to open once it runs.
//!
//! ```json
//! {
//!   "description": "seed 002: nginx behind Service Connect",
//!   "secrets": "secrets.json",
//!   "network": "network.json",
//!   "instance": {"securityGroups": ["sg-0ec2c0ffee0000001"], "subnet": "subnet-0a1b2c3d4e5f60718"},
//!   "privateCas": [{"placeholder": "certificateArn", "commonName": "berth tutorial CA"}],
//!   "steps": [
//!     {"ecs": "CreateCluster", "input": {"clusterName": "tutorial"}},
//!     {"ecs": "RegisterTaskDefinition", "file": "task-definition.json"},
//!     {"ecs": "CreateService", "file": "service.json", "input": {"cluster": "tutorial"}}
//!   ],
//!   "open": [{"cluster": "tutorial", "service": "nginx", "port": 80, "path": "/"}]
//! }
//! ```
//!
//! `network` is the VPCs, subnets and security groups the example's JSON names (the
//! format of `berth server --network`, made in `berth up`'s region when it names none),
//! imported before the steps; `instance` the container instances' subnet and groups
//! (they judge bridge-mode tasks; default: the default VPC's).
//!
//! `privateCas` are the AWS Private CAs the example's Service Connect TLS names: each
//! is made before the steps as AWS's documentation makes a root CA, through berth's
//! ACM PCA API (CreateCertificateAuthority `ROOT`, GetCertificateAuthorityCsr,
//! IssueCertificate with the `RootCACertificate/V1` template, GetCertificate,
//! ImportCertificateAuthorityCertificate), tagged [`EXAMPLE_TAG`] `= <example>/<placeholder>`;
//! then every JSON string of the steps' inputs equal to its `placeholder` becomes the
//! CA's ARN, as a reader of the README does by hand with the seed's JSON. Its members:
//! `placeholder` and `commonName` (its subject's CN, 1 to 64 characters), `keyAlgorithm`
//! (AWS's names: `EC_prime256v1`, the default, `EC_secp384r1`, `RSA_2048`, `RSA_3072`,
//! `RSA_4096`; signed with SHA-256, SHA-384 for `EC_secp384r1`) and `validityDays` (of its
//! certificate; default 3650).
//!
//! A step's input is its `file` (the `--cli-input-json` file of the README) with
//! `input`'s members set over it. Applying is idempotent, so that `berth up` can apply
//! an example again after a restart: a cluster that exists, a task definition family
//! with a revision, an ACTIVE service, or an ACTIVE CA tagged for the example and
//! placeholder is left as it is (a tagged CA still waiting for its certificate, from a
//! run that stopped halfway, gets it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use berth_acmpca::KeyAlgorithm;
use berth_agent::ServerClient;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::wait::{self, ServiceRef, Waiting};
use crate::{Error, Result};

/// The manifest's file name in an example directory.
pub const MANIFEST: &str = "example.json";

/// The tag key of the private CAs an example makes; its value is `<example>/<placeholder>`.
pub const EXAMPLE_TAG: &str = "berth:example";

/// The template a root CA's own certificate is issued with.
const ROOT_TEMPLATE: &str = "arn:aws:acm-pca:::template/RootCACertificate/V1";

/// The ECS calls an example may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Action {
    CreateCluster,
    RegisterTaskDefinition,
    CreateService,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    ecs: Action,
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    input: Map<String, Value>,
}

/// Where to reach a service of the example.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open {
    pub cluster: String,
    pub service: String,
    /// The port of the task to call (its containerPort: the proxy's ingress takes it).
    pub port: u16,
    #[serde(default = "slash")]
    pub path: String,
}

fn slash() -> String {
    "/".into()
}

/// The container instances' place in the example's network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstanceNetwork {
    /// Their security groups.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Their subnet.
    #[serde(default)]
    pub subnet: Option<String>,
}

/// A private CA an example makes before its steps.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrivateCa {
    /// The string the example's JSON has where the CA's ARN goes.
    pub placeholder: String,
    /// Its subject's common name.
    pub common_name: String,
    /// Its key (AWS Private CA's names; EC_prime256v1 by default).
    #[serde(default = "p256")]
    pub key_algorithm: KeyAlgorithm,
    /// How long its certificate is valid.
    #[serde(default = "ten_years")]
    pub validity_days: u32,
}

fn ten_years() -> u32 {
    3650
}

fn p256() -> KeyAlgorithm {
    KeyAlgorithm::EcPrime256v1
}

impl PrivateCa {
    /// The signing algorithm its certificate is signed with (the one berth's CAs sign
    /// with for its key; `check_private_cas` refuses keys berth does not make).
    fn signing_algorithm(&self) -> &'static str {
        berth_acmpca::default_signing(self.key_algorithm).map_or("", |s| s.as_str())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ManifestFile {
    description: String,
    #[serde(default)]
    secrets: Option<PathBuf>,
    #[serde(default)]
    network: Option<PathBuf>,
    #[serde(default)]
    instance: InstanceNetwork,
    #[serde(default)]
    private_cas: Vec<PrivateCa>,
    #[serde(default)]
    log_groups: Vec<String>,
    steps: Vec<StepFile>,
    #[serde(default)]
    open: Vec<Open>,
}

/// One ECS call of an example, its input complete.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub action: Action,
    pub input: Value,
}

/// A loaded example.
#[derive(Clone, Debug)]
pub struct Example {
    /// Its directory.
    pub dir: PathBuf,
    pub description: String,
    /// Its secrets file, if it has one (absolute).
    pub secrets: Option<PathBuf>,
    /// Its network file, if it has one (absolute).
    pub network: Option<PathBuf>,
    /// Its container instances' subnet and groups.
    pub instance: InstanceNetwork,
    /// The private CAs it makes before its steps.
    pub private_cas: Vec<PrivateCa>,
    /// The CloudWatch Logs groups its tasks' `awslogs` write to, made before its steps
    /// (as its seed makes them, beside the tasks).
    pub log_groups: Vec<String>,
    /// Its calls; [`Example::apply`] puts the CAs' ARNs in place of their placeholders.
    pub steps: Vec<Step>,
    pub open: Vec<Open>,
}

/// What applying a step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// e.g. `CreateService orders (cluster retail-store-ecs-cluster)`.
    pub what: String,
    /// False when it was already there.
    pub created: bool,
}

/// A service of the example that runs, and where its tasks answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reachable {
    pub open: Open,
    /// Its tasks' addresses.
    pub addresses: Vec<String>,
    /// Set when the port speaks TLS (the service's Service Connect entry has `tls`).
    pub tls: Option<TlsPort>,
}

/// What a client of a TLS port needs: a name of the certificate and the CA to trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPort {
    /// The entry's discovery name (a DNS name of its tasks' certificates).
    pub server_name: String,
    /// The CA that issues the certificates.
    pub authority_arn: String,
}

impl Reachable {
    /// The curl command lines that reach each task; with TLS, `ca_file` is the CA's
    /// certificate (PEM).
    pub fn curl(&self, ca_file: &Path) -> Vec<String> {
        let (port, path) = (self.open.port, &self.open.path);
        (self.addresses.iter())
            .map(|ip| match &self.tls {
                None => format!("curl http://{ip}:{port}{path}"),
                Some(t) => {
                    let n = &t.server_name;
                    format!(
                        "curl --cacert {} --resolve {n}:{port}:{ip} https://{n}:{port}{path}",
                        ca_file.display()
                    )
                }
            })
            .collect()
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Example(format!("{}: {message}", path.display()))
}

fn str_of<'a>(input: &'a Value, field: &str) -> &'a str {
    input[field].as_str().unwrap_or_default()
}

/// Step `i` of the manifest at `path` (in `dir`): its file's input with `input` over it,
/// which must name what the action makes.
fn step(dir: &Path, path: &Path, i: usize, s: StepFile) -> Result<Step> {
    let mut input = match &s.file {
        None => Map::new(),
        Some(f) => {
            let text = std::fs::read_to_string(dir.join(f))
                .map_err(|e| bad(path, format!("steps[{i}].file: {}: {e}", f.display())))?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(o)) => o,
                Ok(_) => {
                    let what = format!("steps[{i}].file: {} is not a JSON object", f.display());
                    return Err(bad(path, what));
                }
                Err(e) => return Err(bad(path, format!("steps[{i}].file: {}: {e}", f.display()))),
            }
        }
    };
    input.extend(s.input);
    let input = Value::Object(input);
    let need = match s.ecs {
        Action::CreateCluster => "clusterName",
        Action::RegisterTaskDefinition => "family",
        Action::CreateService => "serviceName",
    };
    if str_of(&input, need).is_empty() {
        return Err(bad(path, format!("steps[{i}]: {:?} needs {need}", s.ecs)));
    }
    Ok(Step {
        action: s.ecs,
        input,
    })
}

impl Example {
    /// Loads the example in `dir` (its `example.json` and the files its steps name).
    pub fn load(dir: &Path) -> Result<Example> {
        let dir = std::path::absolute(dir).map_err(|e| bad(dir, e))?;
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(
                &path,
                format!("{e} (an example is a directory with an {MANIFEST})"),
            )
        })?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let m: ManifestFile = serde_path_to_error::deserialize(de).map_err(|e| bad(&path, e))?;
        let steps = m
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| step(&dir, &path, i, s))
            .collect::<Result<Vec<_>>>()?;
        check_private_cas(&m.private_cas, &steps).map_err(|e| bad(&path, e))?;
        for (i, o) in m.open.iter().enumerate() {
            let known = steps.iter().any(|s| {
                s.action == Action::CreateService
                    && str_of(&s.input, "serviceName") == o.service
                    && cluster_of(&s.input) == o.cluster
            });
            if !known {
                return Err(bad(
                    &path,
                    format!(
                        "open[{i}]: no CreateService step makes service {} in cluster {}",
                        o.service, o.cluster
                    ),
                ));
            }
        }
        let file = |field: &str, name: Option<PathBuf>| match name {
            None => Ok(None),
            Some(s) => {
                let p = dir.join(s);
                if !p.is_file() {
                    return Err(bad(&path, format!("{field}: no file {}", p.display())));
                }
                Ok(Some(p))
            }
        };
        let secrets = file("secrets", m.secrets)?;
        let network = file("network", m.network)?;
        Ok(Example {
            dir,
            description: m.description,
            secrets,
            network,
            instance: m.instance,
            private_cas: m.private_cas,
            log_groups: m.log_groups,
            steps,
            open: m.open,
        })
    }

    /// The example's name (its directory's).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    }

    /// Makes the example's private CAs (or finds those an earlier run made), puts their
    /// ARNs in place of their placeholders in the steps, and makes the calls that are
    /// not done yet, in order.
    pub async fn apply(&mut self, client: &ServerClient) -> Result<Vec<Applied>> {
        let mut out = Vec::with_capacity(self.private_cas.len() + self.steps.len());
        let mut arns = BTreeMap::new();
        let name = self.name();
        for group in &self.log_groups {
            out.push(ensure_log_group(client, group).await?);
        }
        for ca in &self.private_cas {
            let (arn, created) = ensure_ca(client, &name, ca).await?;
            out.push(Applied {
                what: format!("private CA {} ({}): {arn}", ca.placeholder, ca.common_name),
                created,
            });
            arns.insert(ca.placeholder.clone(), arn);
        }
        for step in &mut self.steps {
            substitute(&mut step.input, &arns);
        }
        for step in &self.steps {
            out.push(apply_step(client, step).await?);
        }
        Ok(out)
    }

    /// The services the example creates.
    pub fn services(&self) -> Vec<ServiceRef> {
        (self.steps.iter())
            .filter(|s| s.action == Action::CreateService)
            .map(|s| ServiceRef {
                cluster: cluster_of(&s.input).to_string(),
                service: str_of(&s.input, "serviceName").to_string(),
            })
            .collect()
    }

    /// Waits until every service the example creates runs (see [`wait::until_running`]:
    /// `progress` gets those it still waits for, every `every`); then returns the URLs
    /// of the `open` services' tasks.
    pub async fn wait_running(
        &self,
        client: &ServerClient,
        timeout: Duration,
        every: Duration,
        progress: impl FnMut(&[Waiting]),
    ) -> Result<Vec<Reachable>> {
        let ips = wait::until_running(client, &self.services(), timeout, every, progress).await?;
        let addresses = |o: &Open| {
            let of = ServiceRef {
                cluster: o.cluster.clone(),
                service: o.service.clone(),
            };
            (ips.get(&of).into_iter().flatten())
                .map(ToString::to_string)
                .collect()
        };
        Ok((self.open.iter())
            .map(|o| Reachable {
                open: o.clone(),
                addresses: addresses(o),
                tls: self.tls_of(o),
            })
            .collect())
    }

    /// Whether `open`'s port speaks TLS: its service's Service Connect entry for that
    /// port (the container port its `portName` names, in the example's task definition;
    /// any entry when the example does not register it) has `tls`.
    pub fn tls_of(&self, open: &Open) -> Option<TlsPort> {
        let svc = self.steps.iter().find(|s| {
            s.action == Action::CreateService
                && str_of(&s.input, "serviceName") == open.service
                && cluster_of(&s.input) == open.cluster
        })?;
        let family = str_of(&svc.input, "taskDefinition");
        let family = family.rsplit('/').next().unwrap_or_default();
        let family = family.split(':').next().unwrap_or_default();
        let td = self.steps.iter().find(|s| {
            s.action == Action::RegisterTaskDefinition && str_of(&s.input, "family") == family
        });
        let port_of = |name: &str| -> Option<u64> {
            let containers = td?.input["containerDefinitions"].as_array()?;
            (containers.iter())
                .flat_map(|c| c["portMappings"].as_array().into_iter().flatten())
                .find(|p| p["name"] == name)
                .and_then(|p| p["containerPort"].as_u64())
        };
        let entries = svc.input["serviceConnectConfiguration"]["services"].as_array()?;
        entries.iter().find_map(|e| {
            let arn = e["tls"]["issuerCertificateAuthority"]["awsPcaAuthorityArn"].as_str()?;
            let port_name = str_of(e, "portName");
            if td.is_some() && port_of(port_name) != Some(u64::from(open.port)) {
                return None;
            }
            let discovery = str_of(e, "discoveryName");
            Some(TlsPort {
                server_name: if discovery.is_empty() {
                    port_name
                } else {
                    discovery
                }
                .to_string(),
                authority_arn: arn.to_string(),
            })
        })
    }
}

/// The private CAs are sound: each placeholder named once, and found in a step's input.
fn check_private_cas(cas: &[PrivateCa], steps: &[Step]) -> Result<(), String> {
    for (i, ca) in cas.iter().enumerate() {
        if ca.placeholder.is_empty() {
            return Err(format!("privateCas[{i}].placeholder: must not be empty"));
        }
        if cas[..i].iter().any(|c| c.placeholder == ca.placeholder) {
            return Err(format!(
                "privateCas[{i}].placeholder: {:?} is named twice",
                ca.placeholder
            ));
        }
        if !(1..=64).contains(&ca.common_name.chars().count()) {
            return Err(format!(
                "privateCas[{i}].commonName: must have 1 to 64 characters"
            ));
        }
        if ca.validity_days == 0 {
            return Err(format!("privateCas[{i}].validityDays: must be at least 1"));
        }
        if berth_acmpca::default_signing(ca.key_algorithm).is_none() {
            return Err(format!(
                "privateCas[{i}].keyAlgorithm: berth makes EC_prime256v1, EC_secp384r1, RSA_2048, RSA_3072 or RSA_4096 keys, not {}",
                ca.key_algorithm
            ));
        }
        if !steps.iter().any(|s| holds(&s.input, &ca.placeholder)) {
            return Err(format!(
                "privateCas[{i}].placeholder: no step's input has the string {:?}",
                ca.placeholder
            ));
        }
    }
    Ok(())
}

/// Whether `v` has the JSON string `s` anywhere (object keys aside).
fn holds(v: &Value, s: &str) -> bool {
    match v {
        Value::String(x) => x == s,
        Value::Array(a) => a.iter().any(|v| holds(v, s)),
        Value::Object(o) => o.values().any(|v| holds(v, s)),
        _ => false,
    }
}

/// Replaces every JSON string of `v` that is a key of `with` (object keys aside) by its
/// value.
pub fn substitute(v: &mut Value, with: &BTreeMap<String, String>) {
    match v {
        Value::String(x) => {
            if let Some(new) = with.get(x.as_str()) {
                *x = new.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| substitute(v, with)),
        Value::Object(o) => o.values_mut().for_each(|v| substitute(v, with)),
        _ => {}
    }
}

fn ca_error(ca: &PrivateCa, op: &str, e: berth_agent::Error) -> Error {
    Error::Example(format!("private CA {}: {op}: {e}", ca.placeholder))
}

/// The ARN of the example's CA for `ca`: an ACTIVE one tagged for it, one tagged for it
/// that waits for its certificate (given it now), or a new one; and whether it is new.
async fn ensure_ca(client: &ServerClient, example: &str, ca: &PrivateCa) -> Result<(String, bool)> {
    let tag = format!("{example}/{}", ca.placeholder);
    match find_tagged(client, ca, &tag).await? {
        Some((arn, status)) if status == "ACTIVE" => return Ok((arn, false)),
        Some((arn, _)) => {
            install_root_certificate(client, ca, &arn).await?;
            return Ok((arn, false));
        }
        None => {}
    }
    let out = client
        .acmpca(
            "CreateCertificateAuthority",
            &json!({
                "CertificateAuthorityType": "ROOT",
                "CertificateAuthorityConfiguration": {
                    "KeyAlgorithm": ca.key_algorithm.as_str(),
                    "SigningAlgorithm": ca.signing_algorithm(),
                    "Subject": {"CommonName": ca.common_name},
                },
                "Tags": [{"Key": EXAMPLE_TAG, "Value": tag}, {"Key": "Name", "Value": ca.common_name}],
            }),
        )
        .await
        .map_err(|e| ca_error(ca, "CreateCertificateAuthority", e))?;
    let arn = str_of(&out, "CertificateAuthorityArn").to_string();
    install_root_certificate(client, ca, &arn).await?;
    Ok((arn, true))
}

/// The CA tagged `EXAMPLE_TAG = tag` that is ACTIVE, else one waiting for its
/// certificate: (ARN, status).
async fn find_tagged(
    client: &ServerClient,
    ca: &PrivateCa,
    tag: &str,
) -> Result<Option<(String, String)>> {
    let mut found: Option<(String, String)> = None;
    let mut input = json!({});
    loop {
        let page = client
            .acmpca("ListCertificateAuthorities", &input)
            .await
            .map_err(|e| ca_error(ca, "ListCertificateAuthorities", e))?;
        for c in page["CertificateAuthorities"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let status = str_of(c, "Status");
            if status != "ACTIVE" && status != "PENDING_CERTIFICATE" {
                continue;
            }
            if found.as_ref().is_some_and(|(_, s)| s == "ACTIVE") {
                break;
            }
            let arn = str_of(c, "Arn");
            let tags = client
                .acmpca("ListTags", &json!({"CertificateAuthorityArn": arn}))
                .await
                .map_err(|e| ca_error(ca, "ListTags", e))?;
            let ours = (tags["Tags"].as_array().into_iter().flatten())
                .any(|t| t["Key"] == EXAMPLE_TAG && t["Value"] == tag);
            if ours && found.as_ref().is_none_or(|(_, s)| s != "ACTIVE") {
                found = Some((arn.to_string(), status.to_string()));
            }
        }
        match page["NextToken"].as_str() {
            Some(t) if !t.is_empty() => input = json!({"NextToken": t}),
            _ => return Ok(found),
        }
    }
}

/// Gives a root CA waiting for its certificate one, as AWS's documentation does: its
/// CSR signed by itself with the root template, imported.
async fn install_root_certificate(client: &ServerClient, ca: &PrivateCa, arn: &str) -> Result<()> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let call = |op: &'static str, input: Value| async move {
        client
            .acmpca(op, &input)
            .await
            .map_err(|e| ca_error(ca, op, e))
    };
    let csr = call(
        "GetCertificateAuthorityCsr",
        json!({"CertificateAuthorityArn": arn}),
    )
    .await?;
    let issued = call(
        "IssueCertificate",
        json!({
            "CertificateAuthorityArn": arn,
            "Csr": b64(str_of(&csr, "Csr")),
            "SigningAlgorithm": ca.signing_algorithm(),
            "TemplateArn": ROOT_TEMPLATE,
            "Validity": {"Value": ca.validity_days, "Type": "DAYS"},
        }),
    )
    .await?;
    let cert = call(
        "GetCertificate",
        json!({"CertificateAuthorityArn": arn, "CertificateArn": issued["CertificateArn"]}),
    )
    .await?;
    call(
        "ImportCertificateAuthorityCertificate",
        json!({"CertificateAuthorityArn": arn, "Certificate": b64(str_of(&cert, "Certificate"))}),
    )
    .await?;
    Ok(())
}

/// Writes the certificate of the CA `arn` (and its chain, PEM) to `<dir>/<CA id>.pem`;
/// returns the file's path.
pub async fn save_ca_certificate(client: &ServerClient, arn: &str, dir: &Path) -> Result<PathBuf> {
    let out = client
        .acmpca(
            "GetCertificateAuthorityCertificate",
            &json!({"CertificateAuthorityArn": arn}),
        )
        .await?;
    let mut pem = str_of(&out, "Certificate").trim_end().to_string();
    pem.push('\n');
    let chain = str_of(&out, "CertificateChain").trim();
    if !chain.is_empty() {
        pem.push_str(chain);
        pem.push('\n');
    }
    let id = arn.rsplit('/').next().unwrap_or("ca");
    let path = dir.join(format!("{id}.pem"));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, pem))
        .map_err(|e| bad(&path, e))?;
    Ok(path)
}

/// The cluster a CreateService input names (ECS's default cluster when none).
fn cluster_of(input: &Value) -> &str {
    let c = str_of(input, "cluster");
    let c = c.rsplit('/').next().unwrap_or_default();
    if c.is_empty() {
        "default"
    } else {
        c
    }
}

/// Makes a log group unless it exists.
async fn ensure_log_group(client: &ServerClient, group: &str) -> Result<Applied> {
    let input = json!({"logGroupName": group});
    let created = match client
        .call("Logs_20140328", "logs", "CreateLogGroup", &input)
        .await
    {
        Ok(_) => true,
        Err(berth_agent::Error::Api { code, .. }) if code == "ResourceAlreadyExistsException" => {
            false
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Applied {
        what: format!("CreateLogGroup {group}"),
        created,
    })
}

async fn apply_step(client: &ServerClient, step: &Step) -> Result<Applied> {
    let input = &step.input;
    match step.action {
        Action::CreateCluster => {
            let name = str_of(input, "clusterName");
            let d = client
                .ecs("DescribeClusters", &json!({"clusters": [name]}))
                .await?;
            let exists = d["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["status"] != "INACTIVE");
            if !exists {
                client.ecs("CreateCluster", input).await?;
            }
            Ok(Applied {
                what: format!("CreateCluster {name}"),
                created: !exists,
            })
        }
        Action::RegisterTaskDefinition => {
            let family = str_of(input, "family");
            let d = client
                .ecs("DescribeTaskDefinition", &json!({"taskDefinition": family}))
                .await;
            match d {
                Ok(d) => Ok(Applied {
                    what: format!(
                        "RegisterTaskDefinition {family} (revision {} kept)",
                        d["taskDefinition"]["revision"]
                    ),
                    created: false,
                }),
                Err(berth_agent::Error::Api { code, .. }) if code == "ClientException" => {
                    let out = client.ecs("RegisterTaskDefinition", input).await?;
                    Ok(Applied {
                        what: format!(
                            "RegisterTaskDefinition {family}:{}",
                            out["taskDefinition"]["revision"]
                        ),
                        created: true,
                    })
                }
                Err(e) => Err(e.into()),
            }
        }
        Action::CreateService => {
            let name = str_of(input, "serviceName");
            let cluster = cluster_of(input);
            let d = client
                .ecs(
                    "DescribeServices",
                    &json!({"cluster": cluster, "services": [name]}),
                )
                .await?;
            let exists = d["services"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["status"] == "ACTIVE");
            if !exists {
                client.ecs("CreateService", input).await?;
            }
            Ok(Applied {
                what: format!("CreateService {name} (cluster {cluster})"),
                created: !exists,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn steps_merge_their_file_and_input() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "svc.json",
            r#"{"serviceName": "nginx", "desiredCount": 1}"#,
        );
        write(
            d.path(),
            MANIFEST,
            r#"{"description": "x", "steps": [
                {"ecs": "CreateCluster", "input": {"clusterName": "tutorial"}},
                {"ecs": "CreateService", "file": "svc.json", "input": {"cluster": "tutorial", "desiredCount": 2}}
            ], "open": [{"cluster": "tutorial", "service": "nginx", "port": 80}]}"#,
        );
        let e = Example::load(d.path()).unwrap();
        assert_eq!(e.steps.len(), 2);
        assert_eq!(
            e.steps[1].input,
            json!({"serviceName": "nginx", "desiredCount": 2, "cluster": "tutorial"})
        );
        assert_eq!(e.open[0].path, "/");
        assert_eq!(e.secrets, None);
    }

    #[test]
    fn bad_manifests_name_the_field() {
        let d = tempfile::tempdir().unwrap();
        let err = |text: &str| {
            write(d.path(), MANIFEST, text);
            Example::load(d.path()).unwrap_err().to_string()
        };
        let e = err(r#"{"description": "x", "steps": [{"ecs": "DeleteCluster"}]}"#);
        assert!(e.contains("steps[0].ecs"), "{e}");
        let e = err(
            r#"{"description": "x", "steps": [{"ecs": "CreateService", "file": "nope.json"}]}"#,
        );
        assert!(e.contains("steps[0].file: nope.json"), "{e}");
        let e = err(r#"{"description": "x", "steps": [{"ecs": "CreateCluster"}]}"#);
        assert!(e.contains("needs clusterName"), "{e}");
        let e = err(
            r#"{"description": "x", "steps": [], "open": [{"cluster": "c", "service": "s", "port": 1}]}"#,
        );
        assert!(e.contains("open[0]: no CreateService step"), "{e}");
        let e = err(r#"{"description": "x", "steps": [], "secrets": "s.json"}"#);
        assert!(e.contains("secrets: no file"), "{e}");
        let e = Example::load(&d.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(MANIFEST), "{e}");
    }

    const TLS_SERVICE: &str = r#"{"serviceName": "web", "cluster": "c", "taskDefinition": "web:3",
        "serviceConnectConfiguration": {"services": [{"portName": "http",
            "tls": {"issuerCertificateAuthority": {"awsPcaAuthorityArn": "certificateArn"},
                    "kmsKey": "kmsKey", "roleArn": "iamRoleArn"}}]}}"#;

    #[test]
    fn private_cas_are_read_with_their_defaults() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "svc.json", TLS_SERVICE);
        write(
            d.path(),
            MANIFEST,
            r#"{"description": "x",
                "privateCas": [{"placeholder": "certificateArn", "commonName": "CA one"},
                               {"placeholder": "kmsKey", "commonName": "CA two",
                                "keyAlgorithm": "EC_secp384r1", "validityDays": 30}],
                "steps": [{"ecs": "CreateService", "file": "svc.json"}]}"#,
        );
        let e = Example::load(d.path()).unwrap();
        assert_eq!(
            e.private_cas,
            [
                PrivateCa {
                    placeholder: "certificateArn".into(),
                    common_name: "CA one".into(),
                    key_algorithm: KeyAlgorithm::EcPrime256v1,
                    validity_days: 3650,
                },
                PrivateCa {
                    placeholder: "kmsKey".into(),
                    common_name: "CA two".into(),
                    key_algorithm: KeyAlgorithm::EcSecp384r1,
                    validity_days: 30,
                },
            ]
        );
        assert_eq!(e.private_cas[1].signing_algorithm(), "SHA384WITHECDSA");
        let rsa = |k| PrivateCa {
            key_algorithm: k,
            ..e.private_cas[0].clone()
        };
        assert_eq!(
            rsa(KeyAlgorithm::Rsa4096).signing_algorithm(),
            "SHA256WITHRSA"
        );
        assert_eq!(KeyAlgorithm::Rsa2048.as_str(), "RSA_2048");
    }

    #[test]
    fn bad_private_cas_name_the_field() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "svc.json", TLS_SERVICE);
        let err = |cas: &str| {
            let text = format!(
                r#"{{"description": "x", "privateCas": {cas},
                    "steps": [{{"ecs": "CreateService", "file": "svc.json"}}]}}"#
            );
            write(d.path(), MANIFEST, &text);
            Example::load(d.path()).unwrap_err().to_string()
        };
        let e = err(r#"[{"placeholder": "certificateArn"}]"#);
        assert!(
            e.contains("privateCas[0]") && e.contains("commonName"),
            "{e}"
        );
        let e = err(r#"[{"placeholder": "certificateArn", "commonName": "c", "size": 1}]"#);
        assert!(e.contains("privateCas[0]") && e.contains("size"), "{e}");
        let e = err(
            r#"[{"placeholder": "certificateArn", "commonName": "c", "keyAlgorithm": "EC_secp521r1"}]"#,
        );
        assert!(e.contains("privateCas[0].keyAlgorithm"), "{e}");
        let e = err(r#"[{"placeholder": "", "commonName": "c"}]"#);
        assert!(
            e.contains("privateCas[0].placeholder: must not be empty"),
            "{e}"
        );
        let e = err(r#"[{"placeholder": "nowhere", "commonName": "c"}]"#);
        assert!(
            e.contains(r#"privateCas[0].placeholder: no step's input has the string "nowhere""#),
            "{e}"
        );
        let e = err(r#"[{"placeholder": "certificateArn", "commonName": "c"},
                {"placeholder": "certificateArn", "commonName": "d"}]"#);
        assert!(
            e.contains("privateCas[1].placeholder: \"certificateArn\" is named twice"),
            "{e}"
        );
        let long = "x".repeat(65);
        let e = err(&format!(
            r#"[{{"placeholder": "certificateArn", "commonName": "{long}"}}]"#
        ));
        assert!(
            e.contains("privateCas[0].commonName: must have 1 to 64"),
            "{e}"
        );
        let e = err(r#"[{"placeholder": "certificateArn", "commonName": "c", "validityDays": 0}]"#);
        assert!(e.contains("privateCas[0].validityDays"), "{e}");
    }

    #[test]
    fn placeholders_become_arns_wherever_they_are_a_string() {
        let mut v = json!({
            "certificateArn": "certificateArn",
            "a": ["certificateArn", "certificateArn-2", 1, null, {"b": "kms"}],
            "c": {"awsPcaAuthorityArn": "certificateArn"},
        });
        let with = BTreeMap::from([
            ("certificateArn".to_string(), "arn:ca".to_string()),
            ("kms".to_string(), "arn:key".to_string()),
        ]);
        substitute(&mut v, &with);
        assert_eq!(
            v,
            json!({
                "certificateArn": "arn:ca",
                "a": ["arn:ca", "certificateArn-2", 1, null, {"b": "arn:key"}],
                "c": {"awsPcaAuthorityArn": "arn:ca"},
            })
        );
        assert!(holds(&json!([{"x": "p"}]), "p"));
        assert!(!holds(&json!({"p": 1}), "p"));
    }

    #[test]
    fn tls_ports_are_reached_by_name_with_the_ca() {
        let open = Open {
            cluster: "c".into(),
            service: "web".into(),
            port: 80,
            path: "/".into(),
        };
        let mut r = Reachable {
            open,
            addresses: vec!["10.213.0.5".into(), "10.213.0.6".into()],
            tls: None,
        };
        let ca = Path::new("/d/ca/x.pem");
        assert_eq!(
            r.curl(ca),
            ["curl http://10.213.0.5:80/", "curl http://10.213.0.6:80/"]
        );
        r.tls = Some(TlsPort {
            server_name: "nginx".into(),
            authority_arn: "arn:ca".into(),
        });
        assert_eq!(
            r.curl(ca)[1],
            "curl --cacert /d/ca/x.pem --resolve nginx:80:10.213.0.6 https://nginx:80/"
        );
    }

    #[test]
    fn the_shipped_examples_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut n = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join(MANIFEST).is_file() {
                let e = Example::load(&dir).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    !e.steps.is_empty() && !e.open.is_empty(),
                    "{}",
                    dir.display()
                );
                n += 1;
            }
        }
        assert!(
            n >= 3,
            "expected the nginx, retail-store and cats-dogs examples"
        );
        // The tutorial's service speaks TLS on nginx's port, with the CA made for it.
        let nginx = Example::load(&root.join("nginx")).unwrap();
        assert_eq!(nginx.private_cas[0].placeholder, "certificateArn");
        assert_eq!(
            nginx.tls_of(&nginx.open[0]),
            Some(TlsPort {
                server_name: "nginx".into(),
                authority_arn: "certificateArn".into()
            })
        );
    }
}
