"""ELBv2 (application load balancers) with the real aws CLI and boto3 against a real
`berth server`: load balancers in the default VPC's subnets, target groups of `ip` and
`instance` targets, listeners and rules with every condition and action berth runs,
priorities, attributes, tags, target health (initial, unused, draining, not
registered), pagination, a waiter, and bad input for every operation with ELB's codes
(missing members sent as raw query forms, since the CLI checks those itself)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest

from conftest import ACCOUNT, signed_headers

REGION = "us-east-1"
IMPORT_NETWORK = False
ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
LB_ARN_RE = re.escape(ARN) + r":loadbalancer/app/{name}/[0-9a-f]{{16}}"
TG_ARN_RE = re.escape(ARN) + r":targetgroup/{name}/[0-9a-f]{{16}}"


def elb(berth, *args):
    return berth.aws("elbv2", *args)


def fails(berth, code, *args):
    return berth.aws_fails("elbv2", *args, code=code)


def post_form(berth, form: dict) -> tuple[int, str]:
    """POSTs an ELBv2 query form as botocore would; (status, body text)."""
    body = urllib.parse.urlencode({"Version": "2015-12-01", **form}).encode()
    headers = signed_headers(berth.url + "/", body, "elasticloadbalancing", REGION,
                             {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    req = urllib.request.Request(berth.url + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def form_fails(berth, code: str, form: dict, says: str = "") -> str:
    status, body = post_form(berth, form)
    assert status == 400, (form, status, body)
    assert "<ErrorResponse" in body and "<Type>Sender</Type>" in body, body
    assert f"<Code>{code}</Code>" in body, (form, body)
    assert says in body, (says, body)
    return body


@pytest.fixture(scope="module")
def net(berth):
    vpc = berth.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"][0]["VpcId"]
    subnets = berth.aws("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpc}")["Subnets"]
    subnets.sort(key=lambda s: s["AvailabilityZone"])
    group = berth.aws("ec2", "describe-security-groups", "--filters", f"Name=vpc-id,Values={vpc}",
                      "Name=group-name,Values=default")["SecurityGroups"][0]["GroupId"]
    return {"vpc": vpc, "subnets": [s["SubnetId"] for s in subnets], "zones": [s["AvailabilityZone"] for s in subnets],
            "group": group}


def new_lb(berth, net, name):
    out = elb(berth, "create-load-balancer", "--name", name, "--subnets", net["subnets"][0], net["subnets"][1])
    return out["LoadBalancers"][0]["LoadBalancerArn"]


def new_tg(berth, net, name, kind="ip", *extra):
    out = elb(berth, "create-target-group", "--name", name, "--protocol", "HTTP", "--port", "80",
              "--vpc-id", net["vpc"], "--target-type", kind, *extra)
    return out["TargetGroups"][0]["TargetGroupArn"]


def new_listener(berth, lb, port, tg):
    out = elb(berth, "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", str(port),
              "--default-actions", f"Type=forward,TargetGroupArn={tg}")
    return out["Listeners"][0]["ListenerArn"]


def health(berth, tg, *targets):
    args = ["describe-target-health", "--target-group-arn", tg]
    if targets:
        args += ["--targets", *targets]
    out = elb(berth, *args)["TargetHealthDescriptions"]
    return {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"] for d in out}


def test_load_balancer_lifecycle(berth, net):
    arn = new_lb(berth, net, "web")
    assert re.fullmatch(LB_ARN_RE.format(name="web"), arn), arn
    lb = elb(berth, "describe-load-balancers", "--names", "web")["LoadBalancers"][0]
    assert lb["LoadBalancerArn"] == arn
    assert re.fullmatch(r"web-\d{10}\.us-east-1\.elb\.localhost", lb["DNSName"]), lb["DNSName"]
    # Provisioning until berth's data plane for it runs, then active.
    assert lb["State"]["Code"] in ("provisioning", "active"), lb["State"]
    assert (lb["Scheme"], lb["Type"], lb["IpAddressType"], lb["VpcId"]) == ("internet-facing", "application", "ipv4", net["vpc"])
    assert lb["CanonicalHostedZoneId"] == "Z35SXDOTRQ7X7K"
    assert [z["ZoneName"] for z in lb["AvailabilityZones"]] == net["zones"][:2]
    assert lb["SecurityGroups"] == [net["group"]]
    elb(berth, "wait", "load-balancer-exists", "--load-balancer-arns", arn)
    elb(berth, "wait", "load-balancer-available", "--load-balancer-arns", arn)
    # The same request again answers the same load balancer.
    again = elb(berth, "create-load-balancer", "--name", "web", "--subnets", net["subnets"][1], net["subnets"][0])
    assert again["LoadBalancers"][0]["LoadBalancerArn"] == arn
    internal = elb(berth, "create-load-balancer", "--name", "inside", "--scheme", "internal", "--subnets", *net["subnets"])
    assert internal["LoadBalancers"][0]["DNSName"].startswith("internal-inside-")

    attrs = {a["Key"]: a["Value"] for a in elb(berth, "describe-load-balancer-attributes", "--load-balancer-arn", arn)["Attributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "60"
    assert attrs["deletion_protection.enabled"] == "false"
    assert attrs["access_logs.s3.enabled"] == "false"
    out = elb(berth, "modify-load-balancer-attributes", "--load-balancer-arn", arn, "--attributes",
              "Key=idle_timeout.timeout_seconds,Value=120", "Key=deletion_protection.enabled,Value=true")
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "120"} in out["Attributes"]
    fails(berth, "OperationNotPermitted", "delete-load-balancer", "--load-balancer-arn", arn)
    err = fails(berth, "InvalidConfigurationRequest", "modify-load-balancer-attributes", "--load-balancer-arn", arn,
                "--attributes", "Key=access_logs.s3.enabled,Value=true")
    assert "berth does not support" in err

    sg = berth.aws("ec2", "create-security-group", "--group-name", "lb", "--description", "lb", "--vpc-id", net["vpc"])["GroupId"]
    assert elb(berth, "set-security-groups", "--load-balancer-arn", arn, "--security-groups", sg)["SecurityGroupIds"] == [sg]
    out = elb(berth, "set-subnets", "--load-balancer-arn", arn, "--subnets", net["subnets"][1], net["subnets"][2])
    assert [z["SubnetId"] for z in out["AvailabilityZones"]] == net["subnets"][1:3]

    elb(berth, "add-tags", "--resource-arns", arn, "--tags", "Key=team,Value=blue", "Key=env,Value=test")
    elb(berth, "remove-tags", "--resource-arns", arn, "--tag-keys", "env")
    tags = elb(berth, "describe-tags", "--resource-arns", arn)["TagDescriptions"]
    assert tags == [{"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "blue"}]}]

    elb(berth, "modify-load-balancer-attributes", "--load-balancer-arn", arn, "--attributes", "Key=deletion_protection.enabled,Value=false")
    elb(berth, "delete-load-balancer", "--load-balancer-arn", arn)
    elb(berth, "wait", "load-balancers-deleted", "--load-balancer-arns", arn)
    fails(berth, "LoadBalancerNotFound", "describe-load-balancers", "--load-balancer-arns", arn)
    elb(berth, "delete-load-balancer", "--load-balancer-arn", arn)  # gone already: no error, as on AWS
    elb(berth, "delete-load-balancer", "--load-balancer-arn", internal["LoadBalancers"][0]["LoadBalancerArn"])


def test_target_groups_and_attributes(berth, net):
    arn = new_tg(berth, net, "api", "ip", "--health-check-path", "/health", "--health-check-interval-seconds", "10",
                 "--health-check-timeout-seconds", "3", "--healthy-threshold-count", "3",
                 "--unhealthy-threshold-count", "4", "--matcher", "HttpCode=200-299")
    assert re.fullmatch(TG_ARN_RE.format(name="api"), arn), arn
    tg = elb(berth, "describe-target-groups", "--target-group-arns", arn)["TargetGroups"][0]
    assert tg == {
        "TargetGroupArn": arn, "TargetGroupName": "api", "Protocol": "HTTP", "Port": 80, "VpcId": net["vpc"],
        "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 3, "HealthyThresholdCount": 3,
        "UnhealthyThresholdCount": 4, "HealthCheckPath": "/health", "Matcher": {"HttpCode": "200-299"},
        "LoadBalancerArns": [], "TargetType": "ip", "ProtocolVersion": "HTTP1", "IpAddressType": "ipv4",
    }
    out = elb(berth, "modify-target-group", "--target-group-arn", arn, "--health-check-port", "8081", "--matcher", json.dumps({"HttpCode": "200,204"}))
    assert (out["TargetGroups"][0]["HealthCheckPort"], out["TargetGroups"][0]["Matcher"]) == ("8081", {"HttpCode": "200,204"})
    hosts = new_tg(berth, net, "hosts", "instance")
    assert elb(berth, "describe-target-groups", "--names", "hosts")["TargetGroups"][0]["TargetType"] == "instance"
    fails(berth, "InvalidTarget", "register-targets", "--target-group-arn", hosts, "--targets", "Id=i-0123456789abcdef0")
    fails(berth, "DuplicateTargetGroupName", "create-target-group", "--name", "api", "--protocol", "HTTP", "--port", "8080",
          "--vpc-id", net["vpc"], "--target-type", "ip")

    attrs = {a["Key"]: a["Value"] for a in elb(berth, "describe-target-group-attributes", "--target-group-arn", arn)["Attributes"]}
    assert attrs["deregistration_delay.timeout_seconds"] == "300"
    assert (attrs["stickiness.enabled"], attrs["stickiness.type"]) == ("false", "lb_cookie")
    out = elb(berth, "modify-target-group-attributes", "--target-group-arn", arn, "--attributes",
              "Key=deregistration_delay.timeout_seconds,Value=30",
              "Key=stickiness.type,Value=app_cookie", "Key=stickiness.app_cookie.cookie_name,Value=SESSION")
    got = {a["Key"]: a["Value"] for a in out["Attributes"]}
    assert (got["deregistration_delay.timeout_seconds"], got["stickiness.type"], got["stickiness.app_cookie.cookie_name"]) == ("30", "app_cookie", "SESSION")
    # Berth's load balancers keep no client with a target: stickiness is refused, not stored.
    err = fails(berth, "InvalidConfigurationRequest", "modify-target-group-attributes", "--target-group-arn", arn,
                "--attributes", "Key=stickiness.enabled,Value=true")
    assert "berth does not support" in err
    for attr, code in [
        ("Key=deregistration_delay.timeout_seconds,Value=4000", "InvalidConfigurationRequest"),
        ("Key=stickiness.type,Value=source_ip", "InvalidConfigurationRequest"),
        ("Key=slow_start.duration_seconds,Value=30", "InvalidConfigurationRequest"),
        ("Key=no.such.key,Value=1", "ValidationError"),
    ]:
        fails(berth, code, "modify-target-group-attributes", "--target-group-arn", arn, "--attributes", attr)
    elb(berth, "add-tags", "--resource-arns", arn, "--tags", "Key=svc,Value=api")
    assert elb(berth, "describe-tags", "--resource-arns", arn)["TagDescriptions"][0]["Tags"] == [{"Key": "svc", "Value": "api"}]
    elb(berth, "delete-target-group", "--target-group-arn", hosts)
    fails(berth, "TargetGroupNotFound", "describe-target-groups", "--names", "hosts")


def test_listeners_rules_and_priorities(berth, net):
    lb = new_lb(berth, net, "shop")
    blue, green = new_tg(berth, net, "blue"), new_tg(berth, net, "green")
    listener = new_listener(berth, lb, 80, blue)
    fixed = elb(berth, "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", "8080",
                "--default-actions", "Type=fixed-response,FixedResponseConfig={StatusCode=404,ContentType=text/plain,MessageBody=nothing here}")
    assert fixed["Listeners"][0]["DefaultActions"] == [{
        "Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "nothing here"},
    }]
    listeners = elb(berth, "describe-listeners", "--load-balancer-arn", lb)["Listeners"]
    assert [(x["Port"], x["Protocol"]) for x in listeners] == [(80, "HTTP"), (8080, "HTTP")]
    default = listeners[0]["DefaultActions"][0]
    assert default == {"Type": "forward", "TargetGroupArn": blue, "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": blue, "Weight": 1}], "TargetGroupStickinessConfig": {"Enabled": False}}}

    def rule(priority, conditions, actions):
        path = berth.write(f"rule{priority}.json", json.dumps({"Conditions": conditions, "Actions": actions}))
        return elb(berth, "create-rule", "--listener-arn", listener, "--priority", str(priority),
                   "--cli-input-json", f"file://{path}")["Rules"][0]

    sticky = {"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": blue, "Weight": 90}, {"TargetGroupArn": green, "Weight": 10}],
        "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300}}}
    path = berth.write("sticky.json", json.dumps({"Conditions": [{"Field": "path-pattern", "Values": ["/s"]}],
                                                  "Actions": [sticky]}))
    err = fails(berth, "InvalidLoadBalancerAction", "create-rule", "--listener-arn", listener, "--priority", "9",
                "--cli-input-json", f"file://{path}")
    assert "berth does not support target group stickiness" in err
    weighted = {"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": blue, "Weight": 90}, {"TargetGroupArn": green, "Weight": 10}],
        "TargetGroupStickinessConfig": {"Enabled": False}}}
    r_path = rule(10, [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}], [weighted])
    assert r_path["Conditions"] == [{"Field": "path-pattern", "Values": ["/api/*"], "PathPatternConfig": {"Values": ["/api/*"]}}]
    assert r_path["Actions"] == [weighted]
    r_host = rule(20, [{"Field": "host-header", "Values": ["*.example.com"]}],
                  [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    assert r_host["Actions"][0]["RedirectConfig"] == {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}",
                                                      "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301"}
    r_header = rule(30, [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["canary"]}}],
                    [{"Type": "forward", "TargetGroupArn": green}])
    assert r_header["Conditions"][0]["HttpHeaderConfig"] == {"HttpHeaderName": "X-Env", "Values": ["canary"]}
    r_query = rule(40, [{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}, {"Value": "beta"}]}}],
                   [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}])
    assert r_query["Conditions"][0]["QueryStringConfig"]["Values"] == [{"Key": "v", "Value": "2"}, {"Value": "beta"}]
    fails(berth, "PriorityInUse", "create-rule", "--listener-arn", listener, "--priority", "10",
          "--conditions", "Field=path-pattern,Values=/x", "--actions", f"Type=forward,TargetGroupArn={blue}")

    rules = elb(berth, "describe-rules", "--listener-arn", listener)["Rules"]
    assert [(r["Priority"], r["IsDefault"]) for r in rules] == [("10", False), ("20", False), ("30", False), ("40", False), ("default", True)]
    assert rules[-1]["Conditions"] == [] and rules[-1]["Actions"] == [default]
    out = elb(berth, "set-rule-priorities", "--rule-priorities",
              f"RuleArn={r_path['RuleArn']},Priority=20", f"RuleArn={r_host['RuleArn']},Priority=10")
    assert sorted(r["Priority"] for r in out["Rules"]) == ["10", "20"]
    fails(berth, "PriorityInUse", "set-rule-priorities", "--rule-priorities", f"RuleArn={r_path['RuleArn']},Priority=30")
    fails(berth, "OperationNotPermitted", "set-rule-priorities", "--rule-priorities", f"RuleArn={rules[-1]['RuleArn']},Priority=99")
    fails(berth, "OperationNotPermitted", "delete-rule", "--rule-arn", rules[-1]["RuleArn"])

    out = elb(berth, "modify-rule", "--rule-arn", r_header["RuleArn"], "--conditions", "Field=path-pattern,Values=/canary/*")
    assert out["Rules"][0]["Conditions"][0]["Values"] == ["/canary/*"]
    # Both groups serve this load balancer, and no other.
    used = elb(berth, "describe-target-groups", "--load-balancer-arn", lb)["TargetGroups"]
    assert sorted(t["TargetGroupName"] for t in used) == ["blue", "green"]
    assert all(t["LoadBalancerArns"] == [lb] for t in used)
    other = new_lb(berth, net, "other")
    fails(berth, "TargetGroupAssociationLimit", "create-listener", "--load-balancer-arn", other, "--protocol", "HTTP",
          "--port", "80", "--default-actions", f"Type=forward,TargetGroupArn={green}")
    fails(berth, "ResourceInUse", "delete-target-group", "--target-group-arn", green)

    out = elb(berth, "modify-listener", "--listener-arn", listener, "--port", "81",
              "--default-actions", "Type=fixed-response,FixedResponseConfig={StatusCode=200}")
    assert out["Listeners"][0]["Port"] == 81
    assert elb(berth, "describe-rules", "--rule-arns", rules[-1]["RuleArn"])["Rules"][0]["Actions"][0]["Type"] == "fixed-response"
    fails(berth, "DuplicateListener", "modify-listener", "--listener-arn", listener, "--port", "8080")
    elb(berth, "add-tags", "--resource-arns", listener, r_query["RuleArn"], "--tags", "Key=k,Value=v")
    assert len(elb(berth, "describe-tags", "--resource-arns", listener, r_query["RuleArn"])["TagDescriptions"]) == 2
    elb(berth, "delete-rule", "--rule-arn", r_query["RuleArn"])
    fails(berth, "RuleNotFound", "describe-rules", "--rule-arns", r_query["RuleArn"])
    elb(berth, "delete-listener", "--listener-arn", listener)
    fails(berth, "ListenerNotFound", "describe-listeners", "--listener-arns", listener)
    elb(berth, "delete-target-group", "--target-group-arn", green)


def test_target_health_states(berth, net):
    lb = new_lb(berth, net, "health")
    tg = new_tg(berth, net, "targets")
    elb(berth, "register-targets", "--target-group-arn", tg, "--targets", "Id=172.31.0.10", "Id=10.1.2.3,Port=8080")
    not_in_use = {"State": "unused", "Reason": "Target.NotInUse",
                  "Description": "Target group is not configured to receive traffic from the load balancer"}
    assert health(berth, tg) == {("172.31.0.10", 80): not_in_use, ("10.1.2.3", 8080): not_in_use}
    new_listener(berth, lb, 80, tg)
    initial = {"State": "initial", "Reason": "Elb.RegistrationInProgress", "Description": "Target registration is in progress"}
    assert health(berth, tg) == {("172.31.0.10", 80): initial, ("10.1.2.3", 8080): initial}
    out = elb(berth, "describe-target-health", "--target-group-arn", tg, "--targets", "Id=10.1.2.3,Port=8080")
    assert out["TargetHealthDescriptions"][0]["HealthCheckPort"] == "8080"
    assert health(berth, tg, "Id=10.9.9.9") == {("10.9.9.9", 80): {
        "State": "unused", "Reason": "Target.NotRegistered", "Description": "Target is not registered to the target group"}}
    elb(berth, "deregister-targets", "--target-group-arn", tg, "--targets", "Id=172.31.0.10")
    assert health(berth, tg)[("172.31.0.10", 80)] == {
        "State": "draining", "Reason": "Target.DeregistrationInProgress", "Description": "Target deregistration is in progress"}
    # Registered again while draining: initial again.
    elb(berth, "register-targets", "--target-group-arn", tg, "--targets", "Id=172.31.0.10")
    assert health(berth, tg)[("172.31.0.10", 80)] == initial
    # Without a deregistration delay a target is gone at once.
    elb(berth, "modify-target-group-attributes", "--target-group-arn", tg, "--attributes", "Key=deregistration_delay.timeout_seconds,Value=0")
    elb(berth, "deregister-targets", "--target-group-arn", tg, "--targets", "Id=10.1.2.3,Port=8080")
    assert list(health(berth, tg)) == [("172.31.0.10", 80)]
    fails(berth, "InvalidTarget", "deregister-targets", "--target-group-arn", tg, "--targets", "Id=10.1.2.3,Port=8080")
    fails(berth, "InvalidTarget", "register-targets", "--target-group-arn", tg, "--targets", "Id=8.8.8.8")
    fails(berth, "InvalidTarget", "register-targets", "--target-group-arn", tg, "--targets", "Id=not-an-ip")


def test_pagination(berth, net):
    names = [f"page-{i}" for i in range(5)]
    for n in names:
        new_tg(berth, net, n)
    mine = lambda groups: [g["TargetGroupName"] for g in groups if g["TargetGroupName"].startswith("page-")]  # noqa: E731
    first = elb(berth, "describe-target-groups", "--max-items", "2")
    assert len(first["TargetGroups"]) == 2 and first["NextToken"]
    rest = elb(berth, "describe-target-groups", "--starting-token", first["NextToken"])
    everything = elb(berth, "describe-target-groups")["TargetGroups"]
    assert [g["TargetGroupName"] for g in first["TargetGroups"] + rest["TargetGroups"]] == [g["TargetGroupName"] for g in everything]
    assert mine(everything) == names
    page = elb(berth, "describe-target-groups", "--page-size", "2")
    assert len(page["TargetGroups"]) == 2 and page["NextMarker"]
    page2 = elb(berth, "describe-target-groups", "--page-size", "2", "--marker", page["NextMarker"])
    assert page2["TargetGroups"][0]["TargetGroupName"] not in [g["TargetGroupName"] for g in page["TargetGroups"]]
    client = boto3.client("elbv2", endpoint_url=berth.url, region_name=REGION,
                          aws_access_key_id="test", aws_secret_access_key="test")
    pages = list(client.get_paginator("describe_target_groups").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) >= 3
    assert mine([g for p in pages for g in p["TargetGroups"]]) == names
    lbs = [new_lb(berth, net, f"pg{i}") for i in range(3)]
    pages = list(client.get_paginator("describe_load_balancers").paginate(PaginationConfig={"PageSize": 1}))
    assert {lb["LoadBalancerArn"] for p in pages for lb in p["LoadBalancers"]} >= set(lbs)
    fails(berth, "ValidationError", "describe-load-balancers", "--page-size", "401")
    fails(berth, "ValidationError", "describe-target-groups", "--marker", "!!not-a-marker!!")


def test_bad_input_for_every_operation(berth, net):
    lb = new_lb(berth, net, "bad")
    tg = new_tg(berth, net, "bad-tg")
    listener = new_listener(berth, lb, 80, tg)
    ghost_lb = lb[:-16] + "0000000000000000"
    ghost_tg = tg[:-16] + "0000000000000000"
    ghost_listener = listener[:-16] + "0000000000000000"
    s0, s1 = net["subnets"][0], net["subnets"][1]
    fwd = f"Type=forward,TargetGroupArn={tg}"
    cases = [
        # create-load-balancer
        ("DuplicateLoadBalancerName", ["create-load-balancer", "--name", "bad", "--scheme", "internal", "--subnets", s0, s1]),
        ("ValidationError", ["create-load-balancer", "--name", "bad_name", "--subnets", s0, s1]),
        ("ValidationError", ["create-load-balancer", "--name", "x" * 33, "--subnets", s0, s1]),
        ("InvalidConfigurationRequest", ["create-load-balancer", "--name", "one", "--subnets", s0]),
        ("SubnetNotFound", ["create-load-balancer", "--name", "nosub", "--subnets", "subnet-nope", s1]),
        ("InvalidSecurityGroup", ["create-load-balancer", "--name", "nosg", "--subnets", s0, s1, "--security-groups", "sg-nope"]),
        ("InvalidConfigurationRequest", ["create-load-balancer", "--name", "nlb", "--type", "network", "--subnets", s0, s1]),
        ("DuplicateTagKeys", ["create-load-balancer", "--name", "tags", "--subnets", s0, s1, "--tags", "Key=a,Value=1", "Key=a,Value=2"]),
        ("LoadBalancerNotFound", ["describe-load-balancers", "--names", "ghost"]),
        ("ValidationError", ["delete-load-balancer", "--load-balancer-arn", "not-an-arn"]),
        ("LoadBalancerNotFound", ["describe-load-balancer-attributes", "--load-balancer-arn", ghost_lb]),
        ("InvalidConfigurationRequest", ["modify-load-balancer-attributes", "--load-balancer-arn", lb, "--attributes", "Key=idle_timeout.timeout_seconds,Value=0"]),
        ("InvalidSecurityGroup", ["set-security-groups", "--load-balancer-arn", lb, "--security-groups", "sg-nope"]),
        ("InvalidConfigurationRequest", ["set-subnets", "--load-balancer-arn", lb, "--subnets", s0]),
        # target groups
        ("ValidationError", ["create-target-group", "--name=bad-", "--protocol", "HTTP", "--port", "80", "--vpc-id", net["vpc"]]),
        ("InvalidConfigurationRequest", ["create-target-group", "--name", "tcp", "--protocol", "TCP", "--port", "80", "--vpc-id", net["vpc"]]),
        ("InvalidConfigurationRequest", ["create-target-group", "--name", "lam", "--target-type", "lambda"]),
        ("ValidationError", ["create-target-group", "--name", "novpc", "--protocol", "HTTP", "--port", "80", "--vpc-id", "vpc-nope"]),
        ("ValidationError", ["create-target-group", "--name", "m", "--protocol", "HTTP", "--port", "80", "--vpc-id", net["vpc"], "--matcher", "HttpCode=600"]),
        ("InvalidConfigurationRequest", ["create-target-group", "--name", "t", "--protocol", "HTTP", "--port", "80", "--vpc-id", net["vpc"],
                                         "--health-check-interval-seconds", "10", "--health-check-timeout-seconds", "10"]),
        ("ValidationError", ["create-target-group", "--name", "p", "--protocol", "HTTP", "--port", "80", "--vpc-id", net["vpc"], "--health-check-path", "health"]),
        ("InvalidConfigurationRequest", ["create-target-group", "--name", "h", "--protocol", "HTTP", "--port", "80", "--vpc-id", net["vpc"], "--health-check-protocol", "HTTPS"]),
        ("TargetGroupNotFound", ["describe-target-groups", "--target-group-arns", ghost_tg]),
        ("TargetGroupNotFound", ["modify-target-group", "--target-group-arn", ghost_tg, "--health-check-path", "/"]),
        ("TargetGroupNotFound", ["describe-target-group-attributes", "--target-group-arn", ghost_tg]),
        ("ResourceInUse", ["delete-target-group", "--target-group-arn", tg]),
        ("TargetGroupNotFound", ["register-targets", "--target-group-arn", ghost_tg, "--targets", "Id=10.0.0.1"]),
        ("TargetGroupNotFound", ["deregister-targets", "--target-group-arn", ghost_tg, "--targets", "Id=10.0.0.1"]),
        ("TargetGroupNotFound", ["describe-target-health", "--target-group-arn", ghost_tg]),
        # listeners
        ("DuplicateListener", ["create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", "80", "--default-actions", fwd]),
        ("UnsupportedProtocol", ["create-listener", "--load-balancer-arn", lb, "--protocol", "HTTPS", "--port", "443", "--default-actions", fwd]),
        ("UnsupportedProtocol", ["create-listener", "--load-balancer-arn", lb, "--protocol", "TCP", "--port", "81", "--default-actions", fwd]),
        ("LoadBalancerNotFound", ["create-listener", "--load-balancer-arn", ghost_lb, "--protocol", "HTTP", "--port", "80", "--default-actions", fwd]),
        ("TargetGroupNotFound", ["create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", "82", "--default-actions", f"Type=forward,TargetGroupArn={ghost_tg}"]),
        ("InvalidLoadBalancerAction", ["create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", "83",
                                       "--default-actions", "Type=authenticate-oidc,AuthenticateOidcConfig={Issuer=i,AuthorizationEndpoint=a,TokenEndpoint=t,UserInfoEndpoint=u,ClientId=c}"]),
        ("ValidationError", ["create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", "84", "--default-actions", "Type=fixed-response,FixedResponseConfig={StatusCode=302}"]),
        ("InvalidLoadBalancerAction", ["create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", "85", "--default-actions", "Type=redirect,RedirectConfig={StatusCode=HTTP_301}"]),
        ("ListenerNotFound", ["describe-listeners", "--listener-arns", ghost_listener]),
        ("ListenerNotFound", ["modify-listener", "--listener-arn", ghost_listener, "--port", "90"]),
        ("ListenerNotFound", ["delete-listener", "--listener-arn", ghost_listener]),
        # rules
        ("ValidationError", ["create-rule", "--listener-arn", listener, "--priority", "1", "--conditions",
                             "Field=path-pattern,Values=/a,/b,/c,/d,/e,/f", "--actions", fwd]),
        ("ValidationError", ["create-rule", "--listener-arn", listener, "--priority", "1", "--conditions", "Field=source-ip,SourceIpConfig={Values=10.0.0.0/8}", "--actions", fwd]),
        ("ValidationError", ["create-rule", "--listener-arn", listener, "--priority", "50001", "--conditions", "Field=path-pattern,Values=/a", "--actions", fwd]),
        ("ListenerNotFound", ["create-rule", "--listener-arn", ghost_listener, "--priority", "1", "--conditions", "Field=path-pattern,Values=/a", "--actions", fwd]),
        ("ListenerNotFound", ["describe-rules", "--listener-arn", ghost_listener]),
        ("RuleNotFound", ["modify-rule", "--rule-arn", ghost_listener.replace(":listener/", ":listener-rule/") + "/0000000000000000", "--actions", fwd]),
        ("RuleNotFound", ["delete-rule", "--rule-arn", ghost_listener.replace(":listener/", ":listener-rule/") + "/0000000000000000"]),
        ("RuleNotFound", ["set-rule-priorities", "--rule-priorities", "RuleArn=" + ghost_listener.replace(":listener/", ":listener-rule/") + "/0000000000000000,Priority=1"]),
        # tags
        ("TooManyTags", ["add-tags", "--resource-arns", lb, "--tags", *[f"Key=k{i},Value=v" for i in range(51)]]),
        ("ValidationError", ["add-tags", "--resource-arns", lb, "--tags", "Key=aws:x,Value=v"]),
        ("LoadBalancerNotFound", ["describe-tags", "--resource-arns", ghost_lb]),
        ("TargetGroupNotFound", ["remove-tags", "--resource-arns", ghost_tg, "--tag-keys", "k"]),
    ]
    failed = []
    for code, args in cases:
        r = berth.run("elbv2", *args)
        if r.returncode == 0 or f"({code})" not in r.stderr:
            failed.append((code, args, r.returncode, r.stderr.strip()[-300:]))
    assert not failed, "\n".join(map(str, failed))
    # What the CLI checks itself, sent as botocore would send it without that check.
    for form, code, says in [
        ({"Action": "CreateLoadBalancer"}, "ValidationError", "Name"),
        ({"Action": "CreateTargetGroup", "Name": "x", "Protocol": "HTTP", "VpcId": net["vpc"]}, "ValidationError", "Port"),
        ({"Action": "CreateListener", "LoadBalancerArn": lb, "Protocol": "HTTP", "Port": "99"}, "ValidationError", "DefaultActions"),
        ({"Action": "CreateRule", "ListenerArn": listener, "Priority": "5", "Actions.member.1.Type": "forward",
          "Actions.member.1.TargetGroupArn": tg}, "ValidationError", "Conditions"),
        ({"Action": "RegisterTargets", "TargetGroupArn": tg}, "ValidationError", "Targets"),
        ({"Action": "DescribeTargetHealth"}, "ValidationError", "TargetGroupArn"),
        ({"Action": "DeleteRule"}, "ValidationError", "RuleArn"),
        ({"Action": "SetRulePriorities"}, "ValidationError", "RulePriorities"),
        ({"Action": "AddTags", "ResourceArns.member.1": lb}, "ValidationError", "Tags"),
        ({"Action": "DescribeLoadBalancers", "PageSize": "many"}, "ValidationError", "PageSize"),
        ({"Action": "DescribeLoadBalancers", "Colour": "red"}, "UnknownParameter", "Colour"),
        ({"Action": "CreateListener", "LoadBalancerArn": lb, "Protocol": "HTTP", "Port": "98",
          "DefaultActions.member.1.Type": "forward", "DefaultActions.member.1.TargetGroupArn": tg,
          "DefaultActions.member.1.Colour": "red"}, "UnknownParameter", "DefaultActions.member.1.Colour"),
    ]:
        form_fails(berth, code, form, says)
    status, body = post_form(berth, {"Action": "NoSuchAction"})
    assert status == 400 and "<Code>InvalidAction</Code>" in body, body
