//! Distinguished names with the fields ACM PCA's `ASN1Subject` has.

use rcgen::{DistinguishedName, DnType, DnValue};
use x509_parser::x509::X509Name;

use crate::PkiError;

/// A distinguished name: every field of ACM PCA's `ASN1Subject`, plus attributes
/// named by their object identifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// C (two letters).
    pub country: Option<String>,
    /// O.
    pub organization: Option<String>,
    /// OU.
    pub organizational_unit: Option<String>,
    /// dnQualifier.
    pub distinguished_name_qualifier: Option<String>,
    /// ST.
    pub state: Option<String>,
    /// CN.
    pub common_name: Option<String>,
    /// serialNumber (of the subject, not of a certificate).
    pub serial_number: Option<String>,
    /// L.
    pub locality: Option<String>,
    /// title.
    pub title: Option<String>,
    /// SN.
    pub surname: Option<String>,
    /// GN.
    pub given_name: Option<String>,
    /// initials.
    pub initials: Option<String>,
    /// pseudonym.
    pub pseudonym: Option<String>,
    /// generationQualifier.
    pub generation_qualifier: Option<String>,
    /// Other attributes: (dotted object identifier, value), in order.
    pub custom: Vec<(String, String)>,
}

/// How a field is written: PrintableString (country, dnQualifier, serialNumber) or
/// UTF8String.
#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Printable,
    Utf8,
}

type Field = fn(&mut Subject) -> &mut Option<String>;

/// Every named field: its object identifier, encoding and place, in the order they
/// are written.
const FIELDS: &[(&str, Encoding, Field)] = &[
    ("2.5.4.6", Encoding::Printable, |s| &mut s.country),
    ("2.5.4.10", Encoding::Utf8, |s| &mut s.organization),
    ("2.5.4.11", Encoding::Utf8, |s| &mut s.organizational_unit),
    ("2.5.4.46", Encoding::Printable, |s| {
        &mut s.distinguished_name_qualifier
    }),
    ("2.5.4.8", Encoding::Utf8, |s| &mut s.state),
    ("2.5.4.3", Encoding::Utf8, |s| &mut s.common_name),
    ("2.5.4.5", Encoding::Printable, |s| &mut s.serial_number),
    ("2.5.4.7", Encoding::Utf8, |s| &mut s.locality),
    ("2.5.4.12", Encoding::Utf8, |s| &mut s.title),
    ("2.5.4.4", Encoding::Utf8, |s| &mut s.surname),
    ("2.5.4.42", Encoding::Utf8, |s| &mut s.given_name),
    ("2.5.4.43", Encoding::Utf8, |s| &mut s.initials),
    ("2.5.4.65", Encoding::Utf8, |s| &mut s.pseudonym),
    ("2.5.4.44", Encoding::Utf8, |s| &mut s.generation_qualifier),
];

impl Subject {
    /// A subject with only a common name.
    pub fn common_name(cn: impl Into<String>) -> Subject {
        Subject {
            common_name: Some(cn.into()),
            ..Subject::default()
        }
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.attributes().is_empty()
    }

    /// Every set field as (object identifier, value, printable), in writing order.
    fn attributes(&self) -> Vec<(String, String, bool)> {
        let mut copy = self.clone();
        let mut out = Vec::new();
        for (oid, enc, field) in FIELDS {
            if let Some(v) = field(&mut copy).take() {
                out.push((oid.to_string(), v, *enc == Encoding::Printable));
            }
        }
        for (oid, v) in &self.custom {
            out.push((oid.clone(), v.clone(), false));
        }
        out
    }

    /// The subject as rcgen writes it. A PrintableString field with characters
    /// outside that set, or a malformed object identifier, is refused.
    pub(crate) fn to_rcgen(&self) -> Result<DistinguishedName, PkiError> {
        let mut dn = DistinguishedName::new();
        for (oid, value, printable) in self.attributes() {
            let ty = DnType::from_oid(&parse_oid(&oid)?);
            let value = if printable {
                let p = value.as_str().try_into().map_err(|_| {
                    PkiError::InvalidSubject(format!(
                        "{oid} must be a PrintableString, not {value:?}"
                    ))
                })?;
                DnValue::PrintableString(p)
            } else {
                DnValue::Utf8String(value)
            };
            dn.push(ty, value);
        }
        Ok(dn)
    }

    /// The subject of a parsed name: known attributes in their fields, the rest as
    /// custom attributes (values that are not text are skipped).
    pub(crate) fn from_x509(name: &X509Name<'_>) -> Subject {
        let mut s = Subject::default();
        for attr in name.iter_attributes() {
            let oid = attr.attr_type().to_id_string();
            let Ok(value) = attr.as_str() else { continue };
            match FIELDS.iter().find(|(o, _, _)| *o == oid) {
                Some((_, _, field)) => *field(&mut s) = Some(value.to_string()),
                None => s.custom.push((oid, value.to_string())),
            }
        }
        s
    }
}

/// `1.2.840.113549` as its arcs.
pub(crate) fn parse_oid(oid: &str) -> Result<Vec<u64>, PkiError> {
    let arcs: Option<Vec<u64>> = oid.split('.').map(|a| a.parse().ok()).collect();
    match arcs {
        Some(a) if a.len() >= 2 && a[0] <= 2 => Ok(a),
        _ => Err(PkiError::InvalidSubject(format!(
            "{oid:?} is not an object identifier"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_are_checked() {
        assert_eq!(parse_oid("2.5.4.3").unwrap(), vec![2, 5, 4, 3]);
        for bad in ["", "2", "3.1", "1.x", "1..2"] {
            assert!(parse_oid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn printable_fields_refuse_other_characters() {
        let s = Subject {
            country: Some("U*".into()),
            ..Subject::default()
        };
        assert!(matches!(s.to_rcgen(), Err(PkiError::InvalidSubject(_))));
        let s = Subject {
            country: Some("US".into()),
            common_name: Some("Ünïcode CA".into()),
            ..Subject::default()
        };
        assert!(s.to_rcgen().is_ok());
    }
}
