//! CloudWatch's errors and the validation rules: tables of field rules (required,
//! length, count) read through getters, run in order, the first failure answers;
//! fields are named as the query protocol names them (`MetricData.member.2.Value`),
//! as CloudWatch's messages do.

use berth_awsproto::ApiError;

use crate::model::Dimension;

/// A value CloudWatch does not take.
pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValue";
/// A required parameter not given.
pub const MISSING_PARAMETER: &str = "MissingParameter";
/// Parameters that do not go together.
pub const INVALID_PARAMETER_COMBINATION: &str = "InvalidParameterCombination";
/// `GetMetricData`'s queries or expressions that cannot run.
pub const VALIDATION_ERROR: &str = "ValidationError";
/// A `NextToken` this call did not give.
pub const INVALID_NEXT_TOKEN: &str = "InvalidNextToken";

/// `InvalidParameterValue` with `message`.
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, INVALID_PARAMETER_VALUE, message)
}

/// `MissingParameter` naming `field`.
pub fn missing(field: &str) -> ApiError {
    ApiError::new(
        400,
        MISSING_PARAMETER,
        format!("The parameter {field} is required."),
    )
}

/// `InvalidParameterCombination` with `message`.
pub fn combination(message: impl Into<String>) -> ApiError {
    ApiError::new(400, INVALID_PARAMETER_COMBINATION, message)
}

/// `ValidationError` with `message`.
pub fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(400, VALIDATION_ERROR, message)
}

/// `The value V for parameter F is invalid.`
pub fn bad_value(field: &str, value: impl std::fmt::Display) -> ApiError {
    invalid(format!(
        "The value {value} for parameter {field} is invalid."
    ))
}

/// One rule of a table over `T`; field names are relative to the table's prefix.
pub enum Rule<T> {
    /// The member must be given.
    Required(&'static str, fn(&T) -> bool),
    /// A text member's length, when given.
    Len(&'static str, fn(&T) -> Option<&str>, usize, usize),
    /// A list member's size, when given.
    Count(&'static str, fn(&T) -> Option<usize>, usize),
}

/// Runs `rules` over `x` in order; `prefix` is put before each field's name.
pub fn check<T>(rules: &[Rule<T>], x: &T, prefix: &str) -> Result<(), ApiError> {
    for rule in rules {
        match rule {
            Rule::Required(f, given) if !given(x) => return Err(missing(&format!("{prefix}{f}"))),
            Rule::Len(f, get, min, max)
                if get(x).is_some_and(|s| !(*min..=*max).contains(&s.chars().count())) =>
            {
                return Err(invalid(format!(
                    "The parameter {prefix}{f} must be between {min} and {max} characters long."
                )));
            }
            Rule::Count(f, get, max) if get(x).is_some_and(|n| n > *max) => {
                return Err(invalid(format!(
                    "The collection {prefix}{f} must not have a size greater than {max}."
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A dimension: a name of 1 to 255 characters and a value of 1 to 1024.
pub const DIMENSION: &[Rule<Dimension>] = &[
    Rule::Required("Name", |d| d.name.is_some()),
    Rule::Required("Value", |d| d.value.is_some()),
    Rule::Len("Name", |d| d.name.as_deref(), 1, 255),
    Rule::Len("Value", |d| d.value.as_deref(), 1, 1024),
];

/// Checks a metric's dimensions (`field` names the list): at most 30, each by
/// [`DIMENSION`], no name twice; the pairs, sorted.
pub fn dimensions(dims: &[Dimension], field: &str) -> Result<Vec<(String, String)>, ApiError> {
    if dims.len() > 30 {
        return Err(invalid(format!(
            "The collection {field} must not have a size greater than 30."
        )));
    }
    let mut out = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        check(DIMENSION, d, &format!("{field}.member.{}.", i + 1))?;
        let (name, value) = (
            d.name.clone().unwrap_or_default(),
            d.value.clone().unwrap_or_default(),
        );
        if out.iter().any(|(n, _)| *n == name) {
            return Err(invalid(format!(
                "No metric may have duplicate dimension names: {field} names {name} twice."
            )));
        }
        out.push((name, value));
    }
    out.sort();
    Ok(out)
}

/// Checks a namespace a caller reads (`for_put`: one it writes, which may not be
/// `AWS/`'s).
pub fn namespace(ns: Option<&str>, for_put: bool) -> Result<&str, ApiError> {
    let ns = ns.ok_or_else(|| missing("Namespace"))?;
    let n = ns.chars().count();
    if !(1..=255).contains(&n) {
        return Err(invalid(
            "The parameter Namespace must be between 1 and 255 characters long.",
        ));
    }
    if ns.starts_with(':') || ns.chars().any(char::is_control) {
        return Err(bad_value("Namespace", ns));
    }
    if for_put && ns.starts_with("AWS/") {
        return Err(bad_value("Namespace", ns));
    }
    Ok(ns)
}

/// Checks a metric name.
pub fn metric_name<'a>(name: Option<&'a str>, field: &str) -> Result<&'a str, ApiError> {
    let name = name.ok_or_else(|| missing(field))?;
    let n = name.chars().count();
    if !(1..=255).contains(&n) {
        return Err(invalid(format!(
            "The parameter {field} must be between 1 and 255 characters long."
        )));
    }
    Ok(name)
}

/// A period: 1, 5, 10, 30, or a multiple of 60.
pub fn period_ok(p: i64) -> bool {
    matches!(p, 1 | 5 | 10 | 30) || (p >= 60 && p % 60 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(n: &str, v: &str) -> Dimension {
        Dimension {
            name: Some(n.into()),
            value: Some(v.into()),
        }
    }

    #[test]
    fn dimension_rules() {
        let long = "x".repeat(256);
        type Case<'a> = (Vec<Dimension>, Option<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            (vec![dim("b", "1"), dim("a", "2")], None),
            (
                vec![dim("a", "1"), dim("a", "2")],
                Some((INVALID_PARAMETER_VALUE, "duplicate")),
            ),
            (
                vec![dim("", "1")],
                Some((INVALID_PARAMETER_VALUE, "D.member.1.Name")),
            ),
            (
                vec![dim("a", "1"), dim(&long, "1")],
                Some((INVALID_PARAMETER_VALUE, "D.member.2.Name")),
            ),
            (
                vec![Dimension {
                    name: Some("a".into()),
                    value: None,
                }],
                Some((MISSING_PARAMETER, "D.member.1.Value")),
            ),
            (
                (0..31).map(|i| dim(&i.to_string(), "v")).collect(),
                Some((INVALID_PARAMETER_VALUE, "greater than 30")),
            ),
        ];
        for (dims, want) in cases {
            match (dimensions(&dims, "D"), want) {
                (Ok(pairs), None) => assert_eq!(pairs[0].0, "a"),
                (Err(e), Some((code, text))) => {
                    assert_eq!(e.code, code, "{dims:?}");
                    assert!(e.message.contains(text), "{}", e.message);
                }
                (got, want) => panic!("{dims:?}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn namespaces_and_periods() {
        assert!(namespace(Some("App/Web"), true).is_ok());
        assert!(namespace(Some("AWS/ECS"), false).is_ok());
        assert_eq!(
            namespace(Some("AWS/ECS"), true).unwrap_err().code,
            INVALID_PARAMETER_VALUE
        );
        assert_eq!(namespace(None, true).unwrap_err().code, MISSING_PARAMETER);
        assert_eq!(
            namespace(Some(":x"), true).unwrap_err().code,
            INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            namespace(Some(""), true).unwrap_err().code,
            INVALID_PARAMETER_VALUE
        );
        for (p, ok) in [
            (1, true),
            (5, true),
            (10, true),
            (30, true),
            (60, true),
            (300, true),
            (2, false),
            (59, false),
            (90, false),
            (0, false),
        ] {
            assert_eq!(period_ok(p), ok, "{p}");
        }
    }
}
