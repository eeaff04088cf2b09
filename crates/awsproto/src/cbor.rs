//! The Smithy RPCv2-CBOR encoding, bridged to the JSON values operations work on.
//!
//! Requests are decoded item by item and only as the model allows: maps with text keys
//! become JSON objects, text, numbers, booleans and lists map one to one, tag 1
//! (epoch seconds) becomes a number, and a byte string becomes base64 text (as JSON 1.1
//! carries blobs) only at a member the model types as a blob (the service's
//! [`Protocol::Cbor`](crate::Protocol::Cbor) `blobs`). Anything else a CBOR decoder
//! could read (a byte string elsewhere, big integers, other tags, `undefined`, simple
//! values, trailing bytes) is a `SerializationException` naming the field.
//! Responses: members named in `timestamp_members` (and the items of such a member
//! when it is a list) are written as tag 1, as the protocol requires; everything else
//! maps one to one.

use base64::Engine;
use ciborium::Value as Cbor;
use ciborium_ll::{simple, Decoder, Header};
use serde_json::{Map, Number, Value};

use crate::ApiError;

/// How deeply a request may nest lists and maps.
const MAX_DEPTH: usize = 64;

/// Decodes a CBOR body in which no member is a blob (an answer, or a request of an
/// operation without blobs) into a JSON value. An empty body is an empty object.
pub fn cbor_to_json(body: &[u8]) -> Result<Value, ApiError> {
    cbor_input(body, "", &[])
}

/// Decodes the CBOR body of a request for `op` into its JSON input. `blobs` are the
/// input members the model types as blobs, as `Operation.Member[.Member…]` (list items
/// take their list's name): a byte string is accepted there and nowhere else. An empty
/// body is an empty object.
pub fn cbor_input(body: &[u8], op: &str, blobs: &[&str]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut reader = Reader {
        decoder: Decoder::from(body),
        op,
        blobs,
        path: Vec::new(),
    };
    let value = reader.item()?;
    let used = reader.decoder.offset();
    if used != body.len() {
        return Err(ApiError::serialization(format!(
            "request body is not valid CBOR: {} bytes follow the first item",
            body.len() - used
        )));
    }
    Ok(value)
}

/// One step of the path to the item being read.
enum Step {
    Member(String),
    Item(usize),
}

struct Reader<'b, 'm> {
    decoder: Decoder<&'b [u8]>,
    op: &'m str,
    blobs: &'m [&'m str],
    path: Vec<Step>,
}

/// A body a CBOR decoder cannot read.
fn malformed<T>(e: ciborium_ll::Error<T>) -> ApiError {
    let why = match e {
        ciborium_ll::Error::Io(_) => "it ends inside an item".to_string(),
        ciborium_ll::Error::Syntax(at) => format!("malformed item at byte {at}"),
    };
    ApiError::serialization(format!("request body is not valid CBOR: {why}"))
}

impl Reader<'_, '_> {
    fn pull(&mut self) -> Result<Header, ApiError> {
        self.decoder.pull().map_err(malformed)
    }

    fn item(&mut self) -> Result<Value, ApiError> {
        let header = self.pull()?;
        self.value(header)
    }

    fn value(&mut self, header: Header) -> Result<Value, ApiError> {
        match header {
            Header::Positive(n) => Ok(Value::from(n)),
            Header::Negative(n) => i64::try_from(n)
                .map(|n| Value::from(-1 - n))
                .map_err(|_| self.refuse("an integer below the 64-bit range")),
            Header::Float(f) => Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| self.refuse("NaN or an infinite number")),
            Header::Simple(simple::FALSE) => Ok(Value::Bool(false)),
            Header::Simple(simple::TRUE) => Ok(Value::Bool(true)),
            Header::Simple(simple::NULL) => Ok(Value::Null),
            Header::Simple(simple::UNDEFINED) => Err(self.refuse("the CBOR value undefined")),
            Header::Simple(n) => Err(self.refuse(&format!("the CBOR simple value {n}"))),
            Header::Tag(1) => self.timestamp(),
            Header::Tag(2 | 3) => Err(self.refuse("a CBOR big integer (tag 2 or 3)")),
            Header::Tag(t) => Err(self.refuse(&format!("an item with CBOR tag {t}"))),
            Header::Text(len) => self.text(len).map(Value::String),
            Header::Bytes(len) => self.blob(len),
            Header::Array(len) => self.list(len),
            Header::Map(len) => self.map(len),
            Header::Break => Err(ApiError::serialization(
                "request body is not valid CBOR: a break outside an indefinite-length item",
            )),
        }
    }

    /// Tag 1: epoch seconds, an integer or a float.
    fn timestamp(&mut self) -> Result<Value, ApiError> {
        match self.pull()? {
            h @ (Header::Positive(_) | Header::Negative(_) | Header::Float(_)) => self.value(h),
            _ => Err(self.refuse("a timestamp (tag 1) that is not a number")),
        }
    }

    fn text(&mut self, len: Option<usize>) -> Result<String, ApiError> {
        let mut out = String::new();
        let mut scratch = [0u8; 4096];
        let mut segments = self.decoder.text(len);
        while let Some(mut segment) = segments.pull().map_err(malformed)? {
            while let Some(chunk) = segment.pull(&mut scratch).map_err(malformed)? {
                out.push_str(chunk);
            }
        }
        Ok(out)
    }

    /// A byte string: base64 text at a blob member, refused elsewhere.
    fn blob(&mut self, len: Option<usize>) -> Result<Value, ApiError> {
        if !self.at_blob_member() {
            return Err(self.refuse("a CBOR byte string, where the model has no blob"));
        }
        let mut out = Vec::new();
        let mut scratch = [0u8; 4096];
        let mut segments = self.decoder.bytes(len);
        while let Some(mut segment) = segments.pull().map_err(malformed)? {
            while let Some(chunk) = segment.pull(&mut scratch).map_err(malformed)? {
                out.extend_from_slice(chunk);
            }
        }
        Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(out),
        ))
    }

    fn at_blob_member(&self) -> bool {
        let mut name = self.op.to_string();
        for step in &self.path {
            if let Step::Member(m) = step {
                name.push('.');
                name.push_str(m);
            }
        }
        self.blobs.contains(&name.as_str())
    }

    /// Enters a list or map: refused past [`MAX_DEPTH`].
    fn enter(&self) -> Result<(), ApiError> {
        if self.path.len() >= MAX_DEPTH {
            return Err(ApiError::serialization(format!(
                "request body nests more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    /// The next item of a list or map of `len` items (`None`: until a break), after
    /// `read` of them; `None` at its end.
    fn next(&mut self, len: Option<usize>, read: usize) -> Result<Option<Header>, ApiError> {
        match len {
            Some(n) if read >= n => Ok(None),
            Some(_) => self.pull().map(Some),
            None => match self.pull()? {
                Header::Break => Ok(None),
                h => Ok(Some(h)),
            },
        }
    }

    fn list(&mut self, len: Option<usize>) -> Result<Value, ApiError> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(header) = self.next(len, items.len())? {
            self.path.push(Step::Item(items.len()));
            let item = self.value(header)?;
            self.path.pop();
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: Option<usize>) -> Result<Value, ApiError> {
        self.enter()?;
        let mut members = Map::new();
        let mut read = 0;
        while let Some(header) = self.next(len, read)? {
            read += 1;
            let Header::Text(key_len) = header else {
                return Err(self.refuse("a map key that is not text"));
            };
            let key = self.text(key_len)?;
            self.path.push(Step::Member(key));
            let value = self.item()?;
            let Some(Step::Member(key)) = self.path.pop() else {
                unreachable!("the member pushed above");
            };
            // Null members are absent members, as in JSON 1.1.
            if !value.is_null() {
                members.insert(key, value);
            }
        }
        Ok(Value::Object(members))
    }

    /// An item the model does not allow here, named by its path as
    /// [`parse_input`](crate::parse_input) names fields.
    fn refuse(&self, what: &str) -> ApiError {
        if self.path.is_empty() {
            return ApiError::serialization(format!(
                "Request body does not match the input shape: {what}"
            ));
        }
        let mut path = String::new();
        for step in &self.path {
            match step {
                Step::Member(m) if path.is_empty() => path.push_str(m),
                Step::Member(m) => {
                    path.push('.');
                    path.push_str(m);
                }
                Step::Item(i) => path.push_str(&format!("[{i}]")),
            }
        }
        ApiError::serialization(format!("Invalid value for field '{path}': {what}"))
    }
}

/// Encodes a JSON response as CBOR, tagging the members named in `timestamp_members`.
pub fn json_to_cbor(v: &Value, timestamp_members: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(&to_cbor(v, false, timestamp_members), &mut out)
        .expect("writing CBOR to a Vec cannot fail");
    out
}

fn to_cbor(v: &Value, is_timestamp: bool, ts: &[&str]) -> Cbor {
    match v {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => {
            let inner = if let Some(i) = n.as_i64() {
                Cbor::Integer(i.into())
            } else if let Some(u) = n.as_u64() {
                Cbor::Integer(u.into())
            } else {
                Cbor::Float(n.as_f64().unwrap_or(0.0))
            };
            if is_timestamp {
                Cbor::Tag(1, Box::new(inner))
            } else {
                inner
            }
        }
        Value::String(s) => Cbor::Text(s.clone()),
        // The items of a list of timestamps are timestamps.
        Value::Array(items) => {
            Cbor::Array(items.iter().map(|i| to_cbor(i, is_timestamp, ts)).collect())
        }
        Value::Object(m) => Cbor::Map(
            m.iter()
                .map(|(k, v)| {
                    (
                        Cbor::Text(k.clone()),
                        to_cbor(v, ts.contains(&k.as_str()), ts),
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_with_timestamps() {
        let v = json!({"Namespace": {"Id": "ns-1", "CreateDate": 1661749852.422, "ServiceCount": 3, "Tags": [{"Key": "a"}]}});
        let bytes = json_to_cbor(&v, &["CreateDate"]);
        // The timestamp is tagged: 0xc1 is major type 6, tag 1.
        assert!(bytes.contains(&0xc1));
        let back = cbor_to_json(&bytes).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn a_list_of_timestamps_is_tagged_item_by_item() {
        let v = json!({"Timestamps": [1.5, 2], "Values": [3]});
        let bytes = json_to_cbor(&v, &["Timestamps"]);
        assert_eq!(bytes.iter().filter(|b| **b == 0xc1).count(), 2);
        assert_eq!(cbor_to_json(&bytes).unwrap(), v);
    }

    #[test]
    fn garbage_is_a_serialization_error() {
        let e = cbor_to_json(&[0xff, 0x00, 0x12]).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        // Cut short inside a text item.
        let e = cbor_to_json(&[0xa1, 0x64, b'N', b'a']).unwrap_err();
        assert!(e.message.contains("ends inside an item"), "{}", e.message);
        // A second item after the first.
        let e = cbor_to_json(&[0xa0, 0xa0]).unwrap_err();
        assert!(e.message.contains("1 bytes follow"), "{}", e.message);
    }

    fn encode(v: Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&v, &mut out).unwrap();
        out
    }

    fn map(members: Vec<(&str, Cbor)>) -> Cbor {
        Cbor::Map(
            members
                .into_iter()
                .map(|(k, v)| (Cbor::Text(k.into()), v))
                .collect(),
        )
    }

    const BLOBS: &[&str] = &["Issue.Csr", "Import.Chain.Parts"];

    #[test]
    fn a_byte_string_is_base64_text_only_at_a_blob_member() {
        let body = encode(map(vec![("Csr", Cbor::Bytes(vec![0, 255]))]));
        assert_eq!(
            cbor_input(&body, "Issue", BLOBS).unwrap(),
            json!({"Csr": "AP8="})
        );
        // The same member of another operation is no blob.
        let e = cbor_input(&body, "Other", BLOBS).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert_eq!(
            e.message,
            "Invalid value for field 'Csr': a CBOR byte string, where the model has no blob"
        );
        // A list of blobs, nested: its items take the list's name.
        let parts = Cbor::Array(vec![Cbor::Bytes(b"a".to_vec()), Cbor::Bytes(b"b".to_vec())]);
        let body = encode(map(vec![("Chain", map(vec![("Parts", parts)]))]));
        assert_eq!(
            cbor_input(&body, "Import", BLOBS).unwrap(),
            json!({"Chain": {"Parts": ["YQ==", "Yg=="]}})
        );
        // Where text is expected, a byte string names the field, however deep.
        let tags = Cbor::Array(vec![
            map(vec![("Key", Cbor::Text("a".into()))]),
            map(vec![("Key", Cbor::Bytes(vec![1]))]),
        ]);
        let body = encode(map(vec![("Tags", tags)]));
        let e = cbor_to_json(&body).unwrap_err();
        assert!(
            e.message
                .starts_with("Invalid value for field 'Tags[1].Key'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn big_integers_tags_undefined_and_simple_values_are_refused() {
        // 0x00ff as a positive bignum: what once became a namespace named `AP8=`.
        let bignum = Cbor::Tag(2, Box::new(Cbor::Bytes(vec![0, 255])));
        let e = cbor_to_json(&encode(map(vec![("Name", bignum)]))).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("'Name'"), "{}", e.message);
        assert!(e.message.contains("big integer"), "{}", e.message);
        let negative = Cbor::Tag(3, Box::new(Cbor::Bytes(vec![1])));
        let e = cbor_to_json(&encode(map(vec![("N", negative)]))).unwrap_err();
        assert!(e.message.contains("big integer"), "{}", e.message);
        let other = Cbor::Tag(32, Box::new(Cbor::Text("http://x".into())));
        let e = cbor_to_json(&encode(map(vec![("Url", other)]))).unwrap_err();
        assert!(
            e.message.contains("'Url'") && e.message.contains("tag 32"),
            "{}",
            e.message
        );
        // {"A": undefined}, {"A": simple(16)}
        let e = cbor_to_json(&[0xa1, 0x61, b'A', 0xf7]).unwrap_err();
        assert!(
            e.message.contains("'A'") && e.message.contains("undefined"),
            "{}",
            e.message
        );
        let e = cbor_to_json(&[0xa1, 0x61, b'A', 0xf0]).unwrap_err();
        assert!(e.message.contains("simple value 16"), "{}", e.message);
        // A map key that is not text.
        let e = cbor_to_json(&encode(Cbor::Map(vec![(
            Cbor::Integer(1.into()),
            Cbor::Null,
        )])))
        .unwrap_err();
        assert!(e.message.contains("map key"), "{}", e.message);
        // An integer below i64.
        let e = cbor_to_json(&[
            0xa1, 0x61, b'A', 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ])
        .unwrap_err();
        assert!(e.message.contains("64-bit"), "{}", e.message);
        // A timestamp must hold a number.
        let ts = Cbor::Tag(1, Box::new(Cbor::Text("now".into())));
        let e = cbor_to_json(&encode(map(vec![("At", ts)]))).unwrap_err();
        assert!(e.message.contains("'At'"), "{}", e.message);
    }

    #[test]
    fn indefinite_lengths_negatives_and_nulls() {
        // {_ "A": (_ "x", "y"), "B": [_ -5, null], "C": null }
        let body = [
            0xbf, 0x61, b'A', 0x7f, 0x61, b'x', 0x61, b'y', 0xff, 0x61, b'B', 0x9f, 0x24, 0xf6,
            0xff, 0x61, b'C', 0xf6, 0xff,
        ];
        assert_eq!(
            cbor_to_json(&body).unwrap(),
            json!({"A": "xy", "B": [-5, null]})
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut body = vec![0x81; 100];
        body.push(0x80);
        let e = cbor_to_json(&body).unwrap_err();
        assert!(e.message.contains("nests more than 64"), "{}", e.message);
    }
}
