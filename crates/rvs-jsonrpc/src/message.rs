//! JSON-RPC 1.0 messages as RFC 7047 section 4 and OVS's `lib/jsonrpc.c`
//! shape them.
//!
//! A message is one JSON object with some of the members `method`, `params`,
//! `result`, `error` and `id`. OVS reads a member whose value is `null` as if
//! it were absent, then picks the kind of message from what is left:
//!
//! | non-null members        | kind                                   |
//! |-------------------------|----------------------------------------|
//! | `result`, `id`          | [`Message::Reply`]                     |
//! | `error`, `id`           | [`Message::Error`]                     |
//! | `method`, `params`, `id`| [`Message::Request`]                   |
//! | `method`, `params`      | [`Message::Notification`] (`id` null)  |
//!
//! Any other member ("message has unexpected member") and any member that the
//! chosen kind must not have is an error, as in OVS.
//!
//! One deliberate leniency: OVS cannot parse a reply whose `result` is `null`
//! (it reads it as a request without `method`). [`Message::Reply`] can carry a
//! null result, so a message that explicitly names a `result` member, has no
//! `method` and a null or absent `error`, is read as a reply. Every message
//! OVS accepts is read the same way here.

use serde_json::{Map, Value};

/// A JSON-RPC 1.0 message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call that expects a [`Message::Reply`] or [`Message::Error`] with the
    /// same `id`. The `id` must not be `null`: on the wire that would be a
    /// notification.
    Request {
        /// The method to call, e.g. `"transact"` or `"version"`.
        method: String,
        /// The positional parameters (JSON-RPC 1.0 has no named ones).
        params: Vec<Value>,
        /// Any non-null JSON value that the reply echoes.
        id: Value,
    },
    /// A call that expects no reply (`"id": null`), e.g. OVSDB's `update`.
    Notification {
        /// The method to call.
        method: String,
        /// The positional parameters.
        params: Vec<Value>,
    },
    /// The successful answer to a request.
    Reply {
        /// What the method returned.
        result: Value,
        /// The `id` of the request this answers.
        id: Value,
    },
    /// The failed answer to a request.
    Error {
        /// What went wrong; never `null` on the wire (a null error is a reply).
        error: Value,
        /// The `id` of the request this answers.
        id: Value,
    },
}

/// Why a JSON value is not a valid JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The top-level value is not an object.
    #[error("message is not a JSON object, got {got}")]
    NotObject {
        /// The JSON type that was found.
        got: &'static str,
    },
    /// `method` is present but not a string.
    #[error("method must be a string, got {got}")]
    MethodNotString {
        /// The JSON type that was found.
        got: &'static str,
    },
    /// `params` is present but not an array.
    #[error("params must be an array, got {got}")]
    ParamsNotArray {
        /// The JSON type that was found.
        got: &'static str,
    },
    /// The object has a member that JSON-RPC does not define.
    #[error("message has unexpected member \"{0}\"")]
    UnexpectedMember(String),
    /// The kind of message lacks a member it needs.
    #[error("{kind} must have \"{member}\"")]
    Missing {
        /// `request`, `notification`, `reply` or `error`.
        kind: &'static str,
        /// The missing member.
        member: &'static str,
    },
    /// The kind of message has a member it must not have.
    #[error("{kind} must not have \"{member}\"")]
    Forbidden {
        /// `request`, `notification`, `reply` or `error`.
        kind: &'static str,
        /// The member that should not be there.
        member: &'static str,
    },
}

/// The name of a JSON value's type, for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Removes `key` from `obj`, mapping `null` to absent as OVS does.
fn take(obj: &mut Map<String, Value>, key: &str) -> Option<Value> {
    obj.remove(key).filter(|v| !v.is_null())
}

impl Message {
    /// A request with the given method, parameters and id.
    pub fn request(method: impl Into<String>, params: Vec<Value>, id: impl Into<Value>) -> Self {
        Message::Request { method: method.into(), params, id: id.into() }
    }

    /// A notification with the given method and parameters.
    pub fn notification(method: impl Into<String>, params: Vec<Value>) -> Self {
        Message::Notification { method: method.into(), params }
    }

    /// A successful reply to the request with `id`.
    pub fn reply(result: impl Into<Value>, id: Value) -> Self {
        Message::Reply { result: result.into(), id }
    }

    /// An error reply to the request with `id`.
    pub fn error(error: impl Into<Value>, id: Value) -> Self {
        Message::Error { error: error.into(), id }
    }

    /// The kind of message as OVS names it in its errors: `request`,
    /// `notification`, `reply` or `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Request { .. } => "request",
            Message::Notification { .. } => "notification",
            Message::Reply { .. } => "reply",
            Message::Error { .. } => "error",
        }
    }

    /// The id, or `None` for a notification.
    pub fn id(&self) -> Option<&Value> {
        match self {
            Message::Request { id, .. } | Message::Reply { id, .. } | Message::Error { id, .. } => {
                Some(id)
            }
            Message::Notification { .. } => None,
        }
    }

    /// Reads a message from a JSON value, checking its shape as OVS's
    /// `jsonrpc_msg_from_json` does (see the module docs).
    pub fn from_value(value: Value) -> Result<Self, MessageError> {
        let mut obj = match value {
            Value::Object(obj) => obj,
            other => return Err(MessageError::NotObject { got: type_name(&other) }),
        };
        let has_result_member = obj.contains_key("result");
        let method = match take(&mut obj, "method") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => return Err(MessageError::MethodNotString { got: type_name(&other) }),
        };
        let params = match take(&mut obj, "params") {
            None => None,
            Some(Value::Array(a)) => Some(a),
            Some(other) => return Err(MessageError::ParamsNotArray { got: type_name(&other) }),
        };
        let result = take(&mut obj, "result");
        let error = take(&mut obj, "error");
        let id = take(&mut obj, "id");
        if let Some(name) = obj.keys().next() {
            return Err(MessageError::UnexpectedMember(name.clone()));
        }

        // OVS: result ? REPLY : error ? ERROR : id ? REQUEST : NOTIFY, plus
        // our leniency for an explicit `"result": null` (module docs).
        let kind = if result.is_some() || (has_result_member && error.is_none() && method.is_none())
        {
            "reply"
        } else if error.is_some() {
            "error"
        } else if id.is_some() {
            "request"
        } else {
            "notification"
        };
        let (need_method, need_params, need_result, need_error, need_id) = match kind {
            "request" => (true, true, false, false, true),
            "notification" => (true, true, false, false, false),
            // A reply's result may be null (leniency), so it is not checked.
            "reply" => (false, false, result.is_some(), false, true),
            _ => (false, false, false, true, true),
        };
        let checks = [
            ("method", method.is_some(), need_method),
            ("params", params.is_some(), need_params),
            ("result", result.is_some(), need_result),
            ("error", error.is_some(), need_error),
            ("id", id.is_some(), need_id),
        ];
        for (member, have, need) in checks {
            if have && !need {
                return Err(MessageError::Forbidden { kind, member });
            }
            if need && !have {
                return Err(MessageError::Missing { kind, member });
            }
        }
        // The checks above guarantee the unwraps' preconditions; use
        // defaults rather than panicking all the same.
        Ok(match kind {
            "request" => Message::Request {
                method: method.unwrap_or_default(),
                params: params.unwrap_or_default(),
                id: id.unwrap_or_default(),
            },
            "notification" => Message::Notification {
                method: method.unwrap_or_default(),
                params: params.unwrap_or_default(),
            },
            "reply" => {
                Message::Reply { result: result.unwrap_or_default(), id: id.unwrap_or_default() }
            }
            _ => Message::Error { error: error.unwrap_or_default(), id: id.unwrap_or_default() },
        })
    }

    /// Serialises the message as compact JSON with its members in the order
    /// OVS's peers write them:
    ///
    /// - `{"method":..,"params":..,"id":..}` for requests and notifications
    ///   (`"id":null` for the latter),
    /// - `{"result":..,"error":null,"id":..}` for replies,
    /// - `{"result":null,"error":..,"id":..}` for errors.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.write_bytes(&mut out);
        out
    }

    /// Appends the serialisation of [`Message::to_bytes`] to `out`.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        // Writing a Value into a Vec cannot fail: the map keys are strings.
        fn put(out: &mut Vec<u8>, key: &str, value: &Value, last: bool) {
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            let _ = serde_json::to_writer(&mut *out, value);
            out.push(if last { b'}' } else { b',' });
        }
        fn put_params(out: &mut Vec<u8>, method: &str, params: &[Value]) {
            out.extend_from_slice(b"{\"method\":");
            let _ = serde_json::to_writer(&mut *out, method);
            out.extend_from_slice(b",\"params\":");
            let _ = serde_json::to_writer(&mut *out, params);
            out.push(b',');
        }
        match self {
            Message::Request { method, params, id } => {
                put_params(out, method, params);
                put(out, "id", id, true);
            }
            Message::Notification { method, params } => {
                put_params(out, method, params);
                put(out, "id", &Value::Null, true);
            }
            Message::Reply { result, id } => {
                out.push(b'{');
                put(out, "result", result, false);
                put(out, "error", &Value::Null, false);
                put(out, "id", id, true);
            }
            Message::Error { error, id } => {
                out.push(b'{');
                put(out, "result", &Value::Null, false);
                put(out, "error", error, false);
                put(out, "id", id, true);
            }
        }
    }

    /// The message as a JSON value (member order is whatever `serde_json`'s
    /// map keeps; use [`Message::to_bytes`] for the wire).
    pub fn to_value(&self) -> Value {
        // to_bytes always produces valid JSON.
        serde_json::from_slice(&self.to_bytes()).unwrap_or_default()
    }
}

impl std::fmt::Display for Message {
    /// Writes the wire form of [`Message::to_bytes`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl TryFrom<Value> for Message {
    type Error = MessageError;
    fn try_from(value: Value) -> Result<Self, MessageError> {
        Message::from_value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Message, String> {
        Message::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn request_as_ovs_appctl_sends_it() {
        let m = parse(json!({"method":"version","params":[],"id":0})).unwrap();
        assert_eq!(m, Message::request("version", vec![], 0));
        assert_eq!(m.to_string(), r#"{"method":"version","params":[],"id":0}"#);
    }

    #[test]
    fn reply_and_error_wire_forms() {
        let r = Message::reply("2.17.0", json!(0));
        assert_eq!(r.to_string(), r#"{"result":"2.17.0","error":null,"id":0}"#);
        let e = Message::error("unknown command", json!("x"));
        assert_eq!(e.to_string(), r#"{"result":null,"error":"unknown command","id":"x"}"#);
        let n = Message::notification("update", vec![json!(null), json!({"a":1})]);
        assert_eq!(n.to_string(), r#"{"method":"update","params":[null,{"a":1}],"id":null}"#);
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            parse(json!({"result":[1],"error":null,"id":"echo"})).unwrap(),
            Message::reply(json!([1]), json!("echo"))
        );
        assert_eq!(
            parse(json!({"result":null,"error":{"e":1},"id":7})).unwrap(),
            Message::error(json!({"e":1}), json!(7))
        );
        assert_eq!(
            parse(json!({"method":"update","params":[1],"id":null})).unwrap(),
            Message::notification("update", vec![json!(1)])
        );
        // Notification without an id member at all.
        assert_eq!(
            parse(json!({"method":"update","params":[]})).unwrap(),
            Message::notification("update", vec![])
        );
        // Lenient: a reply whose result is null.
        assert_eq!(
            parse(json!({"result":null,"error":null,"id":3})).unwrap(),
            Message::reply(Value::Null, json!(3))
        );
    }

    #[test]
    fn shape_errors_name_the_problem() {
        assert_eq!(
            parse(json!({"method":"x","params":"no","id":1})).unwrap_err(),
            "params must be an array, got string"
        );
        assert_eq!(parse(json!([1, 2])).unwrap_err(), "message is not a JSON object, got array");
        assert_eq!(
            parse(json!({"method":5,"params":[],"id":1})).unwrap_err(),
            "method must be a string, got number"
        );
        assert_eq!(
            parse(json!({"method":"x","params":[],"id":1,"jsonrpc":"2.0"})).unwrap_err(),
            "message has unexpected member \"jsonrpc\""
        );
        assert_eq!(
            parse(json!({"method":"x","id":1})).unwrap_err(),
            "request must have \"params\""
        );
        assert_eq!(parse(json!({"params":[],"id":1})).unwrap_err(), "request must have \"method\"");
        assert_eq!(
            parse(json!({"result":1,"error":"bad","id":1})).unwrap_err(),
            "reply must not have \"error\""
        );
        assert_eq!(parse(json!({"result":1})).unwrap_err(), "reply must have \"id\"");
        assert_eq!(
            parse(json!({"error":"e","id":1,"method":"m"})).unwrap_err(),
            "error must not have \"method\""
        );
        // A null member counts as absent, as in OVS.
        assert_eq!(
            parse(json!({"method":"m","params":[],"result":null,"id":1})).unwrap(),
            Message::request("m", vec![], 1)
        );
        assert_eq!(parse(json!({})).unwrap_err(), "notification must have \"method\"");
    }

    #[test]
    fn round_trips_through_bytes() {
        for m in [
            Message::request("transact", vec![json!("Open_vSwitch"), json!({"op":"select"})], 1),
            Message::notification("locked", vec![json!("lock")]),
            Message::reply(json!({"x":[1,2,"}"]}), json!([1, "a"])),
            Message::reply(Value::Null, json!(9)),
            Message::error(json!({"error":"bad","details":"\"q\""}), json!(2)),
        ] {
            let v: Value = serde_json::from_slice(&m.to_bytes()).unwrap();
            assert_eq!(Message::from_value(v).unwrap(), m);
            assert_eq!(Message::from_value(m.to_value()).unwrap(), m);
        }
    }
}
