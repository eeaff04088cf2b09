//! The ECS API through the real AWS SDK for Rust, against a real berth server.

mod common;

use std::time::Duration;

use aws_sdk_ecs::types::{
    ApplicationProtocol, AwsVpcConfiguration, ClusterField, ClusterServiceConnectDefaultsRequest,
    ContainerDefinition, DesiredStatus, LaunchType, NetworkConfiguration, NetworkMode, PortMapping,
    ServiceConnectClientAlias, ServiceConnectConfiguration, ServiceConnectService, Tag,
    TransportProtocol,
};
use common::{code, message, TestServer};

fn nginx_container() -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("webserver")
        .image("public.ecr.aws/docker/library/nginx:latest")
        .cpu(100)
        .essential(true)
        .port_mappings(
            PortMapping::builder()
                .name("nginx")
                .container_port(80)
                .protocol(TransportProtocol::Tcp)
                .app_protocol(ApplicationProtocol::Http)
                .build(),
        )
        .build()
}

/// A server with seed 002's network.
async fn start() -> TestServer {
    TestServer::start_with(|c| c.network_files.push(common::seed002_network())).await
}

fn awsvpc() -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets("subnet-EXAMPLE")
                .security_groups("sg-EXAMPLE")
                .build()
                .unwrap(),
        )
        .build()
}

fn sc(port_name: &str, alias_port: i32) -> ServiceConnectConfiguration {
    ServiceConnectConfiguration::builder()
        .enabled(true)
        .services(
            ServiceConnectService::builder()
                .port_name(port_name)
                .client_aliases(
                    ServiceConnectClientAlias::builder()
                        .port(alias_port)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
}

/// A cluster `tutorial` with default namespace `service-connect`, ACTIVE, and the seed's
/// nginx task definition registered.
async fn tutorial(s: &TestServer) -> aws_sdk_ecs::Client {
    let ecs = s.ecs();
    ecs.create_cluster()
        .cluster_name("tutorial")
        .service_connect_defaults(
            ClusterServiceConnectDefaultsRequest::builder()
                .namespace("service-connect")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    wait_active(&ecs, "tutorial").await;
    ecs.register_task_definition()
        .family("service-connect-nginx")
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(nginx_container())
        .cpu("256")
        .memory("512")
        .send()
        .await
        .unwrap();
    ecs
}

async fn wait_active(ecs: &aws_sdk_ecs::Client, name: &str) {
    for _ in 0..100 {
        let out = ecs.describe_clusters().clusters(name).send().await.unwrap();
        if out.clusters()[0].status() == Some("ACTIVE") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("cluster {name} never became ACTIVE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_default_namespace_provisions_then_becomes_active() {
    let s = start().await;
    let ecs = s.ecs();
    let out = ecs
        .create_cluster()
        .cluster_name("tutorial")
        .service_connect_defaults(
            ClusterServiceConnectDefaultsRequest::builder()
                .namespace("service-connect")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let c = out.cluster().unwrap();
    assert_eq!(c.status(), Some("PROVISIONING"));
    assert_eq!(
        c.cluster_arn(),
        Some("arn:aws:ecs:us-west-2:123456789012:cluster/tutorial")
    );
    assert_eq!(c.attachments()[0].r#type(), Some("sc"));
    assert_eq!(c.attachments()[0].status(), Some("ATTACHING"));
    assert_eq!(c.attachments_status(), Some("UPDATE_IN_PROGRESS"));
    let ns_arn = c
        .service_connect_defaults()
        .unwrap()
        .namespace()
        .unwrap()
        .to_string();
    assert!(ns_arn.starts_with("arn:aws:servicediscovery:us-west-2:123456789012:namespace/ns-"));

    // The namespace is a real Cloud Map HTTP namespace.
    let ns_id = ns_arn.rsplit('/').next().unwrap();
    let ns = s.sd().get_namespace().id(ns_id).send().await.unwrap();
    let ns = ns.namespace().unwrap();
    assert_eq!(ns.name(), Some("service-connect"));
    assert_eq!(ns.r#type().map(|t| t.as_str()), Some("HTTP"));

    wait_active(&ecs, "tutorial").await;
    let d = ecs
        .describe_clusters()
        .clusters("tutorial")
        .include(ClusterField::Attachments)
        .include(ClusterField::Settings)
        .send()
        .await
        .unwrap();
    let c = &d.clusters()[0];
    assert_eq!(c.attachments()[0].status(), Some("ATTACHED"));
    assert_eq!(c.settings()[0].value(), Some("disabled"));

    // Creating it again is idempotent; an unknown cluster is a failure, not an error.
    ecs.create_cluster()
        .cluster_name("tutorial")
        .send()
        .await
        .unwrap();
    let d = ecs
        .describe_clusters()
        .clusters("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(d.failures()[0].reason(), Some("MISSING"));
    let l = ecs.list_clusters().send().await.unwrap();
    assert_eq!(
        l.cluster_arns(),
        ["arn:aws:ecs:us-west-2:123456789012:cluster/tutorial"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_default_namespace_by_arn_and_unknown_arn() {
    let s = start().await;
    let ecs = s.ecs();
    let ns_op = s
        .sd()
        .create_http_namespace()
        .name("shared")
        .send()
        .await
        .unwrap();
    let op = s
        .sd()
        .get_operation()
        .operation_id(ns_op.operation_id().unwrap())
        .send()
        .await
        .unwrap();
    let ns_id = op
        .operation()
        .unwrap()
        .targets()
        .unwrap()
        .get(&aws_sdk_servicediscovery::types::OperationTargetType::Namespace)
        .unwrap()
        .clone();
    let ns = s.sd().get_namespace().id(&ns_id).send().await.unwrap();
    let arn = ns.namespace().unwrap().arn().unwrap().to_string();
    let c = ecs
        .create_cluster()
        .cluster_name("a")
        .service_connect_defaults(
            ClusterServiceConnectDefaultsRequest::builder()
                .namespace(&arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.cluster()
            .unwrap()
            .service_connect_defaults()
            .unwrap()
            .namespace(),
        Some(arn.as_str())
    );
    let e = ecs
        .create_cluster()
        .cluster_name("b")
        .service_connect_defaults(
            ClusterServiceConnectDefaultsRequest::builder()
                .namespace(
                    "arn:aws:servicediscovery:us-west-2:123456789012:namespace/ns-doesnotexist0000",
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NamespaceNotFoundException");
    // Nothing was created by the failed call.
    let d = ecs.describe_clusters().clusters("b").send().await.unwrap();
    assert_eq!(d.failures()[0].reason(), Some("MISSING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_connect_defaults_filled_and_cloud_map_service_created() {
    let s = start().await;
    let ecs = tutorial(&s).await;
    let out = ecs
        .create_service()
        .cluster("tutorial")
        .service_name("service-connect-nginx-service")
        .task_definition("service-connect-nginx")
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(awsvpc())
        .service_connect_configuration(sc("nginx", 80))
        .send()
        .await
        .unwrap();
    let svc = out.service().unwrap();
    assert_eq!(svc.status(), Some("ACTIVE"));
    assert_eq!(
        svc.service_arn(),
        Some("arn:aws:ecs:us-west-2:123456789012:service/tutorial/service-connect-nginx-service")
    );
    assert_eq!(
        svc.task_definition(),
        Some("arn:aws:ecs:us-west-2:123456789012:task-definition/service-connect-nginx:1")
    );
    let d = &svc.deployments()[0];
    assert_eq!(d.status(), Some("PRIMARY"));
    assert_eq!(d.rollout_state().map(|r| r.as_str()), Some("IN_PROGRESS"));
    assert_eq!(d.platform_version(), Some("1.4.0"));
    let scc = d.service_connect_configuration().unwrap();
    let entry = &scc.services()[0];
    assert_eq!(entry.discovery_name(), Some("nginx"));
    assert_eq!(
        entry.client_aliases()[0].dns_name(),
        Some("nginx.service-connect")
    );
    assert!(scc
        .namespace()
        .unwrap()
        .starts_with("arn:aws:servicediscovery:"));
    let res = &d.service_connect_resources()[0];
    assert_eq!(res.discovery_name(), Some("nginx"));
    let srv_id = res.discovery_arn().unwrap().rsplit('/').next().unwrap();
    let cm = s.sd().get_service().id(srv_id).send().await.unwrap();
    assert_eq!(cm.service().unwrap().name(), Some("nginx"));

    // The namespace lists it; a second service may not take the same name.
    let by_ns = ecs
        .list_services_by_namespace()
        .namespace("service-connect")
        .send()
        .await
        .unwrap();
    assert_eq!(by_ns.service_arns(), [svc.service_arn().unwrap()]);
    let e = ecs
        .create_service()
        .cluster("tutorial")
        .service_name("other")
        .task_definition("service-connect-nginx")
        .desired_count(1)
        .network_configuration(awsvpc())
        .service_connect_configuration(sc("nginx", 8080))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    assert!(
        message(&e).contains("discoveryName 'nginx'"),
        "{}",
        message(&e)
    );

    // A client-only service joins the namespace without a Cloud Map service.
    let client = ecs
        .create_service()
        .cluster("tutorial")
        .service_name("client")
        .task_definition("service-connect-nginx")
        .desired_count(0)
        .network_configuration(awsvpc())
        .service_connect_configuration(ServiceConnectConfiguration::builder().enabled(true).build())
        .send()
        .await
        .unwrap();
    let d = &client.service().unwrap().deployments()[0];
    assert!(d.service_connect_resources().is_empty());
    assert!(d.service_connect_configuration().unwrap().enabled());

    let l = ecs
        .list_services()
        .cluster("tutorial")
        .send()
        .await
        .unwrap();
    assert_eq!(l.service_arns().len(), 2);
    let desc = ecs
        .describe_services()
        .cluster("tutorial")
        .services("client")
        .services("ghost")
        .send()
        .await
        .unwrap();
    assert_eq!(desc.services().len(), 1);
    assert_eq!(desc.failures()[0].reason(), Some("MISSING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_connect_validation_errors_name_the_field() {
    let s = start().await;
    let ecs = tutorial(&s).await;
    let create = |name: &str| {
        ecs.create_service()
            .cluster("tutorial")
            .service_name(name)
            .task_definition("service-connect-nginx")
            .desired_count(1)
            .network_configuration(awsvpc())
    };
    // portName must match a named port mapping.
    let e = create("a")
        .service_connect_configuration(sc("http", 80))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    assert!(message(&e).contains("portName 'http'"), "{}", message(&e));
    // An unknown namespace.
    let e = create("b")
        .service_connect_configuration(
            ServiceConnectConfiguration::builder()
                .enabled(true)
                .namespace("nowhere")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NamespaceNotFoundException");
    // At most one client alias per service entry.
    let two_aliases = ServiceConnectConfiguration::builder()
        .enabled(true)
        .services(
            ServiceConnectService::builder()
                .port_name("nginx")
                .client_aliases(
                    ServiceConnectClientAlias::builder()
                        .port(80)
                        .build()
                        .unwrap(),
                )
                .client_aliases(
                    ServiceConnectClientAlias::builder()
                        .port(81)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build();
    let e = create("c")
        .service_connect_configuration(two_aliases)
        .send()
        .await
        .unwrap_err();
    assert!(message(&e).contains("clientAliases"), "{}", message(&e));
    // awsvpc needs a network configuration.
    let e = ecs
        .create_service()
        .cluster("tutorial")
        .service_name("d")
        .task_definition("service-connect-nginx")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert!(
        message(&e).contains("Network Configuration"),
        "{}",
        message(&e)
    );
    // Task memory is required, links are refused.
    ecs.register_task_definition()
        .family("nomem")
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image("nginx")
                .memory(128)
                .port_mappings(
                    PortMapping::builder()
                        .name("nginx")
                        .container_port(80)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let e = ecs
        .create_service()
        .cluster("tutorial")
        .service_name("e")
        .task_definition("nomem")
        .desired_count(1)
        .network_configuration(awsvpc())
        .service_connect_configuration(sc("nginx", 80))
        .send()
        .await
        .unwrap_err();
    assert!(message(&e).contains("memory"), "{}", message(&e));
    ecs.register_task_definition()
        .family("links")
        .network_mode(NetworkMode::Bridge)
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image("nginx")
                .links("db")
                .port_mappings(
                    PortMapping::builder()
                        .name("nginx")
                        .container_port(80)
                        .host_port(0)
                        .build(),
                )
                .build(),
        )
        .container_definitions(
            ContainerDefinition::builder()
                .name("db")
                .image("postgres")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let e = ecs
        .create_service()
        .cluster("tutorial")
        .service_name("f")
        .task_definition("links")
        .desired_count(1)
        .service_connect_configuration(sc("nginx", 80))
        .send()
        .await
        .unwrap_err();
    assert!(message(&e).contains("links"), "{}", message(&e));
    // Nothing above created a service.
    let l = ecs
        .list_services()
        .cluster("tutorial")
        .send()
        .await
        .unwrap();
    assert!(l.service_arns().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_service_creates_a_deployment_and_delete_makes_it_inactive() {
    let s = start().await;
    let ecs = tutorial(&s).await;
    ecs.create_service()
        .cluster("tutorial")
        .service_name("web")
        .task_definition("service-connect-nginx")
        .desired_count(1)
        .network_configuration(awsvpc())
        .service_connect_configuration(sc("nginx", 80))
        .send()
        .await
        .unwrap();
    // desiredCount alone keeps the deployment.
    let u = ecs
        .update_service()
        .cluster("tutorial")
        .service("web")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    let svc = u.service().unwrap();
    assert_eq!(svc.deployments().len(), 1);
    assert_eq!(svc.deployments()[0].desired_count(), 3);
    // A new Service Connect configuration makes a new PRIMARY deployment.
    let u = ecs
        .update_service()
        .cluster("tutorial")
        .service("web")
        .service_connect_configuration(sc("nginx", 8080))
        .send()
        .await
        .unwrap();
    let svc = u.service().unwrap();
    assert_eq!(svc.deployments().len(), 2);
    assert_eq!(svc.deployments()[0].status(), Some("PRIMARY"));
    assert_eq!(svc.deployments()[1].status(), Some("ACTIVE"));
    assert_eq!(
        svc.deployments()[0]
            .service_connect_configuration()
            .unwrap()
            .services()[0]
            .client_aliases()[0]
            .port(),
        8080
    );
    // forceNewDeployment too.
    let u = ecs
        .update_service()
        .cluster("tutorial")
        .service("web")
        .force_new_deployment(true)
        .send()
        .await
        .unwrap();
    assert_eq!(u.service().unwrap().deployments().len(), 3);

    let e = ecs
        .update_service()
        .cluster("tutorial")
        .service("ghost")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ServiceNotFoundException");
    let e = ecs
        .delete_service()
        .cluster("tutorial")
        .service("web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let d = ecs
        .delete_service()
        .cluster("tutorial")
        .service("web")
        .force(true)
        .send()
        .await
        .unwrap();
    assert_eq!(d.service().unwrap().status(), Some("DRAINING"));
    let desc = ecs
        .describe_services()
        .cluster("tutorial")
        .services("web")
        .send()
        .await
        .unwrap();
    assert_eq!(desc.services()[0].status(), Some("INACTIVE"));
    let e = ecs
        .update_service()
        .cluster("tutorial")
        .service("web")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ServiceNotActiveException");
    // Its names are free again.
    ecs.create_service()
        .cluster("tutorial")
        .service_name("web2")
        .task_definition("service-connect-nginx")
        .desired_count(1)
        .network_configuration(awsvpc())
        .service_connect_configuration(sc("nginx", 80))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_wait_for_an_agent_and_stop() {
    let s = start().await;
    let ecs = tutorial(&s).await;
    let run = ecs
        .run_task()
        .cluster("tutorial")
        .task_definition("service-connect-nginx")
        .count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(awsvpc())
        .started_by("test")
        .send()
        .await
        .unwrap();
    assert_eq!(run.tasks().len(), 2);
    let t = &run.tasks()[0];
    assert_eq!(t.last_status(), Some("PROVISIONING"));
    assert_eq!(t.desired_status(), Some("RUNNING"));
    assert_eq!(t.containers()[0].last_status(), Some("PENDING"));
    assert_eq!(t.attachments()[0].r#type(), Some("ElasticNetworkInterface"));
    assert_eq!(t.group(), Some("family:service-connect-nginx"));
    assert_eq!(t.memory(), Some("512"));
    let arn = t.task_arn().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:ecs:us-west-2:123456789012:task/tutorial/"));

    let l = ecs.list_tasks().cluster("tutorial").send().await.unwrap();
    assert_eq!(l.task_arns().len(), 2);
    let l = ecs
        .list_tasks()
        .cluster("tutorial")
        .family("service-connect-nginx")
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(l.task_arns().len(), 1);
    assert!(l.next_token().is_some());

    let stop = ecs
        .stop_task()
        .cluster("tutorial")
        .task(&arn)
        .reason("done")
        .send()
        .await
        .unwrap();
    let st = stop.task().unwrap();
    assert_eq!(st.desired_status(), Some("STOPPED"));
    assert_eq!(st.last_status(), Some("STOPPED"));
    assert_eq!(st.stopped_reason(), Some("done"));
    let l = ecs
        .list_tasks()
        .cluster("tutorial")
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(l.task_arns(), std::slice::from_ref(&arn));
    let d = ecs
        .describe_tasks()
        .cluster("tutorial")
        .tasks(&arn)
        .tasks("0123")
        .send()
        .await
        .unwrap();
    assert_eq!(d.tasks()[0].last_status(), Some("STOPPED"));
    assert_eq!(d.failures()[0].reason(), Some("MISSING"));

    let e = ecs
        .run_task()
        .cluster("tutorial")
        .task_definition("service-connect-nginx")
        .send()
        .await
        .unwrap_err();
    assert!(
        message(&e).contains("Network Configuration"),
        "{}",
        message(&e)
    );
    let e = ecs
        .run_task()
        .cluster("ghost")
        .task_definition("service-connect-nginx")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ClusterNotFoundException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_instances_register_and_hold_tasks() {
    let s = start().await;
    let ecs = tutorial(&s).await;
    let agent = common::agent_ecs(&s, "tutorial").await;
    let reg = agent
        .register_container_instance()
        .cluster("tutorial")
        .total_resources(
            aws_sdk_ecs::types::Resource::builder()
                .name("CPU")
                .r#type("INTEGER")
                .integer_value(2048)
                .build(),
        )
        .total_resources(
            aws_sdk_ecs::types::Resource::builder()
                .name("MEMORY")
                .r#type("INTEGER")
                .integer_value(24000)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ci = reg.container_instance().unwrap();
    assert_eq!(ci.status(), Some("ACTIVE"));
    let ci_arn = ci.container_instance_arn().unwrap().to_string();
    assert_eq!(ci.registered_resources()[0].integer_value(), 2048);
    let l = ecs
        .list_container_instances()
        .cluster("tutorial")
        .send()
        .await
        .unwrap();
    assert_eq!(l.container_instance_arns(), std::slice::from_ref(&ci_arn));

    ecs.register_task_definition()
        .family("bridge")
        .memory("256")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let st = ecs
        .start_task()
        .cluster("tutorial")
        .task_definition("bridge")
        .container_instances(&ci_arn)
        .send()
        .await
        .unwrap();
    let t = &st.tasks()[0];
    assert_eq!(t.container_instance_arn(), Some(ci_arn.as_str()));
    assert_eq!(t.last_status(), Some("PENDING"));
    let d = ecs
        .describe_container_instances()
        .cluster("tutorial")
        .container_instances(&ci_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(d.container_instances()[0].pending_tasks_count(), 1);
    // A task an agent holds waits for the agent to stop it.
    let stop = ecs
        .stop_task()
        .cluster("tutorial")
        .task(t.task_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stop.task().unwrap().desired_status(), Some("STOPPED"));
    assert_eq!(stop.task().unwrap().last_status(), Some("PENDING"));
    let e = ecs
        .deregister_container_instance()
        .cluster("tutorial")
        .container_instance(&ci_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let d = ecs
        .deregister_container_instance()
        .cluster("tutorial")
        .container_instance(&ci_arn)
        .force(true)
        .send()
        .await
        .unwrap();
    assert_eq!(d.container_instance().unwrap().status(), Some("INACTIVE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_on_clusters_services_and_task_definitions() {
    let s = start().await;
    let ecs = tutorial(&s).await;
    let cluster_arn = "arn:aws:ecs:us-west-2:123456789012:cluster/tutorial";
    ecs.tag_resource()
        .resource_arn(cluster_arn)
        .tags(Tag::builder().key("team").value("a").build())
        .tags(Tag::builder().key("env").value("dev").build())
        .send()
        .await
        .unwrap();
    ecs.untag_resource()
        .resource_arn(cluster_arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let t = ecs
        .list_tags_for_resource()
        .resource_arn(cluster_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(t.tags().len(), 1);
    assert_eq!(t.tags()[0].value(), Some("a"));
    let d = ecs
        .describe_clusters()
        .clusters("tutorial")
        .include(ClusterField::Tags)
        .send()
        .await
        .unwrap();
    assert_eq!(d.clusters()[0].tags().len(), 1);

    let td_arn = "arn:aws:ecs:us-west-2:123456789012:task-definition/service-connect-nginx:1";
    ecs.tag_resource()
        .resource_arn(td_arn)
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .unwrap();
    let t = ecs
        .list_tags_for_resource()
        .resource_arn(td_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(t.tags()[0].key(), Some("k"));

    let e = ecs
        .list_tags_for_resource()
        .resource_arn("arn:aws:ecs:us-west-2:123456789012:cluster/ghost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = ecs
        .tag_resource()
        .resource_arn(cluster_arn)
        .tags(Tag::builder().key("aws:reserved").value("x").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_every_cluster_once() {
    let s = start().await;
    let ecs = s.ecs();
    for i in 0..25 {
        ecs.create_cluster()
            .cluster_name(format!("c{i:02}"))
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_clusters()
            .max_results(10)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        seen.extend(page.cluster_arns().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 25);
    seen.dedup();
    assert_eq!(seen.len(), 25);
    let e = ecs
        .list_clusters()
        .max_results(1000)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = ecs
        .list_clusters()
        .next_token("!!garbage!!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    // Deleting an empty cluster makes it INACTIVE and unlisted.
    ecs.delete_cluster().cluster("c00").send().await.unwrap();
    let d = ecs
        .describe_clusters()
        .clusters("c00")
        .send()
        .await
        .unwrap();
    assert_eq!(d.clusters()[0].status(), Some("INACTIVE"));
    let l = ecs.list_clusters().send().await.unwrap();
    assert_eq!(l.cluster_arns().len(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = |dir: std::path::PathBuf| async move {
        berth_server::start(berth_server::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir,
            network_files: vec![common::seed002_network()],
            ..Default::default()
        })
        .await
        .unwrap()
    };
    let srv = start(dir.path().to_path_buf()).await;
    let ecs = common::ecs_client(&format!("http://{}", srv.addr), "us-west-2");
    ecs.create_cluster()
        .cluster_name("tutorial")
        .service_connect_defaults(
            ClusterServiceConnectDefaultsRequest::builder()
                .namespace("sc")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let rev = srv.store.revision();
    srv.shutdown().await;
    let srv = start(dir.path().to_path_buf()).await;
    assert!(srv.store.revision() >= rev);
    let ecs = common::ecs_client(&format!("http://{}", srv.addr), "us-west-2");
    wait_active(&ecs, "tutorial").await;
    let sd = common::sd_client(&format!("http://{}", srv.addr), "us-west-2");
    let ns = sd.list_namespaces().send().await.unwrap();
    assert_eq!(ns.namespaces()[0].name(), Some("sc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reports_move_tasks_forward() {
    use aws_sdk_ecs::types::ContainerStateChange;
    let s = start().await;
    let ecs = tutorial(&s).await;
    // Agents report only tasks placed on their own instance.
    let agent = common::agent_ecs(&s, "tutorial").await;
    agent
        .register_container_instance()
        .cluster("tutorial")
        .total_resources(
            aws_sdk_ecs::types::Resource::builder()
                .name("CPU")
                .r#type("INTEGER")
                .integer_value(4096)
                .build(),
        )
        .total_resources(
            aws_sdk_ecs::types::Resource::builder()
                .name("MEMORY")
                .r#type("INTEGER")
                .integer_value(24000)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = ecs
        .run_task()
        .cluster("tutorial")
        .task_definition("service-connect-nginx")
        .network_configuration(awsvpc())
        .send()
        .await
        .unwrap();
    let task = run.tasks()[0].task_arn().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let d = ecs
            .describe_tasks()
            .cluster("tutorial")
            .tasks(&task)
            .send()
            .await
            .unwrap();
        if d.tasks()[0].container_instance_arn().is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the task was not placed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for status in ["PENDING", "ACTIVATING"] {
        let ack = agent
            .submit_task_state_change()
            .cluster("tutorial")
            .task(&task)
            .status(status)
            .send()
            .await
            .unwrap();
        assert_eq!(ack.acknowledgment(), Some("ACK"));
    }
    agent
        .submit_task_state_change()
        .cluster("tutorial")
        .task(&task)
        .status("RUNNING")
        .containers(
            ContainerStateChange::builder()
                .container_name("webserver")
                .status("RUNNING")
                .runtime_id("pid-42")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = ecs
        .describe_tasks()
        .cluster("tutorial")
        .tasks(&task)
        .send()
        .await
        .unwrap();
    let t = &d.tasks()[0];
    assert_eq!(t.last_status(), Some("RUNNING"));
    assert!(t.started_at().is_some());
    assert_eq!(t.containers()[0].last_status(), Some("RUNNING"));
    assert_eq!(t.containers()[0].runtime_id(), Some("pid-42"));

    // Backwards is refused; unknown containers too.
    let e = agent
        .submit_task_state_change()
        .cluster("tutorial")
        .task(&task)
        .status("PENDING")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = agent
        .submit_container_state_change()
        .cluster("tutorial")
        .task(&task)
        .container_name("ghost")
        .status("STOPPED")
        .send()
        .await
        .unwrap_err();
    assert!(message(&e).contains("ghost"), "{}", message(&e));

    agent
        .submit_container_state_change()
        .cluster("tutorial")
        .task(&task)
        .container_name("webserver")
        .status("STOPPED")
        .exit_code(0)
        .send()
        .await
        .unwrap();
    agent
        .submit_task_state_change()
        .cluster("tutorial")
        .task(&task)
        .status("STOPPED")
        .reason("Essential container in task exited")
        .send()
        .await
        .unwrap();
    let d = ecs
        .describe_tasks()
        .cluster("tutorial")
        .tasks(&task)
        .send()
        .await
        .unwrap();
    let t = &d.tasks()[0];
    assert_eq!(t.last_status(), Some("STOPPED"));
    assert_eq!(t.desired_status(), Some("STOPPED"));
    assert_eq!(
        t.stopped_reason(),
        Some("Essential container in task exited")
    );
    assert_eq!(t.containers()[0].exit_code(), Some(0));
    let e = agent
        .submit_task_state_change()
        .cluster("tutorial")
        .task("0000")
        .status("RUNNING")
        .send()
        .await
        .unwrap_err();
    assert!(message(&e).contains("not found"), "{}", message(&e));
}
