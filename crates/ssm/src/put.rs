//! PutParameter: a new parameter, or a new version of one (`Overwrite`). The request
//! is checked on its own first; what it leaves out is then taken from the latest
//! version (type, key, description, pattern, tier, data type), and the result is
//! checked against the value (size per tier, pattern) before anything is written.

use berth_awsproto::ApiError;
use berth_store::{Read, Writer};
use regex_lite::Regex;
use serde::{Deserialize, Serialize};

use crate::errors::{
    err, invalid, length, missing, INVALID_PATTERN, MAX_VERSIONS, PARAMETER_ALREADY_EXISTS,
    PATTERN_MISMATCH,
};
use crate::names::{check_new, parameter_arn};
use crate::records::{DataType, Keys, ParamRec, ParameterTier, ParameterType, Tag, VersionRec};
use crate::tags::{check_tags, TagIn, MAX_TAGS};
use crate::{values, Env};

/// The key a SecureString is sealed "with" when the request names none.
pub(crate) const DEFAULT_KEY_ID: &str = "alias/aws/ssm";
/// The largest value of a Standard parameter, in bytes.
const STANDARD_MAX: usize = 4096;
/// The largest value of an Advanced parameter, in bytes.
const ADVANCED_MAX: usize = 8192;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct PutIn {
    name: Option<String>,
    description: Option<String>,
    value: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<ParameterType>,
    key_id: Option<String>,
    overwrite: Option<bool>,
    allowed_pattern: Option<String>,
    tags: Option<Vec<TagIn>>,
    tier: Option<ParameterTier>,
    policies: Option<String>,
    data_type: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutOut {
    version: u64,
    tier: ParameterTier,
}

/// A request that passed the checks it can pass on its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub name: String,
    pub value: String,
    pub kind: Option<ParameterType>,
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub pattern: Option<String>,
    pub tier: Option<ParameterTier>,
    pub data_type: Option<DataType>,
    pub tags: Vec<Tag>,
    pub overwrite: bool,
}

/// The new version's attributes, the request's or else the latest version's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub kind: ParameterType,
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub pattern: Option<String>,
    pub tier: ParameterTier,
    pub data_type: DataType,
}

pub(crate) fn put(w: &mut Writer<'_>, env: &Env<'_>, i: PutIn) -> Result<PutOut, ApiError> {
    let req = check_request(env, i)?;
    let keys = Keys::new(&env.ctx.account, &env.ctx.region);
    let existing: Option<ParamRec> = w.get_json(&keys.param(&req.name))?;
    if existing.is_some() && !req.overwrite {
        return Err(err(
            PARAMETER_ALREADY_EXISTS,
            format!("The parameter {} already exists. To overwrite this value, set the overwrite option in the request to true.", req.name),
        ));
    }
    let latest = existing.as_ref().map(ParamRec::latest);
    let resolved = resolve(&req, latest)?;
    check_value(&req.value, &resolved)?;
    let mut rec = existing.unwrap_or_else(|| ParamRec {
        name: req.name.clone(),
        tags: req.tags.clone(),
        versions: Vec::new(),
    });
    make_room(&mut rec)?;
    let version = rec.versions.last().map_or(1, |v| v.version + 1);
    let tier = resolved.tier;
    rec.versions
        .push(new_version(env, &rec.name, version, req.value, resolved));
    w.put_json(&keys.param(&rec.name), &rec)?;
    Ok(PutOut { version, tier })
}

/// The checks a request passes on its own, in the order AWS makes them.
fn check_request(env: &Env<'_>, i: PutIn) -> Result<Request, ApiError> {
    let name = i.name.ok_or_else(|| missing("name"))?;
    let value = i.value.ok_or_else(|| missing("value"))?;
    check_new(env.ctx, &name)?;
    length(&value, "value", 1, usize::MAX)?;
    if let Some(d) = &i.description {
        length(d, "description", 0, 1024)?;
    }
    if let Some(k) = &i.key_id {
        check_key_id(k)?;
    }
    if let Some(p) = &i.allowed_pattern {
        length(p, "allowedPattern", 0, 1024)?;
        compile(p)?;
    }
    if i.policies.is_some() {
        return Err(invalid("Policies: berth does not apply parameter policies (expiration and notifications); put the parameter without them."));
    }
    let data_type = i.data_type.as_deref().map(data_type).transpose()?;
    let overwrite = i.overwrite.unwrap_or(false);
    let tags = check_tags(i.tags.as_deref().unwrap_or_default(), "tags")?;
    if overwrite && !tags.is_empty() {
        return Err(invalid("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource."));
    }
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!(
            "tags: a parameter has at most {MAX_TAGS} tags."
        )));
    }
    Ok(Request {
        name,
        value,
        kind: i.kind,
        key_id: i.key_id,
        description: i.description,
        pattern: i.allowed_pattern,
        tier: i.tier,
        data_type,
        tags,
        overwrite,
    })
}

fn check_key_id(k: &str) -> Result<(), ApiError> {
    length(k, "keyId", 1, 256)?;
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c))
    {
        return Ok(());
    }
    Err(crate::errors::constraint(
        Some(k),
        "keyId",
        "Member must satisfy regular expression pattern: ^([a-zA-Z0-9:/_-]+)$",
    ))
}

fn data_type(s: &str) -> Result<DataType, ApiError> {
    length(s, "dataType", 0, 128)?;
    DataType::parse(s).ok_or_else(|| {
        invalid(format!(
            "The following data type is not supported: {s} (Data type names are all lowercase.)"
        ))
    })
}

/// An `AllowedPattern`, compiled.
fn compile(p: &str) -> Result<Regex, ApiError> {
    Regex::new(p).map_err(|e| {
        err(
            INVALID_PATTERN,
            format!("The allowedPattern {p} is not a valid regular expression: {e}"),
        )
    })
}

/// The new version's attributes: each the request's, else the latest version's, else
/// the default (a type has no default: a new parameter must name one).
pub(crate) fn resolve(req: &Request, latest: Option<&VersionRec>) -> Result<Resolved, ApiError> {
    let kind = req
        .kind
        .or(latest.map(|v| v.kind))
        .ok_or_else(|| invalid("A parameter type is required when you create a parameter."))?;
    let secure = kind == ParameterType::SecureString;
    if req.key_id.is_some() && !secure {
        return Err(invalid(format!(
            "keyId: only SecureString parameters have a KMS key, and this one is {kind}."
        )));
    }
    let key_id = secure.then(|| {
        req.key_id
            .clone()
            .or(latest.and_then(|v| v.key_id.clone()))
            .unwrap_or_else(|| DEFAULT_KEY_ID.to_string())
    });
    let data_type = req
        .data_type
        .or(latest.map(|v| v.data_type))
        .unwrap_or(DataType::Text);
    if data_type == DataType::Ec2Image && kind != ParameterType::String {
        return Err(invalid(format!(
            "dataType: {data_type} is for String parameters, not {kind}."
        )));
    }
    Ok(Resolved {
        kind,
        key_id,
        description: req
            .description
            .clone()
            .or(latest.and_then(|v| v.description.clone())),
        pattern: req
            .pattern
            .clone()
            .or(latest.and_then(|v| v.allowed_pattern.clone())),
        tier: tier(req.tier, latest.map(|v| v.tier), req.value.len())?,
        data_type,
    })
}

/// The tier a version is stored in: the one asked for (else the latest version's,
/// else Standard); Intelligent-Tiering picks by size; an Advanced parameter stays
/// Advanced.
pub(crate) fn tier(
    asked: Option<ParameterTier>,
    latest: Option<ParameterTier>,
    size: usize,
) -> Result<ParameterTier, ApiError> {
    use ParameterTier::*;
    let was_advanced = latest == Some(Advanced);
    let chosen = match asked.or(latest).unwrap_or(Standard) {
        IntelligentTiering if size > STANDARD_MAX || was_advanced => Advanced,
        IntelligentTiering => Standard,
        t => t,
    };
    if chosen == Standard && was_advanced {
        return Err(invalid("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter."));
    }
    if chosen == Standard && size > STANDARD_MAX {
        return Err(invalid(format!("Standard tier parameters support a maximum parameter value of {STANDARD_MAX} characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.")));
    }
    if size > ADVANCED_MAX {
        return Err(invalid(format!("Advanced tier parameters support a maximum parameter value of {ADVANCED_MAX} characters.")));
    }
    Ok(chosen)
}

/// The value against the resolved pattern.
fn check_value(value: &str, r: &Resolved) -> Result<(), ApiError> {
    let Some(p) = &r.pattern else { return Ok(()) };
    if compile(p)?.is_match(value) {
        return Ok(());
    }
    Err(err(
        PATTERN_MISMATCH,
        format!("Parameter value, cannot be validated against allowedPattern: {p}"),
    ))
}

/// Room for one more version: at [`crate::MAX_VERSIONS`] the oldest goes, unless it
/// has a label.
fn make_room(rec: &mut ParamRec) -> Result<(), ApiError> {
    if rec.versions.len() < crate::MAX_VERSIONS {
        return Ok(());
    }
    if !rec.versions[0].labels.is_empty() {
        return Err(err(
            MAX_VERSIONS,
            format!(
                "The parameter {} has reached the maximum of {} versions, and its oldest version ({}) has labels, so it is not deleted to make room. Move its labels to another version and try again.",
                rec.name, crate::MAX_VERSIONS, rec.versions[0].version
            ),
        ));
    }
    rec.versions.remove(0);
    Ok(())
}

fn new_version(env: &Env<'_>, name: &str, version: u64, value: String, r: Resolved) -> VersionRec {
    let arn = parameter_arn(env.ctx, name);
    let secure = r.kind == ParameterType::SecureString;
    VersionRec {
        version,
        kind: r.kind,
        value: values::store(env, &arn, version, value, secure),
        key_id: r.key_id,
        description: r.description,
        allowed_pattern: r.pattern,
        tier: r.tier,
        data_type: r.data_type,
        last_modified_date: env.now,
        last_modified_user: format!("arn:aws:iam::{}:root", env.ctx.account),
        labels: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::StoredValue;

    #[test]
    fn tier_table() {
        use ParameterTier::*;
        type Row = (
            Option<ParameterTier>,
            Option<ParameterTier>,
            usize,
            Result<ParameterTier, &'static str>,
        );
        let rows: &[Row] = &[
            (None, None, 10, Ok(Standard)),
            (Some(Advanced), None, 10, Ok(Advanced)),
            (Some(IntelligentTiering), None, 10, Ok(Standard)),
            (Some(IntelligentTiering), None, 4097, Ok(Advanced)),
            (Some(IntelligentTiering), Some(Advanced), 10, Ok(Advanced)),
            (None, Some(Advanced), 10, Ok(Advanced)),
            (Some(Standard), None, 4096, Ok(Standard)),
            (
                Some(Standard),
                None,
                4097,
                Err("maximum parameter value of 4096"),
            ),
            (None, None, 5000, Err("maximum parameter value of 4096")),
            (
                Some(Advanced),
                None,
                8193,
                Err("maximum parameter value of 8192"),
            ),
            (
                Some(IntelligentTiering),
                None,
                8193,
                Err("maximum parameter value of 8192"),
            ),
            (Some(Standard), Some(Advanced), 10, Err("can't downgrade")),
        ];
        for (asked, latest, size, want) in rows {
            match (tier(*asked, *latest, *size), want) {
                (Ok(t), Ok(w)) => assert_eq!(t, *w),
                (Err(e), Err(w)) => assert!(e.message.contains(w), "{}", e.message),
                (got, _) => panic!("{asked:?} {latest:?} {size}: {got:?}"),
            }
        }
    }

    fn latest(kind: ParameterType) -> VersionRec {
        VersionRec {
            version: 3,
            kind,
            value: StoredValue::Plain("v".into()),
            key_id: (kind == ParameterType::SecureString).then(|| "alias/mine".to_string()),
            description: Some("old".into()),
            allowed_pattern: Some("^v".into()),
            tier: ParameterTier::Standard,
            data_type: DataType::Text,
            last_modified_date: 1.0,
            last_modified_user: "u".into(),
            labels: vec![],
        }
    }

    #[test]
    fn resolution_inherits_what_the_request_leaves_out() {
        let req = Request {
            name: "n".into(),
            value: "v".into(),
            ..Default::default()
        };
        let e = resolve(&req, None).unwrap_err();
        assert!(e.message.contains("type is required"), "{}", e.message);
        let r = resolve(&req, Some(&latest(ParameterType::SecureString))).unwrap();
        assert_eq!(r.kind, ParameterType::SecureString);
        assert_eq!(r.key_id.as_deref(), Some("alias/mine"));
        assert_eq!(r.description.as_deref(), Some("old"));
        assert_eq!(r.pattern.as_deref(), Some("^v"));
        let secure = Request {
            kind: Some(ParameterType::SecureString),
            ..req.clone()
        };
        assert_eq!(
            resolve(&secure, None).unwrap().key_id.as_deref(),
            Some(DEFAULT_KEY_ID)
        );
        // Changing the type of a SecureString drops its key.
        let plain = Request {
            kind: Some(ParameterType::String),
            ..req.clone()
        };
        assert_eq!(
            resolve(&plain, Some(&latest(ParameterType::SecureString)))
                .unwrap()
                .key_id,
            None
        );
        let keyed = Request {
            key_id: Some("alias/k".into()),
            kind: Some(ParameterType::String),
            ..req.clone()
        };
        assert!(resolve(&keyed, None).unwrap_err().message.contains("keyId"));
        let ami = Request {
            data_type: Some(DataType::Ec2Image),
            kind: Some(ParameterType::StringList),
            ..req
        };
        assert!(resolve(&ami, None)
            .unwrap_err()
            .message
            .contains("dataType"));
    }

    #[test]
    fn patterns_and_data_types() {
        let mut r = resolve(
            &Request {
                value: "x".into(),
                kind: Some(ParameterType::String),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        r.pattern = Some(r"^\d+$".into());
        assert!(check_value("123", &r).is_ok());
        assert_eq!(check_value("12a", &r).unwrap_err().code, PATTERN_MISMATCH);
        assert_eq!(compile("(").unwrap_err().code, INVALID_PATTERN);
        assert_eq!(data_type("aws:ec2:image").unwrap(), DataType::Ec2Image);
        assert!(data_type("Text")
            .unwrap_err()
            .message
            .contains("all lowercase"));
        assert!(check_key_id("alias/aws/ssm").is_ok());
        assert!(check_key_id("bad key").is_err());
    }

    #[test]
    fn the_oldest_version_goes_unless_labelled() {
        let mut rec = ParamRec {
            name: "n".into(),
            tags: vec![],
            versions: vec![],
        };
        for n in 1..=100 {
            let mut v = latest(ParameterType::String);
            v.version = n;
            rec.versions.push(v);
        }
        make_room(&mut rec).unwrap();
        assert_eq!(rec.versions.len(), 99);
        assert_eq!(rec.versions[0].version, 2);
        rec.versions.push(latest(ParameterType::String));
        rec.versions[0].labels.push("keep".into());
        assert_eq!(make_room(&mut rec).unwrap_err().code, MAX_VERSIONS);
    }
}
