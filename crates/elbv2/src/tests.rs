//! Operation tests: forms in, as botocore's query serializer writes them; JSON answers
//! out; a failed call leaves the store's revision where it was. Then the functions the
//! rest of berth uses: state, health, draining by time, the plan.

use std::net::Ipv4Addr;
use std::sync::Arc;

use berth_awsproto::{decode_form, Api, ApiError, Context, Input, QueryFlavour};
use berth_ec2::{put_instance_in, Instance, InstanceState};
use berth_store::Store;
use serde_json::Value;

use super::*;
use crate::model::{LoadBalancerStateCode, TargetHealth, TargetHealthReason, TargetHealthState};

struct Fixture {
    _dir: tempfile::TempDir,
    elb: Elbv2,
    ctx: Context,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    Fixture {
        _dir: dir,
        elb: Elbv2::new(store),
        ctx: Context::default(),
    }
}

fn enc(s: &str) -> String {
    s.replace('%', "%25")
        .replace('&', "%26")
        .replace('=', "%3D")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace(':', "%3A")
}

impl Fixture {
    fn call(&self, form: &str) -> Result<Value, ApiError> {
        let q = decode_form(form.as_bytes()).expect("a well-formed form");
        let op = q.action.expect("an Action");
        self.elb
            .invoke(&self.ctx, &op, Input::Form(q.params, QueryFlavour::Query))
    }

    fn ok(&self, form: &str) -> Value {
        self.call(form).unwrap_or_else(|e| panic!("{form}: {e}"))
    }

    fn fails(&self, form: &str, code: &str) -> ApiError {
        let before = self.elb.store().revision();
        let e = match self.call(form) {
            Ok(v) => panic!("{form}: expected {code}, got {v}"),
            Err(e) => e,
        };
        assert_eq!(e.code, code, "{form}: {e}");
        assert_eq!(
            self.elb.store().revision(),
            before,
            "{form} changed the store"
        );
        e
    }

    /// The default VPC's id and two of its subnets (made on first touch).
    fn network(&self) -> (String, Vec<String>) {
        let (net, _) = self
            .elb
            .store()
            .write(|w| berth_ec2::ensure_defaults_in(w, &self.ctx))
            .unwrap();
        (net.vpc_id, net.subnet_ids)
    }

    fn lb(&self, name: &str) -> String {
        let (_, subnets) = self.network();
        let out = self.ok(&format!(
            "Action=CreateLoadBalancer&Name={name}&Subnets.member.1={}&Subnets.member.2={}",
            subnets[0], subnets[1]
        ));
        out["LoadBalancers"][0]["LoadBalancerArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn tg(&self, name: &str, kind: &str) -> String {
        let (vpc, _) = self.network();
        let out = self.ok(&format!("Action=CreateTargetGroup&Name={name}&Protocol=HTTP&Port=80&VpcId={vpc}&TargetType={kind}"));
        out["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn listener(&self, lb: &str, port: u16, tg: &str) -> String {
        let out = self.ok(&format!(
            "Action=CreateListener&LoadBalancerArn={}&Protocol=HTTP&Port={port}&DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn={}",
            enc(lb), enc(tg)
        ));
        out["Listeners"][0]["ListenerArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn health(&self, tg: &str) -> Vec<(String, String, Option<String>)> {
        let out = self.ok(&format!(
            "Action=DescribeTargetHealth&TargetGroupArn={}",
            enc(tg)
        ));
        out["TargetHealthDescriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["Target"]["Id"].as_str().unwrap().to_string(),
                    d["TargetHealth"]["State"].as_str().unwrap().to_string(),
                    d["TargetHealth"]["Reason"].as_str().map(String::from),
                )
            })
            .collect()
    }
}

#[test]
fn a_load_balancer_is_created_described_and_deleted() {
    let f = fixture();
    let (vpc, subnets) = f.network();
    let arn = f.lb("web");
    let out = f.ok(&format!(
        "Action=DescribeLoadBalancers&LoadBalancerArns.member.1={}",
        enc(&arn)
    ));
    let lb = &out["LoadBalancers"][0];
    assert_eq!(lb["LoadBalancerName"], "web");
    assert_eq!(lb["VpcId"], vpc.as_str());
    assert_eq!(lb["Scheme"], "internet-facing");
    assert_eq!(lb["Type"], "application");
    assert_eq!(lb["State"]["Code"], "provisioning");
    assert_eq!(lb["CanonicalHostedZoneId"], "Z35SXDOTRQ7X7K");
    assert_eq!(lb["AvailabilityZones"].as_array().unwrap().len(), 2);
    assert_eq!(
        lb["SecurityGroups"].as_array().unwrap().len(),
        1,
        "the VPC's default group"
    );
    let dns = lb["DNSName"].as_str().unwrap();
    assert!(
        dns.starts_with("web-") && dns.ends_with(".us-east-1.elb.localhost"),
        "{dns}"
    );
    assert!(
        arn.starts_with(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/"
        ),
        "{arn}"
    );
    // Asked again the same: the same load balancer; otherwise a duplicate.
    let again = f.ok(&format!(
        "Action=CreateLoadBalancer&Name=web&Subnets.member.1={}&Subnets.member.2={}",
        subnets[1], subnets[0]
    ));
    assert_eq!(again["LoadBalancers"][0]["LoadBalancerArn"], arn.as_str());
    f.fails(&format!("Action=CreateLoadBalancer&Name=web&Scheme=internal&Subnets.member.1={}&Subnets.member.2={}", subnets[0], subnets[1]), "DuplicateLoadBalancerName");
    f.ok(&format!("Action=ModifyLoadBalancerAttributes&LoadBalancerArn={}&Attributes.member.1.Key=deletion_protection.enabled&Attributes.member.1.Value=true", enc(&arn)));
    f.fails(
        &format!("Action=DeleteLoadBalancer&LoadBalancerArn={}", enc(&arn)),
        "OperationNotPermitted",
    );
    f.ok(&format!("Action=ModifyLoadBalancerAttributes&LoadBalancerArn={}&Attributes.member.1.Key=deletion_protection.enabled&Attributes.member.1.Value=false", enc(&arn)));
    f.ok(&format!(
        "Action=DeleteLoadBalancer&LoadBalancerArn={}",
        enc(&arn)
    ));
    f.fails(
        &format!(
            "Action=DescribeLoadBalancers&LoadBalancerArns.member.1={}",
            enc(&arn)
        ),
        "LoadBalancerNotFound",
    );
    // Deleting what is gone succeeds, as on AWS.
    f.ok(&format!(
        "Action=DeleteLoadBalancer&LoadBalancerArn={}",
        enc(&arn)
    ));
}

#[test]
fn bad_load_balancers_are_refused_with_elb_codes() {
    let f = fixture();
    let (_, s) = f.network();
    let two = format!("Subnets.member.1={}&Subnets.member.2={}", s[0], s[1]);
    for (form, code) in [
        ("Action=CreateLoadBalancer".to_string(), "ValidationError"),
        (format!("Action=CreateLoadBalancer&Name=bad_name&{two}"), "ValidationError"),
        (format!("Action=CreateLoadBalancer&Name=internal-x&{two}"), "ValidationError"),
        (format!("Action=CreateLoadBalancer&Name=n&Type=network&{two}"), "InvalidConfigurationRequest"),
        (format!("Action=CreateLoadBalancer&Name=n&Type=bogus&{two}"), "ValidationError"),
        (format!("Action=CreateLoadBalancer&Name=n&IpAddressType=dualstack&{two}"), "InvalidConfigurationRequest"),
        (format!("Action=CreateLoadBalancer&Name=n&Subnets.member.1={}", s[0]), "InvalidConfigurationRequest"),
        ("Action=CreateLoadBalancer&Name=n&Subnets.member.1=subnet-nope&Subnets.member.2=subnet-nada".to_string(), "SubnetNotFound"),
        (format!("Action=CreateLoadBalancer&Name=n&{two}&SecurityGroups.member.1=sg-nope"), "InvalidSecurityGroup"),
        (format!("Action=CreateLoadBalancer&Name=n&{two}&Colour=red"), "UnknownParameter"),
        (format!("Action=CreateLoadBalancer&Name=n&{two}&Tags.member.1.Key=a&Tags.member.2.Key=a"), "DuplicateTagKeys"),
        ("Action=DeleteLoadBalancer&LoadBalancerArn=nope".to_string(), "ValidationError"),
        ("Action=DescribeLoadBalancers&Names.member.1=ghost".to_string(), "LoadBalancerNotFound"),
        ("Action=DescribeLoadBalancers&PageSize=401".to_string(), "ValidationError"),
    ] {
        f.fails(&form, code);
    }
}

#[test]
fn listeners_rules_and_priorities() {
    let f = fixture();
    let lb = f.lb("web");
    let blue = f.tg("blue", "ip");
    let green = f.tg("green", "ip");
    let l = f.listener(&lb, 80, &blue);
    f.fails(&format!("Action=CreateListener&LoadBalancerArn={}&Protocol=HTTP&Port=80&DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn={}", enc(&lb), enc(&blue)), "DuplicateListener");
    f.fails(&format!("Action=CreateListener&LoadBalancerArn={}&Protocol=HTTPS&Port=443&DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn={}", enc(&lb), enc(&blue)), "UnsupportedProtocol");
    let rule = |priority: u32, path: &str| {
        format!(
            "Action=CreateRule&ListenerArn={}&Priority={priority}&Conditions.member.1.Field=path-pattern&Conditions.member.1.PathPatternConfig.Values.member.1={}\
             &Actions.member.1.Type=forward&Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn={}&Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight=80\
             &Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn={}&Actions.member.1.ForwardConfig.TargetGroups.member.2.Weight=20",
            enc(&l), enc(path), enc(&blue), enc(&green)
        )
    };
    let r1 = f.ok(&rule(10, "/api/*"))["Rules"][0].clone();
    assert_eq!(r1["Priority"], "10");
    assert_eq!(r1["Conditions"][0]["Values"][0], "/api/*");
    assert_eq!(
        r1["Actions"][0]["ForwardConfig"]["TargetGroups"][1]["Weight"],
        20
    );
    f.fails(&rule(10, "/x"), "PriorityInUse");
    let r2 = f.ok(&rule(20, "/img/*"))["Rules"][0]["RuleArn"]
        .as_str()
        .unwrap()
        .to_string();
    let r1_arn = r1["RuleArn"].as_str().unwrap().to_string();
    let rules = f.ok(&format!("Action=DescribeRules&ListenerArn={}", enc(&l)));
    let priorities: Vec<&str> = rules["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Priority"].as_str().unwrap())
        .collect();
    assert_eq!(priorities, ["10", "20", "default"]);
    assert_eq!(rules["Rules"][2]["IsDefault"], true);
    let default_arn = rules["Rules"][2]["RuleArn"].as_str().unwrap().to_string();
    // Swapping two priorities in one call is no conflict; taking a used one is.
    f.ok(&format!("Action=SetRulePriorities&RulePriorities.member.1.RuleArn={}&RulePriorities.member.1.Priority=20&RulePriorities.member.2.RuleArn={}&RulePriorities.member.2.Priority=10", enc(&r1_arn), enc(&r2)));
    f.fails(&format!("Action=SetRulePriorities&RulePriorities.member.1.RuleArn={}&RulePriorities.member.1.Priority=10", enc(&r1_arn)), "PriorityInUse");
    f.fails(&format!("Action=SetRulePriorities&RulePriorities.member.1.RuleArn={}&RulePriorities.member.1.Priority=5", enc(&default_arn)), "OperationNotPermitted");
    f.fails(
        &format!("Action=DeleteRule&RuleArn={}", enc(&default_arn)),
        "OperationNotPermitted",
    );
    // Both groups are now used by this load balancer.
    let tgs = f.ok(&format!(
        "Action=DescribeTargetGroups&LoadBalancerArn={}",
        enc(&lb)
    ));
    assert_eq!(tgs["TargetGroups"].as_array().unwrap().len(), 2);
    assert_eq!(tgs["TargetGroups"][0]["LoadBalancerArns"][0], lb.as_str());
    f.fails(
        &format!("Action=DeleteTargetGroup&TargetGroupArn={}", enc(&green)),
        "ResourceInUse",
    );
    // A group used by one load balancer cannot serve another.
    let other = f.lb("other");
    f.fails(&format!("Action=CreateListener&LoadBalancerArn={}&Protocol=HTTP&Port=80&DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn={}", enc(&other), enc(&green)), "TargetGroupAssociationLimit");
    // ModifyRule: a fixed response instead; green is free again once both rules go.
    f.ok(&format!("Action=ModifyRule&RuleArn={}&Actions.member.1.Type=fixed-response&Actions.member.1.FixedResponseConfig.StatusCode=503", enc(&r1_arn)));
    f.ok(&format!("Action=DeleteRule&RuleArn={}", enc(&r2)));
    f.ok(&format!(
        "Action=DeleteTargetGroup&TargetGroupArn={}",
        enc(&green)
    ));
    f.ok(&format!("Action=DeleteListener&ListenerArn={}", enc(&l)));
    f.fails(
        &format!("Action=DescribeRules&RuleArns.member.1={}", enc(&r1_arn)),
        "RuleNotFound",
    );
    f.fails(
        &format!("Action=DeleteListener&ListenerArn={}", enc(&l)),
        "ListenerNotFound",
    );
    f.ok(&format!(
        "Action=DeleteTargetGroup&TargetGroupArn={}",
        enc(&blue)
    ));
}

#[test]
fn target_health_follows_registration_use_and_time() {
    let f = fixture();
    let lb = f.lb("web");
    let tg = f.tg("ips", "ip");
    f.ok(&format!("Action=RegisterTargets&TargetGroupArn={}&Targets.member.1.Id=172.31.0.10&Targets.member.2.Id=10.0.0.9&Targets.member.2.Port=8080", enc(&tg)));
    f.fails(
        &format!(
            "Action=RegisterTargets&TargetGroupArn={}&Targets.member.1.Id=8.8.8.8",
            enc(&tg)
        ),
        "InvalidTarget",
    );
    f.fails(
        &format!(
            "Action=RegisterTargets&TargetGroupArn={}&Targets.member.1.Id=i-0abc",
            enc(&tg)
        ),
        "InvalidTarget",
    );
    let unused = Some("Target.NotInUse".to_string());
    assert_eq!(
        f.health(&tg),
        [
            ("10.0.0.9".into(), "unused".into(), unused.clone()),
            ("172.31.0.10".into(), "unused".into(), unused),
        ]
    );
    f.listener(&lb, 80, &tg);
    let initial = Some("Elb.RegistrationInProgress".to_string());
    assert_eq!(
        f.health(&tg)[0],
        ("10.0.0.9".into(), "initial".into(), initial)
    );
    let now = berth_awsproto::now();
    let target = Target {
        id: "172.31.0.10".into(),
        port: 80,
    };
    let (set, _) = f
        .elb
        .store()
        .write(|w| set_target_health_in(w, &f.ctx, &tg, &target, TargetHealth::healthy(), now))
        .unwrap();
    assert!(set);
    let rev = f.elb.store().revision();
    f.elb
        .store()
        .write(|w| set_target_health_in(w, &f.ctx, &tg, &target, TargetHealth::healthy(), now))
        .unwrap();
    assert_eq!(
        f.elb.store().revision(),
        rev,
        "the same health writes nothing"
    );
    assert_eq!(
        f.health(&tg)[1],
        ("172.31.0.10".into(), "healthy".into(), None)
    );
    // A named target that is not registered.
    let named = f.ok(&format!(
        "Action=DescribeTargetHealth&TargetGroupArn={}&Targets.member.1.Id=10.9.9.9",
        enc(&tg)
    ));
    assert_eq!(
        named["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"],
        "Target.NotRegistered"
    );
    assert_eq!(
        named["TargetHealthDescriptions"][0]["HealthCheckPort"],
        "80"
    );
    // Deregistered: draining until the delay has passed, then gone.
    f.ok(&format!(
        "Action=DeregisterTargets&TargetGroupArn={}&Targets.member.1.Id=172.31.0.10",
        enc(&tg)
    ));
    f.fails(
        &format!(
            "Action=DeregisterTargets&TargetGroupArn={}&Targets.member.1.Id=172.31.0.99",
            enc(&tg)
        ),
        "InvalidTarget",
    );
    let draining = Some("Target.DeregistrationInProgress".to_string());
    assert_eq!(
        f.health(&tg)[1],
        ("172.31.0.10".into(), "draining".into(), draining)
    );
    let plan = f
        .elb
        .store()
        .read(|r| load_balancer_plan_in(r, &f.ctx, &lb, now + 1.0))
        .unwrap();
    let targets = &plan.target_groups[0].targets;
    assert_eq!(
        targets
            .iter()
            .map(|t| (t.id.as_str(), t.draining()))
            .collect::<Vec<_>>(),
        [("10.0.0.9", false), ("172.31.0.10", true)]
    );
    let later = f
        .elb
        .store()
        .read(|r| load_balancer_plan_in(r, &f.ctx, &lb, now + 301.0))
        .unwrap();
    assert_eq!(
        later.target_groups[0].targets.len(),
        1,
        "gone after the 300 s delay"
    );
    assert_eq!(f.elb.sweep(now + 10.0).unwrap(), 0);
    assert_eq!(f.elb.sweep(now + 301.0).unwrap(), 1);
    assert_eq!(f.health(&tg).len(), 1);
    // With no delay, a deregistered target is gone at once.
    f.ok(&format!("Action=ModifyTargetGroupAttributes&TargetGroupArn={}&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=0", enc(&tg)));
    f.ok(&format!("Action=DeregisterTargets&TargetGroupArn={}&Targets.member.1.Id=10.0.0.9&Targets.member.1.Port=8080", enc(&tg)));
    assert!(f.health(&tg).is_empty());
}

#[test]
fn instance_targets_resolve_to_their_address() {
    let f = fixture();
    let (vpc, subnets) = f.network();
    let inst = Instance {
        instance_id: "i-0123456789abcdef0".into(),
        private_ip: Ipv4Addr::new(172, 31, 1, 5),
        subnet_id: subnets[0].clone(),
        vpc_id: vpc,
        state: InstanceState::Running,
    };
    f.elb
        .store()
        .write(|w| put_instance_in(w, &f.ctx, &inst))
        .unwrap();
    let lb = f.lb("web");
    let tg = f.tg("hosts", "instance");
    f.listener(&lb, 8080, &tg);
    f.ok(&format!("Action=RegisterTargets&TargetGroupArn={}&Targets.member.1.Id=i-0123456789abcdef0&Targets.member.1.Port=32768", enc(&tg)));
    f.fails(
        &format!(
            "Action=RegisterTargets&TargetGroupArn={}&Targets.member.1.Id=i-unknown",
            enc(&tg)
        ),
        "InvalidTarget",
    );
    f.fails(
        &format!(
            "Action=RegisterTargets&TargetGroupArn={}&Targets.member.1.Id=10.0.0.1",
            enc(&tg)
        ),
        "InvalidTarget",
    );
    let plan = f
        .elb
        .store()
        .read(|r| load_balancer_plan_in(r, &f.ctx, &lb, berth_awsproto::now()))
        .unwrap();
    let t = &plan.target_groups[0].targets[0];
    assert_eq!(
        (t.address, t.port),
        (Some(Ipv4Addr::new(172, 31, 1, 5)), 32768)
    );
    assert_eq!(t.health.state, TargetHealthState::Initial);
    let stopped = Instance {
        state: InstanceState::Stopped,
        ..inst
    };
    f.elb
        .store()
        .write(|w| put_instance_in(w, &f.ctx, &stopped))
        .unwrap();
    assert_eq!(
        f.health(&tg)[0].2.as_deref(),
        Some(TargetHealthReason::InvalidState.as_str())
    );
}

#[test]
fn the_plan_holds_what_the_data_plane_needs() {
    let f = fixture();
    let lb = f.lb("web");
    let tg = f.tg("app", "ip");
    let l = f.listener(&lb, 80, &tg);
    f.ok(&format!(
        "Action=CreateRule&ListenerArn={}&Priority=5&Conditions.member.1.Field=host-header&Conditions.member.1.Values.member.1=api.example.com\
         &Conditions.member.2.Field=http-header&Conditions.member.2.HttpHeaderConfig.HttpHeaderName=X-Env&Conditions.member.2.HttpHeaderConfig.Values.member.1=blue\
         &Conditions.member.3.Field=query-string&Conditions.member.3.QueryStringConfig.Values.member.1.Key=v&Conditions.member.3.QueryStringConfig.Values.member.1.Value=2\
         &Actions.member.1.Type=redirect&Actions.member.1.RedirectConfig.Path=%2Fv2&Actions.member.1.RedirectConfig.StatusCode=HTTP_302",
        enc(&l)
    ));
    f.ok(&format!("Action=ModifyTargetGroup&TargetGroupArn={}&HealthCheckPath=%2Fhealth&Matcher.HttpCode=200-299&HealthCheckIntervalSeconds=10", enc(&tg)));
    let now = berth_awsproto::now();
    let (all, _) = f
        .elb
        .store()
        .write(|w| {
            set_load_balancer_state_in(w, &f.ctx, &lb, LoadBalancerStateCode::Active, None)?;
            all_load_balancers(w)
        })
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].load_balancer_arn, lb);
    assert_eq!(all[0].context(), f.ctx);
    let plan = f
        .elb
        .store()
        .read(|r| load_balancer_plan_in(r, &all[0].context(), &lb, now))
        .unwrap();
    assert_eq!(plan.state, LoadBalancerStateCode::Active);
    assert_eq!(plan.address, all[0].address);
    assert_eq!(plan.address.octets()[..2], [127, 77]);
    assert_eq!(plan.idle_timeout_seconds, 60);
    let rules = &plan.listeners[0].rules;
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].priority, Some(5));
    assert_eq!(
        rules[0].conditions[0],
        ConditionPlan::HostHeader {
            values: vec!["api.example.com".into()]
        }
    );
    assert_eq!(
        rules[0].conditions[1],
        ConditionPlan::HttpHeader {
            name: "X-Env".into(),
            values: vec!["blue".into()]
        }
    );
    assert_eq!(
        rules[0].conditions[2],
        ConditionPlan::QueryString {
            values: vec![QueryPair {
                key: Some("v".into()),
                value: "2".into()
            }]
        }
    );
    assert_eq!(
        rules[0].action,
        ActionPlan::Redirect {
            protocol: "#{protocol}".into(),
            port: "#{port}".into(),
            host: "#{host}".into(),
            path: "/v2".into(),
            query: "#{query}".into(),
            status_code: 302,
        }
    );
    assert_eq!(rules[1].priority, None);
    assert_eq!(
        rules[1].action,
        ActionPlan::Forward {
            target_groups: vec![WeightedGroup {
                target_group_arn: tg.clone(),
                weight: 1
            }],
            stickiness_seconds: None
        }
    );
    let hc = &plan.target_groups[0].health_check;
    assert_eq!(
        (
            hc.path.as_str(),
            hc.interval_seconds,
            hc.matcher.clone(),
            hc.port
        ),
        ("/health", 10, vec![(200, 299)], None)
    );
    assert_eq!(
        plan.target_groups[0]
            .attributes
            .deregistration_delay_seconds,
        300
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["listeners"][0]["rules"][0]["action"]["type"],
        "redirect"
    );
    // The DescribeLoadBalancers state follows.
    let out = f.ok(&format!(
        "Action=DescribeLoadBalancers&LoadBalancerArns.member.1={}",
        enc(&lb)
    ));
    assert_eq!(out["LoadBalancers"][0]["State"]["Code"], "active");
}

#[test]
fn tags_and_pages() {
    let f = fixture();
    let lb = f.lb("web");
    let tg = f.tg("tg", "ip");
    f.ok(&format!("Action=AddTags&ResourceArns.member.1={}&ResourceArns.member.2={}&Tags.member.1.Key=team&Tags.member.1.Value=blue", enc(&lb), enc(&tg)));
    f.ok(&format!(
        "Action=RemoveTags&ResourceArns.member.1={}&TagKeys.member.1=team",
        enc(&tg)
    ));
    let out = f.ok(&format!(
        "Action=DescribeTags&ResourceArns.member.1={}&ResourceArns.member.2={}",
        enc(&lb),
        enc(&tg)
    ));
    assert_eq!(out["TagDescriptions"][0]["Tags"][0]["Key"], "team");
    assert_eq!(
        out["TagDescriptions"][1]["Tags"].as_array().unwrap().len(),
        0
    );
    let ghost = tg.replace("targetgroup/tg/", "targetgroup/tg/0");
    f.fails(
        &format!(
            "Action=AddTags&ResourceArns.member.1={}&Tags.member.1.Key=a",
            enc(&ghost)
        ),
        "TargetGroupNotFound",
    );
    for n in 0..4 {
        f.tg(&format!("g{n}"), "ip");
    }
    let p1 = f.ok("Action=DescribeTargetGroups&PageSize=2");
    assert_eq!(p1["TargetGroups"].as_array().unwrap().len(), 2);
    let marker = p1["NextMarker"].as_str().unwrap();
    let p2 = f.ok(&format!(
        "Action=DescribeTargetGroups&PageSize=2&Marker={marker}"
    ));
    let p3 = f.ok(&format!(
        "Action=DescribeTargetGroups&PageSize=2&Marker={}",
        p2["NextMarker"].as_str().unwrap()
    ));
    assert_eq!(p3["TargetGroups"].as_array().unwrap().len(), 1);
    assert!(p3.get("NextMarker").is_none());
}

#[test]
fn a_load_balancer_has_interfaces_in_its_groups_at_its_sources() {
    let f = fixture();
    let doc: berth_ec2::NetworkImport = serde_json::from_value(serde_json::json!({
        "vpcs": [{
            "vpcId": "vpc-0a1b0000000000001", "cidrBlock": "10.9.0.0/16",
            "subnets": [
                {"subnetId": "subnet-0a1b0000000000001", "cidrBlock": "10.9.0.0/24", "availabilityZone": "us-east-1a"},
                {"subnetId": "subnet-0a1b0000000000002", "cidrBlock": "10.9.1.0/24", "availabilityZone": "us-east-1b"}
            ],
            "securityGroups": [
                {"groupId": "sg-0a1b0000000000001", "groupName": "alb", "description": "alb"},
                {"groupId": "sg-0a1b0000000000002", "groupName": "alb2", "description": "alb2"}
            ]
        }]
    }))
    .unwrap();
    let store = f.elb.store().clone();
    store
        .write(|w| berth_ec2::import_in(w, &f.ctx, &doc))
        .unwrap();
    let out = f.ok("Action=CreateLoadBalancer&Name=web&Subnets.member.1=subnet-0a1b0000000000001&Subnets.member.2=subnet-0a1b0000000000002&SecurityGroups.member.1=sg-0a1b0000000000001");
    let lb = out["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let members = |g: &str| store.read(|r| berth_ec2::members_in(r, &f.ctx, g)).unwrap();
    let sources = |ips: &[[u8; 4]]| -> std::collections::BTreeSet<Ipv4Addr> {
        ips.iter().map(|o| Ipv4Addr::from(*o)).collect()
    };
    let set = |ips: &[[u8; 4]]| {
        let s = sources(ips);
        store
            .write(|w| set_load_balancer_sources_in(w, &f.ctx, &lb, &s))
            .unwrap()
    };
    set(&[[10, 213, 0, 1], [10, 214, 0, 1]]);
    assert_eq!(
        members("sg-0a1b0000000000001"),
        sources(&[[10, 213, 0, 1], [10, 214, 0, 1]])
    );
    // The same sources again write nothing.
    let before = store.revision();
    set(&[[10, 214, 0, 1], [10, 213, 0, 1]]);
    assert_eq!(store.revision(), before);
    // One source gone: its interface with it.
    set(&[[10, 214, 0, 1]]);
    assert_eq!(members("sg-0a1b0000000000001"), sources(&[[10, 214, 0, 1]]));
    let rec = store
        .read(|r| crate::common::load_balancer(r, &f.ctx, &lb))
        .unwrap();
    let eni = store
        .read(|r| {
            berth_ec2::network_interface_in(r, &f.ctx, &rec.interfaces[0].network_interface_id)
        })
        .unwrap()
        .unwrap();
    let id = lb.rsplit('/').next().unwrap();
    assert_eq!(eni.description, format!("ELB app/web/{id}"));
    assert_eq!(eni.subnet_id, "subnet-0a1b0000000000001");
    // New groups: the interfaces move to them.
    f.ok(&format!(
        "Action=SetSecurityGroups&LoadBalancerArn={}&SecurityGroups.member.1=sg-0a1b0000000000002",
        enc(&lb)
    ));
    assert!(members("sg-0a1b0000000000001").is_empty());
    assert_eq!(members("sg-0a1b0000000000002"), sources(&[[10, 214, 0, 1]]));
    // Deleted: no interface is left.
    f.ok(&format!(
        "Action=DeleteLoadBalancer&LoadBalancerArn={}",
        enc(&lb)
    ));
    assert!(members("sg-0a1b0000000000002").is_empty());
    let eni = &rec.interfaces[0].network_interface_id;
    assert!(store
        .read(|r| berth_ec2::network_interface_in(r, &f.ctx, eni))
        .unwrap()
        .is_none());
}

#[test]
fn listeners_admit_the_clients_the_load_balancers_groups_admit() {
    let f = fixture();
    let doc: berth_ec2::NetworkImport = serde_json::from_value(serde_json::json!({
        "vpcs": [{
            "vpcId": "vpc-0c1e00000000000a1", "cidrBlock": "10.8.0.0/16",
            "subnets": [
                {"subnetId": "subnet-0c1e00000000000a1", "cidrBlock": "10.8.0.0/24", "availabilityZone": "us-east-1a"},
                {"subnetId": "subnet-0c1e00000000000a2", "cidrBlock": "10.8.1.0/24", "availabilityZone": "us-east-1b"}
            ],
            "securityGroups": [
                {"groupId": "sg-0c1e00000000000a1", "groupName": "alb", "description": "alb",
                 "ingress": [{"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIp": "10.1.0.0/16"},
                             {"ipProtocol": "tcp", "fromPort": 8080, "toPort": 8090, "sourceGroup": "sg-0c1e00000000000a2"},
                             {"ipProtocol": "udp", "fromPort": 0, "toPort": 65535, "cidrIp": "0.0.0.0/0"}]},
                {"groupId": "sg-0c1e00000000000a2", "groupName": "clients", "description": "clients"}
            ]
        }]
    }))
    .unwrap();
    let store = f.elb.store().clone();
    store
        .write(|w| {
            berth_ec2::import_in(w, &f.ctx, &doc)?;
            let eni = berth_ec2::create_network_interface_in(
                w,
                &f.ctx,
                "subnet-0c1e00000000000a1",
                &["sg-0c1e00000000000a2".into()],
                "a client",
            )?;
            let ip = Some(Ipv4Addr::new(10, 8, 0, 9));
            berth_ec2::set_interface_address_in(w, &f.ctx, &eni.network_interface_id, ip)
        })
        .unwrap();
    let out = f.ok("Action=CreateLoadBalancer&Name=web&Subnets.member.1=subnet-0c1e00000000000a1&Subnets.member.2=subnet-0c1e00000000000a2&SecurityGroups.member.1=sg-0c1e00000000000a1");
    let lb = out["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let tg = f.ok("Action=CreateTargetGroup&Name=web&Protocol=HTTP&Port=80&VpcId=vpc-0c1e00000000000a1&TargetType=ip")["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string();
    for port in [80, 8085, 9000] {
        f.listener(&lb, port, &tg);
    }
    let plan = store
        .read(|r| load_balancer_plan_in(r, &f.ctx, &lb, 0.0))
        .unwrap();
    let clients: Vec<(u16, Vec<String>)> = (plan.listeners.iter())
        .map(|l| (l.port, l.clients.iter().cloned().collect()))
        .collect();
    assert_eq!(
        clients,
        vec![
            (80, vec!["10.1.0.0/16".to_string()]),
            (8085, vec!["10.8.0.9/32".to_string()]),
            (9000, vec![]),
        ]
    );
}
