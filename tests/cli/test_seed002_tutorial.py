"""Seed 002 (AWS tutorial in Portuguese, us-west-2): "Service Connect on Fargate with the
AWS CLI", replayed with the seed's JSON verbatim and compared with its outputs.

Where seeds 001 and 002 disagree about the deployment's serviceConnectConfiguration
(002 shows the namespace by name and no discoveryName / dnsName), berth follows 001:
it is the real captured output, and filling the defaults is the requirement.
"""

import json
import time

from private_ca import root_ca, with_ca
from conftest import (
    ACCOUNT,
    NS_ID_RE,
    PRESENT,
    SRV_ID_RE,
    TIMESTAMP,
    UUID_RE,
    Re,
    Unordered,
    match,
)

REGION = "us-west-2"
NS_ARN_RE = rf"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/{NS_ID_RE}"
SRV_ARN_RE = rf"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:service/{SRV_ID_RE}"

# The seed's files, verbatim.
TASKDEF_JSON = """{ "family": "service-connect-nginx", "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole", "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskRole", "networkMode": "awsvpc", "containerDefinitions": [ { "name": "webserver", "image": "public.ecr.aws/docker/library/nginx:latest", "cpu": 100, "portMappings": [ { "name": "nginx", "containerPort": 80, "protocol": "tcp", "appProtocol": "http" } ], "essential": true, "logConfiguration": { "logDriver": "awslogs", "options": { "awslogs-group": "/ecs/service-connect-nginx", "awslogs-region": "region", "awslogs-stream-prefix": "nginx" } } } ], "cpu": "256", "memory": "512" }"""

SERVICE_JSON = """{ "cluster": "tutorial", "deploymentConfiguration": { "maximumPercent": 200, "minimumHealthyPercent": 0 }, "deploymentController": { "type": "ECS" }, "desiredCount": 1, "enableECSManagedTags": true, "enableExecuteCommand": true, "launchType": "FARGATE", "networkConfiguration": { "awsvpcConfiguration": { "assignPublicIp": "ENABLED", "securityGroups": [ "sg-EXAMPLE" ], "subnets": [ "subnet-EXAMPLE", "subnet-EXAMPLE", "subnet-EXAMPLE" ] } }, "platformVersion": "LATEST", "propagateTags": "SERVICE", "serviceName": "service-connect-nginx-service", "serviceConnectConfiguration": { "enabled": true, "services": [ { "portName": "nginx", "clientAliases": [ { "port": 80 } ], "tls": { "issuerCertificateAuthority": { "awsPcaAuthorityArn": "certificateArn" }, "kmsKey": "kmsKey", "roleArn": "iamRoleArn" } } ], "logConfiguration": { "logDriver": "awslogs", "options": { "awslogs-group": "/ecs/service-connect-proxy", "awslogs-region": "region", "awslogs-stream-prefix": "service-connect-proxy" } } }, "taskDefinition": "service-connect-nginx" }"""

# The seed's outputs (the stray closing brace after create-cluster's output dropped).
CREATE_CLUSTER_OUTPUT = """{
    "cluster": {
        "clusterArn": "arn:aws:ecs:us-west-2:123456789012:cluster/tutorial",
        "clusterName": "tutorial",
        "serviceConnectDefaults": {
            "namespace": "arn:aws:servicediscovery:us-west-2:123456789012:namespace/ns-EXAMPLE"
        },
        "status": "PROVISIONING",
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": 0,
        "pendingTasksCount": 0,
        "activeServicesCount": 0,
        "statistics": [],
        "tags": [],
        "settings": [
            {
                "name": "containerInsights",
                "value": "disabled"
            }
        ],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
        "attachments": [
            {
                "id": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
                "type": "sc",
                "status": "ATTACHING",
                "details": []
            }
        ],
        "attachmentsStatus": "UPDATE_IN_PROGRESS"
    }
}"""

DESCRIBE_CLUSTERS_OUTPUT = """{
    "clusters": [
        {
            "clusterArn": "arn:aws:ecs:us-west-2:123456789012:cluster/tutorial",
            "clusterName": "tutorial",
            "serviceConnectDefaults": {
                "namespace": "arn:aws:servicediscovery:us-west-2:123456789012:namespace/ns-EXAMPLE"
            },
            "status": "ACTIVE",
            "registeredContainerInstancesCount": 0,
            "runningTasksCount": 0,
            "pendingTasksCount": 0,
            "activeServicesCount": 0,
            "statistics": [],
            "tags": [],
            "settings": [],
            "capacityProviders": [],
            "defaultCapacityProviderStrategy": []
        }
    ],
    "failures": []
}"""

GET_NAMESPACE_OUTPUT = """{
    "Namespace": {
        "Id": "ns-EXAMPLE",
        "Arn": "arn:aws:servicediscovery:us-west-2:123456789012:namespace/ns-EXAMPLE",
        "Name": "service-connect",
        "Type": "HTTP",
        "Properties": {
            "DnsProperties": {
                "SOA": {}
            },
            "HttpProperties": {
                "HttpName": "service-connect"
            }
        },
        "CreateDate": 1661749852.422,
        "CreatorRequestId": "service-connect"
    }
}"""

CREATE_SERVICE_OUTPUT = """{
    "service": {
        "serviceArn": "arn:aws:ecs:us-west-2:123456789012:service/tutorial/service-connect-nginx-service",
        "serviceName": "service-connect-nginx-service",
        "clusterArn": "arn:aws:ecs:us-west-2:123456789012:cluster/tutorial",
        "loadBalancers": [],
        "serviceRegistries": [],
        "status": "ACTIVE",
        "desiredCount": 1,
        "runningCount": 0,
        "pendingCount": 0,
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "platformFamily": "Linux",
        "taskDefinition": "arn:aws:ecs:us-west-2:123456789012:task-definition/service-connect-nginx:1",
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {
                "enable": false,
                "rollback": false
            },
            "maximumPercent": 200,
            "minimumHealthyPercent": 0
        },
        "deployments": [
            {
                "id": "ecs-svc/3763308422771520962",
                "status": "PRIMARY",
                "taskDefinition": "arn:aws:ecs:us-west-2:123456789012:task-definition/service-connect-nginx:1",
                "desiredCount": 1,
                "pendingCount": 0,
                "runningCount": 0,
                "failedTasks": 0,
                "createdAt": 1661210032.602,
                "updatedAt": 1661210032.602,
                "launchType": "FARGATE",
                "platformVersion": "1.4.0",
                "platformFamily": "Linux",
                "networkConfiguration": {
                    "awsvpcConfiguration": {
                        "assignPublicIp": "ENABLED",
                        "securityGroups": [
                            "sg-EXAMPLE"
                        ],
                        "subnets": [
                            "subnet-EXAMPLEf",
                            "subnet-EXAMPLE",
                            "subnet-EXAMPLE"
                        ]
                    }
                },
                "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": "ECS deployment ecs-svc/3763308422771520962 in progress.",
                "failedLaunchTaskCount": 0,
                "replacedTaskCount": 0,
                "serviceConnectConfiguration": {
                    "enabled": true,
                    "namespace": "service-connect",
                    "services": [
                        {
                            "portName": "nginx",
                            "clientAliases": [
                                {
                                    "port": 80
                                }
                            ]
                        }
                    ],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": "/ecs/service-connect-proxy",
                            "awslogs-region": "us-west-2",
                            "awslogs-stream-prefix": "service-connect-proxy"
                        },
                        "secretOptions": []
                    }
                },
                "serviceConnectResources": [
                    {
                        "discoveryName": "nginx",
                        "discoveryArn": "arn:aws:servicediscovery:us-west-2:123456789012:service/srv-EXAMPLE"
                    }
                ]
            }
        ],
        "roleArn": "arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
        "version": 0,
        "events": [],
        "createdAt": 1661210032.602,
        "placementConstraints": [],
        "placementStrategy": [],
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "assignPublicIp": "ENABLED",
                "securityGroups": [
                    "sg-EXAMPLE"
                ],
                "subnets": [
                    "subnet-EXAMPLE",
                    "subnet-EXAMPLE",
                    "subnet-EXAMPLE"
                ]
            }
        },
        "schedulingStrategy": "REPLICA",
        "enableECSManagedTags": true,
        "propagateTags": "SERVICE",
        "enableExecuteCommand": true
    }
}"""


def test_create_cluster(berth, state):
    out = berth.aws("ecs", "create-cluster", "--cluster-name", "tutorial",
                    "--service-connect-defaults", "namespace=service-connect")
    expected = json.loads(CREATE_CLUSTER_OUTPUT)["cluster"]
    expected["serviceConnectDefaults"]["namespace"] = Re(NS_ARN_RE)
    expected["attachments"][0]["id"] = Re(UUID_RE.pattern[1:-1])
    cluster = out["cluster"]
    match(cluster, expected)
    assert set(cluster) == set(expected), sorted(set(cluster) ^ set(expected))
    state["namespace_arn"] = cluster["serviceConnectDefaults"]["namespace"]
    state["namespace_id"] = state["namespace_arn"].rsplit("/", 1)[1]
    state["attachment_id"] = cluster["attachments"][0]["id"]


def test_describe_clusters_shows_active(berth, state):
    expected = json.loads(DESCRIBE_CLUSTERS_OUTPUT)
    expected["clusters"][0]["serviceConnectDefaults"]["namespace"] = state["namespace_arn"]
    # The namespace is provisioned by the control plane right after the create; give it
    # the moment the real service takes, too.
    deadline = time.monotonic() + 5
    while True:
        out = berth.aws("ecs", "describe-clusters", "--clusters", "tutorial")
        if out["clusters"] and out["clusters"][0]["status"] == "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    match(out, expected)
    # Exactly the seed's members: without --include, no attachments and no settings.
    assert set(out) == {"clusters", "failures"}
    assert set(out["clusters"][0]) == set(expected["clusters"][0]), \
        sorted(set(out["clusters"][0]) ^ set(expected["clusters"][0]))


def test_describe_clusters_include_attachments(berth, state):
    out = berth.aws("ecs", "describe-clusters", "--clusters", "tutorial", "--include", "ATTACHMENTS")
    (cluster,) = out["clusters"]
    assert len(cluster["attachments"]) == 1, cluster
    att = cluster["attachments"][0]
    assert att["id"] == state["attachment_id"]
    assert att["type"] == "sc"
    # The cluster is ACTIVE by now (previous step): its namespace attachment is done.
    assert att["status"] == "ATTACHED", att
    assert att["details"] == []
    assert cluster["attachmentsStatus"] == "UPDATE_COMPLETE", cluster


def test_get_namespace(berth, state):
    out = berth.aws("servicediscovery", "--region", "us-west-2", "get-namespace", "--id", state["namespace_id"])
    expected = json.loads(GET_NAMESPACE_OUTPUT)["Namespace"]
    expected["Id"] = state["namespace_id"]
    expected["Arn"] = state["namespace_arn"]
    expected["CreateDate"] = TIMESTAMP
    match(out["Namespace"], expected)


def test_register_task_definition(berth):
    berth.write("service-connect-nginx.json", TASKDEF_JSON)
    out = berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://service-connect-nginx.json")
    td = out["taskDefinition"]
    match(td, {
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/service-connect-nginx:1",
        "family": "service-connect-nginx",
        "revision": 1,
        "status": "ACTIVE",
        "networkMode": "awsvpc",
        "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskRole",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "cpu": "256",
        "memory": "512",
        "compatibilities": Unordered(["EC2", "FARGATE"]),
        "registeredAt": TIMESTAMP,
        "registeredBy": PRESENT,
        "containerDefinitions": [{
            "name": "webserver",
            "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp",
                              "name": "nginx", "appProtocol": "http"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/service-connect-nginx", "awslogs-region": "region",
                "awslogs-stream-prefix": "nginx"}},
        }],
    })


def test_tls_needs_an_active_private_ca(berth, state):
    """The seed's `tls` names its CA by a placeholder, which ECS refuses, as it refuses a
    CA that does not exist, is in another region, or is not ACTIVE yet."""
    field = "serviceConnectConfiguration.services[0].tls.issuerCertificateAuthority.awsPcaAuthorityArn"
    berth.write("placeholder.json", SERVICE_JSON)
    msg = berth.aws_fails("ecs", "create-service", "--cli-input-json", "file://placeholder.json",
                          code="InvalidParameterException")
    assert field in msg and "certificateArn" in msg, msg
    unknown = f"arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/11111111-2222-3333-4444-555555555555"
    pending = berth.aws("acm-pca", "create-certificate-authority", "--certificate-authority-type", "ROOT",
                        "--certificate-authority-configuration",
                        '{"KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA", '
                        '"Subject": {"CommonName": "pending"}}')["CertificateAuthorityArn"]
    other_region = berth.aws("acm-pca", "create-certificate-authority", "--certificate-authority-type", "ROOT",
                             "--certificate-authority-configuration",
                             '{"KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA", '
                             '"Subject": {"CommonName": "east"}}', region="us-east-1")["CertificateAuthorityArn"]
    for arn, says in [(unknown, "does not exist"), (pending, "PENDING_CERTIFICATE"),
                      (other_region, "us-east-1")]:
        berth.write("bad-ca.json", with_ca(SERVICE_JSON, arn))
        msg = berth.aws_fails("ecs", "create-service", "--cli-input-json", "file://bad-ca.json",
                              code="InvalidParameterException")
        assert field in msg and says in msg, msg
    # Nothing was made.
    d = berth.aws("ecs", "describe-services", "--cluster", "tutorial",
                  "--services", "service-connect-nginx-service")
    assert d["services"] == [], d
    state["ca_arn"], _ = root_ca(berth)


def test_create_service(berth, state):
    # The tutorial's JSON with the ARN of the CA made above in place of its placeholder.
    berth.write("service-connect-nginx-service.json", with_ca(SERVICE_JSON, state["ca_arn"]))
    out = berth.aws("ecs", "create-service", "--cluster", "tutorial",
                    "--cli-input-json", "file://service-connect-nginx-service.json")
    svc = out["service"]
    expected = json.loads(CREATE_SERVICE_OUTPUT)["service"]
    # Not members of the ECS API model (the CLI drops them): version,
    # failedLaunchTaskCount, replacedTaskCount.
    del expected["version"]
    dep = expected["deployments"][0]
    del dep["failedLaunchTaskCount"], dep["replacedTaskCount"]
    # The request's network configuration, as a set (the seed's deployment shows a typo,
    # "subnet-EXAMPLEf").
    request_net = json.loads(SERVICE_JSON)["networkConfiguration"]
    expected_tls = {
        "issuerCertificateAuthority": {"awsPcaAuthorityArn": state["ca_arn"]},
        "kmsKey": "kmsKey",
        "roleArn": "iamRoleArn",
    }
    request_subnets = request_net["awsvpcConfiguration"]["subnets"]
    for nc in (expected["networkConfiguration"], dep["networkConfiguration"]):
        nc["awsvpcConfiguration"]["subnets"] = Unordered(request_subnets)
    expected["createdAt"] = TIMESTAMP
    dep["id"] = Re(r"ecs-svc/\d{19}")
    dep["createdAt"] = dep["updatedAt"] = TIMESTAMP
    dep["rolloutStateReason"] = Re(r"ECS deployment ecs-svc/\d{19} in progress\.")
    dep["serviceConnectResources"][0]["discoveryArn"] = Re(SRV_ARN_RE)
    # berth follows seed 001 (the real captured output, and the defaults must be filled
    # in): the namespace as its ARN and discoveryName / dnsName filled in, where 002's
    # tutorial shows the name and no defaults. The seed's `tls` is kept as given.
    sc = dep["serviceConnectConfiguration"]
    sc["namespace"] = state["namespace_arn"]
    sc["services"] = [{
        "portName": "nginx",
        "discoveryName": "nginx",
        "clientAliases": [{"port": 80, "dnsName": "nginx.service-connect"}],
        "tls": expected_tls,
    }]
    # The request says "awslogs-region": "region"; the seed's output shows the region the
    # tutorial ran in. berth keeps the options as given.
    sc["logConfiguration"]["options"]["awslogs-region"] = "region"
    match(svc, expected)
    d0 = svc["deployments"][0]
    assert d0["rolloutStateReason"] == f"ECS deployment {d0['id']} in progress."
    state["service"] = svc


def test_service_in_cloud_map_and_namespace(berth, state):
    svc = state["service"]
    arn = svc["deployments"][0]["serviceConnectResources"][0]["discoveryArn"]
    got = berth.aws("servicediscovery", "get-service", "--id", arn.rsplit("/", 1)[1])["Service"]
    assert got["Name"] == "nginx" and got["NamespaceId"] == state["namespace_id"]
    out = berth.aws("ecs", "list-services-by-namespace", "--namespace", "service-connect")
    assert out["serviceArns"] == [svc["serviceArn"]]
    d = berth.aws("ecs", "describe-services", "--cluster", "tutorial", "--services", svc["serviceName"])
    assert d["services"][0]["deployments"][0]["serviceConnectConfiguration"]["services"][0]["tls"] == \
        svc["deployments"][0]["serviceConnectConfiguration"]["services"][0]["tls"]
