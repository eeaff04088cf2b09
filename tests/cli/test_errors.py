"""Errors as the aws CLI reports them: exit code 254/255 and the error code on stderr."""

import json

REGION = "eu-west-1"

NGINX_TASKDEF = {
    "family": "web",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [{
        "name": "web",
        "image": "public.ecr.aws/docker/library/nginx:latest",
        "portMappings": [{"name": "http", "containerPort": 80, "appProtocol": "http"}],
    }],
}

# Container memory limits only, no task-level memory: Service Connect refuses it
# (seed 004: "task definitions that set container memory limits for all containers
# instead of a task memory limit are not supported").
NO_TASK_MEMORY_TASKDEF = {
    "family": "cats",
    "networkMode": "bridge",
    "requiresCompatibilities": ["EC2"],
    "containerDefinitions": [{
        "name": "cats",
        "image": "public.ecr.aws/docker/library/nginx:latest",
        "memory": 256,
        "portMappings": [{"name": "cats", "containerPort": 80, "hostPort": 0, "appProtocol": "http"}],
    }],
}

NET = "awsvpcConfiguration={subnets=[subnet-0123456789abcdef0],securityGroups=[sg-0123456789abcdef0]}"


def test_setup(berth):
    berth.aws("ecs", "create-cluster", "--cluster-name", "errors",
              "--service-connect-defaults", "namespace=errors.local")
    for td in (NGINX_TASKDEF, NO_TASK_MEMORY_TASKDEF):
        berth.write("td.json", json.dumps(td))
        berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://td.json")


def test_describe_services_missing_cluster(berth):
    berth.aws_fails("ecs", "describe-services", "--cluster", "no-such-cluster", "--services", "web",
                    code="ClusterNotFoundException")


def test_update_missing_service(berth):
    berth.aws_fails("ecs", "update-service", "--cluster", "errors", "--service", "no-such-service",
                    "--desired-count", "2", code="ServiceNotFoundException")


def test_create_service_unknown_namespace(berth):
    berth.aws_fails(
        "ecs", "create-service", "--cluster", "errors", "--service-name", "web",
        "--task-definition", "web", "--desired-count", "1", "--launch-type", "FARGATE",
        "--network-configuration", NET,
        "--service-connect-configuration",
        json.dumps({"enabled": True, "namespace": "no-such-namespace",
                    "services": [{"portName": "http"}]}),
        code="NamespaceNotFoundException",
    )
    assert berth.aws("ecs", "list-services", "--cluster", "errors")["serviceArns"] == []


def test_get_namespace_missing(berth):
    berth.aws_fails("servicediscovery", "get-namespace", "--id", "ns-doesnotexist0000",
                    code="NamespaceNotFound")


def test_port_name_matches_no_port_mapping(berth):
    err = berth.aws_fails(
        "ecs", "create-service", "--cluster", "errors", "--service-name", "web",
        "--task-definition", "web", "--desired-count", "1", "--launch-type", "FARGATE",
        "--network-configuration", NET,
        "--service-connect-configuration",
        json.dumps({"enabled": True, "services": [{"portName": "nope"}]}),
        code="InvalidParameterException",
    )
    assert "portName" in err, err
    assert berth.aws("ecs", "list-services", "--cluster", "errors")["serviceArns"] == []
    assert berth.aws("servicediscovery", "list-services")["Services"] == []


def test_service_connect_needs_task_memory(berth):
    r = berth.run(
        "ecs", "create-service", "--cluster", "errors", "--service-name", "cats",
        "--task-definition", "cats", "--desired-count", "1", "--launch-type", "EC2",
        "--service-connect-configuration",
        json.dumps({"enabled": True, "services": [{"portName": "cats"}]}),
    )
    assert r.returncode in (254, 255), (r.returncode, r.stdout, r.stderr)
    assert "InvalidParameterException" in r.stderr or "ClientException" in r.stderr, r.stderr
    assert "memory" in r.stderr, r.stderr
    assert berth.aws("ecs", "list-services", "--cluster", "errors")["serviceArns"] == []


def test_the_valid_service_still_works(berth):
    """After all those refusals, the same request done right goes through."""
    svc = berth.aws(
        "ecs", "create-service", "--cluster", "errors", "--service-name", "web",
        "--task-definition", "web", "--desired-count", "1", "--launch-type", "FARGATE",
        "--network-configuration", NET,
        "--service-connect-configuration",
        json.dumps({"enabled": True, "services": [{"portName": "http"}]}),
    )["service"]
    sc = svc["deployments"][0]["serviceConnectConfiguration"]
    # No clientAliases given: a server-only entry, discoveryName from the port name.
    assert sc["services"] == [{"portName": "http", "discoveryName": "http", "clientAliases": []}], sc
    assert svc["deployments"][0]["serviceConnectResources"][0]["discoveryName"] == "http"
