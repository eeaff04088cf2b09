//! The Cloud Map API through the real AWS SDK for Rust, against a real berth server.

mod common;

use std::collections::HashMap;

use aws_sdk_servicediscovery::types::{
    CustomHealthStatus, HealthCheckCustomConfig, HealthStatusFilter, NamespaceFilter,
    NamespaceFilterName, OperationStatus, OperationTargetType, Tag,
};
use common::TestServer;

fn sd_code<E: aws_sdk_servicediscovery::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_servicediscovery::error::SdkError<E, R>,
) -> String {
    match e {
        aws_sdk_servicediscovery::error::SdkError::ServiceError(s) => {
            s.err().code().unwrap_or("").to_string()
        }
        _ => "not a service error".into(),
    }
}

async fn namespace(sd: &aws_sdk_servicediscovery::Client, name: &str) -> String {
    let op = sd.create_http_namespace().name(name).send().await.unwrap();
    let op = sd
        .get_operation()
        .operation_id(op.operation_id().unwrap())
        .send()
        .await
        .unwrap();
    let op = op.operation().unwrap();
    assert_eq!(op.status(), Some(&OperationStatus::Success));
    op.targets()
        .unwrap()
        .get(&OperationTargetType::Namespace)
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_services_instances_and_discovery() {
    let s = TestServer::start().await;
    let sd = s.sd();
    let ns = namespace(&sd, "retailstore.local").await;
    let got = sd.get_namespace().id(&ns).send().await.unwrap();
    let n = got.namespace().unwrap();
    assert_eq!(n.name(), Some("retailstore.local"));
    assert_eq!(
        n.properties()
            .unwrap()
            .http_properties()
            .unwrap()
            .http_name(),
        Some("retailstore.local")
    );
    assert!(n.create_date().is_some());

    let list = sd
        .list_namespaces()
        .filters(
            NamespaceFilter::builder()
                .name(NamespaceFilterName::Name)
                .values("retailstore.local")
                .condition(aws_sdk_servicediscovery::types::FilterCondition::Eq)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(list.namespaces().len(), 1);

    let svc = sd
        .create_service()
        .name("orders")
        .namespace_id(&ns)
        .send()
        .await
        .unwrap();
    let srv = svc.service().unwrap().id().unwrap().to_string();
    for (id, ip) in [("t1", "10.0.0.1"), ("t2", "10.0.0.2")] {
        sd.register_instance()
            .service_id(&srv)
            .instance_id(id)
            .attributes("AWS_INSTANCE_IPV4", ip)
            .attributes("AWS_INSTANCE_PORT", "8080")
            .attributes("ECS_CLUSTER_NAME", "retail")
            .send()
            .await
            .unwrap();
    }
    let found = sd
        .discover_instances()
        .namespace_name("retailstore.local")
        .service_name("orders")
        .send()
        .await
        .unwrap();
    let mut ips: Vec<_> = found
        .instances()
        .iter()
        .map(|i| i.attributes().unwrap()["AWS_INSTANCE_IPV4"].clone())
        .collect();
    ips.sort();
    assert_eq!(ips, ["10.0.0.1", "10.0.0.2"]);
    let rev1 = found.instances_revision().unwrap();
    let r = sd
        .discover_instances_revision()
        .namespace_name("retailstore.local")
        .service_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(r.instances_revision(), Some(rev1));

    // Attribute filters.
    let filtered = sd
        .discover_instances()
        .namespace_name("retailstore.local")
        .service_name("orders")
        .query_parameters("AWS_INSTANCE_IPV4", "10.0.0.2")
        .health_status(HealthStatusFilter::All)
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.instances().len(), 1);

    // Deregistering moves the revision and the instance is gone.
    sd.deregister_instance()
        .service_id(&srv)
        .instance_id("t1")
        .send()
        .await
        .unwrap();
    let found = sd
        .discover_instances()
        .namespace_name("retailstore.local")
        .service_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(found.instances().len(), 1);
    assert!(found.instances_revision().unwrap() > rev1);
    let e = sd
        .get_instance()
        .service_id(&srv)
        .instance_id("t1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sd_code(&e), "InstanceNotFound");
    let l = sd.list_instances().service_id(&srv).send().await.unwrap();
    assert_eq!(l.instances().len(), 1);

    // A namespace with services is in use; a service with instances too.
    let e = sd.delete_namespace().id(&ns).send().await.unwrap_err();
    assert_eq!(sd_code(&e), "ResourceInUse");
    let e = sd.delete_service().id(&srv).send().await.unwrap_err();
    assert_eq!(sd_code(&e), "ResourceInUse");
    sd.deregister_instance()
        .service_id(&srv)
        .instance_id("t2")
        .send()
        .await
        .unwrap();
    sd.delete_service().id(&srv).send().await.unwrap();
    sd.delete_namespace().id(&ns).send().await.unwrap();
    let e = sd.get_namespace().id(&ns).send().await.unwrap_err();
    assert_eq!(sd_code(&e), "NamespaceNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_health_and_tags_and_errors() {
    let s = TestServer::start().await;
    let sd = s.sd();
    let ns = namespace(&sd, "health").await;
    let svc = sd
        .create_service()
        .name("api")
        .namespace_id(&ns)
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .tags(Tag::builder().key("team").value("a").build().unwrap())
        .send()
        .await
        .unwrap();
    let svc = svc.service().unwrap();
    let srv = svc.id().unwrap().to_string();
    sd.register_instance()
        .service_id(&srv)
        .instance_id("a")
        .set_attributes(Some(HashMap::from([(
            "AWS_INSTANCE_IPV4".to_string(),
            "10.1.0.1".to_string(),
        )])))
        .send()
        .await
        .unwrap();
    sd.update_instance_custom_health_status()
        .service_id(&srv)
        .instance_id("a")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap();
    let h = sd
        .get_instances_health_status()
        .service_id(&srv)
        .send()
        .await
        .unwrap();
    assert_eq!(h.status().unwrap()["a"].as_str(), "UNHEALTHY");
    let healthy = sd
        .discover_instances()
        .namespace_name("health")
        .service_name("api")
        .health_status(HealthStatusFilter::Healthy)
        .send()
        .await
        .unwrap();
    assert!(healthy.instances().is_empty());

    let tags = sd
        .list_tags_for_resource()
        .resource_arn(svc.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "team");

    let e = sd
        .create_service()
        .name("api")
        .namespace_id(&ns)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sd_code(&e), "ServiceAlreadyExists");
    let e = sd
        .create_http_namespace()
        .name("health")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sd_code(&e), "NamespaceAlreadyExists");
    let e = sd
        .create_service()
        .name("x")
        .namespace_id("ns-doesnotexist0000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sd_code(&e), "NamespaceNotFound");
    let e = sd
        .register_instance()
        .service_id("srv-doesnotexist0000")
        .instance_id("a")
        .attributes("AWS_INSTANCE_IPV4", "10.0.0.9")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sd_code(&e), "ServiceNotFound");
    let e = sd
        .get_operation()
        .operation_id("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sd_code(&e), "OperationNotFound");
}
