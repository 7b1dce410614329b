//! Datums (RFC 7047 section 5.1): the value of one column in one row.
//!
//! A [`Datum`] is either a set of atoms or a map from atoms to atoms; a scalar
//! column holds a one-element set. Sets are kept sorted and unique and maps
//! sorted by unique key (`BTreeSet`/`BTreeMap`), so two datums are equal exactly
//! when their JSON forms are, and the later transaction code can apply
//! `mutate` operations (insert, delete) directly on the collections.
//!
//! JSON notation: a one-element set may be the bare atom or
//! `["set", [atom]]`; any set may be `["set", [...]]`; a map is always
//! `["map", [[key, value], ...]]`. [`Datum::to_json`] writes what OVS writes: the
//! bare atom for one element, `["set", ...]` otherwise, `["map", ...]` for maps.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::atom::{Atom, AtomError, SymbolTable};
use crate::types::{Max, Type};

/// A column value: a set or a map of atoms.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Datum {
    /// A set (also scalars and optional scalars).
    Set(BTreeSet<Atom>),
    /// A map.
    Map(BTreeMap<Atom, Atom>),
}

/// Why a JSON value is not a valid datum of a type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatumError {
    /// An atom is invalid.
    #[error(transparent)]
    Atom(#[from] AtomError),
    /// A map type got something other than `["map", [...]]`.
    #[error("expected [\"map\", [[key, value], ...]], got {0}")]
    ExpectedMap(String),
    /// `["set", x]` or `["map", x]` whose `x` is not an array, or a map entry
    /// that is not a pair.
    #[error("malformed {what}: {got}")]
    Malformed {
        /// "set", "map" or "map entry".
        what: &'static str,
        /// The JSON text found.
        got: String,
    },
    /// A set lists a value twice.
    #[error("set contains duplicate value {0}")]
    DuplicateValue(String),
    /// A map lists a key twice.
    #[error("map contains duplicate key {0}")]
    DuplicateKey(String),
    /// More elements than `max`.
    #[error("{n} elements exceed max {max}")]
    TooMany {
        /// Elements given.
        n: usize,
        /// The type's `max`.
        max: Max,
    },
    /// Fewer elements than `min`.
    #[error("{n} elements are fewer than min {min}")]
    TooFew {
        /// Elements given.
        n: usize,
        /// The type's `min`.
        min: u64,
    },
}

impl Default for Datum {
    /// The empty set.
    fn default() -> Datum {
        Datum::Set(BTreeSet::new())
    }
}

impl Datum {
    /// The empty set.
    pub fn empty_set() -> Datum {
        Datum::Set(BTreeSet::new())
    }

    /// The empty map.
    pub fn empty_map() -> Datum {
        Datum::Map(BTreeMap::new())
    }

    /// A one-element set.
    pub fn scalar(atom: impl Into<Atom>) -> Datum {
        Datum::Set(BTreeSet::from([atom.into()]))
    }

    /// The default value of a column of type `ty`: empty when `min` is 0,
    /// else one default atom (a map of default key to default value).
    pub fn default_for(ty: &Type) -> Datum {
        match (ty.min(), ty.value()) {
            (0, None) => Datum::empty_set(),
            (0, Some(_)) => Datum::empty_map(),
            (_, None) => Datum::scalar(ty.key().default_atom()),
            (_, Some(v)) => {
                Datum::Map(BTreeMap::from([(ty.key().default_atom(), v.default_atom())]))
            }
        }
    }

    /// The number of elements (set members or map entries).
    pub fn len(&self) -> usize {
        match self {
            Datum::Set(s) => s.len(),
            Datum::Map(m) => m.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The set, if this is one.
    pub fn as_set(&self) -> Option<&BTreeSet<Atom>> {
        match self {
            Datum::Set(s) => Some(s),
            Datum::Map(_) => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&BTreeMap<Atom, Atom>> {
        match self {
            Datum::Map(m) => Some(m),
            Datum::Set(_) => None,
        }
    }

    /// The only atom of a one-element set.
    pub fn as_scalar(&self) -> Option<&Atom> {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }

    /// The set's atoms, or the map's keys.
    pub fn keys(&self) -> Box<dyn Iterator<Item = &Atom> + '_> {
        match self {
            Datum::Set(s) => Box::new(s.iter()),
            Datum::Map(m) => Box::new(m.keys()),
        }
    }

    /// The set, or the map's keys, by value.
    pub fn into_keys(self) -> BTreeSet<Atom> {
        match self {
            Datum::Set(s) => s,
            Datum::Map(m) => m.into_keys().collect(),
        }
    }

    /// Parses `json` as a datum of type `ty`, checking every atom against the
    /// constraints, uniqueness and the element count. `["named-uuid", ..]`
    /// atoms resolve through `symbols` (an error without one).
    pub fn from_json(
        json: &Value,
        ty: &Type,
        mut symbols: Option<&mut SymbolTable>,
    ) -> Result<Datum, DatumError> {
        let datum = if let Some(vt) = ty.value() {
            let entries = match tagged(json, "map") {
                Some(Value::Array(a)) => a,
                Some(_) => {
                    return Err(DatumError::Malformed { what: "map", got: json.to_string() })
                }
                None => return Err(DatumError::ExpectedMap(json.to_string())),
            };
            let mut m = BTreeMap::new();
            for e in entries {
                let Some([k, v]) = e.as_array().map(Vec::as_slice) else {
                    return Err(DatumError::Malformed { what: "map entry", got: e.to_string() });
                };
                let k = ty.key().parse_atom(k, symbols.as_deref_mut())?;
                let v = vt.parse_atom(v, symbols.as_deref_mut())?;
                if m.contains_key(&k) {
                    return Err(DatumError::DuplicateKey(k.to_string()));
                }
                m.insert(k, v);
            }
            Datum::Map(m)
        } else {
            let mut s = BTreeSet::new();
            match tagged(json, "set") {
                Some(Value::Array(a)) => {
                    for e in a {
                        let atom = ty.key().parse_atom(e, symbols.as_deref_mut())?;
                        if s.contains(&atom) {
                            return Err(DatumError::DuplicateValue(atom.to_string()));
                        }
                        s.insert(atom);
                    }
                }
                Some(_) => {
                    return Err(DatumError::Malformed { what: "set", got: json.to_string() })
                }
                None => {
                    s.insert(ty.key().parse_atom(json, symbols)?);
                }
            }
            Datum::Set(s)
        };
        datum.check_count(ty)?;
        Ok(datum)
    }

    /// Checks the element count against `ty`'s `min` and `max`.
    pub fn check_count(&self, ty: &Type) -> Result<(), DatumError> {
        let n = self.len();
        if (n as u64) < ty.min() {
            return Err(DatumError::TooFew { n, min: ty.min() });
        }
        if !ty.max().allows(n) {
            return Err(DatumError::TooMany { n, max: ty.max() });
        }
        Ok(())
    }

    /// Checks an already-built datum against `ty`: the right shape, atoms of
    /// the right types meeting the constraints, and the element count.
    pub fn check(&self, ty: &Type) -> Result<(), DatumError> {
        match (self, ty.value()) {
            (Datum::Set(s), None) => {
                for a in s {
                    check_atom(a, ty.key())?;
                }
            }
            (Datum::Map(m), Some(vt)) => {
                for (k, v) in m {
                    check_atom(k, ty.key())?;
                    check_atom(v, vt)?;
                }
            }
            (Datum::Set(_), Some(_)) => {
                return Err(DatumError::ExpectedMap(self.to_json().to_string()))
            }
            (Datum::Map(_), None) => {
                return Err(DatumError::Atom(AtomError::WrongType {
                    expected: ty.key().atomic_type(),
                    got: self.to_json().to_string(),
                }))
            }
        }
        self.check_count(ty)
    }

    /// The JSON form, as OVS writes it.
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next().map(Atom::to_json).unwrap_or_default(),
            Datum::Set(s) => Value::Array(vec![
                "set".into(),
                Value::Array(s.iter().map(Atom::to_json).collect()),
            ]),
            Datum::Map(m) => Value::Array(vec![
                "map".into(),
                Value::Array(
                    m.iter().map(|(k, v)| Value::Array(vec![k.to_json(), v.to_json()])).collect(),
                ),
            ]),
        }
    }
}

fn check_atom(a: &Atom, base: &crate::types::BaseType) -> Result<(), AtomError> {
    if a.atomic_type() != base.atomic_type() {
        return Err(AtomError::WrongType { expected: base.atomic_type(), got: a.to_string() });
    }
    base.check_atom(a)
}

/// The `x` of `[tag, x]`, if `json` has that shape.
fn tagged<'a>(json: &'a Value, tag: &str) -> Option<&'a Value> {
    match json.as_array().map(Vec::as_slice) {
        Some([Value::String(t), x]) if t == tag => Some(x),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ty(j: Value) -> Type {
        Type::from_json(&j).unwrap()
    }

    #[test]
    fn sets() {
        let t = ty(json!({"key": "integer", "min": 0, "max": 2}));
        let d = Datum::from_json(&json!(["set", [3, 1]]), &t, None).unwrap();
        assert_eq!(d.to_json(), json!(["set", [1, 3]]));
        assert_eq!(Datum::from_json(&json!(7), &t, None).unwrap().to_json(), json!(7));
        assert_eq!(Datum::from_json(&json!(["set", [7]]), &t, None).unwrap().to_json(), json!(7));
        assert_eq!(Datum::from_json(&json!(["set", []]), &t, None).unwrap(), Datum::empty_set());
        assert_eq!(Datum::empty_set().to_json(), json!(["set", []]));
        for (j, msg) in [
            (json!(["set", [1, 2, 3]]), "3 elements exceed max 2"),
            (json!(["set", [1, 1]]), "set contains duplicate value 1"),
            (json!(["set", 1]), "malformed set: [\"set\",1]"),
            (json!(["map", []]), "expected integer, got [\"map\",[]]"),
            (json!("1"), "expected integer, got \"1\""),
        ] {
            assert_eq!(Datum::from_json(&j, &t, None).unwrap_err().to_string(), msg, "{j}");
        }
        let scalar = ty(json!("string"));
        assert_eq!(
            Datum::from_json(&json!(["set", []]), &scalar, None).unwrap_err().to_string(),
            "0 elements are fewer than min 1"
        );
    }

    #[test]
    fn maps() {
        let t = ty(json!({"key": "string", "value": "integer", "min": 0, "max": "unlimited"}));
        let j = json!(["map", [["b", 2], ["a", 1]]]);
        let d = Datum::from_json(&j, &t, None).unwrap();
        assert_eq!(d.to_json(), json!(["map", [["a", 1], ["b", 2]]]));
        assert_eq!(
            Datum::from_json(&json!(["map", [["a", 1]]]), &t, None).unwrap().to_json(),
            json!(["map", [["a", 1]]])
        );
        for (j, msg) in [
            (json!(["map", [["a", 1], ["a", 2]]]), "map contains duplicate key \"a\""),
            (json!(["map", [["a"]]]), "malformed map entry: [\"a\"]"),
            (json!(["set", []]), "expected [\"map\", [[key, value], ...]], got [\"set\",[]]"),
            (json!(["map", [["a", "x"]]]), "expected integer, got \"x\""),
        ] {
            assert_eq!(Datum::from_json(&j, &t, None).unwrap_err().to_string(), msg, "{j}");
        }
    }

    #[test]
    fn uuids_and_strings_that_look_like_tags() {
        let t =
            ty(json!({"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}));
        let u = json!(["uuid", "550e8400-e29b-41d4-a716-446655440000"]);
        let d = Datum::from_json(&u, &t, None).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d.to_json(), u);
        let mut syms = SymbolTable::new();
        let d = Datum::from_json(
            &json!(["set", [["named-uuid", "a"], ["named-uuid", "b"]]]),
            &t,
            Some(&mut syms),
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        // A string atom may be "set" or "map".
        let s = ty(json!({"key": "string", "min": 0, "max": "unlimited"}));
        assert_eq!(Datum::from_json(&json!("set"), &s, None).unwrap(), Datum::scalar("set"));
    }

    #[test]
    fn defaults() {
        assert_eq!(Datum::default_for(&ty(json!("integer"))), Datum::scalar(0));
        assert_eq!(Datum::default_for(&ty(json!("real"))), Datum::scalar(0.0));
        assert_eq!(Datum::default_for(&ty(json!("boolean"))), Datum::scalar(false));
        assert_eq!(Datum::default_for(&ty(json!("string"))), Datum::scalar(""));
        assert_eq!(
            Datum::default_for(&ty(json!("uuid"))).to_json(),
            json!(["uuid", "00000000-0000-0000-0000-000000000000"])
        );
        assert_eq!(
            Datum::default_for(&ty(
                json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"})
            )),
            Datum::empty_map()
        );
        assert_eq!(
            Datum::default_for(&ty(json!({"key": "integer", "min": 0}))),
            Datum::empty_set()
        );
    }

    #[test]
    fn check_built_datums() {
        let t = ty(json!({"key": {"type": "integer", "maxInteger": 10}, "min": 0, "max": 1}));
        assert!(Datum::scalar(5).check(&t).is_ok());
        assert!(Datum::scalar(11).check(&t).is_err());
        assert!(Datum::scalar("x").check(&t).is_err());
        assert!(Datum::empty_map().check(&t).is_err());
    }
}
