//! `ASN1Subject`: its constraints, and the subject berth-pki writes.

use berth_awsproto::ApiError;
use berth_pki::Subject;

use crate::errors::{invalid_args, validation};
use crate::records::{Asn1Subject, CustomAttribute};

/// How a field's text may look.
#[derive(Clone, Copy)]
enum Text {
    /// Any characters.
    Any,
    /// ASN.1 PrintableString characters.
    Printable,
    /// Two letters.
    Country,
}

type Getter = fn(&Asn1Subject) -> &Option<String>;

/// Every field: its member name, maximum length, text, and where it is.
const FIELDS: &[(&str, usize, Text, Getter)] = &[
    ("Country", 2, Text::Country, |s| &s.country),
    ("Organization", 64, Text::Any, |s| &s.organization),
    ("OrganizationalUnit", 64, Text::Any, |s| {
        &s.organizational_unit
    }),
    ("DistinguishedNameQualifier", 64, Text::Printable, |s| {
        &s.distinguished_name_qualifier
    }),
    ("State", 128, Text::Any, |s| &s.state),
    ("CommonName", 64, Text::Any, |s| &s.common_name),
    ("SerialNumber", 64, Text::Printable, |s| &s.serial_number),
    ("Locality", 128, Text::Any, |s| &s.locality),
    ("Title", 64, Text::Any, |s| &s.title),
    ("Surname", 40, Text::Any, |s| &s.surname),
    ("GivenName", 16, Text::Any, |s| &s.given_name),
    ("Initials", 5, Text::Any, |s| &s.initials),
    ("Pseudonym", 128, Text::Any, |s| &s.pseudonym),
    ("GenerationQualifier", 3, Text::Any, |s| {
        &s.generation_qualifier
    }),
];

fn printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

fn check_field(member: &str, max: usize, text: Text, value: &str) -> Result<(), ApiError> {
    let len = value.chars().count();
    let (ok, constraint) = match text {
        Text::Any => (len <= max, format!("Member must have length less than or equal to {max}")),
        Text::Printable => (
            len <= max && value.chars().all(printable),
            format!("Member must have length less than or equal to {max} and satisfy regular expression pattern: [a-zA-Z0-9'()+-.?:/= ]*"),
        ),
        Text::Country => (
            len == 2 && value.chars().all(|c| c.is_ascii_alphabetic()),
            "Member must satisfy regular expression pattern: [A-Za-z]{2}".to_string(),
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(validation(member, &constraint))
    }
}

/// Checks a subject given at `path` (e.g. `CertificateAuthorityConfiguration.Subject`).
pub(crate) fn check(path: &str, s: &Asn1Subject) -> Result<(), ApiError> {
    for (name, max, text, get) in FIELDS {
        if let Some(v) = get(s) {
            check_field(&format!("{path}.{name}"), *max, *text, v)?;
        }
    }
    let standard = FIELDS.iter().any(|(_, _, _, get)| get(s).is_some());
    let custom = s.custom_attributes.as_deref().unwrap_or_default();
    if custom.is_empty() && s.custom_attributes.is_some() {
        return Err(validation(
            &format!("{path}.CustomAttributes"),
            "Member must have length greater than or equal to 1",
        ));
    }
    if standard && !custom.is_empty() {
        return Err(invalid_args(format!(
            "{path}: CustomAttributes cannot be combined with standard subject attributes"
        )));
    }
    if !standard && custom.is_empty() {
        return Err(invalid_args(format!(
            "{path} must contain at least one attribute"
        )));
    }
    custom
        .iter()
        .enumerate()
        .try_for_each(|(i, a)| check_custom(&format!("{path}.CustomAttributes.{}", i + 1), a))
}

fn check_custom(path: &str, a: &CustomAttribute) -> Result<(), ApiError> {
    let oid_ok = a.object_identifier.len() <= 64 && {
        let arcs: Vec<&str> = a.object_identifier.split('.').collect();
        arcs.len() >= 2
            && matches!(arcs[0], "0" | "1" | "2")
            && arcs
                .iter()
                .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
    };
    if !oid_ok {
        return Err(validation(
            &format!("{path}.ObjectIdentifier"),
            "Member must be a dotted object identifier",
        ));
    }
    if a.value.is_empty() || a.value.chars().count() > 256 {
        return Err(validation(
            &format!("{path}.Value"),
            "Member must have length between 1 and 256",
        ));
    }
    Ok(())
}

/// The subject berth-pki writes for a checked `ASN1Subject`.
pub(crate) fn to_pki(s: &Asn1Subject) -> Subject {
    Subject {
        country: s.country.clone(),
        organization: s.organization.clone(),
        organizational_unit: s.organizational_unit.clone(),
        distinguished_name_qualifier: s.distinguished_name_qualifier.clone(),
        state: s.state.clone(),
        common_name: s.common_name.clone(),
        serial_number: s.serial_number.clone(),
        locality: s.locality.clone(),
        title: s.title.clone(),
        surname: s.surname.clone(),
        given_name: s.given_name.clone(),
        initials: s.initials.clone(),
        pseudonym: s.pseudonym.clone(),
        generation_qualifier: s.generation_qualifier.clone(),
        custom: s
            .custom_attributes
            .iter()
            .flatten()
            .map(|a| (a.object_identifier.clone(), a.value.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Asn1Subject)) -> Asn1Subject {
        let mut s = Asn1Subject::default();
        f(&mut s);
        s
    }

    fn attr(oid: &str, value: &str) -> CustomAttribute {
        CustomAttribute {
            object_identifier: oid.into(),
            value: value.into(),
        }
    }

    #[test]
    fn subjects_are_checked_as_the_model_says() {
        let table: Vec<(Asn1Subject, Option<&str>)> = vec![
            (with(|s| s.common_name = Some("CA".into())), None),
            (with(|s| s.country = Some("US".into())), None),
            (
                with(|s| s.country = Some("USA".into())),
                Some("Subject.Country"),
            ),
            (
                with(|s| s.country = Some("U1".into())),
                Some("Subject.Country"),
            ),
            (
                with(|s| s.common_name = Some("x".repeat(65))),
                Some("Subject.CommonName"),
            ),
            (
                with(|s| s.initials = Some("ABCDEF".into())),
                Some("Subject.Initials"),
            ),
            (
                with(|s| s.serial_number = Some("12*".into())),
                Some("Subject.SerialNumber"),
            ),
            (Asn1Subject::default(), Some("at least one attribute")),
            (
                with(|s| s.custom_attributes = Some(vec![attr("2.5.4.3", "x")])),
                None,
            ),
            (
                with(|s| s.custom_attributes = Some(vec![])),
                Some("CustomAttributes"),
            ),
            (
                with(|s| s.custom_attributes = Some(vec![attr("2.5", "")])),
                Some("CustomAttributes.1.Value"),
            ),
            (
                with(|s| s.custom_attributes = Some(vec![attr("9.5", "x")])),
                Some("CustomAttributes.1.ObjectIdentifier"),
            ),
            (
                with(|s| {
                    s.common_name = Some("CA".into());
                    s.custom_attributes = Some(vec![attr("2.5.4.3", "x")]);
                }),
                Some("cannot be combined"),
            ),
        ];
        for (s, want) in table {
            let got = check("Subject", &s).err().map(|e| e.message);
            match (want, got) {
                (None, None) => {}
                (Some(w), Some(g)) => assert!(g.contains(w), "{s:?}: {g} lacks {w}"),
                (w, g) => panic!("{s:?}: want {w:?}, got {g:?}"),
            }
        }
    }
}
