"""Cloud Map through the aws CLI: namespaces, services, instances, discovery and
operations, over AWS JSON 1.1. test_cloudmap_cbor.py runs the same steps over Smithy
RPCv2-CBOR (what recent botocore releases speak to Cloud Map); berth serves both."""

import json
import time

from conftest import TIMESTAMP, Re, match

REGION = "eu-central-1"
# The wire protocol the CLI uses for Cloud Map here (its model is overridden through
# AWS_DATA_PATH, so this holds whatever the installed botocore defaults to).
CLOUD_MAP_PROTOCOL = "json"
WIRE_MARKERS = {
    "json": ("'X-Amz-Target': b'Route53AutoNaming_v20170314.ListNamespaces'",),
    "smithy-rpc-v2-cbor": ("/service/Route53AutoNaming_v20170314/operation/ListNamespaces",
                           "application/cbor"),
}


def test_cli_speaks_the_protocol_under_test(berth):
    r = berth.run("--debug", "servicediscovery", "list-namespaces")
    assert r.returncode == 0, r.stderr[-3000:]
    # (berth.*: test_cloudmap_cbor.py collects these same functions with its own settings)
    for marker in WIRE_MARKERS[berth.cloud_map_protocol]:
        assert marker in r.stderr, f"{marker!r} not in the CLI's debug log"
    assert json.loads(r.stdout) == {"Namespaces": []}


def wait_operation(berth, op_id: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        op = berth.aws("servicediscovery", "get-operation", "--operation-id", op_id)["Operation"]
        if op["Status"] in ("SUCCESS", "FAIL") or time.monotonic() > deadline:
            return op
        time.sleep(0.2)


def test_create_http_namespace(berth, state):
    out = berth.aws("servicediscovery", "create-http-namespace", "--name", "shop.local",
                    "--description", "the shop", "--creator-request-id", "shop-1")
    op = wait_operation(berth, out["OperationId"])
    match(op, {"Id": out["OperationId"], "Type": "CREATE_NAMESPACE", "Status": "SUCCESS",
               "CreateDate": TIMESTAMP, "UpdateDate": TIMESTAMP,
               "Targets": {"NAMESPACE": Re(r"ns-[a-z0-9]{16}")}})
    ns_id = op["Targets"]["NAMESPACE"]
    ns = berth.aws("servicediscovery", "get-namespace", "--id", ns_id)["Namespace"]
    match(ns, {"Id": ns_id, "Name": "shop.local", "Type": "HTTP", "Description": "the shop",
               "CreatorRequestId": "shop-1",
               "Properties": {"HttpProperties": {"HttpName": "shop.local"}}})
    state["ns_id"] = ns_id


def test_create_service(berth, state):
    out = berth.aws("servicediscovery", "create-service", "--name", "cart",
                    "--namespace-id", state["ns_id"], "--description", "carts")
    svc = out["Service"]
    match(svc, {"Id": Re(r"srv-[a-z0-9]{16}"), "Name": "cart", "NamespaceId": state["ns_id"],
                "Arn": Re(rf"arn:aws:servicediscovery:{berth.region}:123456789012:service/srv-[a-z0-9]{{16}}"),
                "CreateDate": TIMESTAMP})
    state["srv_id"] = svc["Id"]
    listed = berth.aws("servicediscovery", "list-services",
                       "--filters", f"Name=NAMESPACE_ID,Values={state['ns_id']},Condition=EQ")
    assert [s["Id"] for s in listed["Services"]] == [svc["Id"]]


def test_register_instances(berth, state):
    for i, ip in enumerate(("10.0.1.10", "10.0.1.11")):
        out = berth.aws("servicediscovery", "register-instance", "--service-id", state["srv_id"],
                        "--instance-id", f"cart-{i}",
                        "--attributes", f"AWS_INSTANCE_IPV4={ip},AWS_INSTANCE_PORT=8080,zone=a")
        op = wait_operation(berth, out["OperationId"])
        assert op["Type"] == "REGISTER_INSTANCE" and op["Status"] == "SUCCESS", op
        assert op["Targets"]["INSTANCE"] == f"cart-{i}"
    inst = berth.aws("servicediscovery", "get-instance", "--service-id", state["srv_id"],
                     "--instance-id", "cart-0")["Instance"]
    assert inst["Attributes"] == {"AWS_INSTANCE_IPV4": "10.0.1.10", "AWS_INSTANCE_PORT": "8080", "zone": "a"}
    listed = berth.aws("servicediscovery", "list-instances", "--service-id", state["srv_id"])
    assert sorted(i["Id"] for i in listed["Instances"]) == ["cart-0", "cart-1"]


def test_discover_instances(berth):
    out = berth.aws("servicediscovery", "discover-instances",
                    "--namespace-name", "shop.local", "--service-name", "cart")
    got = sorted((i["InstanceId"], i["Attributes"]["AWS_INSTANCE_IPV4"], i["Attributes"]["AWS_INSTANCE_PORT"])
                 for i in out["Instances"])
    assert got == [("cart-0", "10.0.1.10", "8080"), ("cart-1", "10.0.1.11", "8080")]
    for i in out["Instances"]:
        assert i["NamespaceName"] == "shop.local" and i["ServiceName"] == "cart"
    # Query parameters filter on custom attributes.
    out = berth.aws("servicediscovery", "discover-instances", "--namespace-name", "shop.local",
                    "--service-name", "cart", "--query-parameters", "zone=b")
    assert out["Instances"] == []
    revision = berth.aws("servicediscovery", "discover-instances-revision",
                         "--namespace-name", "shop.local", "--service-name", "cart")
    assert isinstance(revision["InstancesRevision"], int)


def test_deregister_instance(berth, state):
    out = berth.aws("servicediscovery", "deregister-instance", "--service-id", state["srv_id"],
                    "--instance-id", "cart-0")
    op = wait_operation(berth, out["OperationId"])
    assert op["Type"] == "DEREGISTER_INSTANCE" and op["Status"] == "SUCCESS", op
    out = berth.aws("servicediscovery", "discover-instances",
                    "--namespace-name", "shop.local", "--service-name", "cart")
    assert [i["InstanceId"] for i in out["Instances"]] == ["cart-1"]
    berth.aws_fails("servicediscovery", "get-instance", "--service-id", state["srv_id"],
                    "--instance-id", "cart-0", code="InstanceNotFound")


def test_list_operations(berth):
    ops = berth.aws("servicediscovery", "list-operations")["Operations"]
    assert len(ops) >= 4 and all(o["Status"] == "SUCCESS" for o in ops), ops


def test_cloud_map_errors(berth, state):
    berth.aws_fails("servicediscovery", "get-operation", "--operation-id", "nope-nope",
                    code="OperationNotFound")
    berth.aws_fails("servicediscovery", "create-service", "--name", "cart",
                    "--namespace-id", state["ns_id"], code="ServiceAlreadyExists")
    berth.aws_fails("servicediscovery", "delete-namespace", "--id", state["ns_id"],
                    code="ResourceInUse")
    berth.aws_fails("servicediscovery", "discover-instances", "--namespace-name", "shop.local",
                    "--service-name", "nope", code="ServiceNotFound")
