"""Seed 000 (Vietnamese workshop, "Enable Service Connect"): the retail store's orders,
checkout and catalog services with Service Connect in `retailstore.local`, then the ui
service moved onto Service Connect with access logs, replayed with the seed's commands
exactly as written (shell variables substituted as a shell would)."""

import json
import re
import shlex

from conftest import ACCOUNT, NS_ID_RE, SRV_ID_RE, Re, Unordered, match

REGION = "ap-southeast-1"
NS_ARN_RE = rf"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/{NS_ID_RE}"
SRV_ARN_RE = rf"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:service/{SRV_ID_RE}"
CLUSTER = "retail-store-ecs-cluster"

# What the workshop's earlier steps would have put in the shell. VPC_ID, the private
# subnets and UI_SG_ID come from berth's EC2 (test_network); the *_SG_IDs from the
# seed's own create-security-group commands.
SHELL_VARS = {
    "ACCOUNT_ID": ACCOUNT,
    "AWS_REGION": REGION,
    "SERVICE_CONNECT_LOG_GROUP_NAME": "retail-store-ecs-service-connect",
}

# The seed spells some of its author's ids out instead of writing the variable that
# held them (orders and checkout's create-service): they are the author's
# PRIVATE_SUBNET1/2, ORDERS_SG_ID and CHECKOUT_SG_ID, and read as ours.
AUTHOR_IDS = {
    "subnet-0b742ee8bbf495219": "${PRIVATE_SUBNET1}",
    "subnet-0317d1d968b9963d0": "${PRIVATE_SUBNET2}",
    "sg-069f1465934b99e2a": "${ORDERS_SG_ID}",
    "sg-037956d78913fda63": "${CHECKOUT_SG_ID}",
}


def sh(text: str) -> list[str]:
    """The argv a POSIX shell makes of `text` (line continuations, $VAR / ${VAR}
    expansion outside single quotes -- the seed only uses them there -- and quoting)."""
    text = text.replace("\\\n", " ")
    for author, ours in AUTHOR_IDS.items():
        text = text.replace(author, ours)

    def expand(m):
        name = m.group(1) or m.group(2)
        return SHELL_VARS[name]

    text = re.sub(r"\$\{(\w+)\}|\$(\w+)", expand, text)
    argv = shlex.split(text)
    assert argv[0] == "aws"
    return argv[1:]


def subst(text: str) -> str:
    """`${VAR}` / `$VAR` in a JSON file, as envsubst (or an unquoted heredoc) would."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: SHELL_VARS[m.group(1) or m.group(2)], text)


# ---- the seed's files and commands, verbatim ---------------------------------------

ORDERS_TASKDEF = """{
    "family": "retail-store-ecs-orders",
    "executionRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/ordersEcsTaskExecutionRole",
    "taskRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/retailStoreEcsTaskRole",
    "networkMode": "awsvpc",
    "requiresCompatibilities": [
        "FARGATE"
    ],
    "cpu": "1024",
    "memory": "2048",
    "runtimePlatform": {
        "cpuArchitecture": "X86_64",
        "operatingSystemFamily": "LINUX"
    },
    "containerDefinitions": [
        {
            "name": "application",
            "image": "public.ecr.aws/aws-containers/retail-store-sample-orders:1.2.3",
            "cpu": 0,
            "portMappings": [
                {
                    "name": "application",
                    "containerPort": 8080,
                    "hostPort": 8080,
                    "protocol": "tcp",
                    "appProtocol": "http"
                }
            ],
            "essential": true,
            "linuxParameters": {
                "initProcessEnabled": true
            },
            "healthCheck": {
                "command": [
                    "CMD-SHELL",
                    "curl -f http://localhost:8080/actuator/health || exit 1"
                ],
                "interval": 10,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 60
            },
            "environment": [
                {
                    "name": "RETAIL_ORDERS_PERSISTENCE_PROVIDER",
                    "value": "postgres"
                },
                {
                    "name": "RETAIL_ORDERS_MESSAGING_PROVIDER",
                    "value": "in-memory"
                }
            ],
            "secrets": [
                {
                    "name": "RETAIL_ORDERS_PERSISTENCE_ENDPOINT",
                    "valueFrom": "arn:aws:ssm:${AWS_REGION}:${ACCOUNT_ID}:parameter/retail-store-ecs/orders/db-endpoint-postgres"
                },
                {
                    "name": "RETAIL_ORDERS_PERSISTENCE_NAME",
                    "valueFrom": "arn:aws:secretsmanager:${AWS_REGION}:${ACCOUNT_ID}:secret:retail-store-ecs-orders-db:dbname::"
                },
                {
                    "name": "RETAIL_ORDERS_PERSISTENCE_USERNAME",
                    "valueFrom": "arn:aws:secretsmanager:${AWS_REGION}:${ACCOUNT_ID}:secret:retail-store-ecs-orders-db:username::"
                },
                {
                    "name": "RETAIL_ORDERS_PERSISTENCE_PASSWORD",
                    "valueFrom": "arn:aws:secretsmanager:${AWS_REGION}:${ACCOUNT_ID}:secret:retail-store-ecs-orders-db:password::"
                }
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "retail-store-ecs-tasks",
                    "awslogs-region": "$AWS_REGION",
                    "awslogs-stream-prefix": "orders-service"
                }
            }
        }
    ]
}"""

CHECKOUT_TASKDEF = """{
    "family": "retail-store-ecs-checkout",
    "executionRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/checkoutEcsTaskExecutionRole",
    "taskRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/retailStoreEcsTaskRole",
    "networkMode": "awsvpc",
    "requiresCompatibilities": [
        "FARGATE"
    ],
    "cpu": "1024",
    "memory": "2048",
    "runtimePlatform": {
        "cpuArchitecture": "X86_64",
        "operatingSystemFamily": "LINUX"
    },
    "containerDefinitions": [
        {
            "name": "application",
            "image": "public.ecr.aws/aws-containers/retail-store-sample-checkout:1.2.3",
            "portMappings": [
                {
                    "name": "application",
                    "containerPort": 8080,
                    "hostPort": 8080,
                    "protocol": "tcp",
                    "appProtocol": "http"
                }
            ],
            "essential": true,
            "linuxParameters": {
                "initProcessEnabled": true
            },
            "environment": [
                {
                    "name": "RETAIL_CHECKOUT_PERSISTENCE_PROVIDER",
                    "value": "redis"
                },
                 {
                    "name": "RETAIL_CHECKOUT_ENDPOINTS_ORDERS",
                    "value": "http://orders"
                }
            ],
            "secrets": [
                {
                    "name": "RETAIL_CHECKOUT_PERSISTENCE_REDIS_URL",
                    "valueFrom": "arn:aws:ssm:${AWS_REGION}:${ACCOUNT_ID}:parameter/retail-store-ecs/checkout/redis-endpoint"
                }
            ],
            "healthCheck": {
                "command": [
                    "CMD-SHELL",
                    "curl -f http://localhost:8080/health || exit 1"
                ],
                "interval": 10,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 60
            },
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "retail-store-ecs-tasks",
                    "awslogs-region": "$AWS_REGION",
                    "awslogs-stream-prefix": "checkout-service"
                }
            }
        }
    ]
}"""

CATALOG_TASKDEF = """{
    "family": "retail-store-ecs-catalog",
    "executionRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/catalogEcsTaskExecutionRole",
    "taskRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/retailStoreEcsTaskRole",
    "networkMode": "awsvpc",
    "requiresCompatibilities": [
        "FARGATE"
    ],
    "cpu": "1024",
    "memory": "2048",
    "runtimePlatform": {
        "cpuArchitecture": "X86_64",
        "operatingSystemFamily": "LINUX"
    },
    "containerDefinitions": [
        {
            "name": "application",
            "image": "public.ecr.aws/aws-containers/retail-store-sample-catalog:1.2.3",
            "portMappings": [
                {
                    "name": "application",
                    "containerPort": 8080,
                    "hostPort": 8080,
                    "protocol": "tcp",
                    "appProtocol": "http"
                }
            ],
            "essential": true,
            "linuxParameters": {
                "initProcessEnabled": true
            },
            "environment": [
                {
                    "name": "RETAIL_CATALOG_PERSISTENCE_DB_NAME",
                    "value": "catalog"
                },
                {
                    "name": "RETAIL_CATALOG_PERSISTENCE_PROVIDER",
                    "value": "mysql"
                }
            ],
            "secrets": [
                {
                    "name": "RETAIL_CATALOG_PERSISTENCE_ENDPOINT",
                    "valueFrom": "arn:aws:ssm:${AWS_REGION}:${ACCOUNT_ID}:parameter/retail-store-ecs/catalog/db-endpoint-mysql"
                },
                {
                    "name": "RETAIL_CATALOG_PERSISTENCE_PASSWORD",
                    "valueFrom": "arn:aws:secretsmanager:${AWS_REGION}:${ACCOUNT_ID}:secret:retail-store-ecs-catalog-db:password::"
                },
                {
                    "name": "RETAIL_CATALOG_PERSISTENCE_USER",
                    "valueFrom": "arn:aws:secretsmanager:${AWS_REGION}:${ACCOUNT_ID}:secret:retail-store-ecs-catalog-db:username::"
                }
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "retail-store-ecs-tasks",
                    "awslogs-region": "${AWS_REGION}",
                    "awslogs-stream-prefix": "catalog-service"
                }
            },
            "healthCheck": {
                "command": [
                    "CMD-SHELL",
                    "curl -f http://localhost:8080/health || exit 1"
                ],
                "interval": 10,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 60
            }
        }
    ]
}"""

CREATE_ORDERS = """aws ecs create-service \\
    --cluster retail-store-ecs-cluster \\
    --service-name orders \\
    --task-definition retail-store-ecs-orders \\
    --desired-count 1 \\
    --launch-type FARGATE \\
    --enable-execute-command \\
    --network-configuration "awsvpcConfiguration={subnets=[subnet-0b742ee8bbf495219, subnet-0317d1d968b9963d0], securityGroups=[sg-069f1465934b99e2a],assignPublicIp=DISABLED}" \\
    --service-connect-configuration '{
        "enabled": true,
        "namespace": "retailstore.local",
        "services": [
            {
                "portName": "application",
                "discoveryName": "orders",
                "clientAliases": [
                    {
                        "port": 80,
                        "dnsName": "orders"
                    }
                ]
            }
        ]
    }'"""

CREATE_CHECKOUT = """aws ecs create-service \\
    --cluster retail-store-ecs-cluster \\
    --service-name checkout \\
    --task-definition retail-store-ecs-checkout \\
    --desired-count 1 \\
    --launch-type FARGATE \\
    --enable-execute-command \\
    --network-configuration "awsvpcConfiguration={subnets=[subnet-0b742ee8bbf495219, subnet-0317d1d968b9963d0], securityGroups=[sg-037956d78913fda63],assignPublicIp=DISABLED}" \\
    --service-connect-configuration '{
        "enabled": true,
        "namespace": "retailstore.local",
        "services": [
            {
                "portName": "application",
                "discoveryName": "checkout",
                "clientAliases": [
                    {
                        "port": 80,
                        "dnsName": "checkout"
                    }
                ]
            }
        ]
    }'"""

CREATE_CATALOG = """aws ecs create-service \\
    --cluster retail-store-ecs-cluster \\
    --service-name catalog \\
    --task-definition retail-store-ecs-catalog \\
    --desired-count 2 \\
    --launch-type FARGATE \\
    --enable-execute-command \\
    --network-configuration "awsvpcConfiguration={subnets=[${PRIVATE_SUBNET1}, ${PRIVATE_SUBNET2}], securityGroups=[$CATALOG_SG_ID],assignPublicIp=DISABLED}" \\
    --service-connect-configuration '{
        "enabled": true,
        "namespace": "retailstore.local",
        "services": [
            {
                "portName": "application",
                "discoveryName": "catalog",
                "clientAliases": [
                    {
                        "port": 80,
                        "dnsName": "catalog"
                    }
                ]
            }
        ]
    }'"""

UPDATE_UI = """aws ecs update-service \\
    --cluster retail-store-ecs-cluster \\
    --service ui \\
    --task-definition retail-store-ecs-ui \\
    --force-new-deployment \\
    --desired-count 2 \\
    --service-connect-configuration '{
        "enabled": true,
        "namespace": "retailstore.local",
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "'$SERVICE_CONNECT_LOG_GROUP_NAME'",
                "awslogs-region": "'$AWS_REGION'",
                "awslogs-stream-prefix": "ui-service-connect-logs"
            }
        },
        "accessLogConfiguration": {
            "format": "JSON",
            "includeQueryParameters": "ENABLED"
        },
        "services": [
            {
                "portName": "application",
                "discoveryName": "ui",
                "clientAliases": [
                    {
                        "port": 80,
                        "dnsName": "ui"
                    }
                ]
            }
        ]
    }'"""

# The ui task definition, in the seed's style (the seed only shows its environment).
UI_TASKDEF_BEFORE = """{
    "family": "retail-store-ecs-ui",
    "executionRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/uiEcsTaskExecutionRole",
    "taskRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/retailStoreEcsTaskRole",
    "networkMode": "awsvpc",
    "requiresCompatibilities": [
        "FARGATE"
    ],
    "cpu": "1024",
    "memory": "2048",
    "runtimePlatform": {
        "cpuArchitecture": "X86_64",
        "operatingSystemFamily": "LINUX"
    },
    "containerDefinitions": [
        {
            "name": "application",
            "image": "public.ecr.aws/aws-containers/retail-store-sample-ui:1.2.3",
            "portMappings": [
                {
                    "name": "application",
                    "containerPort": 8080,
                    "hostPort": 8080,
                    "protocol": "tcp",
                    "appProtocol": "http"
                }
            ],
            "essential": true,
            "linuxParameters": {
                "initProcessEnabled": true
            },
            "healthCheck": {
                "command": [
                    "CMD-SHELL",
                    "curl -f http://localhost:8080/actuator/health || exit 1"
                ],
                "interval": 10,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 60
            },
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "retail-store-ecs-tasks",
                    "awslogs-region": "${AWS_REGION}",
                    "awslogs-stream-prefix": "ui-service"
                }
            }
        }
    ]
}"""

UI_ENVIRONMENT = [
    {"name": "RETAIL_UI_ENDPOINTS_ORDERS", "value": "http://orders"},
    {"name": "RETAIL_UI_ENDPOINTS_CHECKOUT", "value": "http://checkout"},
    {"name": "RETAIL_UI_ENDPOINTS_CATALOG", "value": "http://catalog"},
]


def ui_connect_taskdef() -> str:
    td = json.loads(UI_TASKDEF_BEFORE)
    td["containerDefinitions"][0]["environment"] = UI_ENVIRONMENT
    return json.dumps(td, indent=4)


# The seed's security groups and rules, verbatim.
CREATE_SGS = {
    "ORDERS_SG_ID": """aws ec2 create-security-group \\
  --group-name orders-sg \\
  --description "Orders ECS Service SG" \\
  --vpc-id ${VPC_ID}""",
    "CHECKOUT_SG_ID": """aws ec2 create-security-group \\
  --group-name checkout-sg \\
  --description "Checkout ECS Service SG" \\
  --vpc-id ${VPC_ID}""",
    "CATALOG_SG_ID": """aws ec2 create-security-group \\
  --group-name catalog-sg \\
  --description "Catalog ECS Service SG" \\
  --vpc-id ${VPC_ID}""",
}

AUTHORIZE = [
    """aws ec2 authorize-security-group-ingress \\
  --group-id ${ORDERS_SG_ID} \\
  --protocol tcp \\
  --port 8080 \\
  --source-group ${UI_SG_ID}""",
    """aws ec2 authorize-security-group-ingress \\
  --group-id ${ORDERS_SG_ID} \\
  --protocol tcp \\
  --port 8080 \\
  --source-group ${CHECKOUT_SG_ID}""",
    """aws ec2 authorize-security-group-ingress \\
  --group-id ${CHECKOUT_SG_ID} \\
  --protocol tcp \\
  --port 8080 \\
  --source-group ${UI_SG_ID}""",
    """aws ec2 authorize-security-group-ingress \\
  --group-id ${CATALOG_SG_ID} \\
  --protocol tcp \\
  --port 8080 \\
  --source-group ${UI_SG_ID}""",
]


# ---- the walkthrough ----------------------------------------------------------------


def test_network(berth, state):
    """The workshop's VPC (the default one here), its private subnets, the ui group of
    an earlier section, then the seed's three groups and four rules."""
    (vpc,) = berth.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"]
    assert vpc["CidrBlock"] == "172.31.0.0/16" and vpc["IsDefault"] is True
    SHELL_VARS["VPC_ID"] = vpc["VpcId"]
    subnets = berth.aws("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpc['VpcId']}")["Subnets"]
    subnets = sorted(subnets, key=lambda s: s["AvailabilityZone"])
    assert len(subnets) >= 2 and all(s["DefaultForAz"] for s in subnets)
    SHELL_VARS["PRIVATE_SUBNET1"], SHELL_VARS["PRIVATE_SUBNET2"] = (s["SubnetId"] for s in subnets[:2])
    SHELL_VARS["UI_SG_ID"] = berth.aws(*sh(
        'aws ec2 create-security-group --group-name ui-sg --description "UI ECS Service SG" --vpc-id ${VPC_ID}'
    ))["GroupId"]
    for var, cmd in CREATE_SGS.items():
        gid = berth.aws(*sh(cmd))["GroupId"]
        assert re.fullmatch(r"sg-[0-9a-f]{17}", gid), gid
        SHELL_VARS[var] = gid
    for cmd in AUTHORIZE:
        out = berth.aws(*sh(cmd))
        assert out["Return"] is True
        (rule,) = out["SecurityGroupRules"]
        assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 8080, 8080)
    orders = berth.aws("ec2", "describe-security-groups", "--group-ids", SHELL_VARS["ORDERS_SG_ID"])
    (g,) = orders["SecurityGroups"]
    assert g["GroupName"] == "orders-sg" and g["VpcId"] == SHELL_VARS["VPC_ID"]
    (perm,) = g["IpPermissions"]
    sources = sorted(p["GroupId"] for p in perm["UserIdGroupPairs"])
    assert sources == sorted([SHELL_VARS["UI_SG_ID"], SHELL_VARS["CHECKOUT_SG_ID"]])
    # Again: EC2 refuses the same rule twice.
    err = berth.aws_fails(*sh(AUTHORIZE[0]), code="InvalidPermission.Duplicate")
    assert SHELL_VARS["ORDERS_SG_ID"] in err or "already exists" in err




def test_create_cluster(berth, state):
    out = berth.aws("ecs", "create-cluster", "--cluster-name", CLUSTER,
                    "--service-connect-defaults", "namespace=retailstore.local")
    c = out["cluster"]
    assert c["clusterName"] == CLUSTER
    assert re.fullmatch(NS_ARN_RE, c["serviceConnectDefaults"]["namespace"])
    state["namespace_arn"] = c["serviceConnectDefaults"]["namespace"]
    state["namespace_id"] = state["namespace_arn"].rsplit("/", 1)[1]
    ns = berth.aws("servicediscovery", "get-namespace", "--id", state["namespace_id"])["Namespace"]
    assert ns["Name"] == "retailstore.local" and ns["Type"] == "HTTP"


def test_register_task_definitions(berth, state):
    for name, text, family in (
        ("retail-store-ecs-order-taskdef.json", ORDERS_TASKDEF, "retail-store-ecs-orders"),
        ("retail-store-ecs-checkout-taskdef.json", CHECKOUT_TASKDEF, "retail-store-ecs-checkout"),
        ("retail-store-ecs-catalog-taskdef.json", CATALOG_TASKDEF, "retail-store-ecs-catalog"),
    ):
        berth.write(name, subst(text))
        td = berth.aws("ecs", "register-task-definition", "--cli-input-json", f"file://{name}")["taskDefinition"]
        request = json.loads(subst(text))
        c = td["containerDefinitions"][0]
        match(td, {
            "family": family,
            "revision": 1,
            "status": "ACTIVE",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "1024",
            "memory": "2048",
            "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            "executionRoleArn": request["executionRoleArn"],
        })
        rc = request["containerDefinitions"][0]
        match(c, {
            "portMappings": [{"name": "application", "containerPort": 8080, "hostPort": 8080,
                              "protocol": "tcp", "appProtocol": "http"}],
            "environment": Unordered(rc["environment"]),
            "secrets": rc["secrets"],
            "healthCheck": rc["healthCheck"],
            "logConfiguration": {"options": {"awslogs-region": REGION}},
        })
        assert "${" not in json.dumps(td)


def _check_sc_service(berth, state, svc, name, desired, subnets, sgs):
    match(svc, {
        "serviceName": name,
        "status": "ACTIVE",
        "desiredCount": desired,
        "launchType": "FARGATE",
        "enableExecuteCommand": True,
        "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/retail-store-ecs-{name}:1",
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": Unordered(subnets), "securityGroups": sgs, "assignPublicIp": "DISABLED"}},
    })
    (dep,) = svc["deployments"]
    match(dep, {
        "status": "PRIMARY",
        "desiredCount": desired,
        "serviceConnectConfiguration": {
            "enabled": True,
            # Given by name, the namespace is echoed as given (when omitted, the cluster
            # default shows as its ARN: seed 001).
            "namespace": "retailstore.local",
            # discoveryName and dnsName were given explicitly: kept as given (no
            # ".retailstore.local" appended).
            "services": [{"portName": "application", "discoveryName": name,
                          "clientAliases": [{"port": 80, "dnsName": name}]}],
        },
        "serviceConnectResources": [{"discoveryName": name, "discoveryArn": Re(SRV_ARN_RE)}],
    })
    arn = dep["serviceConnectResources"][0]["discoveryArn"]
    got = berth.aws("servicediscovery", "get-service", "--id", arn.rsplit("/", 1)[1])["Service"]
    assert got["Name"] == name and got["NamespaceId"] == state["namespace_id"]
    state.setdefault("discovery", {})[name] = arn


def test_create_orders(berth, state):
    svc = berth.aws(*sh(CREATE_ORDERS))["service"]
    _check_sc_service(berth, state, svc, "orders", 1,
                      [SHELL_VARS["PRIVATE_SUBNET1"], SHELL_VARS["PRIVATE_SUBNET2"]],
                      [SHELL_VARS["ORDERS_SG_ID"]])


def test_create_checkout(berth, state):
    svc = berth.aws(*sh(CREATE_CHECKOUT))["service"]
    _check_sc_service(berth, state, svc, "checkout", 1,
                      [SHELL_VARS["PRIVATE_SUBNET1"], SHELL_VARS["PRIVATE_SUBNET2"]],
                      [SHELL_VARS["CHECKOUT_SG_ID"]])


def test_create_catalog(berth, state):
    svc = berth.aws(*sh(CREATE_CATALOG))["service"]
    _check_sc_service(berth, state, svc, "catalog", 2,
                      [SHELL_VARS["PRIVATE_SUBNET1"], SHELL_VARS["PRIVATE_SUBNET2"]],
                      [SHELL_VARS["CATALOG_SG_ID"]])


def test_discovery_name_taken_in_namespace(berth, state):
    argv = sh(CREATE_ORDERS.replace("--service-name orders", "--service-name orders-v2"))
    err = berth.aws_fails(*argv, code="InvalidParameterException")
    assert "orders" in err
    d = berth.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", "orders-v2")
    assert d["services"] == [] and d["failures"][0]["reason"] == "MISSING"
    names = sorted(s["Name"] for s in berth.aws("servicediscovery", "list-services")["Services"])
    assert names == ["catalog", "checkout", "orders"]


def test_ui_without_service_connect(berth, state):
    berth.write("retail-store-ecs-ui-taskdef.json", subst(UI_TASKDEF_BEFORE))
    td = berth.aws("ecs", "register-task-definition",
                   "--cli-input-json", "file://retail-store-ecs-ui-taskdef.json")["taskDefinition"]
    assert td["revision"] == 1
    svc = berth.aws(*sh(
        "aws ecs create-service --cluster retail-store-ecs-cluster --service-name ui "
        "--task-definition retail-store-ecs-ui --desired-count 1 --launch-type FARGATE "
        "--network-configuration \"awsvpcConfiguration={subnets=[${PRIVATE_SUBNET1}, ${PRIVATE_SUBNET2}], "
        "securityGroups=[$UI_SG_ID],assignPublicIp=DISABLED}\""
    ))["service"]
    (dep,) = svc["deployments"]
    assert dep["status"] == "PRIMARY"
    assert "serviceConnectConfiguration" not in dep or not dep["serviceConnectConfiguration"].get("enabled")
    assert not dep.get("serviceConnectResources")
    state["ui_first_deployment"] = dep["id"]


def test_ui_connect_task_definition(berth):
    berth.write("retail-store-ecs-ui-connect-taskdef.json", subst(ui_connect_taskdef()))
    td = berth.aws("ecs", "register-task-definition",
                   "--cli-input-json", "file://retail-store-ecs-ui-connect-taskdef.json")["taskDefinition"]
    assert td["revision"] == 2
    assert td["containerDefinitions"][0]["environment"] == UI_ENVIRONMENT or \
        sorted(td["containerDefinitions"][0]["environment"], key=lambda e: e["name"]) == \
        sorted(UI_ENVIRONMENT, key=lambda e: e["name"])


def test_update_ui_onto_service_connect(berth, state):
    svc = berth.aws(*sh(UPDATE_UI))["service"]
    assert svc["desiredCount"] == 2
    assert svc["taskDefinition"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/retail-store-ecs-ui:2"
    deps = svc["deployments"]
    assert len(deps) == 2, deps
    primary = [d for d in deps if d["status"] == "PRIMARY"]
    active = [d for d in deps if d["status"] == "ACTIVE"]
    assert len(primary) == 1 and len(active) == 1, [d["status"] for d in deps]
    (new,), (old,) = primary, active
    assert old["id"] == state["ui_first_deployment"]
    assert new["id"] != old["id"]
    assert old["taskDefinition"].endswith("retail-store-ecs-ui:1")
    match(new, {
        "taskDefinition": svc["taskDefinition"],
        "desiredCount": 2,
        "rolloutState": "IN_PROGRESS",
        "serviceConnectConfiguration": {
            "enabled": True,
            "namespace": "retailstore.local",  # as given
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": SHELL_VARS["SERVICE_CONNECT_LOG_GROUP_NAME"],
                    "awslogs-region": REGION,
                    "awslogs-stream-prefix": "ui-service-connect-logs",
                },
            },
            "accessLogConfiguration": {"format": "JSON", "includeQueryParameters": "ENABLED"},
            "services": [{"portName": "application", "discoveryName": "ui",
                          "clientAliases": [{"port": 80, "dnsName": "ui"}]}],
        },
        "serviceConnectResources": [{"discoveryName": "ui", "discoveryArn": Re(SRV_ARN_RE)}],
    })
    # Persisted as returned.
    (again,) = berth.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", "ui")["services"]
    assert [(d["id"], d["status"]) for d in again["deployments"]] == [(d["id"], d["status"]) for d in deps]
    assert again["deployments"][0]["serviceConnectConfiguration"] == new["serviceConnectConfiguration"] \
        or again["deployments"][1]["serviceConnectConfiguration"] == new["serviceConnectConfiguration"]


def test_namespace_lists_all_four(berth, state):
    out = berth.aws("ecs", "list-services-by-namespace", "--namespace", "retailstore.local")
    names = sorted(a.rsplit("/", 1)[1] for a in out["serviceArns"])
    assert names == ["catalog", "checkout", "orders", "ui"]
    cm = sorted(s["Name"] for s in berth.aws("servicediscovery", "list-services")["Services"])
    assert cm == ["catalog", "checkout", "orders", "ui"]
