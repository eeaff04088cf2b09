//! The `ParameterFilters` of DescribeParameters and GetParametersByPath (and the older
//! `Filters` of DescribeParameters): which keys and options each operation takes, as
//! tables, the checks of their values, and matching.

use berth_awsproto::{wire_enum, ApiError};
use serde::Deserialize;

use crate::errors::{
    constraint, count, err, invalid, length, INVALID_FILTER_KEY, INVALID_FILTER_OPTION,
    INVALID_FILTER_VALUE,
};
use crate::names::{check_path, in_path, rooted};
use crate::records::{ParamRec, ParameterType, VersionRec};

wire_enum! {
    /// How a filter compares.
    pub enum FilterOption {
        /// The whole value.
        Equals = "Equals",
        /// A prefix.
        BeginsWith = "BeginsWith",
        /// A substring (Name only).
        Contains = "Contains",
        /// Path: at any depth.
        Recursive = "Recursive",
        /// Path: directly under it.
        OneLevel = "OneLevel",
    }
}

/// A `ParameterStringFilter` as requests carry it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct StringFilterIn {
    key: Option<String>,
    option: Option<String>,
    values: Option<Vec<String>>,
}

/// A `ParametersFilter` (DescribeParameters' older filters) as requests carry it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct OldFilterIn {
    key: Option<String>,
    values: Option<Vec<String>>,
}

/// What a filter looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterKey {
    Name,
    Type,
    KeyId,
    Path,
    Label,
    Tier,
    DataType,
    /// `tag:<key>`.
    Tag(String),
}

impl FilterKey {
    fn parse(s: &str) -> Option<FilterKey> {
        Some(match s {
            "Name" => FilterKey::Name,
            "Type" => FilterKey::Type,
            "KeyId" => FilterKey::KeyId,
            "Path" => FilterKey::Path,
            "Label" => FilterKey::Label,
            "Tier" => FilterKey::Tier,
            "DataType" => FilterKey::DataType,
            _ => FilterKey::Tag(
                s.strip_prefix("tag:")
                    .filter(|k| !k.is_empty())?
                    .to_string(),
            ),
        })
    }
}

/// A checked filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    pub key: FilterKey,
    pub option: FilterOption,
    pub values: Vec<String>,
}

/// Which operation the filters are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Describe,
    ByPath,
}

impl Use {
    /// The keys the operation takes (tags: DescribeParameters only), as its error lists them.
    fn keys(self) -> &'static str {
        match self {
            Use::Describe => "[Path, Name, Type, KeyId, Tier, DataType, tag:<key>]",
            Use::ByPath => "[Type, KeyId, Label]",
        }
    }

    fn takes(self, key: &FilterKey) -> bool {
        match self {
            Use::Describe => !matches!(key, FilterKey::Label),
            Use::ByPath => matches!(key, FilterKey::Type | FilterKey::KeyId | FilterKey::Label),
        }
    }
}

/// The options a key takes, and its default (the first).
fn options(key: &FilterKey, usage: Use) -> &'static [FilterOption] {
    use FilterOption::*;
    match (key, usage) {
        (FilterKey::Path, _) => &[OneLevel, Recursive],
        (FilterKey::Label, _) => &[Equals],
        (FilterKey::Name, Use::Describe) => &[Equals, BeginsWith, Contains],
        _ => &[Equals, BeginsWith],
    }
}

/// The values a key takes, when it takes only some (an error lists them).
fn allowed_values(key: &FilterKey) -> Option<&'static [&'static str]> {
    match key {
        FilterKey::Type => Some(ParameterType::NAMES),
        FilterKey::Tier => Some(&["Standard", "Advanced", "Intelligent-Tiering"]),
        _ => None,
    }
}

/// `ParameterFilters` checked for `usage`: key pattern and length, keys the operation
/// takes, options, values, no key twice.
pub(crate) fn check_filters(given: &[StringFilterIn], usage: Use) -> Result<Vec<Filter>, ApiError> {
    let mut out: Vec<Filter> = Vec::with_capacity(given.len());
    for (i, f) in given.iter().enumerate() {
        let filter = check_filter(f, &format!("parameterFilters.{}.member", i + 1), usage)?;
        if out.iter().any(|o| o.key == filter.key) {
            let key = f.key.as_deref().unwrap_or_default();
            return Err(invalid(format!("The following filter is duplicated in the request: {key}. A request can contain only one occurrence of a specific filter.")));
        }
        out.push(filter);
    }
    Ok(out)
}

fn check_filter(f: &StringFilterIn, at: &str, usage: Use) -> Result<Filter, ApiError> {
    let raw = f
        .key
        .as_deref()
        .ok_or_else(|| crate::errors::missing(&format!("{at}.key")))?;
    length(raw, &format!("{at}.key"), 1, 132)?;
    let key = FilterKey::parse(raw).ok_or_else(|| {
        constraint(Some(raw), &format!("{at}.key"), "Member must satisfy regular expression pattern: tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType")
    })?;
    if !usage.takes(&key) {
        let message = format!(
            "The following filter key is not valid: {raw}. Valid filter keys include: {}.",
            usage.keys()
        );
        return Err(err(INVALID_FILTER_KEY, message));
    }
    let option = check_option(f.option.as_deref(), &key, usage, at)?;
    let values = check_values(f.values.as_deref(), &key, raw, at)?;
    Ok(Filter {
        key,
        option,
        values,
    })
}

fn check_option(
    given: Option<&str>,
    key: &FilterKey,
    usage: Use,
    at: &str,
) -> Result<FilterOption, ApiError> {
    let allowed = options(key, usage);
    let Some(given) = given else {
        return Ok(allowed[0]);
    };
    length(given, &format!("{at}.option"), 1, 10)?;
    match FilterOption::parse(given) {
        Some(o) if allowed.contains(&o) => Ok(o),
        _ => {
            let names: Vec<&str> = allowed.iter().map(|o| o.as_str()).collect();
            let message = format!(
                "The following filter option is not valid: {given}. Valid options include: [{}].",
                names.join(", ")
            );
            Err(err(INVALID_FILTER_OPTION, message))
        }
    }
}

fn check_values(
    given: Option<&[String]>,
    key: &FilterKey,
    raw: &str,
    at: &str,
) -> Result<Vec<String>, ApiError> {
    let Some(values) = given else {
        if matches!(key, FilterKey::Tag(_)) {
            return Ok(Vec::new());
        }
        let message =
            format!("The following filter values are missing : null for filter key {raw}.");
        return Err(err(INVALID_FILTER_VALUE, message));
    };
    count(values, &format!("{at}.values"), 1, 50)?;
    let mut out = Vec::with_capacity(values.len());
    for (n, v) in values.iter().enumerate() {
        length(v, &format!("{at}.values.{}.member", n + 1), 1, 1024)?;
        if let Some(allowed) = allowed_values(key).filter(|a| !a.contains(&v.as_str())) {
            let message = format!(
                "The following filter value is not valid: {v}. Valid values include: [{}].",
                allowed.join(", ")
            );
            return Err(err(INVALID_FILTER_VALUE, message));
        }
        out.push(if *key == FilterKey::Path {
            check_path(v, &format!("{at}.values"))?
        } else {
            v.clone()
        });
    }
    Ok(out)
}

/// The older `Filters` (keys Name, Type, KeyId; values compared whole), as filters.
pub(crate) fn check_old_filters(given: &[OldFilterIn]) -> Result<Vec<Filter>, ApiError> {
    let converted: Vec<StringFilterIn> = given
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let at = format!("filters.{}.member", i + 1);
            let key = f
                .key
                .as_deref()
                .ok_or_else(|| crate::errors::missing(&format!("{at}.key")))?;
            if !["Name", "Type", "KeyId"].contains(&key) {
                return Err(constraint(
                    Some(key),
                    &format!("{at}.key"),
                    "Member must satisfy enum value set: [Name, Type, KeyId]",
                ));
            }
            let values = f
                .values
                .clone()
                .ok_or_else(|| crate::errors::missing(&format!("{at}.values")))?;
            Ok(StringFilterIn {
                key: Some(key.to_string()),
                option: None,
                values: Some(values),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    check_filters(&converted, Use::Describe)
}

/// `actual` against `wanted` by `option` (Equals, BeginsWith, Contains).
fn compare(option: FilterOption, actual: &str, wanted: &str) -> bool {
    match option {
        FilterOption::BeginsWith => actual.starts_with(wanted),
        FilterOption::Contains => actual.contains(wanted),
        _ => actual == wanted,
    }
}

impl Filter {
    fn any(&self, actual: &str) -> bool {
        self.values.iter().any(|w| compare(self.option, actual, w))
    }

    /// Whether version `v` of `rec` passes (a Label filter is applied when the version
    /// is chosen: it always passes here).
    pub(crate) fn matches(&self, rec: &ParamRec, v: &VersionRec) -> bool {
        match &self.key {
            FilterKey::Name if self.option == FilterOption::Contains => self.any(&rec.name),
            FilterKey::Name => self
                .values
                .iter()
                .any(|w| compare(self.option, &rooted(&rec.name), &rooted(w))),
            FilterKey::Type => self.any(v.kind.as_str()),
            FilterKey::KeyId => v.key_id.as_deref().is_some_and(|k| self.any(k)),
            FilterKey::Path => {
                let recursive = self.option == FilterOption::Recursive;
                self.values.iter().any(|p| in_path(&rec.name, p, recursive))
            }
            FilterKey::Label => true,
            FilterKey::Tier => self.any(v.tier.as_str()),
            FilterKey::DataType => self.any(v.data_type.as_str()),
            FilterKey::Tag(k) => rec
                .tags
                .iter()
                .any(|t| &t.key == k && (self.values.is_empty() || self.any(&t.value))),
        }
    }
}

/// The version `filters` select of `rec` (the one carrying a Label filter's label, else
/// the latest), if it passes every filter.
pub(crate) fn pick<'a>(filters: &[Filter], rec: &'a ParamRec) -> Option<&'a VersionRec> {
    let v = match filters.iter().find(|f| f.key == FilterKey::Label) {
        Some(f) => rec
            .versions
            .iter()
            .find(|v| v.labels.iter().any(|l| f.values.contains(l)))?,
        None => rec.latest(),
    };
    filters.iter().all(|f| f.matches(rec, v)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{DataType, ParameterTier, StoredValue, Tag};

    fn f(key: &str, option: Option<&str>, values: &[&str]) -> StringFilterIn {
        StringFilterIn {
            key: Some(key.into()),
            option: option.map(Into::into),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn filter_checks_table() {
        let rows: Vec<(StringFilterIn, Use, Option<&str>)> = vec![
            (f("Name", Some("Contains"), &["db"]), Use::Describe, None),
            (
                f("Name", Some("Contains"), &["db"]),
                Use::ByPath,
                Some(INVALID_FILTER_KEY),
            ),
            (
                f("Label", None, &["prod"]),
                Use::Describe,
                Some(INVALID_FILTER_KEY),
            ),
            (f("Label", None, &["prod"]), Use::ByPath, None),
            (
                f("Label", Some("BeginsWith"), &["p"]),
                Use::ByPath,
                Some(INVALID_FILTER_OPTION),
            ),
            (
                f("Type", Some("Contains"), &["String"]),
                Use::Describe,
                Some(INVALID_FILTER_OPTION),
            ),
            (
                f("Type", None, &["Strung"]),
                Use::Describe,
                Some(INVALID_FILTER_VALUE),
            ),
            (
                f("Type", None, &[]),
                Use::Describe,
                Some(INVALID_FILTER_VALUE),
            ),
            (f("tag:env", None, &[]), Use::Describe, None),
            (
                f("tag:env", None, &[]),
                Use::ByPath,
                Some(INVALID_FILTER_KEY),
            ),
            (
                f("tag:", None, &["x"]),
                Use::Describe,
                Some("ValidationException"),
            ),
            (
                f("Colour", None, &["x"]),
                Use::Describe,
                Some("ValidationException"),
            ),
            (f("Path", Some("Recursive"), &["/a"]), Use::Describe, None),
            (
                f("Path", Some("Equals"), &["/a"]),
                Use::Describe,
                Some(INVALID_FILTER_OPTION),
            ),
            (
                f("Path", None, &["a"]),
                Use::Describe,
                Some("ValidationException"),
            ),
            (f("Tier", None, &["Advanced"]), Use::Describe, None),
            (
                f("Tier", None, &["Gold"]),
                Use::Describe,
                Some(INVALID_FILTER_VALUE),
            ),
            (
                f("KeyId", Some("BeginsWith"), &["alias/"]),
                Use::ByPath,
                None,
            ),
        ];
        for (filter, usage, want) in rows {
            let label = format!("{:?} {:?} {usage:?}", filter.key, filter.option);
            let got = check_filters(&[filter], usage).err().map(|e| e.code);
            assert_eq!(got.as_deref(), want, "{label}");
        }
        let twice = check_filters(
            &[
                f("Type", None, &["String"]),
                f("Type", None, &["SecureString"]),
            ],
            Use::Describe,
        );
        assert!(twice.unwrap_err().message.contains("duplicated"));
        let old = check_old_filters(&[OldFilterIn {
            key: Some("Tier".into()),
            values: Some(vec!["Standard".into()]),
        }]);
        assert_eq!(old.unwrap_err().code, "ValidationException");
    }

    fn rec(name: &str) -> ParamRec {
        ParamRec {
            name: name.into(),
            tags: vec![Tag {
                key: "env".into(),
                value: "prod".into(),
            }],
            versions: vec![
                VersionRec {
                    version: 1,
                    kind: ParameterType::SecureString,
                    value: StoredValue::Sealed("x".into()),
                    key_id: Some("alias/aws/ssm".into()),
                    description: None,
                    allowed_pattern: None,
                    tier: ParameterTier::Standard,
                    data_type: DataType::Text,
                    last_modified_date: 0.0,
                    last_modified_user: String::new(),
                    labels: vec!["old".into()],
                },
                VersionRec {
                    version: 2,
                    kind: ParameterType::String,
                    value: StoredValue::Plain("y".into()),
                    key_id: None,
                    description: None,
                    allowed_pattern: None,
                    tier: ParameterTier::Advanced,
                    data_type: DataType::Text,
                    last_modified_date: 0.0,
                    last_modified_user: String::new(),
                    labels: vec![],
                },
            ],
        }
    }

    #[test]
    fn matching_table() {
        let rows: Vec<(StringFilterIn, Use, bool)> = vec![
            (f("Name", None, &["/app/db"]), Use::Describe, true),
            (f("Name", None, &["app/db"]), Use::Describe, true),
            (
                f("Name", Some("BeginsWith"), &["/app"]),
                Use::Describe,
                true,
            ),
            (f("Name", Some("Contains"), &["p/d"]), Use::Describe, true),
            (f("Name", None, &["/app"]), Use::Describe, false),
            (f("Type", None, &["String"]), Use::Describe, true),
            (f("Type", None, &["SecureString"]), Use::Describe, false),
            (f("Tier", None, &["Advanced"]), Use::Describe, true),
            (f("DataType", None, &["text"]), Use::Describe, true),
            (f("Path", None, &["/app"]), Use::Describe, true),
            (f("Path", None, &["/"]), Use::Describe, false),
            (f("Path", Some("Recursive"), &["/"]), Use::Describe, true),
            (f("tag:env", None, &[]), Use::Describe, true),
            (f("tag:env", None, &["dev", "prod"]), Use::Describe, true),
            (
                f("tag:env", Some("BeginsWith"), &["pr"]),
                Use::Describe,
                true,
            ),
            (f("tag:team", None, &[]), Use::Describe, false),
            (f("KeyId", None, &["alias/aws/ssm"]), Use::ByPath, false),
            (f("Label", None, &["old"]), Use::ByPath, true),
            (f("Label", None, &["new"]), Use::ByPath, false),
        ];
        let r = rec("/app/db");
        for (filter, usage, want) in rows {
            let label = format!("{:?} {:?} {:?}", filter.key, filter.option, filter.values);
            let filters = check_filters(&[filter], usage).unwrap();
            assert_eq!(pick(&filters, &r).is_some(), want, "{label}");
        }
        // A Label filter picks the labelled version, and the others look at that one.
        let filters = check_filters(
            &[
                f("Label", None, &["old"]),
                f("KeyId", None, &["alias/aws/ssm"]),
            ],
            Use::ByPath,
        )
        .unwrap();
        assert_eq!(pick(&filters, &r).map(|v| v.version), Some(1));
    }
}
