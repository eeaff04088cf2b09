//! Operation tests: forms in, as botocore's EC2 serializer writes them; JSON answers
//! out; a failed call leaves the store's revision where it was.

use std::net::Ipv4Addr;
use std::sync::Arc;

use berth_awsproto::{decode_form, Api, ApiError, Context, Input, QueryFlavour};
use berth_store::Store;
use serde_json::{json, Value};

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    ec2: Ec2,
    ctx: Context,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    Fixture {
        _dir: dir,
        ec2: Ec2::new(store),
        ctx: Context::default(),
    }
}

impl Fixture {
    fn call(&self, form: &str) -> Result<Value, ApiError> {
        let q = decode_form(form.as_bytes()).expect("a well-formed form");
        let op = q.action.expect("an Action");
        self.ec2
            .invoke(&self.ctx, &op, Input::Form(q.params, QueryFlavour::Ec2))
    }

    fn ok(&self, form: &str) -> Value {
        self.call(form).unwrap_or_else(|e| panic!("{form}: {e}"))
    }

    /// The call fails with `code`, and the store is as it was.
    fn fails(&self, form: &str, code: &str) -> ApiError {
        let before = self.revision();
        let e = match self.call(form) {
            Ok(v) => panic!("{form}: expected {code}, got {v}"),
            Err(e) => e,
        };
        assert_eq!(e.code, code, "{form}: {e}");
        assert_eq!(self.revision(), before, "{form} changed the store");
        e
    }

    fn revision(&self) -> u64 {
        self.ec2.store().revision()
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut berth_store::Writer<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.ec2.store().write(f).map(|(t, _)| t)
    }

    fn defaults(&self) -> DefaultNetwork {
        self.write(|w| ensure_defaults_in(w, &self.ctx)).unwrap()
    }

    fn new_group(&self, name: &str, vpc: &str) -> String {
        let out = self.ok(&format!(
            "Action=CreateSecurityGroup&GroupName={name}&GroupDescription=d&VpcId={vpc}"
        ));
        out["groupId"].as_str().unwrap().to_string()
    }

    fn new_vpc(&self, cidr: &str) -> String {
        let out = self.ok(&format!("Action=CreateVpc&CidrBlock={cidr}"));
        out["vpc"]["vpcId"].as_str().unwrap().to_string()
    }

    fn group(&self, id: &str) -> Value {
        self.ok(&format!("Action=DescribeSecurityGroups&GroupId.1={id}"))["securityGroupInfo"][0]
            .clone()
    }
}

fn ids(items: &Value, member: &str) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[member].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_account_and_region_has_a_default_network() {
    let f = fixture();
    let vpcs = f.ok("Action=DescribeVpcs&Filter.1.Name=is-default&Filter.1.Value.1=true")["vpcSet"]
        .clone();
    assert_eq!(vpcs.as_array().unwrap().len(), 1);
    let vpc = &vpcs[0];
    assert_eq!(vpc["cidrBlock"], "172.31.0.0/16");
    assert_eq!(vpc["isDefault"], true);
    assert_eq!(vpc["state"], "available");
    assert_eq!(vpc["ownerId"], "123456789012");
    let vpc_id = vpc["vpcId"].as_str().unwrap();
    assert!(vpc_id.starts_with("vpc-") && vpc_id.len() == 21, "{vpc_id}");
    let subnets = f.ok("Action=DescribeSubnets")["subnetSet"].clone();
    let mut blocks: Vec<(String, String, bool)> = subnets
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["cidrBlock"].as_str().unwrap().into(),
                s["availabilityZone"].as_str().unwrap().into(),
                s["defaultForAz"] == true,
            )
        })
        .collect();
    blocks.sort();
    assert_eq!(
        blocks,
        [
            ("172.31.0.0/20".into(), "us-east-1a".into(), true),
            ("172.31.16.0/20".into(), "us-east-1b".into(), true),
            ("172.31.32.0/20".into(), "us-east-1c".into(), true),
        ]
    );
    assert_eq!(subnets[0]["availableIpAddressCount"], 4091);
    let groups =
        f.ok("Action=DescribeSecurityGroups&GroupName.1=default")["securityGroupInfo"].clone();
    let g = &groups[0];
    assert_eq!(g["groupDescription"], "default VPC security group");
    assert_eq!(g["vpcId"], vpc_id);
    assert_eq!(
        g["ipPermissions"],
        json!([{"ipProtocol": "-1", "groups": [{"groupId": g["groupId"], "userId": "123456789012"}],
                "ipRanges": [], "ipv6Ranges": [], "prefixListIds": []}])
    );
    assert_eq!(
        g["ipPermissionsEgress"][0]["ipRanges"],
        json!([{"cidrIp": "0.0.0.0/0"}])
    );
    let d = f.defaults();
    assert_eq!(d.vpc_id, vpc_id);
    assert_eq!(d.group_id, g["groupId"]);
    assert_eq!(d.subnet_ids.len(), 3);
    let before = f.revision();
    assert_eq!(f.defaults(), d, "idempotent");
    f.ok("Action=DescribeVpcs");
    assert_eq!(f.revision(), before, "made once");
}

#[test]
fn regions_and_accounts_have_networks_of_their_own() {
    let mut f = fixture();
    let east = f.defaults();
    f.ctx.region = "eu-west-1".into();
    let west = f.defaults();
    assert_ne!(east.vpc_id, west.vpc_id);
    let zones = f.ok("Action=DescribeAvailabilityZones")["availabilityZoneInfo"].clone();
    assert_eq!(
        ids(&zones, "zoneName"),
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    );
    assert_eq!(ids(&zones, "zoneId"), ["euw1-az1", "euw1-az2", "euw1-az3"]);
    let vpcs = f.ok("Action=DescribeVpcs")["vpcSet"].clone();
    assert_eq!(ids(&vpcs, "vpcId"), [west.vpc_id]);
    f.fails(
        "Action=DescribeAvailabilityZones&ZoneName.1=us-east-1a",
        "InvalidParameterValue",
    );
}

#[test]
fn seed_000_security_groups_by_source_group() {
    let f = fixture();
    let vpc = f.defaults().vpc_id;
    let orders = f.new_group("orders-sg", &vpc);
    let ui = f.new_group("ui-sg", &vpc);
    assert_eq!(f.group(&orders)["ipPermissions"], json!([]));
    assert_eq!(
        f.group(&orders)["ipPermissionsEgress"][0]["ipProtocol"],
        "-1"
    );
    // What the aws CLI sends for `--protocol tcp --port 8080 --source-group sg-…`.
    let form = format!(
        "Action=AuthorizeSecurityGroupIngress&GroupId={orders}&IpPermissions.1.IpProtocol=tcp\
         &IpPermissions.1.FromPort=8080&IpPermissions.1.ToPort=8080&IpPermissions.1.Groups.1.GroupId={ui}"
    );
    let out = f.ok(&form);
    assert_eq!(out["return"], true);
    let rule = &out["securityGroupRuleSet"][0];
    assert_eq!(
        rule["referencedGroupInfo"],
        json!({"groupId": ui, "userId": "123456789012"})
    );
    assert_eq!(
        (rule["fromPort"].clone(), rule["isEgress"].clone()),
        (json!(8080), json!(false))
    );
    assert!(rule["securityGroupRuleId"]
        .as_str()
        .unwrap()
        .starts_with("sgr-"));
    assert_eq!(
        f.group(&orders)["ipPermissions"],
        json!([{"ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080,
                "groups": [{"groupId": ui, "userId": "123456789012"}],
                "ipRanges": [], "ipv6Ranges": [], "prefixListIds": []}])
    );
    let e = f.fails(&form, "InvalidPermission.Duplicate");
    assert_eq!(
        e.message,
        format!("the specified rule \"peer: {ui}, TCP, from port: 8080, to port: 8080, ALLOW\" already exists")
    );
    let rules = f
        .ec2
        .store()
        .read(|r| rules_in(r, &f.ctx, &orders))
        .unwrap();
    let ingress: Vec<_> = rules.iter().filter(|x| !x.is_egress).collect();
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0].ip_protocol, "tcp");
    assert_eq!(
        (ingress[0].from_port, ingress[0].to_port),
        (Some(8080), Some(8080))
    );
    assert_eq!(ingress[0].referenced_group_id.as_deref(), Some(ui.as_str()));
    let egress: Vec<_> = rules.iter().filter(|x| x.is_egress).collect();
    assert_eq!(egress[0].cidr_ipv4.as_deref(), Some("0.0.0.0/0"));
    assert_eq!(egress[0].from_port, None);
}

#[test]
fn cidr_and_top_level_members_and_their_errors() {
    let f = fixture();
    let vpc = f.new_vpc("10.0.0.0/16");
    let g = f.new_group("web", &vpc);
    // `--protocol tcp --port 80 --cidr 10.1.2.3/8`, and the undocumented top-level form.
    f.ok(&format!(
        "Action=AuthorizeSecurityGroupIngress&GroupId={g}&IpPermissions.1.IpProtocol=tcp\
         &IpPermissions.1.FromPort=80&IpPermissions.1.ToPort=80&IpPermissions.1.IpRanges.1.CidrIp=10.1.2.3/8"
    ));
    f.ok(&format!(
        "Action=AuthorizeSecurityGroupIngress&GroupId={g}&IpProtocol=udp&FromPort=53&ToPort=53&CidrIp=0.0.0.0/0"
    ));
    let perms = f.group(&g)["ipPermissions"].clone();
    assert_eq!(
        perms[0]["ipRanges"],
        json!([{"cidrIp": "10.0.0.0/8"}]),
        "kept as its network"
    );
    assert_eq!(
        (perms[1]["ipProtocol"].clone(), perms[1]["fromPort"].clone()),
        (json!("udp"), json!(53))
    );
    for (form, code, says) in [
        ("IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=80&IpPermissions.1.IpRanges.1.CidrIp=1.0.0.0/8",
         "InvalidParameterValue", "TCP/UDP"),
        ("IpPermissions.1.IpProtocol=bogus&IpPermissions.1.IpRanges.1.CidrIp=1.0.0.0/8", "InvalidParameterValue", "'bogus'"),
        ("IpPermissions.1.IpProtocol=-1&IpPermissions.1.IpRanges.1.CidrIp=1.0.0.0/33", "InvalidParameterValue", "1.0.0.0/33"),
        ("IpPermissions.1.IpProtocol=-1", "MissingParameter", "IpPermissions.1.IpRanges"),
        ("IpPermissions.1.FromPort=80", "MissingParameter", "IpPermissions.1.IpProtocol"),
        ("IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=eighty", "InvalidParameterValue", "IpPermissions.1.FromPort"),
        ("IpPermissions.1.IpProtocol=-1&IpPermissions.1.Colour=red", "UnknownParameter", "IpPermissions.1.Colour"),
        ("IpPermissions.1.IpProtocol=-1&IpPermissions.1.Groups.1.GroupId=sg-nothere", "InvalidGroup.NotFound", "sg-nothere"),
        ("IpPermissions.1.IpProtocol=-1&IpPermissions.1.Groups.1.GroupId=web", "InvalidGroupId.Malformed", "web"),
        ("IpProtocol=tcp&FromPort=1&ToPort=2", "MissingParameter", "CidrIp"),
        ("CidrIp=0.0.0.0/0&IpPermissions.1.IpProtocol=-1", "InvalidParameterCombination", "IpPermissions"),
        ("SourceSecurityGroupName=web&IpProtocol=tcp", "InvalidParameterCombination", "SourceSecurityGroupName"),
        ("", "MissingParameter", "IpPermissions"),
        ("Colour=red", "UnknownParameter", "Colour"),
        ("SecurityGroupRuleId.1=sgr-1", "UnknownParameter", "SecurityGroupRuleId"),
    ] {
        let e = f.fails(&format!("Action=AuthorizeSecurityGroupIngress&GroupId={g}&{form}"), code);
        assert!(e.message.contains(says), "{form}: {}", e.message);
    }
    f.fails(
        "Action=AuthorizeSecurityGroupIngress&IpProtocol=-1&CidrIp=0.0.0.0/0",
        "MissingParameter",
    );
    let e = f.fails(
        &format!("Action=AuthorizeSecurityGroupEgress&GroupName=web&GroupId={g}"),
        "UnknownParameter",
    );
    assert_eq!(e.message, "The parameter GroupName is not recognized");
    f.fails(
        "Action=AuthorizeSecurityGroupEgress&IpProtocol=-1&CidrIp=0.0.0.0/0",
        "MissingParameter",
    );
}

#[test]
fn a_source_group_by_name_is_every_icmp_tcp_and_udp_port() {
    let f = fixture();
    let vpc = f.defaults().vpc_id;
    let g = f.new_group("api", &vpc);
    f.new_group("lb", &vpc);
    let out = f.ok("Action=AuthorizeSecurityGroupIngress&GroupName=api&SourceSecurityGroupName=lb");
    let rules = out["securityGroupRuleSet"].as_array().unwrap();
    let mut got: Vec<(String, i64, i64)> = rules
        .iter()
        .map(|x| {
            (
                x["ipProtocol"].as_str().unwrap().into(),
                x["fromPort"].as_i64().unwrap(),
                x["toPort"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("icmp".into(), -1, -1),
            ("tcp".into(), 0, 65535),
            ("udp".into(), 0, 65535)
        ]
    );
    assert_eq!(f.group(&g)["ipPermissions"].as_array().unwrap().len(), 3);
    let e = f.fails(
        "Action=AuthorizeSecurityGroupIngress&GroupName=nope&SourceSecurityGroupName=lb",
        "InvalidGroup.NotFound",
    );
    assert!(
        e.message.contains("'nope'") && e.message.contains("default VPC"),
        "{}",
        e.message
    );
}

#[test]
fn revoke_by_contents_and_by_rule_id() {
    let f = fixture();
    let vpc = f.new_vpc("10.0.0.0/16");
    let g = f.new_group("web", &vpc);
    let perm = "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443\
                &IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8&IpPermissions.1.IpRanges.2.CidrIp=192.168.0.0/16";
    f.ok(&format!(
        "Action=AuthorizeSecurityGroupIngress&GroupId={g}&{perm}"
    ));
    let one =
        "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443\
               &IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8";
    let out = f.ok(&format!(
        "Action=RevokeSecurityGroupIngress&GroupId={g}&{one}"
    ));
    assert_eq!(out["return"], true);
    assert_eq!(
        out["revokedSecurityGroupRuleSet"][0]["cidrIpv4"],
        "10.0.0.0/8"
    );
    assert_eq!(
        f.group(&g)["ipPermissions"][0]["ipRanges"],
        json!([{"cidrIp": "192.168.0.0/16"}])
    );
    let e = f.fails(
        &format!("Action=RevokeSecurityGroupIngress&GroupId={g}&{one}"),
        "InvalidPermission.NotFound",
    );
    assert_eq!(
        e.message,
        "The specified rule does not exist in this security group."
    );
    let described = f.ok(&format!(
        "Action=DescribeSecurityGroupRules&Filter.1.Name=group-id&Filter.1.Value.1={g}"
    ))["securityGroupRuleSet"]
        .clone();
    let egress_id = described
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["isEgress"] == true)
        .unwrap()["securityGroupRuleId"]
        .as_str()
        .unwrap()
        .to_string();
    f.fails(
        &format!("Action=RevokeSecurityGroupIngress&GroupId={g}&SecurityGroupRuleId.1={egress_id}"),
        "InvalidSecurityGroupRuleId.NotFound",
    );
    f.fails(
        &format!("Action=RevokeSecurityGroupEgress&GroupId={g}&SecurityGroupRuleId.1=rule"),
        "InvalidSecurityGroupRuleId.Malformed",
    );
    let out = f.ok(&format!(
        "Action=RevokeSecurityGroupEgress&GroupId={g}&SecurityGroupRuleId.1={egress_id}"
    ));
    assert_eq!(
        out["revokedSecurityGroupRuleSet"][0]["securityGroupRuleId"],
        egress_id.as_str()
    );
    assert_eq!(f.group(&g)["ipPermissionsEgress"], json!([]));
}

#[test]
fn revoking_an_unknown_rule_in_the_default_vpc_answers_false() {
    let f = fixture();
    let g = f.new_group("web", &f.defaults().vpc_id);
    let form = format!(
        "Action=RevokeSecurityGroupIngress&GroupId={g}&IpPermissions.1.IpProtocol=tcp\
         &IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"
    );
    let before = f.revision();
    let out = f.ok(&form);
    assert_eq!(out["return"], false);
    assert_eq!(
        out["unknownIpPermissionSet"][0]["ipRanges"],
        json!([{"cidrIp": "0.0.0.0/0"}])
    );
    assert_eq!(out["revokedSecurityGroupRuleSet"], json!([]));
    assert_eq!(f.revision(), before);
}

#[test]
fn modify_and_describe_rules() {
    let f = fixture();
    let vpc = f.new_vpc("10.0.0.0/16");
    let g = f.new_group("web", &vpc);
    let peer = f.new_group("peer", &vpc);
    let out = f.ok(&format!(
        "Action=AuthorizeSecurityGroupIngress&GroupId={g}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=80\
         &IpPermissions.1.ToPort=80&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8&IpPermissions.1.IpRanges.1.Description=http\
         &IpPermissions.2.IpProtocol=tcp&IpPermissions.2.FromPort=81&IpPermissions.2.ToPort=81\
         &IpPermissions.2.IpRanges.1.CidrIp=10.0.0.0/8\
         &TagSpecification.1.ResourceType=security-group-rule&TagSpecification.1.Tag.1.Key=team&TagSpecification.1.Tag.1.Value=a"
    ));
    let r1 = out["securityGroupRuleSet"][0]["securityGroupRuleId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(out["securityGroupRuleSet"][0]["description"], "http");
    assert_eq!(
        out["securityGroupRuleSet"][0]["tagSet"],
        json!([{"key": "team", "value": "a"}])
    );
    let modify = |rest: &str| {
        format!("Action=ModifySecurityGroupRules&GroupId={g}&SecurityGroupRule.1.SecurityGroupRuleId={r1}{rest}")
    };
    let e = f.fails(
        &modify("&SecurityGroupRule.1.SecurityGroupRule.IpProtocol=tcp&SecurityGroupRule.1.SecurityGroupRule.FromPort=81\
                 &SecurityGroupRule.1.SecurityGroupRule.ToPort=81&SecurityGroupRule.1.SecurityGroupRule.CidrIpv4=10.0.0.0/8"),
        "InvalidPermission.Duplicate",
    );
    assert!(e.message.contains("from port: 81"), "{}", e.message);
    let two_peers = format!(
        "&SecurityGroupRule.1.SecurityGroupRule.IpProtocol=-1&SecurityGroupRule.1.SecurityGroupRule.CidrIpv4=1.0.0.0/8\
         &SecurityGroupRule.1.SecurityGroupRule.ReferencedGroupId={peer}"
    );
    let e = f.fails(&modify(&two_peers), "InvalidParameterValue");
    assert!(e.message.contains("exactly one"), "{}", e.message);
    f.fails(&modify(""), "MissingParameter");
    let out = f.ok(&modify(&format!(
        "&SecurityGroupRule.1.SecurityGroupRule.IpProtocol=tcp&SecurityGroupRule.1.SecurityGroupRule.FromPort=8080\
         &SecurityGroupRule.1.SecurityGroupRule.ToPort=8080&SecurityGroupRule.1.SecurityGroupRule.ReferencedGroupId={peer}"
    )));
    assert_eq!(out["return"], true);
    let rule = &f.ok(&format!(
        "Action=DescribeSecurityGroupRules&SecurityGroupRuleId.1={r1}"
    ))["securityGroupRuleSet"][0];
    assert_eq!(rule["fromPort"], 8080);
    assert_eq!(rule["referencedGroupInfo"]["groupId"], peer.as_str());
    assert_eq!(
        rule["tagSet"],
        json!([{"key": "team", "value": "a"}]),
        "kept"
    );
    assert_eq!(
        rule["securityGroupRuleArn"],
        format!("arn:aws:ec2:us-east-1:123456789012:security-group-rule/{r1}")
    );
    assert!(rule.get("cidrIpv4").is_none());
    let e = f.fails(
        &format!("Action=DeleteSecurityGroup&GroupId={peer}"),
        "DependencyViolation",
    );
    assert!(e.message.contains(&peer), "{}", e.message);
    f.fails(
        "Action=DescribeSecurityGroupRules&SecurityGroupRuleId.1=sgr-0000",
        "InvalidSecurityGroupRuleId.NotFound",
    );
    let tagged = f
        .ok("Action=DescribeSecurityGroupRules&Filter.1.Name=tag:team&Filter.1.Value.1=a")
        ["securityGroupRuleSet"]
        .clone();
    assert_eq!(tagged.as_array().unwrap().len(), 2);
}

#[test]
fn groups_names_duplicates_and_deletion() {
    let f = fixture();
    let vpc = f.defaults().vpc_id;
    let g = f.new_group("orders-sg", &vpc);
    let e = f.fails(
        &format!("Action=CreateSecurityGroup&GroupName=orders-sg&GroupDescription=x&VpcId={vpc}"),
        "InvalidGroup.Duplicate",
    );
    assert!(
        e.message.contains("orders-sg") && e.message.contains(&vpc),
        "{}",
        e.message
    );
    let other = f.new_vpc("10.0.0.0/16");
    f.new_group("orders-sg", &other);
    for (form, code) in [
        ("GroupName=default&GroupDescription=x", "InvalidGroup.Reserved"),
        ("GroupName=sg-1&GroupDescription=x", "InvalidParameterValue"),
        ("GroupName=x", "MissingParameter"),
        ("GroupDescription=x", "MissingParameter"),
        ("GroupName=x&GroupDescription=x&VpcId=vpc-nothere", "InvalidVpcID.NotFound"),
        ("GroupName=x&GroupDescription=x&VpcId=nothere", "InvalidVpcID.Malformed"),
        ("GroupName=x&GroupDescription=x&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=a", "InvalidParameterValue"),
    ] {
        f.fails(&format!("Action=CreateSecurityGroup&{form}"), code);
    }
    let without_vpc = f.ok("Action=CreateSecurityGroup&GroupName=plain&GroupDescription=x");
    assert_eq!(
        f.group(without_vpc["groupId"].as_str().unwrap())["vpcId"],
        vpc.as_str()
    );
    let default = f.defaults().group_id;
    let e = f.fails(
        &format!("Action=DeleteSecurityGroup&GroupId={default}"),
        "CannotDelete",
    );
    assert_eq!(
        e.message,
        format!("the specified group: \"{default}\" name: \"default\" cannot be deleted by a user")
    );
    f.fails(
        "Action=DeleteSecurityGroup&GroupId=sg-nothere",
        "InvalidGroup.NotFound",
    );
    f.fails(
        "Action=DeleteSecurityGroup&GroupId=nothere",
        "InvalidGroupId.Malformed",
    );
    f.fails("Action=DeleteSecurityGroup", "MissingParameter");
    let out = f.ok("Action=DeleteSecurityGroup&GroupName=orders-sg");
    assert_eq!(out, json!({"return": true, "groupId": g}));
    f.fails(
        &format!("Action=DescribeSecurityGroups&GroupId.1={g}"),
        "InvalidGroup.NotFound",
    );
}

#[test]
fn describe_groups_filters_and_pages() {
    let f = fixture();
    let vpc = f.new_vpc("10.0.0.0/16");
    for i in 0..7 {
        f.new_group(&format!("svc-{i}"), &vpc);
    }
    let page = |extra: &str| f.ok(&format!("Action=DescribeSecurityGroups{extra}"));
    let named = page("&Filter.1.Name=group-name&Filter.1.Value.1=svc-*&Filter.1.Value.2=default");
    assert_eq!(
        named["securityGroupInfo"].as_array().unwrap().len(),
        9,
        "7 + both VPCs' defaults"
    );
    let in_vpc = page(&format!(
        "&Filter.1.Name=vpc-id&Filter.1.Value.1={vpc}&Filter.2.Name=description&Filter.2.Value.1=d"
    ));
    assert_eq!(in_vpc["securityGroupInfo"].as_array().unwrap().len(), 7);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let out = page(&format!(
            "&MaxResults=5&Filter.1.Name=vpc-id&Filter.1.Value.1={vpc}{token}"
        ));
        seen.extend(ids(&out["securityGroupInfo"], "groupId"));
        match out["nextToken"].as_str() {
            Some(t) => token = format!("&NextToken={t}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in id order, each once");
    let by_rule = page("&Filter.1.Name=egress.ip-permission.cidr&Filter.1.Value.1=0.0.0.0/0");
    assert_eq!(by_rule["securityGroupInfo"].as_array().unwrap().len(), 9);
    f.fails(
        "Action=DescribeSecurityGroups&Filter.1.Name=colour&Filter.1.Value.1=x",
        "InvalidParameterValue",
    );
    f.fails(
        "Action=DescribeSecurityGroups&MaxResults=4",
        "InvalidParameterValue",
    );
    f.fails(
        "Action=DescribeSecurityGroups&NextToken=%21%21",
        "InvalidPaginationToken",
    );
    f.fails(
        "Action=DescribeSecurityGroups&GroupName.1=nope",
        "InvalidGroup.NotFound",
    );
}

#[test]
fn vpcs_and_subnets_ranges_conflicts_and_dependencies() {
    let f = fixture();
    f.fails("Action=CreateVpc&CidrBlock=10.0.0.0/8", "InvalidVpc.Range");
    f.fails(
        "Action=CreateVpc&CidrBlock=10.0.0.1/16",
        "InvalidParameterValue",
    );
    f.fails("Action=CreateVpc", "MissingParameter");
    let e = f.fails(
        "Action=CreateVpc&CidrBlock=10.0.0.0/16&AmazonProvidedIpv6CidrBlock=true",
        "UnsupportedOperation",
    );
    assert!(
        e.message.contains("AmazonProvidedIpv6CidrBlock"),
        "{}",
        e.message
    );
    let out = f.ok("Action=CreateVpc&CidrBlock=10.0.0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=seed");
    assert_eq!(out["vpc"]["state"], "pending");
    assert_eq!(
        out["vpc"]["tagSet"],
        json!([{"key": "Name", "value": "seed"}])
    );
    let vpc = out["vpc"]["vpcId"].as_str().unwrap().to_string();
    let described = f.ok(&format!("Action=DescribeVpcs&VpcId.1={vpc}"))["vpcSet"][0].clone();
    assert_eq!(described["state"], "available");
    assert_eq!(described["isDefault"], false);
    let subnet = |rest: &str| format!("Action=CreateSubnet&VpcId={vpc}&{rest}");
    let s = f.ok(&subnet("CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1b"))["subnet"].clone();
    assert_eq!(
        (
            s["availabilityZone"].clone(),
            s["availabilityZoneId"].clone()
        ),
        (json!("us-east-1b"), json!("use1-az2"))
    );
    assert_eq!(
        (
            s["defaultForAz"].clone(),
            s["availableIpAddressCount"].clone()
        ),
        (json!(false), json!(251))
    );
    let s_id = s["subnetId"].as_str().unwrap().to_string();
    f.fails(&subnet("CidrBlock=10.0.1.128/25"), "InvalidSubnet.Conflict");
    f.fails(&subnet("CidrBlock=10.1.0.0/24"), "InvalidSubnet.Range");
    f.fails(&subnet("CidrBlock=10.0.0.0/29"), "InvalidSubnet.Range");
    f.fails(
        &subnet("CidrBlock=10.0.2.0/24&AvailabilityZone=us-east-1z"),
        "InvalidParameterValue",
    );
    f.fails(
        "Action=CreateSubnet&CidrBlock=10.0.2.0/24",
        "MissingParameter",
    );
    f.fails(
        "Action=CreateSubnet&CidrBlock=10.0.2.0/24&VpcId=vpc-nothere",
        "InvalidVpcID.NotFound",
    );
    let g = f.new_group("web", &vpc);
    let e = f.fails(
        &format!("Action=DeleteVpc&VpcId={vpc}"),
        "DependencyViolation",
    );
    assert_eq!(
        e.message,
        format!("The vpc '{vpc}' has dependencies and cannot be deleted.")
    );
    f.ok(&format!("Action=DeleteSubnet&SubnetId={s_id}"));
    f.fails(
        &format!("Action=DeleteSubnet&SubnetId={s_id}"),
        "InvalidSubnetID.NotFound",
    );
    f.fails(
        &format!("Action=DeleteVpc&VpcId={vpc}"),
        "DependencyViolation",
    );
    f.ok(&format!("Action=DeleteSecurityGroup&GroupId={g}"));
    assert_eq!(
        f.ok(&format!("Action=DeleteVpc&VpcId={vpc}")),
        json!({"return": true})
    );
    f.fails(
        &format!("Action=DescribeVpcs&VpcId.1={vpc}"),
        "InvalidVpcID.NotFound",
    );
    let groups = f.ok(&format!(
        "Action=DescribeSecurityGroups&Filter.1.Name=vpc-id&Filter.1.Value.1={vpc}"
    ));
    assert_eq!(
        groups["securityGroupInfo"],
        json!([]),
        "its default group went with it"
    );
}

#[test]
fn dry_runs_answer_412_and_change_nothing() {
    let f = fixture();
    let vpc = f.defaults().vpc_id;
    let e = f.fails(
        &format!(
            "Action=CreateSecurityGroup&GroupName=x&GroupDescription=x&VpcId={vpc}&DryRun=true"
        ),
        "DryRunOperation",
    );
    assert_eq!(e.status, 412);
    f.fails("Action=DescribeVpcs&DryRun=true", "DryRunOperation");
    f.fails(
        "Action=CreateVpc&CidrBlock=10.0.0.0/8&DryRun=true",
        "InvalidVpc.Range",
    );
    assert_eq!(
        f.ok("Action=DescribeSecurityGroups&Filter.1.Name=group-name&Filter.1.Value.1=x")
            ["securityGroupInfo"],
        json!([])
    );
}

#[test]
fn tags_on_every_kind_of_resource() {
    let f = fixture();
    let d = f.defaults();
    let subnet = &d.subnet_ids[0];
    f.ok(&format!(
        "Action=CreateTags&ResourceId.1={}&ResourceId.2={subnet}&ResourceId.3={}&Tag.1.Key=env&Tag.1.Value=dev&Tag.2.Key=Name&Tag.2.Value=base",
        d.vpc_id, d.group_id
    ));
    let tags = f.ok("Action=DescribeTags")["tagSet"].clone();
    assert_eq!(tags.as_array().unwrap().len(), 6);
    let kinds = f.ok("Action=DescribeTags&Filter.1.Name=resource-type&Filter.1.Value.1=subnet&Filter.2.Name=key&Filter.2.Value.1=env")["tagSet"].clone();
    assert_eq!(
        kinds,
        json!([{"resourceId": subnet, "resourceType": "subnet", "key": "env", "value": "dev"}])
    );
    let page = f.ok("Action=DescribeTags&MaxResults=5");
    assert_eq!(page["tagSet"].as_array().unwrap().len(), 5);
    let rest = f.ok(&format!(
        "Action=DescribeTags&MaxResults=5&NextToken={}",
        page["nextToken"].as_str().unwrap()
    ));
    assert_eq!(rest["tagSet"].as_array().unwrap().len(), 1);
    let by_tag = f.ok("Action=DescribeSubnets&Filter.1.Name=tag:env&Filter.1.Value.1=d?v")
        ["subnetSet"]
        .clone();
    assert_eq!(ids(&by_tag, "subnetId"), std::slice::from_ref(subnet));
    f.ok(&format!(
        "Action=DeleteTags&ResourceId.1={subnet}&Tag.1.Key=env&Tag.1.Value=prod"
    ));
    assert_eq!(
        f.ok(&format!(
            "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1={subnet}"
        ))["tagSet"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "a value that differs deletes nothing"
    );
    f.ok(&format!(
        "Action=DeleteTags&ResourceId.1={subnet}&Tag.1.Key=env"
    ));
    f.ok(&format!("Action=DeleteTags&ResourceId.1={}", d.vpc_id));
    assert_eq!(
        f.ok("Action=DescribeTags")["tagSet"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    f.fails(
        &format!("Action=CreateTags&ResourceId.1={subnet}&ResourceId.2=subnet-nothere&Tag.1.Key=a"),
        "InvalidSubnetID.NotFound",
    );
    f.fails(
        "Action=CreateTags&ResourceId.1=i-12345&Tag.1.Key=a",
        "InvalidID",
    );
    f.fails(
        &format!("Action=CreateTags&ResourceId.1={subnet}"),
        "MissingParameter",
    );
    f.fails(
        &format!("Action=CreateTags&ResourceId.1={subnet}&Tag.1.Key=aws:x"),
        "InvalidParameterValue",
    );
    f.fails(
        "Action=DescribeTags&Filter.1.Name=colour&Filter.1.Value.1=x",
        "InvalidParameterValue",
    );
}

#[test]
fn network_interfaces_members_and_their_dependencies() {
    let f = fixture();
    let vpc = f.new_vpc("10.0.0.0/16");
    let subnet = f.ok(&format!(
        "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.0.0/24"
    ))["subnet"]["subnetId"]
        .as_str()
        .unwrap()
        .to_string();
    let web = f.new_group("web", &vpc);
    let eni = f
        .write(|w| {
            create_network_interface_in(w, &f.ctx, &subnet, &[web.clone(), web.clone()], "task a")
        })
        .unwrap();
    assert!(eni.network_interface_id.starts_with("eni-") && eni.network_interface_id.len() == 21);
    assert_eq!(
        (eni.group_ids.clone(), eni.private_ip),
        (vec![web.clone()], None)
    );
    let members = |g: &str| f.ec2.store().read(|r| members_in(r, &f.ctx, g)).unwrap();
    assert!(members(&web).is_empty(), "no address yet");
    let ip = Ipv4Addr::new(10, 0, 0, 5);
    f.write(|w| set_interface_address_in(w, &f.ctx, &eni.network_interface_id, Some(ip)))
        .unwrap();
    assert_eq!(members(&web).into_iter().collect::<Vec<_>>(), [ip]);
    let described = f.ok(&format!(
        "Action=DescribeNetworkInterfaces&Filter.1.Name=group-id&Filter.1.Value.1={web}"
    ))["networkInterfaceSet"][0]
        .clone();
    assert_eq!(described["privateIpAddress"], "10.0.0.5");
    assert_eq!(described["privateDnsName"], "ip-10-0-0-5.ec2.internal");
    assert_eq!(
        described["groupSet"],
        json!([{"groupId": web, "groupName": "web"}])
    );
    assert_eq!(
        (
            described["status"].clone(),
            described["interfaceType"].clone()
        ),
        (json!("in-use"), json!("interface"))
    );
    assert_eq!(described["description"], "task a");
    let e = f.fails(
        &format!("Action=DeleteSecurityGroup&GroupId={web}"),
        "DependencyViolation",
    );
    assert_eq!(e.message, format!("resource {web} has a dependent object"));
    f.fails(
        &format!("Action=DeleteSubnet&SubnetId={subnet}"),
        "DependencyViolation",
    );
    let plain = f
        .write(|w| create_network_interface_in(w, &f.ctx, &subnet, &[], "task b"))
        .unwrap();
    let default = f
        .ec2
        .store()
        .read(|r| default_group_in(r, &f.ctx, &vpc))
        .unwrap()
        .unwrap();
    assert_eq!(plain.group_ids, [default.group_id]);
    f.fails(
        "Action=DescribeNetworkInterfaces&NetworkInterfaceId.1=eni-nothere",
        "InvalidNetworkInterfaceID.NotFound",
    );
    let e = f
        .write(|w| create_network_interface_in(w, &f.ctx, "subnet-nothere", &[], "x"))
        .unwrap_err();
    assert_eq!(e.code, "InvalidSubnetID.NotFound");
    let outsider = f.new_group("outsider", &f.defaults().vpc_id);
    let e = f
        .write(|w| {
            create_network_interface_in(w, &f.ctx, &subnet, std::slice::from_ref(&outsider), "x")
        })
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    for id in [&eni.network_interface_id, &plain.network_interface_id] {
        f.write(|w| delete_network_interface_in(w, &f.ctx, id))
            .unwrap();
    }
    let before = f.revision();
    f.write(|w| delete_network_interface_in(w, &f.ctx, &eni.network_interface_id))
        .unwrap();
    assert_eq!(f.revision(), before, "deleting twice is nothing");
    assert!(members(&web).is_empty());
    f.ok(&format!("Action=DeleteSecurityGroup&GroupId={web}"));
    f.ok(&format!("Action=DeleteSubnet&SubnetId={subnet}"));
}

fn seed_import() -> NetworkImport {
    serde_json::from_value(json!({
        "vpcs": [{"vpcId": "vpc-0seed001", "cidrBlock": "10.0.0.0/16",
          "subnets": [{"subnetId": "subnet-f9bb89a2", "cidrBlock": "10.0.1.0/24", "availabilityZone": "us-east-1a"},
                      {"subnetId": "subnet-EXAMPLE", "cidrBlock": "10.0.2.0/24", "availabilityZone": "use1-az2"}],
          "securityGroups": [
            {"groupId": "sg-34692f46", "groupName": "web", "description": "web",
             "ingress": [{"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIp": "0.0.0.0/0"},
                         {"ipProtocol": "-1", "sourceGroup": "self"}],
             "egress": null},
            {"groupId": "sg-EXAMPLE", "groupName": "api", "description": "api",
             "ingress": [{"ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080, "sourceGroup": "sg-34692f46"}],
             "egress": []}]}]
    }))
    .unwrap()
}

#[test]
fn imports_keep_their_ids_and_are_idempotent() {
    let f = fixture();
    let doc = seed_import();
    f.write(|w| import_in(w, &doc.context(), &doc)).unwrap();
    let after = f.revision();
    f.write(|w| import_in(w, &doc.context(), &doc)).unwrap();
    assert_eq!(f.revision(), after, "importing again changes nothing");
    let web = f.group("sg-34692f46");
    assert_eq!(web["vpcId"], "vpc-0seed001");
    assert_eq!(web["ipPermissions"].as_array().unwrap().len(), 2);
    assert_eq!(
        web["ipPermissionsEgress"][0]["ipRanges"],
        json!([{"cidrIp": "0.0.0.0/0"}])
    );
    let api = f.group("sg-EXAMPLE");
    assert_eq!(
        api["ipPermissions"][0]["groups"][0]["groupId"],
        "sg-34692f46"
    );
    assert_eq!(api["ipPermissionsEgress"], json!([]));
    let subnet = f.ok("Action=DescribeSubnets&SubnetId.1=subnet-EXAMPLE")["subnetSet"][0].clone();
    assert_eq!(subnet["availabilityZone"], "us-east-1b");
    assert!(f
        .ec2
        .store()
        .read(|r| default_group_in(r, &f.ctx, "vpc-0seed001"))
        .unwrap()
        .is_some());
    let eni = f
        .write(|w| {
            create_network_interface_in(w, &f.ctx, "subnet-EXAMPLE", &["sg-EXAMPLE".into()], "t")
        })
        .unwrap();
    assert_eq!(eni.vpc_id, "vpc-0seed001");
}

#[test]
fn an_import_that_conflicts_names_the_resource_and_changes_nothing() {
    let f = fixture();
    let doc = seed_import();
    f.write(|w| import_in(w, &doc.context(), &doc)).unwrap();
    let before = f.revision();
    let attempt = |edit: &dyn Fn(&mut NetworkImport)| {
        let mut d = seed_import();
        edit(&mut d);
        f.write(|w| import_in(w, &d.context(), &d)).unwrap_err()
    };
    let e = attempt(&|d| d.vpcs[0].subnets[0].cidr_block = "10.0.9.0/24".into());
    assert!(e.message.contains("subnet-f9bb89a2"), "{}", e.message);
    let e = attempt(&|d| d.vpcs[0].security_groups[0].description = "other".into());
    assert!(e.message.contains("sg-34692f46"), "{}", e.message);
    let e = attempt(&|d| d.vpcs[0].cidr_block = "10.1.0.0/16".into());
    assert!(e.message.contains("vpc-0seed001"), "{}", e.message);
    let e = attempt(&|d| {
        d.vpcs[0].security_groups[1].ingress[0].source_group = Some("sg-elsewhere".into())
    });
    assert!(e.message.contains("sg-elsewhere"), "{}", e.message);
    let e = attempt(&|d| d.vpcs[0].subnets[0].subnet_id = "subnet_bad".into());
    assert!(e.message.contains("subnet_bad"), "{}", e.message);
    let e = attempt(&|d| d.region = Some("eu-west-1".into()));
    assert_eq!(e.code, "InvalidParameterValue");
    assert_eq!(f.revision(), before);
    let wrong = NetworkImport {
        region: Some("eu-west-1".into()),
        ..seed_import()
    };
    let e = f
        .write(|w| import_in(w, &Context::default(), &wrong))
        .unwrap_err();
    assert!(e.message.contains("eu-west-1"), "{}", e.message);
}
