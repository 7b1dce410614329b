//! Column types (RFC 7047 section 3.2, `<base-type>` and `<type>`).
//!
//! A [`BaseType`] is an atomic type with constraints: an `enum` of allowed
//! atoms, a range for integers and reals, a length range for strings, or the
//! table a UUID refers to. A [`Type`] is a key base type, an optional value
//! base type (which makes the column a map) and the number of elements allowed,
//! `min` (0 or 1) to `max` (a positive count or unlimited). A column holding one
//! scalar is the type with `min` = `max` = 1; an optional scalar has `min` 0.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::atom::{Atom, AtomError, AtomicType, SymbolTable};

/// Whether a reference keeps its target alive (RFC 7047 `refType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RefType {
    /// Referring to a missing row is an error; the row is never garbage.
    #[default]
    Strong,
    /// References to deleted rows are dropped silently.
    Weak,
}

/// The constraints of a base type, one variant per atomic type, so a string
/// length can never be put on an integer.
#[derive(Clone, Debug, PartialEq)]
pub enum Constraints {
    /// `minInteger`/`maxInteger`, [`i64::MIN`]/[`i64::MAX`] when absent.
    Integer {
        /// Lowest allowed value.
        min: i64,
        /// Highest allowed value.
        max: i64,
    },
    /// `minReal`/`maxReal`, infinite when absent.
    Real {
        /// Lowest allowed value.
        min: f64,
        /// Highest allowed value.
        max: f64,
    },
    /// Booleans have no constraints besides `enum`.
    Boolean,
    /// `minLength`/`maxLength` in Unicode characters (OVS counts characters,
    /// not bytes), 0 and [`u64::MAX`] when absent.
    String {
        /// Shortest allowed length.
        min_length: u64,
        /// Longest allowed length.
        max_length: u64,
    },
    /// `refTable`/`refType`.
    Uuid {
        /// The table the UUID refers to, if any.
        ref_table: Option<String>,
        /// Strong or weak; meaningful only with a `ref_table`.
        ref_type: RefType,
    },
}

impl Constraints {
    /// No constraints for `ty`.
    pub fn none(ty: AtomicType) -> Constraints {
        match ty {
            AtomicType::Integer => Constraints::Integer { min: i64::MIN, max: i64::MAX },
            AtomicType::Real => Constraints::Real { min: f64::NEG_INFINITY, max: f64::INFINITY },
            AtomicType::Boolean => Constraints::Boolean,
            AtomicType::String => Constraints::String { min_length: 0, max_length: u64::MAX },
            AtomicType::Uuid => Constraints::Uuid { ref_table: None, ref_type: RefType::Strong },
        }
    }

    /// The atomic type these constraints apply to.
    pub fn atomic_type(&self) -> AtomicType {
        match self {
            Constraints::Integer { .. } => AtomicType::Integer,
            Constraints::Real { .. } => AtomicType::Real,
            Constraints::Boolean => AtomicType::Boolean,
            Constraints::String { .. } => AtomicType::String,
            Constraints::Uuid { .. } => AtomicType::Uuid,
        }
    }
}

/// An atomic type with its constraints (RFC 7047 `<base-type>`).
#[derive(Clone, Debug, PartialEq)]
pub struct BaseType {
    constraints: Constraints,
    enumeration: Option<BTreeSet<Atom>>,
}

/// Why a type is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TypeError {
    /// Not a known atomic type name.
    #[error("unknown atomic type \"{0}\"")]
    UnknownAtomicType(String),
    /// The JSON has the wrong shape.
    #[error("{what} must be {expected}, got {got}")]
    Syntax {
        /// What was being parsed.
        what: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The JSON text found.
        got: String,
    },
    /// A required member is missing.
    #[error("{what} is missing required member \"{member}\"")]
    MissingMember {
        /// What was being parsed.
        what: &'static str,
        /// The member.
        member: &'static str,
    },
    /// A member that is not allowed here.
    #[error("member \"{member}\" is not allowed in {what}")]
    UnknownMember {
        /// What was being parsed.
        what: String,
        /// The member.
        member: String,
    },
    /// The lower bound exceeds the upper.
    #[error("{min_name} {min} exceeds {max_name} {max}")]
    EmptyRange {
        /// Name of the lower bound.
        min_name: &'static str,
        /// Its value.
        min: String,
        /// Name of the upper bound.
        max_name: &'static str,
        /// Its value.
        max: String,
    },
    /// An `enum` member is invalid.
    #[error("enum: {0}")]
    BadEnum(Box<crate::datum::DatumError>),
    /// An `enum` is empty.
    #[error("enum must have at least one value")]
    EmptyEnum,
    /// `refTable` is not a valid table name.
    #[error("refTable \"{0}\" is not a valid table name")]
    BadRefTable(String),
    /// `refType` is neither strong nor weak.
    #[error("refType must be \"strong\" or \"weak\", got {0}")]
    BadRefType(String),
    /// `min` is not 0 or 1.
    #[error("min {0} must be 0 or 1")]
    BadMin(String),
    /// `max` is not a positive integer or "unlimited".
    #[error("max {0} must be a positive integer or \"unlimited\"")]
    BadMax(String),
    /// `min` exceeds `max`.
    #[error("min {min} exceeds max {max}")]
    MinExceedsMax {
        /// `min`.
        min: u64,
        /// `max`.
        max: u64,
    },
}

fn syntax(what: &'static str, expected: &'static str, got: &Value) -> TypeError {
    TypeError::Syntax { what, expected, got: got.to_string() }
}

impl BaseType {
    /// An unconstrained base type.
    pub fn new(ty: AtomicType) -> BaseType {
        BaseType { constraints: Constraints::none(ty), enumeration: None }
    }

    /// A base type with `constraints` and, optionally, an `enum`. Checks that
    /// ranges are not empty and that every enum atom has the right type and
    /// meets the constraints.
    pub fn with_constraints(
        constraints: Constraints,
        enumeration: Option<BTreeSet<Atom>>,
    ) -> Result<BaseType, TypeError> {
        let range = |min_name, min: String, max_name, max: String| TypeError::EmptyRange {
            min_name,
            min,
            max_name,
            max,
        };
        match &constraints {
            Constraints::Integer { min, max } if min > max => {
                return Err(range("minInteger", min.to_string(), "maxInteger", max.to_string()))
            }
            Constraints::Real { min, max }
                if !matches!(min.partial_cmp(max), Some(Ordering::Less | Ordering::Equal)) =>
            {
                return Err(range("minReal", min.to_string(), "maxReal", max.to_string()))
            }
            Constraints::String { min_length, max_length } if min_length > max_length => {
                return Err(range(
                    "minLength",
                    min_length.to_string(),
                    "maxLength",
                    max_length.to_string(),
                ))
            }
            Constraints::Uuid { ref_table: Some(t), .. } if !crate::atom::is_id(t) => {
                return Err(TypeError::BadRefTable(t.clone()))
            }
            _ => {}
        }
        let base = BaseType { constraints, enumeration: None };
        if let Some(e) = &enumeration {
            if e.is_empty() {
                return Err(TypeError::EmptyEnum);
            }
            for a in e {
                if a.atomic_type() != base.atomic_type() {
                    return Err(TypeError::BadEnum(Box::new(crate::datum::DatumError::Atom(
                        AtomError::WrongType { expected: base.atomic_type(), got: a.to_string() },
                    ))));
                }
                base.check_atom(a).map_err(|e| TypeError::BadEnum(Box::new(e.into())))?;
            }
        }
        Ok(BaseType { enumeration, ..base })
    }

    /// The atomic type.
    pub fn atomic_type(&self) -> AtomicType {
        self.constraints.atomic_type()
    }

    /// The constraints.
    pub fn constraints(&self) -> &Constraints {
        &self.constraints
    }

    /// The allowed atoms, if the type has an `enum`.
    pub fn enumeration(&self) -> Option<&BTreeSet<Atom>> {
        self.enumeration.as_ref()
    }

    /// The referenced table, for a UUID with `refTable`.
    pub fn ref_table(&self) -> Option<&str> {
        match &self.constraints {
            Constraints::Uuid { ref_table, .. } => ref_table.as_deref(),
            _ => None,
        }
    }

    /// The reference strength, for a UUID with `refTable`.
    pub fn ref_type(&self) -> Option<RefType> {
        match &self.constraints {
            Constraints::Uuid { ref_table: Some(_), ref_type } => Some(*ref_type),
            _ => None,
        }
    }

    /// Whether the type has any constraint (which decides whether it prints
    /// as a bare atomic type name).
    pub fn has_constraints(&self) -> bool {
        self.enumeration.is_some() || self.constraints != Constraints::none(self.atomic_type())
    }

    /// Checks `atom` (already of the right type) against the constraints.
    pub fn check_atom(&self, atom: &Atom) -> Result<(), AtomError> {
        if let Some(e) = &self.enumeration {
            if !e.contains(atom) {
                let allowed: Vec<String> = e.iter().map(Atom::to_string).collect();
                return Err(AtomError::NotInEnum {
                    value: atom.to_string(),
                    allowed: format!("{{{}}}", allowed.join(",")),
                });
            }
        }
        match (&self.constraints, atom) {
            (Constraints::Integer { min, max }, Atom::Integer(v)) => {
                check_range(*v, *min, *max, i64::MIN, i64::MAX)
            }
            (Constraints::Real { min, max }, Atom::Real(v)) => {
                check_range(*v, *min, *max, f64::NEG_INFINITY, f64::INFINITY)
            }
            (Constraints::String { min_length, max_length }, Atom::String(s)) => {
                let len = s.chars().count() as u64;
                if len < *min_length {
                    Err(AtomError::TooShort { value: atom.to_string(), len, min: *min_length })
                } else if len > *max_length {
                    Err(AtomError::TooLong { value: atom.to_string(), len, max: *max_length })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Parses `json` as an atom of this type and checks the constraints.
    pub fn parse_atom(
        &self,
        json: &Value,
        symbols: Option<&mut SymbolTable>,
    ) -> Result<Atom, AtomError> {
        let atom = Atom::from_json(json, self.atomic_type(), symbols)?;
        self.check_atom(&atom)?;
        Ok(atom)
    }

    /// The default atom: the type's default (0, 0.0, false, "", zero UUID),
    /// as OVS's `ovsdb_atom_init_default`, whatever the constraints.
    pub fn default_atom(&self) -> Atom {
        self.atomic_type().default_atom()
    }

    /// Parses a `<base-type>`: an atomic type name or an object with `type`
    /// and constraints.
    pub fn from_json(json: &Value) -> Result<BaseType, TypeError> {
        if let Value::String(s) = json {
            return AtomicType::from_name(s)
                .map(BaseType::new)
                .ok_or_else(|| TypeError::UnknownAtomicType(s.clone()));
        }
        let Value::Object(obj) = json else {
            return Err(syntax("base type", "a string or an object", json));
        };
        let ty_json = obj
            .get("type")
            .ok_or(TypeError::MissingMember { what: "base type", member: "type" })?;
        let ty = match ty_json {
            Value::String(s) => {
                AtomicType::from_name(s).ok_or_else(|| TypeError::UnknownAtomicType(s.clone()))?
            }
            other => return Err(syntax("base type \"type\"", "a string", other)),
        };
        let allowed: &[&str] = match ty {
            AtomicType::Integer => &["minInteger", "maxInteger"],
            AtomicType::Real => &["minReal", "maxReal"],
            AtomicType::Boolean => &[],
            AtomicType::String => &["minLength", "maxLength"],
            AtomicType::Uuid => &["refTable", "refType"],
        };
        for k in obj.keys() {
            if k != "type" && k != "enum" && !allowed.contains(&k.as_str()) {
                return Err(TypeError::UnknownMember {
                    what: format!("base type {ty}"),
                    member: k.clone(),
                });
            }
        }
        let constraints = match ty {
            AtomicType::Integer => Constraints::Integer {
                min: get_int(obj, "minInteger")?.unwrap_or(i64::MIN),
                max: get_int(obj, "maxInteger")?.unwrap_or(i64::MAX),
            },
            AtomicType::Real => Constraints::Real {
                min: get_real(obj, "minReal")?.unwrap_or(f64::NEG_INFINITY),
                max: get_real(obj, "maxReal")?.unwrap_or(f64::INFINITY),
            },
            AtomicType::Boolean => Constraints::Boolean,
            AtomicType::String => Constraints::String {
                min_length: get_len(obj, "minLength")?.unwrap_or(0),
                max_length: get_len(obj, "maxLength")?.unwrap_or(u64::MAX),
            },
            AtomicType::Uuid => {
                let ref_table = match obj.get("refTable") {
                    None => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => return Err(syntax("refTable", "a string", other)),
                };
                let ref_type = match (obj.get("refType"), &ref_table) {
                    (None, _) => RefType::Strong,
                    (Some(_), None) => {
                        return Err(TypeError::UnknownMember {
                            what: "base type uuid without refTable".into(),
                            member: "refType".into(),
                        })
                    }
                    (Some(Value::String(s)), Some(_)) if s == "strong" => RefType::Strong,
                    (Some(Value::String(s)), Some(_)) if s == "weak" => RefType::Weak,
                    (Some(other), Some(_)) => return Err(TypeError::BadRefType(other.to_string())),
                };
                Constraints::Uuid { ref_table, ref_type }
            }
        };
        let enumeration = match obj.get("enum") {
            None => None,
            Some(e) => {
                let set_type = Type::new(BaseType::new(ty), None, 0, Max::Unlimited)
                    .expect("a set of atoms is a valid type");
                let d = crate::datum::Datum::from_json(e, &set_type, None)
                    .map_err(|e| TypeError::BadEnum(Box::new(e)))?;
                Some(d.into_keys())
            }
        };
        BaseType::with_constraints(constraints, enumeration)
    }

    /// The JSON form: the bare type name without constraints, else an object.
    pub fn to_json(&self) -> Value {
        let ty = self.atomic_type();
        if !self.has_constraints() {
            return Value::String(ty.name().into());
        }
        let mut obj = Map::new();
        obj.insert("type".into(), ty.name().into());
        if let Some(e) = &self.enumeration {
            obj.insert("enum".into(), crate::datum::Datum::Set(e.clone()).to_json());
        }
        match &self.constraints {
            Constraints::Integer { min, max } => {
                if *min != i64::MIN {
                    obj.insert("minInteger".into(), (*min).into());
                }
                if *max != i64::MAX {
                    obj.insert("maxInteger".into(), (*max).into());
                }
            }
            Constraints::Real { min, max } => {
                if min.is_finite() {
                    obj.insert("minReal".into(), (*min).into());
                }
                if max.is_finite() {
                    obj.insert("maxReal".into(), (*max).into());
                }
            }
            Constraints::Boolean => {}
            Constraints::String { min_length, max_length } => {
                if *min_length != 0 {
                    obj.insert("minLength".into(), (*min_length).into());
                }
                if *max_length != u64::MAX {
                    obj.insert("maxLength".into(), (*max_length).into());
                }
            }
            Constraints::Uuid { ref_table, ref_type } => {
                if let Some(t) = ref_table {
                    obj.insert("refTable".into(), t.clone().into());
                    if *ref_type == RefType::Weak {
                        obj.insert("refType".into(), "weak".into());
                    }
                }
            }
        }
        Value::Object(obj)
    }
}

fn check_range<T: PartialOrd + fmt::Display + Copy>(
    v: T,
    min: T,
    max: T,
    lowest: T,
    highest: T,
) -> Result<(), AtomError> {
    if v >= min && v <= max {
        return Ok(());
    }
    let (value, min_s, max_s) = (v.to_string(), min.to_string(), max.to_string());
    Err(if min != lowest && max != highest {
        AtomError::OutOfRange { value, min: min_s, max: max_s }
    } else if v < min {
        AtomError::BelowMin { value, min: min_s }
    } else {
        AtomError::AboveMax { value, max: max_s }
    })
}

fn get_int(obj: &Map<String, Value>, key: &'static str) -> Result<Option<i64>, TypeError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| syntax(key, "a 64-bit integer", v)),
    }
}

fn get_real(obj: &Map<String, Value>, key: &'static str) -> Result<Option<f64>, TypeError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => {
            v.as_f64().filter(|f| f.is_finite()).map(Some).ok_or_else(|| syntax(key, "a number", v))
        }
    }
}

fn get_len(obj: &Map<String, Value>, key: &'static str) -> Result<Option<u64>, TypeError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| syntax(key, "a non-negative integer", v)),
    }
}

/// The most elements a value may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Max {
    /// At most this many (at least 1).
    Limited(u64),
    /// `"unlimited"`.
    Unlimited,
}

impl Max {
    /// Whether `n` elements are within the limit.
    pub fn allows(self, n: usize) -> bool {
        match self {
            Max::Limited(m) => (n as u64) <= m,
            Max::Unlimited => true,
        }
    }
}

impl fmt::Display for Max {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Max::Limited(m) => write!(f, "{m}"),
            Max::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// The type of a column (RFC 7047 `<type>`).
#[derive(Clone, Debug, PartialEq)]
pub struct Type {
    key: BaseType,
    value: Option<BaseType>,
    min: u64,
    max: Max,
}

impl Type {
    /// A type from its parts; `min` must be 0 or 1 and `max` at least 1 and
    /// at least `min`.
    pub fn new(
        key: BaseType,
        value: Option<BaseType>,
        min: u64,
        max: Max,
    ) -> Result<Type, TypeError> {
        if min > 1 {
            return Err(TypeError::BadMin(min.to_string()));
        }
        if let Max::Limited(m) = max {
            if m == 0 {
                return Err(TypeError::BadMax(m.to_string()));
            }
            if min > m {
                return Err(TypeError::MinExceedsMax { min, max: m });
            }
        }
        Ok(Type { key, value, min, max })
    }

    /// A scalar: exactly one atom of `base`.
    pub fn scalar(base: BaseType) -> Type {
        Type { key: base, value: None, min: 1, max: Max::Limited(1) }
    }

    /// The key type (the element type of a set).
    pub fn key(&self) -> &BaseType {
        &self.key
    }

    /// The value type, for a map.
    pub fn value(&self) -> Option<&BaseType> {
        self.value.as_ref()
    }

    /// The fewest elements allowed (0 or 1).
    pub fn min(&self) -> u64 {
        self.min
    }

    /// The most elements allowed.
    pub fn max(&self) -> Max {
        self.max
    }

    /// Whether values are maps.
    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// Whether values are sets (including scalars and optional scalars).
    pub fn is_set(&self) -> bool {
        self.value.is_none()
    }

    /// Whether values are exactly one atom.
    pub fn is_scalar(&self) -> bool {
        self.value.is_none() && self.min == 1 && self.max == Max::Limited(1)
    }

    /// Whether values are zero or one atom.
    pub fn is_optional_scalar(&self) -> bool {
        self.value.is_none() && self.min == 0 && self.max == Max::Limited(1)
    }

    /// Parses a `<type>`: an atomic type name or an object with `key` and
    /// optional `value`, `min`, `max`.
    pub fn from_json(json: &Value) -> Result<Type, TypeError> {
        if let Value::String(_) = json {
            return Ok(Type::scalar(BaseType::from_json(json)?));
        }
        let Value::Object(obj) = json else {
            return Err(syntax("type", "a string or an object", json));
        };
        for k in obj.keys() {
            if !matches!(k.as_str(), "key" | "value" | "min" | "max") {
                return Err(TypeError::UnknownMember { what: "type".into(), member: k.clone() });
            }
        }
        let key = BaseType::from_json(
            obj.get("key").ok_or(TypeError::MissingMember { what: "type", member: "key" })?,
        )?;
        let value = obj.get("value").map(BaseType::from_json).transpose()?;
        let min = match obj.get("min") {
            None => 1,
            Some(v) => {
                v.as_u64().filter(|&m| m <= 1).ok_or_else(|| TypeError::BadMin(v.to_string()))?
            }
        };
        let max = match obj.get("max") {
            None => Max::Limited(1),
            Some(Value::String(s)) if s == "unlimited" => Max::Unlimited,
            Some(v) => Max::Limited(
                v.as_u64().filter(|&m| m >= 1).ok_or_else(|| TypeError::BadMax(v.to_string()))?,
            ),
        };
        Type::new(key, value, min, max)
    }

    /// The JSON form, as OVS writes it: a bare name for an unconstrained
    /// scalar, else an object omitting `min`/`max` when they are 1.
    pub fn to_json(&self) -> Value {
        if self.is_scalar() && !self.key.has_constraints() {
            return self.key.to_json();
        }
        let mut obj = Map::new();
        obj.insert("key".into(), self.key.to_json());
        if let Some(v) = &self.value {
            obj.insert("value".into(), v.to_json());
        }
        if self.min != 1 {
            obj.insert("min".into(), self.min.into());
        }
        match self.max {
            Max::Limited(1) => {}
            Max::Limited(m) => {
                obj.insert("max".into(), m.into());
            }
            Max::Unlimited => {
                obj.insert("max".into(), "unlimited".into());
            }
        }
        Value::Object(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_types() {
        let b =
            BaseType::from_json(&json!({"type": "integer", "minInteger": 1, "maxInteger": 65279}))
                .unwrap();
        assert_eq!(b.constraints(), &Constraints::Integer { min: 1, max: 65279 });
        assert_eq!(
            b.parse_atom(&json!(70000), None).unwrap_err().to_string(),
            "value 70000 is out of range 1 to 65279"
        );
        let half = BaseType::from_json(&json!({"type": "integer", "minInteger": 0})).unwrap();
        assert_eq!(
            half.parse_atom(&json!(-1), None).unwrap_err().to_string(),
            "value -1 is less than minimum allowed value 0"
        );
        let e = BaseType::from_json(
            &json!({"type": "string", "enum": ["set", ["standalone", "secure"]]}),
        )
        .unwrap();
        assert_eq!(
            e.parse_atom(&json!("foo"), None).unwrap_err().to_string(),
            "\"foo\" is not one of the allowed values {\"secure\",\"standalone\"}"
        );
        let s = BaseType::from_json(&json!({"type": "string", "minLength": 2, "maxLength": 3}))
            .unwrap();
        assert!(s.parse_atom(&json!("ab"), None).is_ok());
        assert_eq!(
            s.parse_atom(&json!("abcd"), None).unwrap_err().to_string(),
            "\"abcd\" length 4 is greater than maximum allowed length 3"
        );
        // Length counts characters, not bytes.
        assert!(s.parse_atom(&json!("ééé"), None).is_ok());
        let w =
            BaseType::from_json(&json!({"type": "uuid", "refTable": "Port", "refType": "weak"}))
                .unwrap();
        assert_eq!(w.ref_table(), Some("Port"));
        assert_eq!(w.ref_type(), Some(RefType::Weak));
        assert_eq!(BaseType::from_json(&w.to_json()).unwrap(), w);
    }

    #[test]
    fn bad_base_types() {
        for (j, msg) in [
            (json!("int"), "unknown atomic type \"int\""),
            (
                json!({"type": "string", "minInteger": 1}),
                "member \"minInteger\" is not allowed in base type string",
            ),
            (
                json!({"type": "integer", "minInteger": 5, "maxInteger": 1}),
                "minInteger 5 exceeds maxInteger 1",
            ),
            (
                json!({"type": "uuid", "refType": "weak"}),
                "member \"refType\" is not allowed in base type uuid without refTable",
            ),
            (
                json!({"type": "uuid", "refTable": "P", "refType": "soft"}),
                "refType must be \"strong\" or \"weak\", got \"soft\"",
            ),
            (json!({"type": "integer", "enum": ["set", []]}), "enum must have at least one value"),
            (json!({"type": "integer", "enum": "x"}), "enum: expected integer, got \"x\""),
            (
                json!({"type": "integer", "maxInteger": 3, "enum": 4}),
                "enum: value 4 is greater than maximum allowed value 3",
            ),
            (json!({"minInteger": 1}), "base type is missing required member \"type\""),
            (json!(5), "base type must be a string or an object, got 5"),
        ] {
            assert_eq!(BaseType::from_json(&j).unwrap_err().to_string(), msg, "{j}");
        }
    }

    #[test]
    fn types() {
        let t = Type::from_json(
            &json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}),
        )
        .unwrap();
        assert!(t.is_map());
        assert_eq!(t.max(), Max::Unlimited);
        assert_eq!(Type::from_json(&t.to_json()).unwrap(), t);
        let s = Type::from_json(&json!("integer")).unwrap();
        assert!(s.is_scalar());
        assert_eq!(s.to_json(), json!("integer"));
        for (j, msg) in [
            (json!({"key": "integer", "min": 2}), "min 2 must be 0 or 1"),
            (
                json!({"key": "integer", "max": 0}),
                "max 0 must be a positive integer or \"unlimited\"",
            ),
            (
                json!({"key": "integer", "max": "lots"}),
                "max \"lots\" must be a positive integer or \"unlimited\"",
            ),
            (json!({"key": "integer", "size": 1}), "member \"size\" is not allowed in type"),
            (json!({"value": "integer"}), "type is missing required member \"key\""),
        ] {
            assert_eq!(Type::from_json(&j).unwrap_err().to_string(), msg, "{j}");
        }
    }
}
