//! The Smithy RPCv2-CBOR encoding, bridged to the JSON values operations work on.
//!
//! Requests: CBOR maps become JSON objects, tag 1 (epoch seconds) becomes a number,
//! byte strings become base64 text (as JSON 1.1 carries blobs).
//! Responses: members named in `timestamp_members` (and the items of such a member
//! when it is a list) are written as tag 1, as the protocol requires; everything else
//! maps one to one.

use base64::Engine;
use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value};

use crate::ApiError;

/// Decodes a CBOR request body into a JSON value. An empty body is an empty object.
pub fn cbor_to_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let v: Cbor = ciborium::de::from_reader(body)
        .map_err(|e| ApiError::serialization(format!("request body is not valid CBOR: {e}")))?;
    to_json(v, 0)
}

fn to_json(v: Cbor, depth: usize) -> Result<Value, ApiError> {
    if depth > 64 {
        return Err(ApiError::serialization("request body nests too deeply"));
    }
    Ok(match v {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i: i128 = i.into();
            if let Ok(n) = i64::try_from(i) {
                Value::Number(n.into())
            } else if let Ok(n) = u64::try_from(i) {
                Value::Number(n.into())
            } else {
                return Err(ApiError::serialization("integer out of range"));
            }
        }
        Cbor::Float(f) => Value::Number(
            Number::from_f64(f).ok_or_else(|| ApiError::serialization("NaN or infinite number"))?,
        ),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Cbor::Tag(_, inner) => to_json(*inner, depth + 1)?,
        Cbor::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| to_json(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let Cbor::Text(k) = k else {
                    return Err(ApiError::serialization("map keys must be text"));
                };
                // Null members are absent members, as in JSON 1.1.
                if !matches!(v, Cbor::Null) {
                    m.insert(k, to_json(v, depth + 1)?);
                }
            }
            Value::Object(m)
        }
        _ => return Err(ApiError::serialization("unsupported CBOR item")),
    })
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
    }
}
