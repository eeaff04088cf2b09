//! EC2 through the real front: forms as botocore's EC2 serializer writes them
//! (`IpPermissions.1.FromPort`, `IpPermissions.1.Groups.1.GroupId`, `Filter.1.Value.1`),
//! answers in EC2's XML (`<item>` list items, `requestId`), errors as
//! `<Response><Errors>`, and network files imported at start.

mod common;

use std::net::SocketAddr;

use berth_server::ServerConfig;
use common::{query_raw, Raw, TestServer};

const ACCOUNT: &str = "111122223333";
const EC2_NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

fn ec2(addr: SocketAddr, form: &str) -> Raw {
    query_raw(addr, "ec2", ACCOUNT, &format!("Version=2016-11-15&{form}"))
}

/// The text of every `<name>` element, in order.
fn texts(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let end = rest.find(&close).expect("a closed element");
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out
}

fn ok(addr: SocketAddr, form: &str) -> String {
    let r = ec2(addr, form);
    assert_eq!(r.status, 200, "{form}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("text/xml"));
    r.text()
}

/// The request fails with `status` and `code`; returns the message.
fn fails(addr: SocketAddr, form: &str, status: u16, code: &str) -> String {
    let r = ec2(addr, form);
    let body = r.text();
    assert_eq!(r.status, status, "{form}: {body}");
    let rid = r.header("x-amzn-requestid").unwrap();
    let head = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>");
    assert!(body.starts_with(&head), "{form}: {body}");
    assert!(
        body.ends_with(&format!(
            "</Error></Errors><RequestID>{rid}</RequestID></Response>"
        )),
        "{body}"
    );
    texts(&body, "Message").remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_security_groups_through_the_front() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let vpcs = ok(addr, "Action=DescribeVpcs&Filter.1.Name=is-default&Filter.1.Value.1=true");
        assert!(vpcs.starts_with(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeVpcsResponse xmlns=\"{EC2_NS}\"><requestId>"
        )), "{vpcs}");
        assert!(vpcs.contains("<vpcSet><item><blockPublicAccessStates>"), "{vpcs}");
        assert_eq!(texts(&vpcs, "isDefault"), ["true"]);
        assert_eq!(texts(&vpcs, "ownerId"), [ACCOUNT]);
        let vpc = texts(&vpcs, "vpcId").remove(0);
        let mk = |name: &str| {
            let xml = ok(addr, &format!(
                "Action=CreateSecurityGroup&GroupName={name}&GroupDescription=Orders+ECS+Service+SG&VpcId={vpc}"
            ));
            texts(&xml, "groupId").remove(0)
        };
        let (orders, ui) = (mk("orders-sg"), mk("ui-sg"));
        let authorize = format!(
            "Action=AuthorizeSecurityGroupIngress&GroupId={orders}&IpPermissions.1.IpProtocol=tcp\
             &IpPermissions.1.FromPort=8080&IpPermissions.1.ToPort=8080&IpPermissions.1.Groups.1.GroupId={ui}"
        );
        let xml = ok(addr, &authorize);
        assert_eq!(texts(&xml, "return"), ["true"]);
        assert!(xml.contains(&format!(
            "<referencedGroupInfo><groupId>{ui}</groupId><userId>{ACCOUNT}</userId></referencedGroupInfo>"
        )), "{xml}");
        let xml = ok(addr, &format!("Action=DescribeSecurityGroups&GroupId.1={orders}"));
        assert!(xml.contains(&format!(
            "<ipPermissions><item><fromPort>8080</fromPort><groups><item><groupId>{ui}</groupId>\
             <userId>{ACCOUNT}</userId></item></groups><ipProtocol>tcp</ipProtocol><ipRanges></ipRanges>\
             <ipv6Ranges></ipv6Ranges><prefixListIds></prefixListIds><toPort>8080</toPort></item></ipPermissions>"
        )), "{xml}");
        assert!(xml.contains("<groupDescription>Orders ECS Service SG</groupDescription>"), "{xml}");
        let message = fails(addr, &authorize, 400, "InvalidPermission.Duplicate");
        assert!(message.contains(&ui), "{message}");
        let message = fails(addr, &format!("Action=DeleteSecurityGroup&GroupId={ui}"), 400, "DependencyViolation");
        assert!(message.contains(&ui), "{message}");
        let rules = ok(addr, &format!(
            "Action=DescribeSecurityGroupRules&Filter.1.Name=group-id&Filter.1.Value.1={orders}&MaxResults=5"
        ));
        let mut directions = texts(&rules, "isEgress");
        directions.sort();
        assert_eq!(directions, ["false", "true"]);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_ec2s_codes_and_the_server_keeps_serving() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        for (form, status, code, says) in [
            (
                "Action=DescribeVpcs&Colour=red",
                400,
                "UnknownParameter",
                "The parameter Colour is not recognized",
            ),
            (
                "Action=DescribeVpcs&Filter.1.Name=vpc-id&Filter.1.Colour=red",
                400,
                "UnknownParameter",
                "Filter.1.Colour",
            ),
            (
                "Action=DescribeVpcs&MaxResults=lots",
                400,
                "InvalidParameterValue",
                "MaxResults",
            ),
            (
                "Action=DescribeVpcs&MaxResults=2",
                400,
                "InvalidParameterValue",
                "MaxResults",
            ),
            (
                "Action=DescribeVpcs&VpcId.1=vpc-0000",
                400,
                "InvalidVpcID.NotFound",
                "vpc-0000",
            ),
            (
                "Action=DescribeVpcs&DryRun=true",
                412,
                "DryRunOperation",
                "DryRun",
            ),
            (
                "Action=DescribeVpcs&Filter.1.Name=colour&Filter.1.Value.1=x",
                400,
                "InvalidParameterValue",
                "colour",
            ),
            (
                "Action=CreateSecurityGroup&GroupName=x",
                400,
                "MissingParameter",
                "GroupDescription",
            ),
            (
                "Action=CreateVpc&CidrBlock=10.0.0.0/8",
                400,
                "InvalidVpc.Range",
                "10.0.0.0/8",
            ),
            (
                "Action=AuthorizeSecurityGroupIngress&GroupId=web&IpProtocol=-1&CidrIp=0.0.0.0/0",
                400,
                "InvalidGroupId.Malformed",
                "web",
            ),
            (
                "Action=AuthorizeSecurityGroupIngress&GroupId=sg-1&IpPermissions.1.FromPort=x",
                400,
                "InvalidParameterValue",
                "IpPermissions.1.FromPort",
            ),
            (
                "Action=DescribeSecurityGroups&GroupId.1=sg-0000",
                400,
                "InvalidGroup.NotFound",
                "sg-0000",
            ),
            ("Action=RunInstances", 400, "InvalidAction", "RunInstances"),
            (
                "Action=DescribeVpcs&Filter.1.Name=%zz",
                400,
                "MalformedQueryString",
                "percent",
            ),
        ] {
            let message = fails(addr, form, status, code);
            assert!(message.contains(says), "{form}: {message}");
        }
        let xml = ok(addr, "Action=DescribeAvailabilityZones");
        assert_eq!(
            texts(&xml, "zoneName"),
            ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
        );
    })
    .await
    .unwrap();
}

const NETWORK: &str = r#"{"account": "111122223333", "region": "eu-west-1",
 "vpcs": [{"vpcId": "vpc-0seed001", "cidrBlock": "10.0.0.0/16",
   "subnets": [{"subnetId": "subnet-f9bb89a2", "cidrBlock": "10.0.1.0/24", "availabilityZone": "eu-west-1a"}],
   "securityGroups": [{"groupId": "sg-34692f46", "groupName": "web", "description": "web",
      "ingress": [{"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIp": "0.0.0.0/0"}]}]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_files_are_imported_before_the_server_listens() {
    let files = tempfile::tempdir().unwrap();
    let good = files.path().join("network.json");
    std::fs::write(&good, NETWORK).unwrap();
    let s = TestServer::start_with(|c| c.network_files = vec![good.clone()]).await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let xml = ok(addr, "Action=DescribeSubnets&SubnetId.1=subnet-f9bb89a2");
        assert_eq!(texts(&xml, "vpcId"), ["vpc-0seed001"]);
        let xml = ok(addr, "Action=DescribeSecurityGroups&GroupId.1=sg-34692f46");
        assert_eq!(
            texts(&xml, "cidrIp"),
            ["0.0.0.0/0", "0.0.0.0/0"],
            "ingress and the default egress"
        );
    })
    .await
    .unwrap();
    let TestServer { server, dir } = s;
    server.shutdown().await;
    let again = berth_server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        network_files: vec![good],
        ..ServerConfig::default()
    })
    .await
    .expect("importing the same file again is fine");
    again.shutdown().await;
    let bad = files.path().join("bad.json");
    std::fs::write(&bad, NETWORK.replace("10.0.1.0/24", "10.0.9.0/24")).unwrap();
    let err = berth_server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        network_files: vec![bad.clone()],
        ..ServerConfig::default()
    })
    .await
    .err()
    .expect("a conflicting file stops the start");
    let text = err.to_string();
    assert!(
        text.contains("bad.json") && text.contains("subnet-f9bb89a2"),
        "{text}"
    );
    std::fs::write(&bad, "{\"vpcs\": [{\"vpcId\": 1}]}").unwrap();
    let err = berth_server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        network_files: vec![bad],
        ..ServerConfig::default()
    })
    .await
    .err()
    .expect("a malformed file stops the start");
    assert!(err.to_string().contains("not a network document"), "{err}");
}

/// Every operation berth serves, each with an unknown parameter, a wrong-typed one and
/// (where the operation has one) a missing required one: EC2's code, a message naming
/// the parameter, nothing written, and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_names_the_bad_parameter() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        // A group and subnet to aim at, in the default VPC.
        let vpc = texts(
            &ok(addr, "Action=DescribeVpcs&Filter.1.Name=is-default&Filter.1.Value.1=true"),
            "vpcId",
        )
        .remove(0);
        let sg = texts(
            &ok(
                addr,
                &format!("Action=CreateSecurityGroup&GroupName=t&GroupDescription=t&VpcId={vpc}"),
            ),
            "groupId",
        )
        .remove(0);
        let perm = "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=80&IpPermissions.1.ToPort=80&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8";
        // (operation, its valid parameters, a required one (or ""), a typed one).
        let ops: Vec<(&str, String, &str, &str)> = vec![
            ("DescribeVpcs", String::new(), "", "MaxResults"),
            ("CreateVpc", "CidrBlock=10.9.0.0/16".into(), "", "AmazonProvidedIpv6CidrBlock"),
            ("DeleteVpc", "VpcId=vpc-0".into(), "VpcId", "DryRun"),
            ("DescribeSubnets", String::new(), "", "MaxResults"),
            ("CreateSubnet", format!("VpcId={vpc}&CidrBlock=172.31.200.0/24"), "VpcId", "DryRun"),
            ("DeleteSubnet", "SubnetId=subnet-0".into(), "SubnetId", "DryRun"),
            ("DescribeAvailabilityZones", String::new(), "", "AllAvailabilityZones"),
            ("CreateSecurityGroup", format!("GroupName=u&GroupDescription=u&VpcId={vpc}"), "GroupDescription", "DryRun"),
            ("DeleteSecurityGroup", format!("GroupId={sg}"), "", "DryRun"),
            ("DescribeSecurityGroups", String::new(), "", "MaxResults"),
            ("AuthorizeSecurityGroupIngress", format!("GroupId={sg}&{perm}"), "GroupId", "FromPort"),
            ("AuthorizeSecurityGroupEgress", format!("GroupId={sg}&{perm}"), "GroupId", "DryRun"),
            ("RevokeSecurityGroupIngress", format!("GroupId={sg}&{perm}"), "GroupId", "FromPort"),
            ("RevokeSecurityGroupEgress", format!("GroupId={sg}&{perm}"), "GroupId", "DryRun"),
            ("DescribeSecurityGroupRules", String::new(), "", "MaxResults"),
            (
                "ModifySecurityGroupRules",
                format!("GroupId={sg}&SecurityGroupRule.1.SecurityGroupRuleId=sgr-0&SecurityGroupRule.1.SecurityGroupRule.IpProtocol=tcp"),
                "GroupId",
                "DryRun",
            ),
            ("CreateTags", format!("ResourceId.1={sg}&Tag.1.Key=k&Tag.1.Value=v"), "ResourceId.1", "DryRun"),
            ("DeleteTags", format!("ResourceId.1={sg}&Tag.1.Key=k"), "ResourceId.1", "DryRun"),
            ("DescribeTags", String::new(), "", "MaxResults"),
            ("DescribeNetworkInterfaces", String::new(), "", "MaxResults"),
        ];
        for (op, params, required, typed) in ops {
            let before = ec2(addr, "Action=DescribeSecurityGroups").text();
            let form = |extra: &str| {
                [format!("Action={op}"), params.clone(), extra.to_string()]
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join("&")
            };
            let says = fails(addr, &form("Colour=red"), 400, "UnknownParameter");
            assert!(says.contains("Colour"), "{op}: {says}");
            let bad_type = form(&format!("{typed}=not-a-value"));
            let says = fails(addr, &bad_type, 400, "InvalidParameterValue");
            assert!(says.contains(typed), "{op} {typed}: {says}");
            if !required.is_empty() {
                let without: Vec<&str> = params
                    .split('&')
                    .filter(|p| !p.starts_with(&format!("{required}=")))
                    .collect();
                let missing = format!("Action={op}&{}", without.join("&"));
                let says = fails(addr, &missing, 400, "MissingParameter");
                assert!(says.contains(required.trim_end_matches(".1")), "{op} {required}: {says}");
            }
            let after = ec2(addr, "Action=DescribeSecurityGroups").text();
            assert_eq!(texts(&before, "groupId"), texts(&after, "groupId"), "{op} wrote");
        }
        ok(addr, "Action=DescribeVpcs");
    })
    .await
    .unwrap();
}
