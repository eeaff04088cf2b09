//! Application Load Balancers and their target groups' health, as the ECS console
//! shows them beside a service: each load balancer (name, DNS name, state), its target
//! groups (name, target type, port, health check path) with their targets counted by
//! state, and each target that is not healthy with its reason.
//!
//! Read through ELBv2's query API (XML answers): `DescribeLoadBalancers` and
//! `DescribeTargetGroups`, each followed across its pages by `NextMarker`, and
//! `DescribeTargetHealth` for each group. A group is shown under every load balancer
//! its `LoadBalancerArns` names; groups of none are kept apart.

use std::fmt::Write as _;

use berth_agent::ServerClient;
use roxmltree::{Document, Node};

use crate::{Error, Result};

/// The code ELBv2 answers for a target group that is gone (deleted between two calls
/// of one look).
const TARGET_GROUP_NOT_FOUND: &str = "TargetGroupNotFound";

/// A load balancer's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadBalancerState {
    Provisioning,
    Active,
    ActiveImpaired,
    Failed,
    /// A state this version does not know, as the API wrote it.
    Other(String),
}

impl LoadBalancerState {
    /// The state of API text `code`.
    pub fn parse(code: &str) -> LoadBalancerState {
        match code {
            "provisioning" => LoadBalancerState::Provisioning,
            "active" => LoadBalancerState::Active,
            "active_impaired" => LoadBalancerState::ActiveImpaired,
            "failed" => LoadBalancerState::Failed,
            other => LoadBalancerState::Other(other.to_string()),
        }
    }

    /// As the API writes it.
    pub fn as_str(&self) -> &str {
        match self {
            LoadBalancerState::Provisioning => "provisioning",
            LoadBalancerState::Active => "active",
            LoadBalancerState::ActiveImpaired => "active_impaired",
            LoadBalancerState::Failed => "failed",
            LoadBalancerState::Other(s) => s,
        }
    }
}

/// A target's health state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetState {
    Initial,
    Healthy,
    Unhealthy,
    /// Deregistered while unhealthy: counted as draining.
    UnhealthyDraining,
    Unused,
    Draining,
    Unavailable,
    /// A state this version does not know, as the API wrote it: in no count.
    Other(String),
}

/// The states `berth status` counts, in its columns' order.
pub const COUNTED: [TargetState; 6] = [
    TargetState::Healthy,
    TargetState::Unhealthy,
    TargetState::Initial,
    TargetState::Draining,
    TargetState::Unused,
    TargetState::Unavailable,
];

impl TargetState {
    /// The state of API text `state`.
    pub fn parse(state: &str) -> TargetState {
        match state {
            "initial" => TargetState::Initial,
            "healthy" => TargetState::Healthy,
            "unhealthy" => TargetState::Unhealthy,
            "unhealthy.draining" => TargetState::UnhealthyDraining,
            "unused" => TargetState::Unused,
            "draining" => TargetState::Draining,
            "unavailable" => TargetState::Unavailable,
            other => TargetState::Other(other.to_string()),
        }
    }

    /// As the API writes it.
    pub fn as_str(&self) -> &str {
        match self {
            TargetState::Initial => "initial",
            TargetState::Healthy => "healthy",
            TargetState::Unhealthy => "unhealthy",
            TargetState::UnhealthyDraining => "unhealthy.draining",
            TargetState::Unused => "unused",
            TargetState::Draining => "draining",
            TargetState::Unavailable => "unavailable",
            TargetState::Other(s) => s,
        }
    }

    /// The column of [`COUNTED`] it is counted in.
    fn column(&self) -> Option<usize> {
        let counted_as = match self {
            TargetState::UnhealthyDraining => &TargetState::Draining,
            s => s,
        };
        COUNTED.iter().position(|c| c == counted_as)
    }
}

/// A registered target and its health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetStatus {
    /// An IP address or an instance id.
    pub id: String,
    pub port: Option<u16>,
    pub state: TargetState,
    /// ELB's reason code (`Target.ResponseCodeMismatch`, ...); none when healthy.
    pub reason: Option<String>,
    pub description: Option<String>,
}

/// A target group and its targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroupStatus {
    pub arn: String,
    pub name: String,
    /// `ip`, `instance`, ...
    pub target_type: String,
    pub protocol: Option<String>,
    pub port: Option<u16>,
    pub health_check_path: Option<String>,
    /// The load balancers whose listeners or rules forward to it.
    pub load_balancer_arns: Vec<String>,
    pub targets: Vec<TargetStatus>,
}

impl TargetGroupStatus {
    /// How many of its targets are in each state of [`COUNTED`].
    pub fn counts(&self) -> [usize; COUNTED.len()] {
        let mut out = [0; COUNTED.len()];
        for i in self.targets.iter().filter_map(|t| t.state.column()) {
            out[i] += 1;
        }
        out
    }
}

/// A load balancer and the target groups it forwards to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerStatus {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    pub state: LoadBalancerState,
    /// Why, when it failed.
    pub state_reason: Option<String>,
    pub target_groups: Vec<TargetGroupStatus>,
}

/// Every load balancer, and the target groups of none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Balancers {
    pub load_balancers: Vec<LoadBalancerStatus>,
    pub unattached: Vec<TargetGroupStatus>,
}

impl Balancers {
    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.load_balancers.is_empty() && self.unattached.is_empty()
    }
}

/// One page of a `Describe*` answer: its items and the marker of the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

fn unreadable(action: &str, why: impl std::fmt::Display) -> Error {
    Error::Answer(format!("{action}: {why}"))
}

/// The `<{action}Result>` of an answer.
fn result<'a, 'i>(doc: &'a Document<'i>, action: &str) -> Result<Node<'a, 'i>> {
    let root = doc.root_element();
    let response = format!("{action}Response");
    if !root.has_tag_name(response.as_str()) {
        let found = root.tag_name().name();
        return Err(unreadable(action, format!("<{found}>, not <{response}>")));
    }
    child(root, &format!("{action}Result"))
        .ok_or_else(|| unreadable(action, format!("no <{action}Result>")))
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

/// The text of the element at `path` below `n`, when there is one.
fn text(n: Node<'_, '_>, path: &[&str]) -> Option<String> {
    let mut at = n;
    for name in path {
        at = child(at, name)?;
    }
    Some(at.text().unwrap_or_default().to_string())
}

/// The `<member>`s of list `name` below `n`.
fn members<'a, 'i>(n: Node<'a, 'i>, name: &str) -> impl Iterator<Item = Node<'a, 'i>> {
    child(n, name)
        .into_iter()
        .flat_map(|l| l.children().filter(|m| m.has_tag_name("member")))
}

fn port(n: Node<'_, '_>, path: &[&str]) -> Option<u16> {
    text(n, path)?.trim().parse().ok()
}

/// Parses one page of `action`'s answer, each of its `list`'s members with `item`.
fn page<T>(
    xml: &str,
    action: &str,
    list: &str,
    item: impl Fn(Node<'_, '_>) -> T,
) -> Result<Page<T>> {
    let doc = Document::parse(xml).map_err(|e| unreadable(action, e))?;
    let result = result(&doc, action)?;
    Ok(Page {
        items: members(result, list).map(item).collect(),
        next_marker: text(result, &["NextMarker"]).filter(|m| !m.is_empty()),
    })
}

/// A page of `DescribeLoadBalancers` (its load balancers without their groups).
pub fn parse_load_balancers(xml: &str) -> Result<Page<LoadBalancerStatus>> {
    page(xml, "DescribeLoadBalancers", "LoadBalancers", |m| {
        LoadBalancerStatus {
            arn: text(m, &["LoadBalancerArn"]).unwrap_or_default(),
            name: text(m, &["LoadBalancerName"]).unwrap_or_default(),
            dns_name: text(m, &["DNSName"]).unwrap_or_default(),
            state: LoadBalancerState::parse(&text(m, &["State", "Code"]).unwrap_or_default()),
            state_reason: text(m, &["State", "Reason"]).filter(|r| !r.is_empty()),
            target_groups: Vec::new(),
        }
    })
}

/// A page of `DescribeTargetGroups` (its groups without their targets).
pub fn parse_target_groups(xml: &str) -> Result<Page<TargetGroupStatus>> {
    page(xml, "DescribeTargetGroups", "TargetGroups", |m| {
        TargetGroupStatus {
            arn: text(m, &["TargetGroupArn"]).unwrap_or_default(),
            name: text(m, &["TargetGroupName"]).unwrap_or_default(),
            target_type: text(m, &["TargetType"]).unwrap_or_default(),
            protocol: text(m, &["Protocol"]),
            port: port(m, &["Port"]),
            health_check_path: text(m, &["HealthCheckPath"]),
            load_balancer_arns: members(m, "LoadBalancerArns")
                .filter_map(|a| a.text().map(str::to_string))
                .collect(),
            targets: Vec::new(),
        }
    })
}

/// The targets of a `DescribeTargetHealth` answer.
pub fn parse_target_health(xml: &str) -> Result<Vec<TargetStatus>> {
    let page = page(
        xml,
        "DescribeTargetHealth",
        "TargetHealthDescriptions",
        |m| TargetStatus {
            id: text(m, &["Target", "Id"]).unwrap_or_default(),
            port: port(m, &["Target", "Port"]),
            state: TargetState::parse(&text(m, &["TargetHealth", "State"]).unwrap_or_default()),
            reason: text(m, &["TargetHealth", "Reason"]),
            description: text(m, &["TargetHealth", "Description"]),
        },
    )?;
    Ok(page.items)
}

/// Every item of `action` across its pages, `page_size` at a time (`None`: the
/// service's default page).
async fn every_page<T>(
    client: &ServerClient,
    action: &str,
    page_size: Option<u32>,
    parse: fn(&str) -> Result<Page<T>>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut params = Vec::new();
        if let Some(n) = page_size {
            params.push(("PageSize".to_string(), n.to_string()));
        }
        if let Some(m) = marker.take() {
            params.push(("Marker".to_string(), m));
        }
        let page = parse(&client.elbv2(action, &params).await?)?;
        out.extend(page.items);
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => return Ok(out),
        }
    }
}

/// A group's targets; `None` when the group is gone.
async fn targets_of(client: &ServerClient, arn: &str) -> Result<Option<Vec<TargetStatus>>> {
    let params = [("TargetGroupArn".to_string(), arn.to_string())];
    match client.elbv2("DescribeTargetHealth", &params).await {
        Ok(xml) => Ok(Some(parse_target_health(&xml)?)),
        Err(berth_agent::Error::Api { code, .. }) if code == TARGET_GROUP_NOT_FOUND => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every load balancer with its target groups and their targets' health, reading
/// `page_size` load balancers or groups per call (`None`: the service's default page).
pub async fn gather(client: &ServerClient, page_size: Option<u32>) -> Result<Balancers> {
    let mut load_balancers = every_page(
        client,
        "DescribeLoadBalancers",
        page_size,
        parse_load_balancers,
    )
    .await?;
    let groups = every_page(
        client,
        "DescribeTargetGroups",
        page_size,
        parse_target_groups,
    )
    .await?;
    let mut unattached = Vec::new();
    for mut group in groups {
        let Some(targets) = targets_of(client, &group.arn).await? else {
            continue;
        };
        group.targets = targets;
        let mut attached = false;
        for lb in &mut load_balancers {
            if group.load_balancer_arns.contains(&lb.arn) {
                lb.target_groups.push(group.clone());
                attached = true;
            }
        }
        if !attached {
            unattached.push(group);
        }
    }
    load_balancers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Balancers {
        load_balancers,
        unattached,
    })
}

/// `HTTP:80`, `80`, or `-`.
fn port_cell(g: &TargetGroupStatus) -> String {
    match (&g.protocol, g.port) {
        (Some(p), Some(n)) => format!("{p}:{n}"),
        (None, Some(n)) => n.to_string(),
        (_, None) => "-".into(),
    }
}

/// The header of a load balancer's table.
fn header() -> Vec<String> {
    let mut row: Vec<String> = ["TARGET GROUP", "TYPE", "PORT", "HEALTH CHECK"]
        .map(String::from)
        .into();
    row.extend(COUNTED.iter().map(|s| s.as_str().to_uppercase()));
    row.push("SERVICES".into());
    row
}

/// A group's row; `services` names the ECS services whose tasks it holds.
fn group_row(g: &TargetGroupStatus, services: &[String]) -> Vec<String> {
    let mut row = vec![
        g.name.clone(),
        g.target_type.clone(),
        port_cell(g),
        g.health_check_path.clone().unwrap_or_else(|| "-".into()),
    ];
    row.extend(g.counts().iter().map(usize::to_string));
    row.push(if services.is_empty() {
        "-".into()
    } else {
        services.join(" ")
    });
    row
}

/// The rows of a group's targets that are not healthy: `id:port`, state, reason,
/// description.
fn unwell_rows(g: &TargetGroupStatus) -> Vec<Vec<String>> {
    let unwell = g.targets.iter().filter(|t| t.state != TargetState::Healthy);
    unwell
        .map(|t| {
            let at = t.port.map_or(t.id.clone(), |p| format!("{}:{p}", t.id));
            vec![
                at,
                t.state.as_str().to_string(),
                t.reason.clone().unwrap_or_else(|| "-".into()),
                t.description.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

/// A table of target groups, each followed by its targets that are not healthy (in a
/// table of their own, further in); `services_of` gives the ECS services of a group's
/// ARN.
fn groups_table(
    groups: &[TargetGroupStatus],
    services_of: &dyn Fn(&str) -> Vec<String>,
    out: &mut String,
) {
    let mut rows = vec![header()];
    rows.extend(groups.iter().map(|g| group_row(g, &services_of(&g.arn))));
    let lines = crate::aligned(&rows, "  ");
    let _ = writeln!(out, "{}", lines[0]);
    for (g, line) in groups.iter().zip(&lines[1..]) {
        let _ = writeln!(out, "{line}");
        for target in crate::aligned(&unwell_rows(g), "    ") {
            let _ = writeln!(out, "{target}");
        }
    }
}

/// The load balancers' section; `services_of` gives the ECS services (`cluster/name`)
/// of a target group's ARN. Nothing when there is no load balancer nor group.
pub fn render(b: &Balancers, services_of: &dyn Fn(&str) -> Vec<String>, out: &mut String) {
    for lb in &b.load_balancers {
        let state = match &lb.state_reason {
            Some(why) => format!("{}: {why}", lb.state.as_str()),
            None => lb.state.as_str().to_string(),
        };
        let _ = writeln!(out, "load balancer {} ({state}) {}", lb.name, lb.dns_name);
        if lb.target_groups.is_empty() {
            out.push_str("  no target groups\n");
        } else {
            groups_table(&lb.target_groups, services_of, out);
        }
        out.push('\n');
    }
    if !b.unattached.is_empty() {
        out.push_str("target groups of no load balancer\n");
        groups_table(&b.unattached, services_of, out);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
    const LB_ARN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
    const TG_ARN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067";

    /// An answer as berth's query writer puts it: `<OpResponse><OpResult>` beside
    /// `<ResponseMetadata>`.
    fn answer(action: &str, result: &str) -> String {
        format!(
            r#"<{action}Response xmlns="{NS}"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>0d1d1a4b-5f6e-4c3b-9a8e-1f2e3d4c5b6a</RequestId></ResponseMetadata></{action}Response>"#
        )
    }

    fn load_balancer(name: &str, state: &str) -> String {
        format!(
            "<member><LoadBalancerArn>{LB_ARN}</LoadBalancerArn><DNSName>{name}-1234567890.us-east-1.elb.localhost</DNSName>\
             <CanonicalHostedZoneId>Z35SXDOTRQ7X7K</CanonicalHostedZoneId><CreatedTime>2026-01-01T00:00:00.000Z</CreatedTime>\
             <LoadBalancerName>{name}</LoadBalancerName><Scheme>internet-facing</Scheme><VpcId>vpc-3ac0fb5f</VpcId>\
             <State>{state}</State><Type>application</Type><AvailabilityZones><member><ZoneName>us-east-1a</ZoneName>\
             <SubnetId>subnet-8360a9e7</SubnetId><LoadBalancerAddresses/></member></AvailabilityZones>\
             <SecurityGroups><member>sg-5943793c</member></SecurityGroups><IpAddressType>ipv4</IpAddressType></member>"
        )
    }

    fn target(id: &str, port: u16, health: &str) -> String {
        format!(
            "<member><Target><Id>{id}</Id><Port>{port}</Port></Target><HealthCheckPort>{port}</HealthCheckPort>\
             <TargetHealth>{health}</TargetHealth></member>"
        )
    }

    #[test]
    fn load_balancers_read_with_their_state_and_next_marker() {
        let members = load_balancer("web", "<Code>active</Code>")
            + &load_balancer(
                "api",
                "<Code>failed</Code><Reason>the data plane exited &amp; restarts in 5 s</Reason>",
            );
        let xml = answer(
            "DescribeLoadBalancers",
            &format!("<LoadBalancers>{members}</LoadBalancers><NextMarker>bWFya2Vy</NextMarker>"),
        );
        let page = parse_load_balancers(&xml).unwrap();
        assert_eq!(page.next_marker.as_deref(), Some("bWFya2Vy"));
        let [web, api] = &page.items[..] else {
            panic!("{page:?}")
        };
        assert_eq!(web.arn, LB_ARN);
        assert_eq!(web.name, "web");
        assert_eq!(web.dns_name, "web-1234567890.us-east-1.elb.localhost");
        assert_eq!(
            (&web.state, &web.state_reason),
            (&LoadBalancerState::Active, &None)
        );
        assert_eq!(api.state, LoadBalancerState::Failed);
        assert_eq!(
            api.state_reason.as_deref(),
            Some("the data plane exited & restarts in 5 s")
        );
        // The last page has no marker; an empty list is no list.
        let last = answer("DescribeLoadBalancers", "<LoadBalancers/>");
        assert_eq!(
            parse_load_balancers(&last).unwrap(),
            Page {
                items: vec![],
                next_marker: None
            }
        );
    }

    #[test]
    fn target_groups_read_with_their_load_balancers() {
        let group = format!(
            "<member><TargetGroupArn>{TG_ARN}</TargetGroupArn><TargetGroupName>web-tg</TargetGroupName>\
             <Protocol>HTTP</Protocol><Port>8080</Port><VpcId>vpc-3ac0fb5f</VpcId><HealthCheckProtocol>HTTP</HealthCheckProtocol>\
             <HealthCheckPort>traffic-port</HealthCheckPort><HealthCheckEnabled>true</HealthCheckEnabled>\
             <HealthCheckIntervalSeconds>30</HealthCheckIntervalSeconds><HealthCheckTimeoutSeconds>5</HealthCheckTimeoutSeconds>\
             <HealthyThresholdCount>5</HealthyThresholdCount><UnhealthyThresholdCount>2</UnhealthyThresholdCount>\
             <HealthCheckPath>/health</HealthCheckPath><Matcher><HttpCode>200</HttpCode></Matcher>\
             <LoadBalancerArns><member>{LB_ARN}</member></LoadBalancerArns><TargetType>ip</TargetType>\
             <ProtocolVersion>HTTP1</ProtocolVersion><IpAddressType>ipv4</IpAddressType></member>"
        );
        // A lambda group has no protocol, port nor path.
        let lambda = "<member><TargetGroupArn>arn:tg/fn</TargetGroupArn><TargetGroupName>fn</TargetGroupName>\
                      <LoadBalancerArns/><TargetType>lambda</TargetType></member>";
        let xml = answer(
            "DescribeTargetGroups",
            &format!("<TargetGroups>{group}{lambda}</TargetGroups>"),
        );
        let page = parse_target_groups(&xml).unwrap();
        assert_eq!(page.next_marker, None);
        let web = &page.items[0];
        assert_eq!(
            (
                web.arn.as_str(),
                web.name.as_str(),
                web.target_type.as_str()
            ),
            (TG_ARN, "web-tg", "ip")
        );
        assert_eq!(
            (web.protocol.as_deref(), web.port),
            (Some("HTTP"), Some(8080))
        );
        assert_eq!(web.health_check_path.as_deref(), Some("/health"));
        assert_eq!(web.load_balancer_arns, [LB_ARN]);
        let f = &page.items[1];
        assert_eq!(
            (
                f.protocol.as_deref(),
                f.port,
                f.health_check_path.as_deref()
            ),
            (None, None, None)
        );
        assert!(f.load_balancer_arns.is_empty());
    }

    #[test]
    fn target_health_reads_state_reason_and_description() {
        let targets = [
            target("10.0.0.5", 8080, "<State>healthy</State>"),
            target(
                "10.0.0.6",
                8080,
                "<State>unhealthy</State><Reason>Target.ResponseCodeMismatch</Reason>\
                 <Description>Health checks failed with these codes: [404]</Description>",
            ),
            target(
                "i-0f76fade",
                80,
                "<State>unhealthy.draining</State><Reason>Target.DeregistrationInProgress</Reason>",
            ),
            target("10.0.0.7", 8080, "<State>anomalous</State>"),
        ]
        .concat();
        let xml = answer(
            "DescribeTargetHealth",
            &format!("<TargetHealthDescriptions>{targets}</TargetHealthDescriptions>"),
        );
        let got = parse_target_health(&xml).unwrap();
        let states: Vec<&TargetState> = got.iter().map(|t| &t.state).collect();
        assert_eq!(
            states,
            [
                &TargetState::Healthy,
                &TargetState::Unhealthy,
                &TargetState::UnhealthyDraining,
                &TargetState::Other("anomalous".into())
            ]
        );
        assert_eq!(
            got[1],
            TargetStatus {
                id: "10.0.0.6".into(),
                port: Some(8080),
                state: TargetState::Unhealthy,
                reason: Some("Target.ResponseCodeMismatch".into()),
                description: Some("Health checks failed with these codes: [404]".into()),
            }
        );
        assert_eq!(
            (got[0].reason.as_ref(), got[0].description.as_ref()),
            (None, None)
        );
        // Draining while unhealthy counts as draining; an unknown state in no column.
        let g = TargetGroupStatus {
            targets: got,
            ..group_of(&[])
        };
        assert_eq!(g.counts(), [1, 1, 0, 1, 0, 0]);
    }

    #[test]
    fn answers_of_another_shape_are_refused() {
        let other = answer("DescribeListeners", "<Listeners/>");
        for (xml, why) in [
            (
                other.as_str(),
                "<DescribeListenersResponse>, not <DescribeLoadBalancersResponse>",
            ),
            (
                "<DescribeLoadBalancersResponse/>",
                "no <DescribeLoadBalancersResult>",
            ),
            ("{\"LoadBalancers\": []}", "DescribeLoadBalancers: "),
        ] {
            match parse_load_balancers(xml) {
                Err(Error::Answer(e)) => assert!(e.contains(why), "{e}"),
                other => panic!("{xml}: {other:?}"),
            }
        }
    }

    fn group_of(targets: &[(&str, TargetState, Option<&str>)]) -> TargetGroupStatus {
        TargetGroupStatus {
            arn: TG_ARN.into(),
            name: "web-tg".into(),
            target_type: "ip".into(),
            protocol: Some("HTTP".into()),
            port: Some(8080),
            health_check_path: Some("/health".into()),
            load_balancer_arns: vec![LB_ARN.into()],
            targets: (targets.iter())
                .map(|(id, state, reason)| TargetStatus {
                    id: id.to_string(),
                    port: Some(8080),
                    state: state.clone(),
                    reason: reason.map(str::to_string),
                    description: reason.map(|r| format!("because {r}")),
                })
                .collect(),
        }
    }

    fn web(groups: Vec<TargetGroupStatus>) -> LoadBalancerStatus {
        LoadBalancerStatus {
            arn: LB_ARN.into(),
            name: "web".into(),
            dns_name: "web-1234567890.us-east-1.elb.localhost".into(),
            state: LoadBalancerState::Active,
            state_reason: None,
            target_groups: groups,
        }
    }

    #[test]
    fn render_counts_targets_and_lists_those_not_healthy() {
        let g = group_of(&[
            ("10.0.0.5", TargetState::Healthy, None),
            (
                "10.0.0.6",
                TargetState::Unhealthy,
                Some("Target.ResponseCodeMismatch"),
            ),
            (
                "10.0.0.17",
                TargetState::Initial,
                Some("Elb.InitialHealthChecking"),
            ),
        ]);
        let mut failed = web(vec![]);
        failed.name = "api".into();
        failed.state = LoadBalancerState::Failed;
        failed.state_reason = Some("the data plane exited".into());
        let b = Balancers {
            load_balancers: vec![web(vec![g.clone()]), failed],
            unattached: vec![TargetGroupStatus {
                name: "spare-tg".into(),
                targets: vec![],
                ..g
            }],
        };
        let services = |arn: &str| {
            if arn == TG_ARN {
                vec!["shop/web".to_string()]
            } else {
                vec![]
            }
        };
        let mut out = String::new();
        render(&b, &services, &mut out);
        let want = "\
load balancer web (active) web-1234567890.us-east-1.elb.localhost
  TARGET GROUP  TYPE  PORT       HEALTH CHECK  HEALTHY  UNHEALTHY  INITIAL  DRAINING  UNUSED  UNAVAILABLE  SERVICES
  web-tg        ip    HTTP:8080  /health       1        1          1        0         0       0            shop/web
    10.0.0.6:8080   unhealthy  Target.ResponseCodeMismatch  because Target.ResponseCodeMismatch
    10.0.0.17:8080  initial    Elb.InitialHealthChecking    because Elb.InitialHealthChecking

load balancer api (failed: the data plane exited) web-1234567890.us-east-1.elb.localhost
  no target groups

target groups of no load balancer
  TARGET GROUP  TYPE  PORT       HEALTH CHECK  HEALTHY  UNHEALTHY  INITIAL  DRAINING  UNUSED  UNAVAILABLE  SERVICES
  spare-tg      ip    HTTP:8080  /health       0        0          0        0         0       0            shop/web

";
        assert_eq!(out, want, "\n{out}");
        let mut none = String::new();
        render(&Balancers::default(), &services, &mut none);
        assert_eq!(none, "");
    }
}
