//! Atoms (RFC 7047 section 5.1): the scalar values that sets and maps hold.
//!
//! An [`Atom`] is an integer, a real, a boolean, a string or a UUID. In JSON an
//! integer is a JSON integer, a real any JSON number, a boolean `true`/`false`,
//! a string a JSON string and a UUID `["uuid", "xxxxxxxx-..."]`. Inside a
//! transaction a UUID may also be written `["named-uuid", "<id>"]`, naming a row
//! that the same transaction inserts; a [`SymbolTable`] resolves those names.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde_json::Value;

use crate::uuid::Uuid;

/// The five atomic types of RFC 7047 (`<atomic-type>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AtomicType {
    /// A 64-bit signed integer.
    Integer,
    /// An IEEE 754 double.
    Real,
    /// `true` or `false`.
    Boolean,
    /// A UTF-8 string.
    String,
    /// A UUID.
    Uuid,
}

impl AtomicType {
    /// All atomic types.
    pub const ALL: [AtomicType; 5] = [
        AtomicType::Integer,
        AtomicType::Real,
        AtomicType::Boolean,
        AtomicType::String,
        AtomicType::Uuid,
    ];

    /// The name used in schemas: `integer`, `real`, `boolean`, `string`, `uuid`.
    pub fn name(self) -> &'static str {
        match self {
            AtomicType::Integer => "integer",
            AtomicType::Real => "real",
            AtomicType::Boolean => "boolean",
            AtomicType::String => "string",
            AtomicType::Uuid => "uuid",
        }
    }

    /// The atomic type with schema name `name`.
    pub fn from_name(name: &str) -> Option<AtomicType> {
        AtomicType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The default atom of this type (RFC 7047 and OVS's `ovsdb_atom_init_default`):
    /// 0, 0.0, false, the empty string or the all-zero UUID.
    pub fn default_atom(self) -> Atom {
        match self {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid::ZERO),
        }
    }
}

impl fmt::Display for AtomicType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One scalar value.
///
/// Atoms are totally ordered (reals by IEEE total order) so that sets and maps
/// can keep them sorted; atoms of different types order by type.
#[derive(Clone, Debug)]
pub enum Atom {
    /// An integer.
    Integer(i64),
    /// A real; always finite, since JSON cannot carry anything else.
    Real(f64),
    /// A boolean.
    Boolean(bool),
    /// A string.
    String(String),
    /// A UUID.
    Uuid(Uuid),
}

/// Why a JSON value is not a valid atom.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AtomError {
    /// The JSON value has the wrong shape for the atomic type.
    #[error("expected {expected}, got {got}")]
    WrongType {
        /// The atomic type wanted.
        expected: AtomicType,
        /// The JSON text found.
        got: String,
    },
    /// An integer does not fit in 64 bits.
    #[error("integer {0} does not fit in 64 bits")]
    IntegerOverflow(String),
    /// A UUID string is malformed.
    #[error(transparent)]
    BadUuid(#[from] crate::uuid::UuidParseError),
    /// `["named-uuid", ...]` outside a transaction.
    #[error("named-uuid \"{0}\" is not allowed here")]
    NamedUuidNotAllowed(String),
    /// A named-uuid is not a valid `<id>`.
    #[error("named-uuid \"{0}\" is not a valid identifier")]
    BadNamedUuid(String),
    /// A number lies outside `[min, max]`.
    #[error("value {value} is out of range {min} to {max}")]
    OutOfRange {
        /// The value.
        value: String,
        /// The lowest allowed value.
        min: String,
        /// The highest allowed value.
        max: String,
    },
    /// A number is below the minimum (no maximum is set).
    #[error("value {value} is less than minimum allowed value {min}")]
    BelowMin {
        /// The value.
        value: String,
        /// The lowest allowed value.
        min: String,
    },
    /// A number is above the maximum (no minimum is set).
    #[error("value {value} is greater than maximum allowed value {max}")]
    AboveMax {
        /// The value.
        value: String,
        /// The highest allowed value.
        max: String,
    },
    /// A string is shorter than `minLength`.
    #[error("{value} length {len} is less than minimum allowed length {min}")]
    TooShort {
        /// The string, JSON-quoted.
        value: String,
        /// Its length in Unicode characters.
        len: u64,
        /// `minLength`.
        min: u64,
    },
    /// A string is longer than `maxLength`.
    #[error("{value} length {len} is greater than maximum allowed length {max}")]
    TooLong {
        /// The string, JSON-quoted.
        value: String,
        /// Its length in Unicode characters.
        len: u64,
        /// `maxLength`.
        max: u64,
    },
    /// The atom is not in the type's `enum`.
    #[error("{value} is not one of the allowed values {allowed}")]
    NotInEnum {
        /// The atom, as JSON.
        value: String,
        /// The allowed atoms, as `{a,b,...}`.
        allowed: String,
    },
}

impl Atom {
    /// The atomic type of this atom.
    pub fn atomic_type(&self) -> AtomicType {
        match self {
            Atom::Integer(_) => AtomicType::Integer,
            Atom::Real(_) => AtomicType::Real,
            Atom::Boolean(_) => AtomicType::Boolean,
            Atom::String(_) => AtomicType::String,
            Atom::Uuid(_) => AtomicType::Uuid,
        }
    }

    /// Parses `json` as an atom of type `ty`, without checking constraints
    /// (see [`crate::BaseType::parse_atom`] for that).
    ///
    /// A `["named-uuid", name]` is resolved through `symbols`; without a symbol
    /// table it is an error.
    pub fn from_json(
        json: &Value,
        ty: AtomicType,
        symbols: Option<&mut SymbolTable>,
    ) -> Result<Atom, AtomError> {
        let wrong = || AtomError::WrongType { expected: ty, got: json.to_string() };
        match ty {
            AtomicType::Integer => match json {
                Value::Number(n) => {
                    if let Some(i) = n.as_i64() {
                        Ok(Atom::Integer(i))
                    } else if n.is_u64() {
                        Err(AtomError::IntegerOverflow(n.to_string()))
                    } else {
                        Err(wrong())
                    }
                }
                _ => Err(wrong()),
            },
            AtomicType::Real => match json {
                Value::Number(n) => match n.as_f64() {
                    Some(f) if f.is_finite() => Ok(Atom::Real(f)),
                    _ => Err(wrong()),
                },
                _ => Err(wrong()),
            },
            AtomicType::Boolean => json.as_bool().map(Atom::Boolean).ok_or_else(wrong),
            AtomicType::String => {
                json.as_str().map(|s| Atom::String(s.to_string())).ok_or_else(wrong)
            }
            AtomicType::Uuid => {
                let Some([Value::String(tag), Value::String(s)]) =
                    json.as_array().map(Vec::as_slice)
                else {
                    return Err(wrong());
                };
                match tag.as_str() {
                    "uuid" => Ok(Atom::Uuid(Uuid::parse(s)?)),
                    "named-uuid" => {
                        if !is_id(s) {
                            return Err(AtomError::BadNamedUuid(s.clone()));
                        }
                        match symbols {
                            Some(t) => Ok(Atom::Uuid(t.resolve(s))),
                            None => Err(AtomError::NamedUuidNotAllowed(s.clone())),
                        }
                    }
                    _ => Err(wrong()),
                }
            }
        }
    }

    /// The JSON form of this atom.
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => Value::from(*i),
            Atom::Real(r) => Value::from(*r),
            Atom::Boolean(b) => Value::Bool(*b),
            Atom::String(s) => Value::String(s.clone()),
            Atom::Uuid(u) => Value::Array(vec!["uuid".into(), u.to_string().into()]),
        }
    }

    /// The integer, if this is one.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The real, if this is one.
    pub fn as_real(&self) -> Option<f64> {
        match self {
            Atom::Real(r) => Some(*r),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_boolean(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    /// The UUID, if this is one.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }
}

impl Ord for Atom {
    fn cmp(&self, other: &Atom) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            _ => self.atomic_type().cmp(&other.atomic_type()),
        }
    }
}

impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Atom) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Atom) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Atom {}

impl Hash for Atom {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.atomic_type().hash(state);
        match self {
            Atom::Integer(i) => i.hash(state),
            Atom::Real(r) => r.to_bits().hash(state),
            Atom::Boolean(b) => b.hash(state),
            Atom::String(s) => s.hash(state),
            Atom::Uuid(u) => u.hash(state),
        }
    }
}

/// Atoms print as their JSON text, e.g. `70000`, `"foo"`, `["uuid","..."]`.
impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl From<i64> for Atom {
    fn from(v: i64) -> Atom {
        Atom::Integer(v)
    }
}

impl From<f64> for Atom {
    fn from(v: f64) -> Atom {
        Atom::Real(v)
    }
}

impl From<bool> for Atom {
    fn from(v: bool) -> Atom {
        Atom::Boolean(v)
    }
}

impl From<&str> for Atom {
    fn from(v: &str) -> Atom {
        Atom::String(v.to_string())
    }
}

impl From<String> for Atom {
    fn from(v: String) -> Atom {
        Atom::String(v)
    }
}

impl From<Uuid> for Atom {
    fn from(v: Uuid) -> Atom {
        Atom::Uuid(v)
    }
}

/// Whether `s` is an RFC 7047 `<id>`: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One name in a [`SymbolTable`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// The UUID the name stands for.
    pub uuid: Uuid,
    /// Whether an operation of the transaction declared the name with
    /// `"uuid-name"` (as opposed to only referring to it).
    pub created: bool,
}

/// The named-uuids of one transaction (OVS's `ovsdb_symbol_table`).
///
/// A name gets a fresh random UUID the first time it is seen, whether it is
/// declared by an insert's `"uuid-name"` or referred to by `["named-uuid", ..]`;
/// later uses get the same UUID. After the transaction, names referred to but
/// never created are errors the transaction layer reports.
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    symbols: BTreeMap<String, Symbol>,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> SymbolTable {
        SymbolTable::default()
    }

    /// The UUID for `name`, creating a fresh one on first use.
    pub fn resolve(&mut self, name: &str) -> Uuid {
        self.symbols
            .entry(name.to_string())
            .or_insert_with(|| Symbol { uuid: Uuid::new_v4(), created: false })
            .uuid
    }

    /// Declares `name` (an insert's `"uuid-name"`), returning its UUID and
    /// whether it had already been declared.
    pub fn declare(&mut self, name: &str) -> (Uuid, bool) {
        let uuid = self.resolve(name);
        let sym = self.symbols.get_mut(name).expect("just resolved");
        let already = sym.created;
        sym.created = true;
        (uuid, already)
    }

    /// Declares `name` as standing for `uuid` (an insert with both
    /// `"uuid-name"` and `"uuid"`). Returns false, changing nothing, if the
    /// name was already seen, since earlier uses got another UUID.
    pub fn declare_as(&mut self, name: &str, uuid: Uuid) -> bool {
        if self.symbols.contains_key(name) {
            return false;
        }
        self.symbols.insert(name.to_string(), Symbol { uuid, created: true });
        true
    }

    /// The symbol called `name`, if seen.
    pub fn get(&self, name: &str) -> Option<&Symbol> {
        self.symbols.get(name)
    }

    /// All symbols, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Symbol)> {
        self.symbols.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_each_type() {
        assert_eq!(Atom::from_json(&json!(5), AtomicType::Integer, None), Ok(Atom::Integer(5)));
        assert_eq!(Atom::from_json(&json!(5), AtomicType::Real, None), Ok(Atom::Real(5.0)));
        assert!(Atom::from_json(&json!(5.5), AtomicType::Integer, None).is_err());
        assert_eq!(
            Atom::from_json(&json!(18446744073709551615u64), AtomicType::Integer, None)
                .unwrap_err()
                .to_string(),
            "integer 18446744073709551615 does not fit in 64 bits"
        );
        assert_eq!(
            Atom::from_json(&json!(true), AtomicType::Boolean, None),
            Ok(Atom::Boolean(true))
        );
        assert_eq!(Atom::from_json(&json!("x"), AtomicType::String, None), Ok(Atom::from("x")));
        let u = json!(["uuid", "550e8400-e29b-41d4-a716-446655440000"]);
        let a = Atom::from_json(&u, AtomicType::Uuid, None).unwrap();
        assert_eq!(a.to_json(), u);
        assert_eq!(
            Atom::from_json(&json!("x"), AtomicType::Integer, None).unwrap_err().to_string(),
            "expected integer, got \"x\""
        );
    }

    #[test]
    fn named_uuids_resolve_consistently() {
        let j = json!(["named-uuid", "row1"]);
        assert_eq!(
            Atom::from_json(&j, AtomicType::Uuid, None),
            Err(AtomError::NamedUuidNotAllowed("row1".into()))
        );
        let mut t = SymbolTable::new();
        let a = Atom::from_json(&j, AtomicType::Uuid, Some(&mut t)).unwrap();
        let (u, already) = t.declare("row1");
        assert_eq!(a, Atom::Uuid(u));
        assert!(!already);
        assert!(t.declare("row1").1);
        assert!(
            Atom::from_json(&json!(["named-uuid", "1x"]), AtomicType::Uuid, Some(&mut t)).is_err()
        );
    }

    #[test]
    fn ids() {
        assert!(is_id("Open_vSwitch"));
        assert!(is_id("_uuid"));
        assert!(!is_id("9a"));
        assert!(!is_id(""));
        assert!(!is_id("a-b"));
    }
}
