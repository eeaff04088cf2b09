//! Input validation per the botocore model's constraints (lengths, patterns, enums),
//! reported as `InvalidInput` naming the member.

use std::collections::BTreeMap;

use berth_awsproto::ApiError;

use crate::{invalid, ServiceRec};

/// The most tags a resource can have.
pub const MAX_TAGS: usize = 50;

/// A required member.
pub fn required<T>(field: &str, v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(|| {
        invalid(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn constraint(field: &str, value: &str, what: &str) -> ApiError {
    invalid(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {what}"
    ))
}

/// At most `max` characters.
pub fn max_len(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.chars().count() > max {
        return Err(constraint(
            field,
            v,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// Between `min` and `max` characters.
pub fn len_between(field: &str, v: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = v.chars().count();
    if n < min {
        return Err(constraint(
            field,
            v,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    max_len(field, v, max)
}

/// One of `allowed`.
pub fn one_of(field: &str, v: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if !allowed.contains(&v) {
        return Err(constraint(
            field,
            v,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// An integer in `min..=max`.
pub fn range(field: &str, v: i64, min: i64, max: i64) -> Result<(), ApiError> {
    if v < min || v > max {
        let what = if v < min {
            format!("Member must have value greater than or equal to {min}")
        } else {
            format!("Member must have value less than or equal to {max}")
        };
        return Err(constraint(field, &v.to_string(), &what));
    }
    Ok(())
}

fn printable(c: char) -> bool {
    ('!'..='~').contains(&c)
}

/// `^[!-~]{1,max}$` and, when `no_arn`, not starting with `arn:`.
fn printable_name(field: &str, v: &str, max: usize, no_arn: bool) -> Result<(), ApiError> {
    let n = v.chars().count();
    if n == 0 || n > max || !v.chars().all(printable) || (no_arn && v.starts_with("arn:")) {
        let pattern = if no_arn {
            format!("^(?!arn:)[!-~]{{1,{max}}}$")
        } else {
            format!("^[!-~]{{1,{max}}}$")
        };
        return Err(constraint(
            field,
            v,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ));
    }
    Ok(())
}

/// `NamespaceNameHttp`.
pub fn namespace_name_http(v: &str) -> Result<(), ApiError> {
    printable_name("Name", v, 1024, true)
}

/// `NamespaceNamePrivate`.
pub fn namespace_name_private(v: &str) -> Result<(), ApiError> {
    printable_name("Name", v, 253, true)
}

/// `NamespaceName` (DiscoverInstances' `NamespaceName`).
pub fn namespace_name(field: &str, v: &str) -> Result<(), ApiError> {
    printable_name(field, v, 1024, false)
}

/// One DNS label: `[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?`.
fn dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `NamespaceNamePublic`: at least two DNS labels, at most 253 characters.
pub fn namespace_name_public(v: &str) -> Result<(), ApiError> {
    let labels: Vec<&str> = v.split('.').collect();
    if v.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| dns_label(l)) {
        return Err(constraint(
            "Name",
            v,
            "Member must satisfy regular expression pattern: ^([a-zA-Z0-9]([a-zA-Z0-9\\-]{0,61}[a-zA-Z0-9])?\\.)+[a-zA-Z0-9]([a-zA-Z0-9\\-]{0,61}[a-zA-Z0-9])?$",
        ));
    }
    Ok(())
}

/// One service name label: `[a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]`.
fn service_label(l: &str) -> bool {
    let b = l.as_bytes();
    match b.len() {
        0 => false,
        1 => b[0].is_ascii_alphanumeric(),
        n if n <= 63 => {
            let inner = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-';
            let edge = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
            edge(&b[0]) && edge(&b[n - 1]) && b.iter().all(inner)
        }
        _ => false,
    }
}

/// `ServiceName` (the member is named by `field`).
pub fn service_name_field(field: &str, v: &str) -> Result<(), ApiError> {
    let ok = v == "." || (!v.is_empty() && v.len() <= 127 && v.split('.').all(service_label));
    if !ok {
        return Err(constraint(
            field,
            v,
            "Member must satisfy regular expression pattern: ((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\\.$)",
        ));
    }
    Ok(())
}

/// `ServiceName` in `Name`.
pub fn service_name(v: &str) -> Result<(), ApiError> {
    service_name_field("Name", v)
}

/// `InstanceId`: `^[0-9a-zA-Z_/:.@-]+$`, at most 64.
pub fn instance_id(v: &str) -> Result<(), ApiError> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_/:.@-".contains(&c));
    if !ok {
        return Err(constraint(
            "InstanceId",
            v,
            "Member must satisfy regular expression pattern: ^[0-9a-zA-Z_/:.@-]+$ and have length less than or equal to 64",
        ));
    }
    Ok(())
}

/// Tag keys and values per `Tag`, and at most 200 in the list.
pub fn tags(tags: &[(String, String)]) -> Result<(), ApiError> {
    if tags.len() > 200 {
        return Err(invalid(
            "1 validation error detected: Value at 'Tags' failed to satisfy constraint: Member must have length less than or equal to 200",
        ));
    }
    for (k, v) in tags {
        len_between("Tags.member.Key", k, 1, 128)?;
        max_len("Tags.member.Value", v, 256)?;
        if k.starts_with("aws:") {
            return Err(invalid(format!(
                "Tag key {k} is invalid: the prefix aws: is reserved for AWS use"
            )));
        }
    }
    Ok(())
}

/// `TooManyTagsException` when a resource would have more than 50 tags.
pub fn tag_count(resource: &str, n: usize) -> Result<(), ApiError> {
    if n > MAX_TAGS {
        return Err(ApiError::new(
            400,
            "TooManyTagsException",
            format!("A resource can have at most {MAX_TAGS} tags; {resource} would have {n}"),
        )
        .with("ResourceName", resource.to_string()));
    }
    Ok(())
}

fn attr_key_ok(k: &str) -> bool {
    !k.is_empty() && k.len() <= 255 && k.chars().all(printable)
}

/// `^([a-zA-Z0-9!-~][ \ta-zA-Z0-9!-~]*){0,1}[a-zA-Z0-9!-~]{0,1}$`, at most 1024: printable
/// ASCII, inner spaces and tabs, no leading or trailing blank.
fn attr_value_ok(v: &str) -> bool {
    v.len() <= 1024
        && v.chars().all(|c| printable(c) || c == ' ' || c == '\t')
        && !v.starts_with([' ', '\t'])
        && !v.ends_with([' ', '\t'])
}

fn is_ipv4(v: &str) -> bool {
    v.parse::<std::net::Ipv4Addr>().is_ok()
}

fn is_ipv6(v: &str) -> bool {
    v.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Instance attributes per `Attributes` and the `AWS_*` attribute rules.
pub fn instance_attributes(
    svc: &ServiceRec,
    attrs: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let mut total = 0usize;
    let mut custom = 0usize;
    for (k, v) in attrs {
        if !attr_key_ok(k) {
            return Err(constraint(
                "Attributes",
                k,
                "Map keys must satisfy constraint: [Member must have length less than or equal to 255, Member must satisfy regular expression pattern: ^[a-zA-Z0-9!-~]+$]",
            ));
        }
        if !attr_value_ok(v) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{v}' at 'Attributes.{k}' failed to satisfy constraint: Member must have length less than or equal to 1024 and satisfy regular expression pattern: ^([a-zA-Z0-9!-~][ \\ta-zA-Z0-9!-~]*){{0,1}}[a-zA-Z0-9!-~]{{0,1}}$"
            )));
        }
        total += k.len() + v.len();
        if !k.starts_with("AWS_") {
            custom += 1;
        }
    }
    if custom > 30 {
        return Err(invalid(format!(
            "Attributes: at most 30 custom attributes are allowed, got {custom}"
        )));
    }
    if total > 5000 {
        return Err(invalid(format!(
            "Attributes: the total size of all keys and values must not exceed 5000 characters, got {total}"
        )));
    }
    let get = |k: &str| attrs.get(k).map(String::as_str);
    if let Some(ip) = get("AWS_INSTANCE_IPV4") {
        if !is_ipv4(ip) {
            return Err(invalid(format!(
                "AWS_INSTANCE_IPV4 value '{ip}' is not a valid IPv4 address"
            )));
        }
    }
    if let Some(ip) = get("AWS_INSTANCE_IPV6") {
        if !is_ipv6(ip) {
            return Err(invalid(format!(
                "AWS_INSTANCE_IPV6 value '{ip}' is not a valid IPv6 address"
            )));
        }
    }
    if let Some(port) = get("AWS_INSTANCE_PORT") {
        let ok = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().map(|p| p <= 65535).unwrap_or(false);
        if !ok {
            return Err(invalid(format!(
                "AWS_INSTANCE_PORT value '{port}' is not a valid port (0-65535)"
            )));
        }
    }
    if let Some(h) = get("AWS_INIT_HEALTH_STATUS") {
        one_of(
            "Attributes.AWS_INIT_HEALTH_STATUS",
            h,
            &["HEALTHY", "UNHEALTHY"],
        )?;
    }
    if get("AWS_ALIAS_DNS_NAME").is_some() && attrs.keys().any(|k| k.starts_with("AWS_INSTANCE_")) {
        return Err(invalid(
            "AWS_ALIAS_DNS_NAME can't be specified together with AWS_INSTANCE_* attributes",
        ));
    }
    // What the service's DNS records need.
    if let Some(records) = svc
        .dns_config
        .as_ref()
        .and_then(|d| d.get("DnsRecords"))
        .and_then(|r| r.as_array())
    {
        let alias = get("AWS_ALIAS_DNS_NAME").is_some();
        for r in records {
            match r.get("Type").and_then(|t| t.as_str()) {
                Some("A") if !alias && get("AWS_INSTANCE_IPV4").is_none() => {
                    return Err(invalid(
                        "AWS_INSTANCE_IPV4 is required: the service has an A record",
                    ))
                }
                Some("AAAA") if !alias && get("AWS_INSTANCE_IPV6").is_none() => {
                    return Err(invalid(
                        "AWS_INSTANCE_IPV6 is required: the service has an AAAA record",
                    ))
                }
                Some("CNAME") if get("AWS_INSTANCE_CNAME").is_none() => {
                    return Err(invalid(
                        "AWS_INSTANCE_CNAME is required: the service has a CNAME record",
                    ))
                }
                Some("SRV") if get("AWS_INSTANCE_PORT").is_none() => {
                    return Err(invalid(
                        "AWS_INSTANCE_PORT is required: the service has an SRV record",
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for ok in ["a", "nginx", "my-svc", "_http._tcp", "a.b", ".", "x_1"] {
            assert!(service_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            "a b",
            &"x".repeat(64),
            &"a.".repeat(64),
        ] {
            assert!(service_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespace_names() {
        assert!(namespace_name_http("service-connect").is_ok());
        assert!(namespace_name_http("arn:x").is_err());
        assert!(namespace_name_http("a b").is_err());
        assert!(namespace_name_http("").is_err());
        assert!(namespace_name_public("example.com").is_ok());
        assert!(namespace_name_public("example").is_err());
        assert!(namespace_name_public("-a.com").is_err());
    }

    #[test]
    fn attr_values() {
        assert!(attr_value_ok(""));
        assert!(attr_value_ok("a b"));
        assert!(!attr_value_ok(" a"));
        assert!(!attr_value_ok("a "));
        assert!(!attr_value_ok("é"));
        assert!(instance_id("i-1/a:b@c.d_e").is_ok());
        assert!(instance_id("a b").is_err());
    }
}
