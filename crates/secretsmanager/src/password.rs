//! GetRandomPassword: a password from the character classes asked for.

use berth_awsproto::{random_below, ApiError};
use serde::{Deserialize, Serialize};

use crate::errors::{invalid_parameter, validation};

/// The punctuation AWS draws from.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

/// GetRandomPassword's input.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct PasswordIn {
    password_length: Option<i64>,
    exclude_characters: Option<String>,
    exclude_numbers: Option<bool>,
    exclude_punctuation: Option<bool>,
    exclude_uppercase: Option<bool>,
    exclude_lowercase: Option<bool>,
    include_space: Option<bool>,
    require_each_included_type: Option<bool>,
}

/// GetRandomPassword's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PasswordOut {
    random_password: String,
}

/// The classes the input leaves in, each without the excluded characters, and whether
/// each must appear (space never must).
fn classes(i: &PasswordIn) -> Vec<(Vec<char>, bool)> {
    let excluded = i.exclude_characters.as_deref().unwrap_or_default();
    let rows = [
        (LOWER, i.exclude_lowercase, true),
        (UPPER, i.exclude_uppercase, true),
        (DIGITS, i.exclude_numbers, true),
        (PUNCTUATION, i.exclude_punctuation, true),
        (" ", Some(!i.include_space.unwrap_or(false)), false),
    ];
    rows.into_iter()
        .filter(|(_, exclude, _)| !exclude.unwrap_or(false))
        .map(|(set, _, required)| {
            let chars: Vec<char> = set.chars().filter(|c| !excluded.contains(*c)).collect();
            (chars, required)
        })
        .filter(|(chars, _)| !chars.is_empty())
        .collect()
}

fn pick(chars: &[char]) -> char {
    chars[random_below(chars.len() as u64) as usize]
}

/// A password as the input asks: PasswordLength characters (32 by default) from the
/// classes left in, with one of each (but space) when RequireEachIncludedType (the
/// default).
pub(crate) fn random_password(i: PasswordIn) -> Result<PasswordOut, ApiError> {
    let len = match i.password_length {
        None => 32,
        Some(n @ 1..=4096) => n as usize,
        Some(_) => {
            return Err(validation(
                "PasswordLength",
                "Member must have value between 1 and 4096",
            ))
        }
    };
    let classes = classes(&i);
    if classes.is_empty() {
        return Err(invalid_parameter(
            "The password has no characters to draw from: every class is excluded.",
        ));
    }
    let mut out: Vec<char> = Vec::with_capacity(len);
    if i.require_each_included_type.unwrap_or(true) {
        out.extend(classes.iter().filter(|(_, req)| *req).map(|(c, _)| pick(c)));
        if out.len() > len {
            return Err(invalid_parameter(format!(
                "PasswordLength: {len} is too short to include a character of each of the {} included types.",
                out.len()
            )));
        }
    }
    let all: Vec<char> = classes
        .iter()
        .flat_map(|(c, _)| c.iter().copied())
        .collect();
    while out.len() < len {
        out.push(pick(&all));
    }
    for n in (1..out.len()).rev() {
        out.swap(n, random_below(n as u64 + 1) as usize);
    }
    Ok(PasswordOut {
        random_password: out.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(v: serde_json::Value) -> Result<String, ApiError> {
        random_password(serde_json::from_value(v).unwrap()).map(|o| o.random_password)
    }

    #[test]
    fn passwords_follow_the_options() {
        let p = gen(serde_json::json!({})).unwrap();
        assert_eq!(p.chars().count(), 32);
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| PUNCTUATION.contains(c)));
        assert!(!p.contains(' '));
        let p = gen(serde_json::json!({"PasswordLength": 200, "ExcludePunctuation": true, "ExcludeCharacters": "abcABC012", "IncludeSpace": true})).unwrap();
        assert_eq!(p.len(), 200);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric() || c == ' '));
        assert!(!p.chars().any(|c| "abcABC012".contains(c)));
        let p = gen(serde_json::json!({"PasswordLength": 4, "ExcludeLowercase": true, "ExcludeUppercase": true, "ExcludePunctuation": true})).unwrap();
        assert!(p.chars().all(|c| c.is_ascii_digit()));
        let p = gen(serde_json::json!({"PasswordLength": 1, "RequireEachIncludedType": false}))
            .unwrap();
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn impossible_passwords_are_refused() {
        let code = |v| gen(v).unwrap_err().code;
        assert_eq!(
            code(serde_json::json!({"PasswordLength": 0})),
            "ValidationException"
        );
        assert_eq!(
            code(serde_json::json!({"PasswordLength": 4097})),
            "ValidationException"
        );
        assert_eq!(
            code(serde_json::json!({"PasswordLength": 3})),
            "InvalidParameterException"
        );
        assert_eq!(
            code(
                serde_json::json!({"ExcludeLowercase": true, "ExcludeUppercase": true, "ExcludeNumbers": true, "ExcludePunctuation": true})
            ),
            "InvalidParameterException"
        );
    }
}
