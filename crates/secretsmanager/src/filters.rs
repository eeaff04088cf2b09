//! ListSecrets' filters, sort orders and pages: pure functions of the records.

use berth_awsproto::ApiError;
use serde::Deserialize;

use crate::errors::{check, validation, Check};
use crate::records::SecretRec;

berth_awsproto::wire_enum! {
    /// What a filter matches against.
    pub enum FilterKey {
        Description = "description",
        Name = "name",
        TagKey = "tag-key",
        TagValue = "tag-value",
        PrimaryRegion = "primary-region",
        OwningService = "owning-service",
        All = "all",
    }
}

berth_awsproto::wire_enum! {
    /// The order of a listing.
    pub enum SortOrder {
        Asc = "asc",
        Desc = "desc",
    }
}

berth_awsproto::wire_enum! {
    /// What a listing is sorted by.
    pub enum SortBy {
        CreatedDate = "created-date",
        LastAccessedDate = "last-accessed-date",
        LastChangedDate = "last-changed-date",
        Name = "name",
    }
}

/// One filter of ListSecrets: a secret passes when one of the values (without `!`)
/// matches, or none is given, and none of the negated values (`!value`) matches.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Filter {
    /// What to match.
    pub key: Option<FilterKey>,
    /// Prefixes, `!` to negate.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A filter value's characters, as the model allows them.
fn value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c)
}

const FILTER_RULES: &[Check<Filter>] = &[
    ("Member must not be null", |f| f.key.is_some()),
    ("Member must have length between 1 and 10", |f| {
        (1..=10).contains(&f.values.len())
    }),
    ("Member must have length less than or equal to 512", |f| {
        f.values.iter().all(|v| v.chars().count() <= 512)
    }),
    (
        "Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$",
        |f| f.values.iter().all(|v| v.chars().all(value_char)),
    ),
];

/// The filters are as the model allows: at most 10, each with a key and 1 to 10
/// values of allowed characters.
pub fn check_filters(filters: &[Filter]) -> Result<(), ApiError> {
    if filters.len() > 10 {
        return Err(validation(
            "Filters",
            "Member must have length less than or equal to 10",
        ));
    }
    for (i, f) in filters.iter().enumerate() {
        let member = format!("Filters.{}", i + 1);
        check(FILTER_RULES, f, |why| validation(&member, why))?;
    }
    Ok(())
}

/// Whether `rec` passes every filter.
pub fn matches_all(filters: &[Filter], rec: &SecretRec) -> bool {
    filters.iter().all(|f| matches(f, rec))
}

fn matches(f: &Filter, rec: &SecretRec) -> bool {
    let Some(key) = f.key else { return true };
    let (negated, plain): (Vec<&str>, Vec<&str>) = f
        .values
        .iter()
        .map(String::as_str)
        .partition(|v| v.starts_with('!'));
    let hit = |v: &str| value_matches(key, rec, v);
    (plain.is_empty() || plain.iter().any(|v| hit(v))) && !negated.iter().any(|v| hit(&v[1..]))
}

/// The attributes a key looks at.
fn attributes(key: FilterKey, rec: &SecretRec) -> Vec<&str> {
    let tag_keys = || rec.tags.iter().map(|t| t.key.as_str());
    let tag_values = || rec.tags.iter().filter_map(|t| t.value.as_deref());
    match key {
        FilterKey::Name => vec![rec.name.as_str()],
        FilterKey::Description => rec.description.as_deref().into_iter().collect(),
        FilterKey::TagKey => tag_keys().collect(),
        FilterKey::TagValue => tag_values().collect(),
        // berth neither replicates secrets nor lets services own them.
        FilterKey::PrimaryRegion | FilterKey::OwningService => vec![],
        FilterKey::All => std::iter::once(rec.name.as_str())
            .chain(rec.description.as_deref())
            .chain(tag_keys())
            .chain(tag_values())
            .collect(),
    }
}

/// A value matches as a prefix of one of the key's attributes (description: not case
/// sensitive). `all`: every word of the value is a prefix, not case sensitive, of an
/// attribute or of a word in one (words split at anything but letters and digits).
fn value_matches(key: FilterKey, rec: &SecretRec, value: &str) -> bool {
    let attrs = attributes(key, rec);
    match key {
        FilterKey::Description => {
            let v = value.to_lowercase();
            attrs.iter().any(|a| a.to_lowercase().starts_with(&v))
        }
        FilterKey::All => value.split_whitespace().all(|w| {
            let w = w.to_lowercase();
            attrs.iter().any(|a| {
                let a = a.to_lowercase();
                a.starts_with(&w)
                    || a.split(|c: char| !c.is_alphanumeric())
                        .any(|p| p.starts_with(&w))
            })
        }),
        _ => attrs.iter().any(|a| a.starts_with(value)),
    }
}

/// A record's place in a listing: the sort attribute (dates zero-padded so that they
/// sort as text), then the name.
pub fn sort_key(by: SortBy, rec: &SecretRec) -> (String, String) {
    let date = |t: Option<f64>| format!("{:017.3}", t.unwrap_or(0.0));
    let first = match by {
        SortBy::CreatedDate => date(Some(rec.created_date)),
        SortBy::LastAccessedDate => date(rec.last_accessed_date),
        SortBy::LastChangedDate => date(Some(rec.last_changed_date)),
        SortBy::Name => rec.name.clone(),
    };
    (first, rec.name.clone())
}

/// One page of `items` (sorted by their keys in `order`): up to `max` after the
/// cursor `after`, and the cursor to go on from when more remain.
pub fn page<T>(
    mut items: Vec<((String, String), T)>,
    order: SortOrder,
    after: Option<&(String, String)>,
    max: usize,
) -> (Vec<T>, Option<(String, String)>) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    if order == SortOrder::Desc {
        items.reverse();
    }
    let past = |k: &(String, String)| match (after, order) {
        (None, _) => true,
        (Some(c), SortOrder::Asc) => k > c,
        (Some(c), SortOrder::Desc) => k < c,
    };
    let mut rest = items.into_iter().filter(|(k, _)| past(k)).peekable();
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < max {
        let Some((k, item)) = rest.next() else { break };
        out.push(item);
        last = Some(k);
    }
    let next = rest.peek().and(last);
    (out, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Tag;

    fn rec(
        name: &str,
        description: Option<&str>,
        tags: &[(&str, &str)],
        created: f64,
    ) -> SecretRec {
        SecretRec {
            arn: format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"),
            name: name.to_string(),
            secret_type: None,
            description: description.map(String::from),
            kms_key_id: None,
            created_date: created,
            last_changed_date: created,
            last_accessed_date: None,
            deleted_date: None,
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.to_string(),
                    value: Some(v.to_string()),
                })
                .collect(),
            versions: vec![],
        }
    }

    fn f(key: FilterKey, values: &[&str]) -> Filter {
        Filter {
            key: Some(key),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn filters_match_prefixes_and_negations() {
        let db = rec(
            "prod/db-password",
            Some("The Orders database"),
            &[("team", "orders"), ("env", "prod")],
            1.0,
        );
        use FilterKey::*;
        let cases: &[(Filter, bool)] = &[
            (f(Name, &["prod/"]), true),
            (f(Name, &["Prod/"]), false),
            (f(Name, &["db"]), false),
            (f(Name, &["x", "prod"]), true),
            (f(Name, &["!prod"]), false),
            (f(Name, &["!test"]), true),
            (f(Name, &["prod", "!prod/db"]), false),
            (f(Description, &["the orders"]), true),
            (f(Description, &["orders"]), false),
            (f(TagKey, &["te"]), true),
            (f(TagKey, &["Te"]), false),
            (f(TagValue, &["ord"]), true),
            (f(TagValue, &["!ord"]), false),
            (f(PrimaryRegion, &["us"]), false),
            (f(All, &["ORDERS"]), true),
            (f(All, &["password"]), true),
            (f(All, &["orders database"]), true),
            (f(All, &["orders nothing"]), false),
            (f(All, &["!password"]), false),
        ];
        for (filter, want) in cases {
            assert_eq!(matches(filter, &db), *want, "{filter:?}");
        }
        let none = rec("x", None, &[], 1.0);
        assert!(!matches(&f(Description, &[""]), &none));
        assert!(matches(&f(Description, &["!a"]), &none));
        assert!(matches_all(&[f(Name, &["prod"]), f(TagKey, &["env"])], &db));
        assert!(!matches_all(
            &[f(Name, &["prod"]), f(TagKey, &["nope"])],
            &db
        ));
    }

    #[test]
    fn filters_are_checked() {
        let code = |fs: &[Filter]| check_filters(fs).map_err(|e| e.message);
        assert!(code(&[f(FilterKey::Name, &["a-b/c"])]).is_ok());
        assert!(code(&[f(FilterKey::Name, &[])])
            .unwrap_err()
            .contains("Filters.1"));
        assert!(code(&[f(FilterKey::Name, &["a*"])])
            .unwrap_err()
            .contains("pattern"));
        let none = Filter {
            key: None,
            values: vec!["a".into()],
        };
        assert!(code(&[none]).unwrap_err().contains("not be null"));
        let eleven: Vec<Filter> = (0..11).map(|_| f(FilterKey::Name, &["a"])).collect();
        assert!(code(&eleven).is_err());
    }

    #[test]
    fn pages_follow_the_order() {
        let recs = [
            rec("b", None, &[], 2.0),
            rec("a", None, &[], 3.0),
            rec("c", None, &[], 1.0),
        ];
        let items = |by| -> Vec<((String, String), String)> {
            recs.iter()
                .map(|r| (sort_key(by, r), r.name.clone()))
                .collect()
        };
        let (p1, next) = page(items(SortBy::CreatedDate), SortOrder::Asc, None, 2);
        assert_eq!(p1, ["c", "b"]);
        let (p2, end) = page(items(SortBy::CreatedDate), SortOrder::Asc, next.as_ref(), 2);
        assert_eq!(p2, ["a"]);
        assert_eq!(end, None);
        let (all, end) = page(items(SortBy::Name), SortOrder::Desc, None, 3);
        assert_eq!(all, ["c", "b", "a"]);
        assert_eq!(end, None, "no cursor when nothing remains");
        let (p1, next) = page(items(SortBy::Name), SortOrder::Desc, None, 1);
        let (p2, _) = page(items(SortBy::Name), SortOrder::Desc, next.as_ref(), 5);
        assert_eq!(
            (p1, p2),
            (
                vec!["c".to_string()],
                vec!["b".to_string(), "a".to_string()]
            )
        );
    }
}
