//! The AWS query protocol's request body: an `application/x-www-form-urlencoded` form
//! whose names are paths (`Tags.member.1.Key`, EC2's `Filter.1.Value.2`), read into a
//! tree that an operation's typed input deserializes from.
//!
//! The tree knows no shapes: the type being deserialized decides. A `Vec` reads the
//! numbered children of its node (`Name.N`, or `Name.member.N` and other one-name
//! wrappers), a map reads `Name.entry.N.key` / `.value`, numbers and booleans parse
//! their text, a float also takes an ISO 8601 timestamp (as epoch seconds, what the
//! JSON protocols carry), and `Name=` with nothing after it is an empty list, as
//! botocore sends one.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Visitor};
use serde_json::{Map, Value};

use crate::ApiError;

/// The code of a form that cannot be read.
pub const MALFORMED_QUERY_STRING: &str = "MalformedQueryString";

/// A query request: its routing keys and the rest of its parameters.
#[derive(Debug)]
pub struct QueryRequest {
    /// The `Action` parameter: the operation.
    pub action: Option<String>,
    /// The `Version` parameter: the API version, which names the service.
    pub version: Option<String>,
    /// Every other parameter.
    pub params: FormParams,
}

/// A form's parameters as a tree of names.
#[derive(Debug, Clone, PartialEq)]
pub struct FormParams(pub(crate) Node);

/// One name of a form: a value, or the names below it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(400, MALFORMED_QUERY_STRING, message)
}

/// Reads a urlencoded form. Bad percent-encoding, text that is not UTF-8, a name with
/// an empty part, a name given twice, or one given both as a value and as a parent
/// of other names is a `MalformedQueryString` naming it.
pub fn decode_form(body: &[u8]) -> Result<QueryRequest, ApiError> {
    let mut root = BTreeMap::new();
    let (mut action, mut version) = (None, None);
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let name = percent_decode(name).map_err(|why| {
            let raw = String::from_utf8_lossy(name);
            malformed(format!("parameter name '{raw}' {why}"))
        })?;
        let value = percent_decode(value)
            .map_err(|why| malformed(format!("the value of parameter '{name}' {why}")))?;
        match name.as_str() {
            "Action" => set_once(&mut action, &name, value)?,
            "Version" => set_once(&mut version, &name, value)?,
            _ => insert(&mut root, &name, value)?,
        }
    }
    Ok(QueryRequest {
        action,
        version,
        params: FormParams(Node::Branch(root)),
    })
}

fn set_once(slot: &mut Option<String>, name: &str, value: String) -> Result<(), ApiError> {
    if slot.replace(value).is_some() {
        return Err(malformed(format!(
            "parameter '{name}' is given more than once"
        )));
    }
    Ok(())
}

/// Decodes `+` and `%XX`; the error says what is wrong with the text.
fn percent_decode(raw: &[u8]) -> Result<String, &'static str> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("has a bad percent-encoding")?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 text")
}

fn insert(root: &mut BTreeMap<String, Node>, name: &str, value: String) -> Result<(), ApiError> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(malformed(format!(
            "parameter name '{name}' has an empty part"
        )));
    }
    let conflict = || {
        malformed(format!(
            "parameter '{name}' conflicts with another parameter"
        ))
    };
    let (last, parents) = parts.split_last().expect("split yields one part at least");
    let mut level = root;
    for part in parents {
        let node = level
            .entry((*part).to_string())
            .or_insert_with(|| Node::Branch(BTreeMap::new()));
        level = match node {
            Node::Branch(children) => children,
            Node::Leaf(_) => return Err(conflict()),
        };
    }
    match level.get(*last) {
        None => {
            level.insert((*last).to_string(), Node::Leaf(value));
            Ok(())
        }
        Some(Node::Leaf(_)) => Err(malformed(format!(
            "parameter '{name}' is given more than once"
        ))),
        Some(Node::Branch(_)) => Err(conflict()),
    }
}

/// The item number of a list or map entry: 1, 2, ... (no leading zeros).
fn item_number(key: &str) -> Option<usize> {
    if key.starts_with('0') {
        return None;
    }
    key.parse().ok()
}

fn all_numbered(children: &BTreeMap<String, Node>) -> bool {
    !children.is_empty() && children.keys().all(|k| item_number(k).is_some())
}

impl Node {
    /// The items of a list: `Name.N` (EC2, flattened lists) or `Name.<wrapper>.N`
    /// (`member`, or the name the model gives the list's items).
    fn into_items(self) -> Result<Vec<Node>, FormError> {
        let children = match self {
            Node::Leaf(s) if s.is_empty() => return Ok(Vec::new()),
            Node::Leaf(s) => return Err(FormError::expected("a list", &s)),
            Node::Branch(children) => children,
        };
        let children = if !all_numbered(&children) && children.len() == 1 {
            match children.into_values().next() {
                Some(Node::Branch(inner)) => inner,
                Some(Node::Leaf(s)) if s.is_empty() => return Ok(Vec::new()),
                Some(Node::Leaf(s)) => return Err(FormError::expected("a list", &s)),
                None => BTreeMap::new(),
            }
        } else {
            children
        };
        let mut items = Vec::with_capacity(children.len());
        for (key, node) in children {
            let n = item_number(&key).ok_or_else(|| {
                FormError::new(format!("expected a list item number, found '{key}'"))
            })?;
            items.push((n, node));
        }
        items.sort_by_key(|(n, _)| *n);
        Ok(items.into_iter().map(|(_, node)| node).collect())
    }

    /// The entries of a map: `Name.entry.N.key` / `.value` (or flattened,
    /// `Name.N.key`), else the names below the node as keys.
    fn into_entries(self) -> Result<Vec<(Node, Node)>, FormError> {
        let children = match self {
            Node::Leaf(s) if s.is_empty() => return Ok(Vec::new()),
            Node::Leaf(s) => return Err(FormError::expected("a map", &s)),
            Node::Branch(children) => children,
        };
        let numbered =
            all_numbered(&children) || (children.len() == 1 && children.contains_key("entry"));
        if !numbered {
            return Ok(children
                .into_iter()
                .map(|(k, v)| (Node::Leaf(k), v))
                .collect());
        }
        Node::Branch(children)
            .into_items()?
            .into_iter()
            .map(Node::into_key_value)
            .collect()
    }

    fn into_key_value(self) -> Result<(Node, Node), FormError> {
        let Node::Branch(mut entry) = self else {
            return Err(FormError::new(
                "expected a map entry with a key and a value",
            ));
        };
        let mut take = |name: &str, upper: &str| entry.remove(name).or_else(|| entry.remove(upper));
        let key = take("key", "Key").ok_or_else(|| FormError::new("a map entry has no key"))?;
        let value = take("value", "Value").unwrap_or(Node::Leaf(String::new()));
        Ok((key, value))
    }

    /// The tree as JSON without types: text values, numbered children as arrays.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Node::Leaf(s) => Value::String(s),
            Node::Branch(children) => {
                let is_list = all_numbered(&children)
                    || (children.len() == 1
                        && matches!(children.get("member"), Some(Node::Branch(c)) if all_numbered(c)));
                if is_list {
                    let items = Node::Branch(children).into_items().unwrap_or_default();
                    Value::Array(items.into_iter().map(Node::into_value).collect())
                } else {
                    let map: Map<String, Value> = children
                        .into_iter()
                        .map(|(k, v)| (k, v.into_value()))
                        .collect();
                    Value::Object(map)
                }
            }
        }
    }

    fn into_text(self, what: &str) -> Result<String, FormError> {
        match self {
            Node::Leaf(s) => Ok(s),
            Node::Branch(_) => Err(FormError::new(format!(
                "expected {what}, found a structure or list"
            ))),
        }
    }
}

/// Why a form does not fit an operation's input.
#[derive(Debug)]
pub(crate) enum FormError {
    /// A value or structure that does not fit: why.
    Invalid(String),
    /// A name the input type does not have (one that denies unknown fields).
    Unknown(String),
}

impl FormError {
    fn new(why: impl Into<String>) -> FormError {
        FormError::Invalid(why.into())
    }

    fn expected(what: &str, found: &str) -> FormError {
        FormError::new(format!("expected {what}, found '{found}'"))
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::Invalid(why) => f.write_str(why),
            FormError::Unknown(name) => write!(f, "unknown parameter {name}"),
        }
    }
}

impl std::error::Error for FormError {}

impl de::Error for FormError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FormError::new(msg.to_string())
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        FormError::Unknown(field.to_string())
    }
}

impl<'de> IntoDeserializer<'de, FormError> for Node {
    type Deserializer = Node;
    fn into_deserializer(self) -> Node {
        self
    }
}

/// A float as the query protocol writes one: a number, `NaN`, `Infinity`,
/// `-Infinity`, or an ISO 8601 timestamp (as epoch seconds).
fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text
            .parse()
            .ok()
            .or_else(|| crate::time::parse_iso8601(text)),
    }
}

macro_rules! parse_number {
    ($($method:ident => $visit:ident: $ty:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
            let text = self.into_text("a number")?;
            let n: $ty = text.parse().map_err(|_| FormError::expected("an integer", &text))?;
            visitor.$visit(n)
        }
    )*};
}

macro_rules! as_text {
    ($($method:ident,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
            visitor.visit_string(self.into_text("a value")?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Node {
    type Error = FormError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        match self {
            Node::Leaf(s) => visitor.visit_string(s),
            node @ Node::Branch(_) => self::visit_map(node, visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        let text = self.into_text("true or false")?;
        match text.as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(FormError::expected("true or false", &text)),
        }
    }

    parse_number! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        let text = self.into_text("a number")?;
        let n = parse_float(&text).ok_or_else(|| FormError::expected("a number", &text))?;
        visitor.visit_f64(n)
    }

    as_text! {
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_identifier,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FormError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FormError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        let mut items = SeqDeserializer::new(self.into_items()?.into_iter());
        let value = visitor.visit_seq(&mut items)?;
        items.end()?;
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, FormError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, FormError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        let mut entries = MapDeserializer::new(self.into_entries()?.into_iter());
        let value = visitor.visit_map(&mut entries)?;
        entries.end()?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FormError> {
        match self {
            Node::Leaf(s) if !s.is_empty() => Err(FormError::expected("a structure", &s)),
            Node::Leaf(_) => self::visit_map(Node::Branch(BTreeMap::new()), visitor),
            node => self::visit_map(node, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FormError> {
        let text = self.into_text("one of the allowed values")?;
        visitor.visit_enum(IntoDeserializer::<FormError>::into_deserializer(text))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        visitor.visit_unit()
    }
}

/// The names below a branch as a map of name to node.
fn visit_map<'de, V: Visitor<'de>>(node: Node, visitor: V) -> Result<V::Value, FormError> {
    let children = match node {
        Node::Branch(children) => children,
        Node::Leaf(s) => return Err(FormError::expected("a structure", &s)),
    };
    let mut entries = MapDeserializer::new(children.into_iter());
    let value = visitor.visit_map(&mut entries)?;
    entries.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> FormParams {
        decode_form(body.as_bytes()).unwrap().params
    }

    #[test]
    fn action_and_version_are_taken_out() {
        let q = decode_form(b"Action=GetCallerIdentity&Version=2011-06-15").unwrap();
        assert_eq!(q.action.as_deref(), Some("GetCallerIdentity"));
        assert_eq!(q.version.as_deref(), Some("2011-06-15"));
        assert_eq!(q.params.0.into_value(), serde_json::json!({}));
    }

    #[test]
    fn percent_and_plus_decode() {
        let p = params("Name=a+b%2Fc%3D%E2%9C%93&Empty=&Bare");
        assert_eq!(
            p.0.into_value(),
            serde_json::json!({"Name": "a b/c=\u{2713}", "Empty": "", "Bare": ""})
        );
    }

    #[test]
    fn malformed_forms_name_the_problem() {
        for (body, says) in [
            (
                "A=%zz",
                "the value of parameter 'A' has a bad percent-encoding",
            ),
            ("A%zz=1", "parameter name 'A%zz' has a bad percent-encoding"),
            ("A=%4", "bad percent-encoding"),
            ("A=%ff", "not UTF-8"),
            ("A..B=1", "empty part"),
            ("A=1&A=2", "more than once"),
            ("Action=X&Action=Y", "more than once"),
            ("A=1&A.1=2", "conflicts"),
            ("A.1=2&A=1", "conflicts"),
        ] {
            let e = decode_form(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, MALFORMED_QUERY_STRING, "{body}");
            assert_eq!(e.status, 400);
            assert!(e.message.contains(says), "{body}: {}", e.message);
        }
    }

    #[test]
    fn untyped_value_has_lists() {
        let p = params(
            "Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.10.Key=c&Filter.1.Value.1=x",
        );
        assert_eq!(
            p.0.into_value(),
            serde_json::json!({
                "Tags": [{"Key": "a"}, {"Key": "b"}, {"Key": "c"}],
                "Filter": [{"Value": ["x"]}],
            })
        );
    }
}
