"""EC2's networking API with the real aws CLI (and boto3) against a real `berth server`:
the default network, seed 000's security group commands verbatim, rules by --cidr,
--source-group and --ip-permissions, duplicates and revokes, security group rules,
tags, pagination, VPC and subnet lifecycles with their dependency errors, bad input, and
networks imported with `berth server --network`."""

import json
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import ACCOUNT, _start, berth_bin, signed_headers, stop

REGION = "us-east-1"
SG_RE = r"sg-[0-9a-f]{17}"


def post_form(berth, form: str):
    """POSTs an EC2 query form as botocore would; returns (status, body text)."""
    body = f"Version=2016-11-15&{form}".encode()
    headers = signed_headers(berth.url + "/", body, "ec2", REGION,
                             {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    req = urllib.request.Request(berth.url + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def default_vpc(berth) -> str:
    out = berth.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")
    assert len(out["Vpcs"]) == 1, out
    return out["Vpcs"][0]["VpcId"]


def new_group(berth, name: str, vpc: str, description: str = "test") -> str:
    out = berth.aws(
        "ec2", "create-security-group", "--group-name", name, "--description", description, "--vpc-id", vpc
    )
    return out["GroupId"]


def group(berth, group_id: str) -> dict:
    return berth.aws("ec2", "describe-security-groups", "--group-ids", group_id)["SecurityGroups"][0]


def test_every_account_and_region_has_a_default_network(berth):
    vpc = berth.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"][0]
    assert vpc["CidrBlock"] == "172.31.0.0/16"
    assert vpc["IsDefault"] is True and vpc["State"] == "available"
    assert vpc["OwnerId"] == ACCOUNT
    subnets = berth.aws("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpc['VpcId']}")["Subnets"]
    got = sorted((s["CidrBlock"], s["AvailabilityZone"], s["AvailabilityZoneId"], s["DefaultForAz"]) for s in subnets)
    assert got == [
        ("172.31.0.0/20", "us-east-1a", "use1-az1", True),
        ("172.31.16.0/20", "us-east-1b", "use1-az2", True),
        ("172.31.32.0/20", "us-east-1c", "use1-az3", True),
    ]
    default = berth.aws("ec2", "describe-security-groups", "--group-names", "default")["SecurityGroups"][0]
    assert default["Description"] == "default VPC security group"
    assert default["VpcId"] == vpc["VpcId"]
    assert default["IpPermissions"] == [
        {
            "IpProtocol": "-1",
            "UserIdGroupPairs": [{"UserId": ACCOUNT, "GroupId": default["GroupId"]}],
            "IpRanges": [],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
        }
    ]
    assert default["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    zones = berth.aws("ec2", "describe-availability-zones")["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    other = berth.aws("ec2", "describe-vpcs", region="eu-west-1")["Vpcs"]
    assert [v["VpcId"] for v in other] != [vpc["VpcId"]], "each region has its own"


def test_seed_000_security_groups(berth, state):
    """The seed's commands verbatim, the VPC from describe-vpcs and a ui-sg of our own."""
    vpc_id = default_vpc(berth)
    ids = {}
    for name, description in [
        ("orders-sg", "Orders ECS Service SG"),
        ("checkout-sg", "Checkout ECS Service SG"),
        ("catalog-sg", "Catalog ECS Service SG"),
        ("ui-sg", "UI ECS Service SG"),
    ]:
        out = berth.aws(
            "ec2", "create-security-group", "--group-name", name, "--description", description, "--vpc-id", vpc_id
        )
        assert set(out) >= {"GroupId", "SecurityGroupArn"}, out
        ids[name] = out["GroupId"]
    orders, checkout, catalog, ui = (ids[n] for n in ("orders-sg", "checkout-sg", "catalog-sg", "ui-sg"))
    for target, source in [(orders, ui), (orders, checkout), (checkout, ui), (catalog, ui)]:
        out = berth.aws(
            "ec2", "authorize-security-group-ingress",
            "--group-id", target, "--protocol", "tcp", "--port", "8080", "--source-group", source,
        )
        assert out["Return"] is True
        rule = out["SecurityGroupRules"][0]
        assert rule["GroupId"] == target and rule["IsEgress"] is False
        assert rule["IpProtocol"] == "tcp" and rule["FromPort"] == 8080 and rule["ToPort"] == 8080
        assert rule["ReferencedGroupInfo"] == {"GroupId": source, "UserId": ACCOUNT}
        assert rule["SecurityGroupRuleId"].startswith("sgr-")
    g = group(berth, orders)
    assert g["GroupName"] == "orders-sg" and g["Description"] == "Orders ECS Service SG"
    assert g["IpPermissions"] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 8080,
            "ToPort": 8080,
            "UserIdGroupPairs": sorted(
                [{"UserId": ACCOUNT, "GroupId": ui}, {"UserId": ACCOUNT, "GroupId": checkout}],
                key=lambda p: p["GroupId"],
            ),
            "IpRanges": [],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
        }
    ]
    assert g["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
    state.update(vpc=vpc_id, **{k.replace("-sg", ""): v for k, v in ids.items()})


def test_duplicates_and_revokes(berth, state):
    orders, ui = state["orders"], state["ui"]
    args = ("--group-id", orders, "--protocol", "tcp", "--port", "8080", "--source-group", ui)
    err = berth.aws_fails("ec2", "authorize-security-group-ingress", *args, code="InvalidPermission.Duplicate")
    assert f'peer: {ui}, TCP, from port: 8080, to port: 8080, ALLOW' in err
    out = berth.aws("ec2", "revoke-security-group-ingress", *args)
    assert out["Return"] is True
    assert out["RevokedSecurityGroupRules"][0]["ReferencedGroupId"] == ui
    # In the default VPC a rule that is not there is no error: Return false and the rest.
    out = berth.aws("ec2", "revoke-security-group-ingress", *args)
    assert out["Return"] is False
    assert out["UnknownIpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == ui
    berth.aws("ec2", "authorize-security-group-ingress", *args)
    # --source-group by name: the CLI sends the pair's GroupName.
    out = berth.aws(
        "ec2", "authorize-security-group-ingress", "--group-id", state["catalog"], "--protocol", "tcp",
        "--port", "9090", "--source-group", "checkout-sg",
    )
    assert out["SecurityGroupRules"][0]["ReferencedGroupInfo"]["GroupId"] == state["checkout"]
    # In any other VPC it is InvalidPermission.NotFound.
    vpc = berth.aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")["Vpc"]["VpcId"]
    g = new_group(berth, "elsewhere", vpc)
    err = berth.aws_fails(
        "ec2", "revoke-security-group-ingress", "--group-id", g, "--protocol", "tcp", "--port", "22",
        "--cidr", "0.0.0.0/0", code="InvalidPermission.NotFound",
    )
    assert "does not exist in this security group" in err
    state["other_vpc"], state["elsewhere"] = vpc, g


def test_cidr_and_ip_permissions_json(berth, state):
    g = state["elsewhere"]
    berth.aws("ec2", "authorize-security-group-ingress", "--group-id", g, "--protocol", "tcp", "--port", "80-81", "--cidr", "10.1.2.3/8")
    perms = json.dumps([
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "192.168.0.0/16", "Description": "office"}],
         "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}],
         "PrefixListIds": [{"PrefixListId": "pl-63a5400a"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "UserIdGroupPairs": [{"GroupId": g, "Description": "self"}]},
    ])
    out = berth.aws("ec2", "authorize-security-group-ingress", "--group-id", g, "--ip-permissions", perms)
    assert len(out["SecurityGroupRules"]) == 4
    got = group(berth, g)["IpPermissions"]
    assert got == [
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1,
         "UserIdGroupPairs": [{"Description": "self", "UserId": ACCOUNT, "GroupId": g}],
         "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": []},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 81, "UserIdGroupPairs": [],
         "IpRanges": [{"CidrIp": "10.0.0.0/8"}], "Ipv6Ranges": [], "PrefixListIds": []},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [],
         "IpRanges": [{"CidrIp": "192.168.0.0/16", "Description": "office"}],
         "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}], "PrefixListIds": [{"PrefixListId": "pl-63a5400a"}]},
    ]
    egress = json.dumps([{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.2/32"}]}])
    berth.aws("ec2", "authorize-security-group-egress", "--group-id", g, "--ip-permissions", egress)
    assert len(group(berth, g)["IpPermissionsEgress"]) == 2
    err = berth.aws_fails(
        "ec2", "authorize-security-group-ingress", "--group-id", g, "--protocol", "tcp", "--cidr", "0.0.0.0/0",
        code="InvalidParameterValue",
    )
    assert "Must specify both from and to ports with TCP/UDP" in err


def test_security_group_rules(berth, state):
    g = state["elsewhere"]
    rules = berth.aws("ec2", "describe-security-group-rules", "--filters", f"Name=group-id,Values={g}")["SecurityGroupRules"]
    assert len(rules) == 7, "five in, two out"
    assert {r["GroupOwnerId"] for r in rules} == {ACCOUNT}
    everything = next(r for r in rules if r["IsEgress"] and r["IpProtocol"] == "-1")
    assert (everything["FromPort"], everything["ToPort"], everything["CidrIpv4"]) == (-1, -1, "0.0.0.0/0")
    http = next(r for r in rules if r.get("CidrIpv4") == "10.0.0.0/8")
    out = berth.aws(
        "ec2", "modify-security-group-rules", "--group-id", g, "--security-group-rules",
        f"SecurityGroupRuleId={http['SecurityGroupRuleId']},SecurityGroupRule={{IpProtocol=tcp,FromPort=8080,ToPort=8080,CidrIpv4=10.0.0.0/8,Description=app}}",
    )
    assert out == {"Return": True}
    got = berth.aws("ec2", "describe-security-group-rules", "--security-group-rule-ids", http["SecurityGroupRuleId"])
    rule = got["SecurityGroupRules"][0]
    assert (rule["FromPort"], rule["Description"]) == (8080, "app")
    assert rule["SecurityGroupRuleArn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group-rule/{http['SecurityGroupRuleId']}"
    out = berth.aws("ec2", "revoke-security-group-ingress", "--group-id", g, "--security-group-rule-ids", http["SecurityGroupRuleId"])
    assert out["RevokedSecurityGroupRules"][0]["SecurityGroupRuleId"] == http["SecurityGroupRuleId"]
    berth.aws_fails(
        "ec2", "describe-security-group-rules", "--security-group-rule-ids", http["SecurityGroupRuleId"],
        code="InvalidSecurityGroupRuleId.NotFound",
    )


def test_tags(berth, state):
    vpc = state["other_vpc"]
    out = berth.aws(
        "ec2", "create-security-group", "--group-name", "tagged", "--description", "tagged", "--vpc-id", vpc,
        "--tag-specifications", "ResourceType=security-group,Tags=[{Key=Name,Value=tagged},{Key=team,Value=orders}]",
    )
    g = out["GroupId"]
    assert sorted(t["Key"] for t in out["Tags"]) == ["Name", "team"]
    berth.aws("ec2", "create-tags", "--resources", vpc, state["orders"], "--tags", "Key=team,Value=orders", "Key=env,Value=dev")
    tags = berth.aws("ec2", "describe-tags", "--filters", "Name=key,Values=team")["Tags"]
    assert sorted((t["ResourceType"], t["ResourceId"]) for t in tags) == sorted(
        [("security-group", g), ("security-group", state["orders"]), ("vpc", vpc)]
    )
    found = berth.aws("ec2", "describe-security-groups", "--filters", "Name=tag:team,Values=ord*", "Name=tag-key,Values=Name")
    assert [x["GroupId"] for x in found["SecurityGroups"]] == [g]
    assert berth.aws("ec2", "describe-vpcs", "--filters", "Name=tag:env,Values=dev")["Vpcs"][0]["VpcId"] == vpc
    berth.aws("ec2", "delete-tags", "--resources", vpc, "--tags", "Key=team")
    tags = berth.aws("ec2", "describe-tags", "--filters", f"Name=resource-id,Values={vpc}")["Tags"]
    assert tags == [{"Key": "env", "ResourceId": vpc, "ResourceType": "vpc", "Value": "dev"}]
    berth.aws_fails("ec2", "create-tags", "--resources", "sg-0123456789abcdef0", "--tags", "Key=a,Value=b", code="InvalidGroup.NotFound")
    berth.aws("ec2", "delete-security-group", "--group-id", g)


def test_pagination(berth):
    vpc = berth.aws("ec2", "create-vpc", "--cidr-block", "10.20.0.0/16")["Vpc"]["VpcId"]
    made = {new_group(berth, f"page-{i}", vpc) for i in range(7)}
    vpc_filter = ("--filters", f"Name=vpc-id,Values={vpc}")
    want = made | {g["GroupId"] for g in berth.aws("ec2", "describe-security-groups", "--filters", f"Name=vpc-id,Values={vpc}", "Name=group-name,Values=default")["SecurityGroups"]}
    assert len(want) == 8
    seen, token = [], None
    while True:
        args = ["ec2", "describe-security-groups", *vpc_filter, "--max-items", "3"]
        if token:
            args += ["--starting-token", token]
        out = berth.aws(*args)
        seen += [g["GroupId"] for g in out["SecurityGroups"]]
        token = out.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(want) and len(seen) == len(set(seen))
    paged = berth.aws("ec2", "describe-security-groups", *vpc_filter, "--page-size", "5")
    assert sorted(g["GroupId"] for g in paged["SecurityGroups"]) == sorted(want)
    rules = berth.aws("ec2", "describe-security-group-rules", "--filters", f"Name=group-id,Values={','.join(sorted(made))}", "--page-size", "5")
    assert len(rules["SecurityGroupRules"]) == 7


def test_vpc_and_subnet_lifecycle_and_dependencies(berth, state):
    vpc = berth.aws("ec2", "create-vpc", "--cidr-block", "10.30.0.0/16")["Vpc"]
    assert vpc["State"] == "pending" and vpc["IsDefault"] is False
    vpc_id = vpc["VpcId"]
    subnet = berth.aws("ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.30.1.0/24", "--availability-zone", "us-east-1b")["Subnet"]
    assert (subnet["AvailabilityZone"], subnet["AvailableIpAddressCount"], subnet["DefaultForAz"]) == ("us-east-1b", 251, False)
    berth.aws_fails("ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.30.1.0/25", code="InvalidSubnet.Conflict")
    berth.aws_fails("ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.31.0.0/24", code="InvalidSubnet.Range")
    berth.aws_fails("ec2", "create-vpc", "--cidr-block", "10.0.0.0/8", code="InvalidVpc.Range")
    g = new_group(berth, "app", vpc_id)
    peer = new_group(berth, "peer", vpc_id)
    berth.aws("ec2", "authorize-security-group-ingress", "--group-id", g, "--protocol", "tcp", "--port", "80", "--source-group", peer)
    err = berth.aws_fails("ec2", "delete-security-group", "--group-id", peer, code="DependencyViolation")
    assert peer in err
    default = berth.aws("ec2", "describe-security-groups", "--filters", f"Name=vpc-id,Values={vpc_id}", "Name=group-name,Values=default")["SecurityGroups"][0]
    err = berth.aws_fails("ec2", "delete-security-group", "--group-id", default["GroupId"], code="CannotDelete")
    assert "cannot be deleted by a user" in err
    err = berth.aws_fails("ec2", "delete-vpc", "--vpc-id", vpc_id, code="DependencyViolation")
    assert f"The vpc '{vpc_id}' has dependencies and cannot be deleted." in err
    out = berth.aws("ec2", "delete-security-group", "--group-id", g)
    assert out == {"Return": True, "GroupId": g}
    berth.aws("ec2", "delete-security-group", "--group-id", peer)
    berth.aws("ec2", "delete-subnet", "--subnet-id", subnet["SubnetId"])
    berth.aws("ec2", "delete-vpc", "--vpc-id", vpc_id)
    berth.aws_fails("ec2", "describe-vpcs", "--vpc-ids", vpc_id, code="InvalidVpcID.NotFound")
    berth.aws_fails("ec2", "delete-subnet", "--subnet-id", subnet["SubnetId"], code="InvalidSubnetID.NotFound")
    berth.aws_fails("ec2", "describe-security-groups", "--group-ids", "orders-sg", code="InvalidGroupId.Malformed")
    err = berth.aws_fails(
        "ec2", "create-security-group", "--group-name", "orders-sg", "--description", "again", "--vpc-id", state["vpc"],
        code="InvalidGroup.Duplicate",
    )
    assert "orders-sg" in err


def test_bad_input_names_the_parameter(berth, state):
    # Required by EC2, optional in the model: the CLI sends it without.
    err = berth.aws_fails(
        "ec2", "authorize-security-group-ingress", "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0",
        code="MissingParameter",
    )
    assert "GroupId" in err
    err = berth.aws_fails("ec2", "describe-security-groups", "--dry-run", code="DryRunOperation")
    assert "Request would have succeeded, but DryRun flag is set." in err
    err = berth.aws_fails("ec2", "describe-vpcs", "--filters", "Name=colour,Values=red", code="InvalidParameterValue")
    assert "colour" in err
    for form, status, code, says in [
        ("Action=DescribeVpcs&Colour=red", 400, "UnknownParameter", "The parameter Colour is not recognized"),
        ("Action=AuthorizeSecurityGroupIngress&GroupId=sg-1&IpPermissions.1.Port=1", 400, "UnknownParameter", "IpPermissions.1.Port"),
        ("Action=DescribeVpcs&MaxResults=lots", 400, "InvalidParameterValue", "MaxResults"),
        ("Action=DescribeVpcs&MaxResults=3", 400, "InvalidParameterValue", "MaxResults"),
        ("Action=CreateSecurityGroup&GroupName=x", 400, "MissingParameter", "GroupDescription"),
        ("Action=DescribeVpcs&Filter.1.Name=%zz", 400, "MalformedQueryString", "percent"),
    ]:
        got, body = post_form(berth, form)
        assert got == status, f"{form}: {body}"
        assert f"<Code>{code}</Code>" in body and says in body, f"{form}: {body}"
    assert berth.aws("ec2", "describe-vpcs", "--vpc-ids", state["vpc"])["Vpcs"], "still serving"


def test_boto3(berth, state):
    import boto3  # scripts/test installs it beside the aws CLI
    from botocore.config import Config
    from botocore.exceptions import ClientError

    ec2 = boto3.client(
        "ec2", endpoint_url=berth.url, region_name=REGION, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    pages = ec2.get_paginator("describe_security_groups").paginate(PaginationConfig={"PageSize": 5})
    groups = [g for p in pages for g in p["SecurityGroups"]]
    assert "orders-sg" in {g["GroupName"] for g in groups}
    assert len(groups) == len({g["GroupId"] for g in groups}) > 5
    out = ec2.authorize_security_group_ingress(
        GroupId=state["catalog"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}],
    )
    assert out["Return"] is True
    with pytest.raises(ClientError) as e:
        ec2.describe_vpcs(MaxResults="lots")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "MaxResults" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId="sg-0000000000000000a")
    assert e.value.response["Error"]["Code"] == "InvalidGroup.NotFound"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


NETWORK = {
    "account": ACCOUNT,
    "region": REGION,
    "vpcs": [{
        "vpcId": "vpc-0seed001", "cidrBlock": "10.0.0.0/16",
        "subnets": [
            {"subnetId": "subnet-f9bb89a2", "cidrBlock": "10.0.1.0/24", "availabilityZone": "us-east-1a"},
            {"subnetId": "subnet-EXAMPLE", "cidrBlock": "10.0.2.0/24", "availabilityZone": "us-east-1b"},
        ],
        "securityGroups": [
            {"groupId": "sg-34692f46", "groupName": "web", "description": "web",
             "ingress": [{"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIp": "0.0.0.0/0"},
                         {"ipProtocol": "-1", "sourceGroup": "self"}],
             "egress": None},
            {"groupId": "sg-EXAMPLE", "groupName": "api", "description": "api",
             "ingress": [{"ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080, "sourceGroup": "sg-34692f46"}]},
        ],
    }],
}


def test_network_import(tmp_path):
    network = tmp_path / "network.json"
    network.write_text(json.dumps(NETWORK))
    server = _start(REGION, ("--network", str(network)))
    try:
        subnets = server.aws("ec2", "describe-subnets", "--subnet-ids", "subnet-f9bb89a2", "subnet-EXAMPLE")["Subnets"]
        assert {s["VpcId"] for s in subnets} == {"vpc-0seed001"}
        api = server.aws("ec2", "describe-security-groups", "--group-ids", "sg-EXAMPLE")["SecurityGroups"][0]
        assert api["IpPermissions"][0]["UserIdGroupPairs"] == [{"UserId": ACCOUNT, "GroupId": "sg-34692f46"}]
        web = server.aws("ec2", "describe-security-groups", "--group-ids", "sg-34692f46")["SecurityGroups"][0]
        assert len(web["IpPermissions"]) == 2 and web["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
        assert server.aws("ec2", "describe-vpcs", "--vpc-ids", "vpc-0seed001")["Vpcs"][0]["IsDefault"] is False
    finally:
        stop(server)
    bad = tmp_path / "bad.json"
    broken = json.loads(json.dumps(NETWORK))
    broken["vpcs"][0]["subnets"][1]["cidrBlock"] = "10.1.0.0/24"
    bad.write_text(json.dumps(broken))
    r = subprocess.run(
        [str(berth_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"), "--network", str(bad)],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode != 0
    assert "bad.json" in r.stderr and "10.1.0.0/24" in r.stderr, r.stderr
    assert "listening" not in r.stdout
