"""Seed 001 (Japanese hands-on, ap-northeast-1): the Service Connect tutorial with the
aws CLI, replayed against berth and compared with the output the seed captured.

The steps run in order and share `state`; each is its own test so a failure names the
step.
"""

import json
import re

from conftest import (
    ACCOUNT,
    ECS_TARGET,
    NS_ID_RE,
    PRESENT,
    SRV_ID_RE,
    TIMESTAMP,
    UUID_RE,
    Re,
    Unordered,
    match,
)

REGION = "ap-northeast-1"
NS_ARN_RE = rf"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/{NS_ID_RE}"
SRV_ARN_RE = rf"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:service/{SRV_ID_RE}"

# The seed's files, verbatim (heredoc bodies, including the trailing spaces).
TASKDEF_JSON = """{
    "family": "service-connect-nginx",
    "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
    "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
    "networkMode": "awsvpc",
    "containerDefinitions": [
        {
        "name": "webserver",
        "image": "public.ecr.aws/docker/library/nginx:latest",
        "cpu": 100,
        "portMappings": [
            {
                "name": "nginx",
                "containerPort": 80,
                "protocol": "tcp", 
                "appProtocol": "http"
            }
        ],
        "essential": true,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/ecs/service-connect-nginx",
                "awslogs-region": "ap-northeast-1", 
                "awslogs-stream-prefix": "nginx"
            }
        }
        }
    ],
    "cpu": "256",
    "memory": "512"
}
"""

SERVICE_JSON = """{
    "cluster": "tutorial",
    "deploymentConfiguration": {
        "maximumPercent": 200,
        "minimumHealthyPercent": 0
    },
    "deploymentController": {
        "type": "ECS"
    },
    "desiredCount": 1,
    "enableECSManagedTags": true,
    "enableExecuteCommand": true,
    "launchType": "FARGATE",
    "networkConfiguration": {
        "awsvpcConfiguration": {
            "assignPublicIp": "ENABLED",
            "securityGroups": [
                "sg-34692f46"
            ],
            "subnets": [
                "subnet-f9bb89a2",
                "subnet-9a4c8cd2",
                "subnet-725e9559"
            ]
           }
    },
    "platformVersion": "LATEST",
    "propagateTags": "SERVICE",
    "serviceName": "service-connect-nginx-service",
    "serviceConnectConfiguration": {
        "enabled": true,
        "namespace": true,
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
                "awslogs-region": "ap-northeast-1",
                "awslogs-stream-prefix": "service-connect-proxy"
            }
        }
    },
    "taskDefinition": "service-connect-nginx"
}
"""

# The seed's captured outputs.
REGISTER_OUTPUT = """{
    "taskDefinition": {
        "taskDefinitionArn": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/service-connect-nginx:1",
        "containerDefinitions": [
            {
                "name": "webserver",
                "image": "public.ecr.aws/docker/library/nginx:latest",
                "cpu": 100,
                "portMappings": [
                    {
                        "containerPort": 80,
                        "hostPort": 80,
                        "protocol": "tcp",
                        "name": "nginx",
                        "appProtocol": "http"
                    }
                ],
                "essential": true,
                "environment": [],
                "mountPoints": [],
                "volumesFrom": [],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/service-connect-nginx",
                        "awslogs-region": "ap-northeast-1",
                        "awslogs-stream-prefix": "nginx"
                    }
                }
            }
        ],
        "family": "service-connect-nginx",
        "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "revision": 1,
        "volumes": [],
        "status": "ACTIVE",
        "requiresAttributes": [
            {
                "name": "com.amazonaws.ecs.capability.logging-driver.awslogs"
            },
            {
                "name": "ecs.capability.execution-role-awslogs"
            },
            {
                "name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"
            },
            {
                "name": "com.amazonaws.ecs.capability.task-iam-role"
            },
            {
                "name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"
            },
            {
                "name": "ecs.capability.task-eni"
            }
        ],
        "placementConstraints": [],
        "compatibilities": [
            "EC2",
            "FARGATE"
        ],
        "cpu": "256",
        "memory": "512",
        "registeredAt": "2022-11-29T11:57:49.196000+00:00",
        "registeredBy": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AWSAdministratorAccess_bf8b32a74b14b58e/ShigeruOda"
    }
}"""

CREATE_SERVICE_OUTPUT = """{
    "service": {
        "serviceArn": "arn:aws:ecs:ap-northeast-1:123456789012:service/tutorial/service-connect-nginx-service",
        "serviceName": "service-connect-nginx-service",
        "clusterArn": "arn:aws:ecs:ap-northeast-1:123456789012:cluster/tutorial",
        "loadBalancers": [],
        "serviceRegistries": [],
        "status": "ACTIVE",
        "desiredCount": 1,
        "runningCount": 0,
        "pendingCount": 0,
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "platformFamily": "Linux",
        "taskDefinition": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/service-connect-nginx:1",
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
                "id": "ecs-svc/2314065177896282440",
                "status": "PRIMARY",
                "taskDefinition": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/service-connect-nginx:1",
                "desiredCount": 1,
                "pendingCount": 0,
                "runningCount": 0,
                "failedTasks": 0,
                "createdAt": "2022-11-29T12:38:08.284000+00:00",
                "updatedAt": "2022-11-29T12:38:08.284000+00:00",
                "launchType": "FARGATE",
                "platformVersion": "1.4.0",
                "platformFamily": "Linux",
                "networkConfiguration": {
                    "awsvpcConfiguration": {
                        "subnets": [
                            "subnet-725e9559",
                            "subnet-9a4c8cd2",
                            "subnet-f9bb89a2"
                        ],
                        "securityGroups": [
                            "sg-34692f46"
                        ],
                        "assignPublicIp": "ENABLED"
                    }
                },
                "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": "ECS deployment ecs-svc/2314065177896282440 in progress.",
                "serviceConnectConfiguration": {
                    "enabled": true,
                    "namespace": "arn:aws:servicediscovery:ap-northeast-1:123456789012:namespace/ns-vdpucf3aztj23ecw",
                    "services": [
                        {
                            "portName": "nginx",
                            "discoveryName": "nginx",
                            "clientAliases": [
                                {
                                    "port": 80,
                                    "dnsName": "nginx.service-connect"
                                }
                            ]
                        }
                    ],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": "/ecs/service-connect-proxy",
                            "awslogs-region": "ap-northeast-1",
                            "awslogs-stream-prefix": "service-connect-proxy"
                        },
                        "secretOptions": []
                    }
                },
                "serviceConnectResources": [
                    {
                        "discoveryName": "nginx",
                        "discoveryArn": "arn:aws:servicediscovery:ap-northeast-1:123456789012:service/srv-tsw4bbsna23fxcjx"
                    }
                ]
            }
        ],
        "roleArn": "arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
        "events": [],
        "createdAt": "2022-11-29T12:38:08.284000+00:00",
        "placementConstraints": [],
        "placementStrategy": [],
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": [
                    "subnet-725e9559",
                    "subnet-9a4c8cd2",
                    "subnet-f9bb89a2"
                ],
                "securityGroups": [
                    "sg-34692f46"
                ],
                "assignPublicIp": "ENABLED"
            }
        },
        "schedulingStrategy": "REPLICA",
        "deploymentController": {
            "type": "ECS"
        },
        "createdBy": "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_AWSAdministratorAccess_bf8b32a74b14b58e",
        "enableECSManagedTags": true,
        "propagateTags": "SERVICE",
        "enableExecuteCommand": true
    }
}"""

CLUSTER_MEMBERS = {
    "clusterArn",
    "clusterName",
    "status",
    "registeredContainerInstancesCount",
    "runningTasksCount",
    "pendingTasksCount",
    "activeServicesCount",
    "statistics",
    "tags",
    "settings",
    "capacityProviders",
    "defaultCapacityProviderStrategy",
    "attachments",
    "attachmentsStatus",
    "serviceConnectDefaults",
}


def test_create_cluster(berth, state):
    out = berth.aws(
        "ecs", "create-cluster",
        "--cluster-name", "tutorial",
        "--service-connect-defaults", "namespace=service-connect",
    )
    cluster = out["cluster"]
    assert set(cluster) == CLUSTER_MEMBERS, f"members differ from the seed's: {sorted(cluster)}"
    match(cluster, {
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/tutorial",
        "clusterName": "tutorial",
        "status": "PROVISIONING",
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": 0,
        "pendingTasksCount": 0,
        "activeServicesCount": 0,
        "statistics": [],
        "tags": [],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
        "attachments": [{"id": Re(UUID_RE.pattern[1:-1]), "type": "sc", "status": "ATTACHING", "details": []}],
        "attachmentsStatus": "UPDATE_IN_PROGRESS",
        "serviceConnectDefaults": {"namespace": Re(NS_ARN_RE)},
    })
    # The seed's account had Container Insights on; the setting is always shown.
    assert len(cluster["settings"]) == 1
    assert cluster["settings"][0]["name"] == "containerInsights"
    assert cluster["settings"][0]["value"] in ("enabled", "disabled")
    state["namespace_arn"] = cluster["serviceConnectDefaults"]["namespace"]
    state["namespace_id"] = state["namespace_arn"].rsplit("/", 1)[1]


def test_list_namespaces_with_filter(berth, state):
    out = berth.aws(
        "servicediscovery", "list-namespaces",
        "--region", "ap-northeast-1",
        "--filters", "Name=NAME,Values=service-connect,Condition=EQ",
    )
    assert len(out["Namespaces"]) == 1, out
    match(out["Namespaces"][0], {
        "Id": state["namespace_id"],
        "Arn": state["namespace_arn"],
        "Name": "service-connect",
        "Type": "HTTP",
        "Properties": {"DnsProperties": {"SOA": {}}, "HttpProperties": {"HttpName": "service-connect"}},
        "CreateDate": TIMESTAMP,
    })
    assert out["Namespaces"][0]["Properties"]["DnsProperties"] == {"SOA": {}}


def test_register_task_definition(berth, state):
    berth.write("service-connect-nginx.json", TASKDEF_JSON)
    out = berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://service-connect-nginx.json")
    expected = json.loads(REGISTER_OUTPUT)["taskDefinition"]
    expected["requiresAttributes"] = Unordered(expected["requiresAttributes"])
    expected["registeredAt"] = TIMESTAMP
    expected["registeredBy"] = PRESENT
    td = out["taskDefinition"]
    match(td, expected)
    # Nothing the seed does not show, either (besides what the request itself echoes).
    assert set(td) == set(expected), sorted(set(td) ^ set(expected))
    assert set(td["containerDefinitions"][0]) == set(expected["containerDefinitions"][0])
    state["taskdef_arn"] = td["taskDefinitionArn"]


def test_cli_refuses_namespace_true(berth):
    """The seed's service JSON has `"namespace": true`: botocore refuses it client-side."""
    berth.write("service-connect-nginx-service.json", SERVICE_JSON)
    r = berth.run(
        "ecs", "create-service", "--cluster", "tutorial",
        "--cli-input-json", "file://service-connect-nginx-service.json",
    )
    assert r.returncode != 0, r.stdout
    assert "Invalid type for parameter serviceConnectConfiguration.namespace" in r.stderr, r.stderr


def test_raw_post_namespace_true_is_a_serialization_error(berth):
    """Sent anyway (without the CLI's validation), berth refuses it as the service does."""
    status, body = berth.post(f"{ECS_TARGET}.CreateService", SERVICE_JSON)
    assert status == 400, (status, body)
    assert body["__type"].rsplit("#", 1)[-1] == "SerializationException", body
    message = body.get("message") or body.get("Message") or ""
    assert "serviceConnectConfiguration.namespace" in message, body
    # Nothing was created: no ECS service, no Cloud Map service.
    assert berth.aws("ecs", "list-services", "--cluster", "tutorial")["serviceArns"] == []
    assert berth.aws("servicediscovery", "list-services")["Services"] == []
    d = berth.aws("ecs", "describe-services", "--cluster", "tutorial",
                  "--services", "service-connect-nginx-service")
    assert d["services"] == [] and len(d["failures"]) == 1 and d["failures"][0]["reason"] == "MISSING"


def test_create_service_with_cluster_default_namespace(berth, state):
    spec = json.loads(SERVICE_JSON)
    del spec["serviceConnectConfiguration"]["namespace"]  # the cluster's default applies
    berth.write("service-connect-nginx-service.json", json.dumps(spec, indent=4))
    out = berth.aws(
        "ecs", "create-service", "--cluster", "tutorial",
        "--cli-input-json", "file://service-connect-nginx-service.json",
    )
    svc = out["service"]
    expected = json.loads(CREATE_SERVICE_OUTPUT)["service"]
    subnets = expected["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
    expected["networkConfiguration"]["awsvpcConfiguration"]["subnets"] = Unordered(subnets)
    expected["createdAt"] = TIMESTAMP
    expected["createdBy"] = PRESENT
    dep = expected["deployments"][0]
    dep["id"] = Re(r"ecs-svc/\d{19}")
    dep["createdAt"] = dep["updatedAt"] = TIMESTAMP
    dep["rolloutStateReason"] = Re(r"ECS deployment ecs-svc/\d{19} in progress\.")
    dep["networkConfiguration"]["awsvpcConfiguration"]["subnets"] = Unordered(subnets)
    dep["serviceConnectConfiguration"]["namespace"] = state["namespace_arn"]
    dep["serviceConnectResources"][0]["discoveryArn"] = Re(SRV_ARN_RE)
    match(svc, expected)
    d0 = svc["deployments"][0]
    assert d0["rolloutStateReason"] == f"ECS deployment {d0['id']} in progress."
    assert svc["createdAt"] == d0["createdAt"] == d0["updatedAt"]
    state["service"] = svc
    state["discovery_arn"] = d0["serviceConnectResources"][0]["discoveryArn"]


def test_describe_services_shows_the_same(berth, state):
    out = berth.aws("ecs", "describe-services", "--cluster", "tutorial",
                    "--services", "service-connect-nginx-service")
    assert out["failures"] == []
    (svc,) = out["services"]
    created = state["service"]
    for key in ("serviceArn", "taskDefinition", "networkConfiguration", "deploymentConfiguration",
                "createdAt", "enableExecuteCommand", "propagateTags"):
        assert svc[key] == created[key], key
    assert svc["deployments"][0]["id"] == created["deployments"][0]["id"]
    assert svc["deployments"][0]["serviceConnectConfiguration"] == \
        created["deployments"][0]["serviceConnectConfiguration"]
    assert svc["deployments"][0]["serviceConnectResources"] == \
        created["deployments"][0]["serviceConnectResources"]


def test_describe_tasks_lists_the_service_connect_proxy_container(berth, state):
    """The seed's task shows two containers: webserver (nginx) and
    ecs-service-connect-fphC624, the Service Connect proxy ECS adds."""
    arns = berth.aws("ecs", "list-tasks", "--cluster", "tutorial",
                     "--service-name", "service-connect-nginx-service")["taskArns"]
    assert len(arns) == 1, arns
    (task,) = berth.aws("ecs", "describe-tasks", "--cluster", "tutorial", "--tasks", *arns)["tasks"]
    names = [c["name"] for c in task["containers"]]
    assert len(names) == 2 and names[0] == "webserver", names
    assert re.fullmatch(r"ecs-service-connect-[A-Za-z0-9]{7}", names[1]), names
    webserver, proxy = task["containers"]
    for c in (webserver, proxy):
        assert c["taskArn"] == task["taskArn"]
        assert c["containerArn"].startswith(
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/tutorial/{task['taskArn'].rsplit('/', 1)[1]}/")
    assert proxy["containerArn"] != webserver["containerArn"]
    assert proxy["lastStatus"] == "PENDING"  # no agent runs it here
    assert proxy["healthStatus"] == "UNKNOWN"
    assert proxy["image"]
    # The name is the task's: it does not change from one answer to the next.
    again = berth.aws("ecs", "describe-tasks", "--cluster", "tutorial", "--tasks", *arns)["tasks"][0]
    assert [c["name"] for c in again["containers"]] == names


def test_discovery_service_exists_in_cloud_map(berth, state):
    srv_id = state["discovery_arn"].rsplit("/", 1)[1]
    out = berth.aws("servicediscovery", "get-service", "--id", srv_id)
    match(out["Service"], {
        "Id": srv_id,
        "Arn": state["discovery_arn"],
        "Name": "nginx",
        "NamespaceId": state["namespace_id"],
    })
    names = [s["Name"] for s in berth.aws("servicediscovery", "list-services")["Services"]]
    assert names == ["nginx"]


def test_list_services_by_namespace(berth, state):
    for ns in ("service-connect", state["namespace_arn"]):
        out = berth.aws("ecs", "list-services-by-namespace", "--namespace", ns)
        assert out["serviceArns"] == [state["service"]["serviceArn"]], (ns, out)


def test_cluster_counts_the_service(berth):
    (cluster,) = berth.aws("ecs", "describe-clusters", "--clusters", "tutorial")["clusters"]
    assert cluster["activeServicesCount"] == 1
    assert cluster["status"] == "ACTIVE"
    assert re.fullmatch(NS_ARN_RE, cluster["serviceConnectDefaults"]["namespace"])
