//! An example's private CAs on a real server: made by the root-CA flow before the steps,
//! their ARNs put in place of the placeholders, and found again (not made twice) when
//! the example is applied once more, as after a restart of `berth up`.

mod common;

use berth_up::example::{save_ca_certificate, EXAMPLE_TAG};
use berth_up::Example;
use serde_json::json;

const EXAMPLE: &str = r#"{
  "description": "a TLS service",
  "privateCas": [{"placeholder": "certificateArn", "commonName": "test CA"}],
  "steps": [
    {"ecs": "CreateCluster", "input": {"clusterName": "c", "serviceConnectDefaults": {"namespace": "sc"}}},
    {"ecs": "RegisterTaskDefinition", "input": {"family": "web", "memory": "128",
      "containerDefinitions": [{"name": "web", "image": "nginx",
        "portMappings": [{"name": "http", "containerPort": 80}, {"name": "admin", "containerPort": 9000}]}]}},
    {"ecs": "CreateService", "input": {"cluster": "c", "serviceName": "web", "taskDefinition": "web",
      "desiredCount": 0,
      "serviceConnectConfiguration": {"enabled": true, "services": [
        {"portName": "http", "discoveryName": "web",
         "tls": {"issuerCertificateAuthority": {"awsPcaAuthorityArn": "certificateArn"}}},
        {"portName": "admin"}]}}}
  ],
  "open": [{"cluster": "c", "service": "web", "port": 80}, {"cluster": "c", "service": "web", "port": 9000}]
}"#;

#[tokio::test]
async fn private_cas_are_made_once_and_named_by_the_steps() {
    let common::Running {
        server,
        client,
        _data,
    } = common::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("example.json"), EXAMPLE).unwrap();
    let name = Example::load(dir.path()).unwrap().name();

    let mut first = Example::load(dir.path()).unwrap();
    let applied = first.apply(&client).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(applied[0].created, "{applied:?}");
    assert!(applied[0].what.starts_with("private CA certificateArn (test CA): arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/"), "{applied:?}");
    let arn = applied[0].what.rsplit(": ").next().unwrap().to_string();

    let ca = client
        .acmpca(
            "DescribeCertificateAuthority",
            &json!({"CertificateAuthorityArn": arn}),
        )
        .await
        .unwrap();
    assert_eq!(ca["CertificateAuthority"]["Status"], "ACTIVE", "{ca}");
    assert_eq!(ca["CertificateAuthority"]["Type"], "ROOT", "{ca}");
    let tags = client
        .acmpca("ListTags", &json!({"CertificateAuthorityArn": arn}))
        .await
        .unwrap();
    assert!(
        tags["Tags"]
            .as_array()
            .unwrap()
            .contains(&json!({"Key": EXAMPLE_TAG, "Value": format!("{name}/certificateArn")})),
        "{tags}"
    );
    let d = client
        .ecs(
            "DescribeServices",
            &json!({"cluster": "c", "services": ["web"]}),
        )
        .await
        .unwrap();
    let entry = &d["services"][0]["deployments"][0]["serviceConnectConfiguration"]["services"][0];
    assert_eq!(
        entry["tls"]["issuerCertificateAuthority"]["awsPcaAuthorityArn"], arn,
        "{d}"
    );

    // Port 80 speaks TLS, 9000 does not.
    let tls = first.tls_of(&first.open[0]).unwrap();
    assert_eq!(
        (tls.server_name.as_str(), tls.authority_arn.as_str()),
        ("web", arn.as_str())
    );
    assert_eq!(first.tls_of(&first.open[1]), None);

    // Again, as after a restart: the same CA, nothing new.
    let mut again = Example::load(dir.path()).unwrap();
    let applied = again.apply(&client).await.unwrap();
    assert!(applied.iter().all(|a| !a.created), "{applied:?}");
    assert!(applied[0].what.ends_with(&arn), "{applied:?}");
    let list = client
        .acmpca("ListCertificateAuthorities", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        list["CertificateAuthorities"].as_array().unwrap().len(),
        1,
        "{list}"
    );

    // A CA that waits for its certificate (a run stopped halfway) gets it.
    let pending = client
        .acmpca(
            "CreateCertificateAuthority",
            &json!({"CertificateAuthorityType": "ROOT",
                "CertificateAuthorityConfiguration": {"KeyAlgorithm": "EC_prime256v1",
                    "SigningAlgorithm": "SHA256WITHECDSA", "Subject": {"CommonName": "half"}},
                "Tags": [{"Key": EXAMPLE_TAG, "Value": format!("{name}/other")}]}),
        )
        .await
        .unwrap()["CertificateAuthorityArn"]
        .as_str()
        .unwrap()
        .to_string();
    let text = EXAMPLE.replace("\"certificateArn\"", "\"other\"").replace(
        "\"placeholder\": \"certificateArn\"",
        "\"placeholder\": \"other\"",
    );
    std::fs::write(dir.path().join("example.json"), text).unwrap();
    let mut other = Example::load(dir.path()).unwrap();
    let applied = other.apply(&client).await.unwrap();
    assert!(applied[0].what.ends_with(&pending), "{applied:?}");
    let ca = client
        .acmpca(
            "DescribeCertificateAuthority",
            &json!({"CertificateAuthorityArn": pending}),
        )
        .await
        .unwrap();
    assert_eq!(ca["CertificateAuthority"]["Status"], "ACTIVE", "{ca}");

    // The CA's certificate, for curl --cacert.
    let pem_dir = tempfile::tempdir().unwrap();
    let path = save_ca_certificate(&client, &arn, pem_dir.path())
        .await
        .unwrap();
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1, "{pem}");
    server.shutdown().await;
}
