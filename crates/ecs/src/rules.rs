//! Validation as data. A request's checks are a table of [`Rule`]s run in order, the first
//! failure being the API's answer: enum members and numeric ranges are rows over field
//! paths, everything else is a named check function. A list in the request gets a table
//! of its own, run per element by a check of the table above it, with a [`Subject`] that
//! knows the element's indices.

use berth_awsproto::ApiError;

use crate::common::{check_enum, client, R};

/// What a table of rules checks: a request, or one element of a list in it.
pub(crate) trait Subject {
    /// The list indices that fill the `[]`s of a field path, outermost first.
    fn indices(&self) -> Vec<usize> {
        Vec::new()
    }

    /// The answer for a value outside a [`Rule::Range`]: `field` as the rule names it,
    /// `why` the rule's reason with its bounds filled in.
    fn out_of_range(&self, _field: &str, why: String) -> ApiError {
        client(why)
    }
}

/// One row of a validation table over subjects `T`.
pub(crate) enum Rule<T> {
    /// Every value `value` finds must be one of `allowed` (InvalidParameterException naming
    /// `field` and listing `allowed`).
    OneOf {
        field: &'static str,
        allowed: &'static [&'static str],
        value: fn(&T) -> Vec<&str>,
    },
    /// The number `value` finds, if any, must be within `min..=max`, else
    /// [`Subject::out_of_range`] with `why` (`{min}` and `{max}` filled in).
    Range {
        field: &'static str,
        min: i64,
        max: i64,
        value: fn(&T) -> Option<i64>,
        why: &'static str,
    },
    /// A named check of anything else: presence, syntax, references between fields.
    Check(fn(&T) -> R<()>),
}

impl<T: Subject> Rule<T> {
    /// A [`Rule::OneOf`] row.
    pub(crate) const fn one_of(
        field: &'static str,
        allowed: &'static [&'static str],
        value: fn(&T) -> Vec<&str>,
    ) -> Rule<T> {
        Rule::OneOf {
            field,
            allowed,
            value,
        }
    }

    /// A [`Rule::Range`] row.
    pub(crate) const fn range(
        field: &'static str,
        (min, max): (i64, i64),
        value: fn(&T) -> Option<i64>,
        why: &'static str,
    ) -> Rule<T> {
        Rule::Range {
            field,
            min,
            max,
            value,
            why,
        }
    }

    fn check(&self, subject: &T) -> R<()> {
        match self {
            Rule::OneOf {
                field,
                allowed,
                value,
            } => {
                let values = value(subject);
                if values.iter().all(|v| allowed.contains(v)) {
                    return Ok(());
                }
                let label = label(field, &subject.indices());
                values
                    .into_iter()
                    .try_for_each(|v| check_enum(Some(v), &label, allowed))
            }
            Rule::Range {
                field,
                min,
                max,
                value,
                why,
            } => match value(subject) {
                Some(v) if v < *min || v > *max => {
                    let why = why
                        .replace("{min}", &min.to_string())
                        .replace("{max}", &max.to_string());
                    Err(subject.out_of_range(&label(field, &subject.indices()), why))
                }
                _ => Ok(()),
            },
            Rule::Check(check) => check(subject),
        }
    }
}

/// Runs `rules` on `subject` in order; the first failure is the answer.
pub(crate) fn check_all<T: Subject>(rules: &[Rule<T>], subject: &T) -> R<()> {
    rules.iter().try_for_each(|rule| rule.check(subject))
}

/// The value of an optional member, as [`Rule::OneOf`] reads it.
pub(crate) fn opt(value: Option<&str>) -> Vec<&str> {
    value.into_iter().collect()
}

/// The value of a member of an optional member (`runtimePlatform.cpuArchitecture`), as
/// [`Rule::OneOf`] reads it.
pub(crate) fn within<T>(parent: &Option<T>, member: fn(&T) -> &Option<String>) -> Vec<&str> {
    opt(parent.as_ref().and_then(|p| member(p).as_deref()))
}

/// `path` with its `[]`s filled with `indices` (`a[].b[]` with 1, 2: `a[1].b[2]`).
fn label(path: &str, indices: &[usize]) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    let mut indices = indices.iter();
    let mut parts = path.split("[]").peekable();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            match indices.next() {
                Some(i) => out.push_str(&format!("[{i}]")),
                None => out.push_str("[]"),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing {
        mode: Option<String>,
        tags: Vec<String>,
        size: Option<i64>,
        at: usize,
    }

    impl Subject for Thing {
        fn indices(&self) -> Vec<usize> {
            vec![self.at]
        }
    }

    fn named(t: &Thing) -> R<()> {
        match t.mode.as_deref() {
            Some("") => Err(client("mode is empty.")),
            _ => Ok(()),
        }
    }

    const RULES: &[Rule<Thing>] = &[
        Rule::Check(named),
        Rule::one_of("things[].mode", &["a", "b"], |t| opt(t.mode.as_deref())),
        Rule::one_of("tags", &["x"], |t| {
            t.tags.iter().map(String::as_str).collect()
        }),
        Rule::range("size", (1, 9), |t| t.size, "{min} to {max}"),
    ];

    fn thing(mode: &str, tags: &[&str], size: i64) -> Thing {
        Thing {
            mode: Some(mode.to_string()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            size: Some(size),
            at: 3,
        }
    }

    #[test]
    fn rows_run_in_order_and_name_the_field() {
        assert!(check_all(RULES, &thing("a", &["x", "x"], 9)).is_ok());
        let err = |t: Thing| {
            let e = check_all(RULES, &t).unwrap_err();
            format!("{} {}", e.code, e.message)
        };
        assert_eq!(err(thing("", &["y"], 0)), "ClientException mode is empty.");
        assert_eq!(
            err(thing("c", &["y"], 0)),
            "InvalidParameterException things[3].mode 'c' is invalid: it must be one of a, b."
        );
        assert_eq!(
            err(thing("a", &["x", "y"], 0)),
            "InvalidParameterException tags 'y' is invalid: it must be one of x."
        );
        assert_eq!(err(thing("b", &[], 10)), "ClientException 1 to 9");
    }

    #[test]
    fn labels_fill_indices() {
        assert_eq!(label("a[].b[].c", &[1, 2]), "a[1].b[2].c");
        assert_eq!(label("a.b", &[1]), "a.b");
        assert_eq!(label("a[]", &[]), "a[]");
    }
}
