//! Describe filters (`Filter.N.Name`, `Filter.N.Value.M`: values of one filter are
//! alternatives, filters all apply; `*` and `?` are wildcards, `\` escapes them) and
//! pagination (`MaxResults`, `NextToken`).
//!
//! Each kind of item declares its filters as a table of names and getters
//! ([`Filterable::FIELDS`]); `tag:<key>`, `tag-key` and `tag-value` work for every kind.

use berth_awsproto::{decode_token, encode_token, ApiError, Context};
use serde::Deserialize;

use crate::errors::{invalid, invalid_value, missing, INVALID_PAGINATION_TOKEN};
use crate::records::Tag;

/// One `Filter.N` of a request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilterIn {
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "Value", default)]
    pub values: Vec<String>,
}

/// Reads the values a filter compares for an item.
pub(crate) type Getter<T> = fn(&T, &Context) -> Vec<String>;

/// A kind of item Describe* filters.
pub(crate) trait Filterable: Sized + 'static {
    /// The filter names this kind has, and what each compares.
    const FIELDS: &'static [(&'static str, Getter<Self>)];
    /// The item's tags.
    fn tags(&self) -> &[Tag];
}

enum Test<T: 'static> {
    Field(Getter<T>),
    Tag(String),
    TagKey,
    TagValue,
}

struct Term<T: 'static> {
    test: Test<T>,
    patterns: Vec<String>,
}

/// A request's filters, checked against the kind's table.
pub(crate) struct Filters<T: 'static>(Vec<Term<T>>);

impl<T: Filterable> Filters<T> {
    /// Reads `filters`; a name the kind has not is `InvalidParameterValue`.
    pub fn new(filters: &[FilterIn]) -> Result<Filters<T>, ApiError> {
        let mut terms = Vec::with_capacity(filters.len());
        for (i, f) in filters.iter().enumerate() {
            let name = f
                .name
                .as_deref()
                .ok_or_else(|| missing(&format!("Filter.{}.Name", i + 1)))?;
            let test = if let Some(key) = name.strip_prefix("tag:") {
                Test::Tag(key.to_string())
            } else if name == "tag-key" {
                Test::TagKey
            } else if name == "tag-value" {
                Test::TagValue
            } else {
                let (_, get) = T::FIELDS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .ok_or_else(|| invalid(format!("The filter '{name}' is invalid")))?;
                Test::Field(*get)
            };
            terms.push(Term {
                test,
                patterns: f.values.clone(),
            });
        }
        Ok(Filters(terms))
    }

    /// True when every filter has a value that matches the item.
    pub fn matches(&self, item: &T, ctx: &Context) -> bool {
        self.0.iter().all(|term| {
            let values: Vec<String> = match &term.test {
                Test::Field(get) => get(item, ctx),
                Test::Tag(key) => item
                    .tags()
                    .iter()
                    .filter(|t| &t.key == key)
                    .map(|t| t.value.clone())
                    .collect(),
                Test::TagKey => item.tags().iter().map(|t| t.key.clone()).collect(),
                Test::TagValue => item.tags().iter().map(|t| t.value.clone()).collect(),
            };
            term.patterns
                .iter()
                .any(|p| values.iter().any(|v| wildcard(p, v)))
        })
    }

    /// The items the filters keep.
    pub fn keep(&self, items: Vec<T>, ctx: &Context) -> Vec<T> {
        items.into_iter().filter(|i| self.matches(i, ctx)).collect()
    }
}

/// `*` matches any run of characters, `?` one character, `\` makes the next one
/// literal.
pub(crate) fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob(&p, &t)
}

fn glob(p: &[char], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => (0..=t.len()).any(|skip| glob(rest, &t[skip..])),
        Some(('?', rest)) => !t.is_empty() && glob(rest, &t[1..]),
        Some(('\\', [c, rest @ ..])) => t.first() == Some(c) && glob(rest, &t[1..]),
        Some((c, rest)) => t.first() == Some(c) && glob(rest, &t[1..]),
    }
}

/// A bool as filters compare it.
pub(crate) fn flag(b: bool) -> Vec<String> {
    vec![b.to_string()]
}

/// One value.
pub(crate) fn one(s: &str) -> Vec<String> {
    vec![s.to_string()]
}

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    max: Option<usize>,
    after: Option<String>,
}

/// The bounds of `MaxResults` of most Describe* operations.
pub(crate) const MAX_RESULTS: (i32, i32) = (5, 1000);

impl Page {
    /// Reads `MaxResults` (within `bounds`) and `NextToken`.
    pub fn new(
        max_results: Option<i32>,
        next_token: Option<&str>,
        bounds: (i32, i32),
    ) -> Result<Page, ApiError> {
        let (min, max) = bounds;
        let max_results = match max_results {
            Some(n) if n < min || n > max => {
                return Err(invalid_value(
                    "MaxResults",
                    &n.to_string(),
                    &format!("Expecting a value between {min} and {max}."),
                ))
            }
            n => n.map(|n| n as usize),
        };
        let after = match next_token {
            Some(t) => Some(decode_token(t, "NextToken", INVALID_PAGINATION_TOKEN)?),
            None => None,
        };
        Ok(Page {
            max: max_results,
            after,
        })
    }

    /// This page of `items` (sorted by `key`, which the token names), and the token of
    /// the next page when there is one.
    pub fn take<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
        let mut rest: Vec<T> = match &self.after {
            Some(after) => items.into_iter().filter(|i| key(i) > *after).collect(),
            None => items,
        };
        match self.max {
            Some(max) if rest.len() > max => {
                rest.truncate(max);
                let token = rest.last().map(|i| encode_token(&key(i)));
                (rest, token)
            }
            _ => (rest, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item {
        id: String,
        tags: Vec<Tag>,
    }

    impl Filterable for Item {
        const FIELDS: &'static [(&'static str, Getter<Self>)] = &[("id", |i, _| one(&i.id))];
        fn tags(&self) -> &[Tag] {
            &self.tags
        }
    }

    fn item(id: &str, tags: &[(&str, &str)]) -> Item {
        Item {
            id: id.into(),
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
        }
    }

    fn f(name: &str, values: &[&str]) -> FilterIn {
        FilterIn {
            name: Some(name.into()),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn wildcards() {
        for (p, t, ok) in [
            ("web", "web", true),
            ("web", "webs", false),
            ("w*", "web", true),
            ("*b", "web", true),
            ("*", "", true),
            ("w?b", "web", true),
            ("w?b", "wb", false),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("*-sg", "orders-sg", true),
            ("?", "é", true),
        ] {
            assert_eq!(wildcard(p, t), ok, "{p} ~ {t}");
        }
    }

    #[test]
    fn filters_and_across_or_within() {
        let ctx = Context::default();
        let a = item("a1", &[("Name", "web"), ("env", "prod")]);
        let b = item("b1", &[("Name", "api")]);
        let check = |filters: &[FilterIn], want: &[bool]| {
            let fs = Filters::<Item>::new(filters).unwrap();
            assert_eq!(
                [fs.matches(&a, &ctx), fs.matches(&b, &ctx)],
                want,
                "{filters:?}"
            );
        };
        check(&[], &[true, true]);
        check(&[f("id", &["a1", "b1"])], &[true, true]);
        check(&[f("id", &["a*"])], &[true, false]);
        check(
            &[f("tag:Name", &["api", "web"]), f("tag-key", &["env"])],
            &[true, false],
        );
        check(&[f("tag-value", &["a?i"])], &[false, true]);
        check(&[f("tag:Name", &[])], &[false, false]);
        let e = Filters::<Item>::new(&[f("colour", &["x"])]).err().unwrap();
        assert_eq!(e.code, "InvalidParameterValue");
        assert_eq!(e.message, "The filter 'colour' is invalid");
        let e = Filters::<Item>::new(&[FilterIn::default()]).err().unwrap();
        assert_eq!(e.code, "MissingParameter");
        assert!(e.message.contains("Filter.1.Name"), "{}", e.message);
    }

    #[test]
    fn pages_follow_tokens_to_the_end() {
        let items: Vec<String> = (0..12).map(|i| format!("k{i:02}")).collect();
        let page = Page::new(Some(5), None, MAX_RESULTS).unwrap();
        let (first, token) = page.take(items.clone(), |s| s.clone());
        assert_eq!(first, ["k00", "k01", "k02", "k03", "k04"]);
        let mut seen = first;
        let mut token = token;
        while let Some(t) = token {
            let page = Page::new(Some(5), Some(&t), MAX_RESULTS).unwrap();
            let (more, next) = page.take(items.clone(), |s| s.clone());
            seen.extend(more);
            token = next;
        }
        assert_eq!(seen, items);
        let (all, none) = Page::default().take(items.clone(), |s| s.clone());
        assert_eq!((all.len(), none), (12, None));
        let e = Page::new(Some(4), None, MAX_RESULTS).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        assert!(e.message.contains("MaxResults"), "{}", e.message);
        assert!(Page::new(Some(1001), None, MAX_RESULTS).is_err());
        let e = Page::new(None, Some("!!"), MAX_RESULTS).unwrap_err();
        assert_eq!(e.code, "InvalidPaginationToken");
    }
}
