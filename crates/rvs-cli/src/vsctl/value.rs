//! Column values in `ovs-vsctl`'s text syntax, driven by the column's type.
//!
//! A value is held as a sorted list of `(key, value)` atom pairs (`value` is
//! `None` for scalars and sets), read from and written to RFC 7047 JSON and
//! to the text `ovs-vsctl` prints and parses: `"p1"`, `[10, 20]`,
//! `{peer=p2}`.

use std::cmp::Ordering;

use rvs_ovsdb::{AtomicType, BaseType, Max, Type};
use serde_json::{json, Value};

/// A scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    /// An integer.
    Int(i64),
    /// A real.
    Real(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// A UUID, or the name of a row this transaction inserts.
    Uuid(String),
}

impl Atom {
    fn cmp(&self, other: &Atom) -> Ordering {
        match (self, other) {
            (Atom::Int(a), Atom::Int(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Atom::Bool(a), Atom::Bool(b)) => a.cmp(b),
            (Atom::Str(a), Atom::Str(b)) | (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }

    /// The text `ovs-vsctl` prints for this atom.
    pub fn to_text(&self) -> String {
        match self {
            Atom::Int(i) => i.to_string(),
            Atom::Real(r) => r.to_string(),
            Atom::Bool(b) => b.to_string(),
            Atom::Str(s) if needs_quotes(s) => Value::from(s.as_str()).to_string(),
            Atom::Str(s) | Atom::Uuid(s) => s.clone(),
        }
    }

    fn to_json(&self, is_new: &dyn Fn(&str) -> bool) -> Value {
        match self {
            Atom::Int(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Bool(b) => json!(b),
            Atom::Str(s) => json!(s),
            Atom::Uuid(u) if is_new(u) => json!(["named-uuid", u]),
            Atom::Uuid(u) => json!(["uuid", u]),
        }
    }

    fn from_json(v: &Value) -> Option<Atom> {
        Some(match v {
            Value::Bool(b) => Atom::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Atom::Int(i),
                None => Atom::Real(n.as_f64()?),
            },
            Value::String(s) => Atom::Str(s.clone()),
            Value::Array(a) if a.len() == 2 && (a[0] == "uuid" || a[0] == "named-uuid") => {
                Atom::Uuid(a[1].as_str()?.to_string())
            }
            _ => return None,
        })
    }
}

/// OVS's `string_needs_quotes`: bare only if it looks like an identifier
/// made of letters, digits, `_`, `-` and `.` and is not a boolean or a UUID.
fn needs_quotes(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return true,
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
        return true;
    }
    s == "true" || s == "false" || is_uuid(s)
}

/// Whether `s` is a UUID in 8-4-4-4-12 form.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// A column value: sorted, distinct keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Datum(pub Vec<(Atom, Option<Atom>)>);

/// Why a text is not a value of a column's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// An atom did not parse as its type.
    #[error("\"{text}\" is not a valid {ty}")]
    BadAtom {
        /// The text.
        text: String,
        /// The expected type.
        ty: &'static str,
    },
    /// A value has more or fewer elements than the column allows.
    #[error("\"{text}\" has {n} elements but the column allows {min} to {max}")]
    Count {
        /// The text.
        text: String,
        /// How many it had.
        n: usize,
        /// The least allowed.
        min: u64,
        /// The most allowed.
        max: String,
    },
    /// A map element without `=`.
    #[error("\"{0}\" is not a key=value pair")]
    NotAPair(String),
    /// An unterminated quoted string or bracket.
    #[error("syntax error in \"{0}\"")]
    Syntax(String),
    /// A value is not in the column's enumeration.
    #[error("\"{text}\" is not one of the allowed values ({allowed})")]
    NotAllowed {
        /// The text.
        text: String,
        /// The allowed values.
        allowed: String,
    },
}

fn type_name(t: AtomicType) -> &'static str {
    match t {
        AtomicType::Integer => "integer",
        AtomicType::Real => "real",
        AtomicType::Boolean => "boolean",
        AtomicType::String => "string",
        AtomicType::Uuid => "UUID",
    }
}

/// Parses one atom of `base` from `text` (quoted or bare strings, `@name`
/// references resolved by `symbol`).
pub fn parse_atom(
    text: &str,
    base: &BaseType,
    symbol: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Atom, ValueError> {
    let t = base.atomic_type();
    let bad = || ValueError::BadAtom { text: text.to_string(), ty: type_name(t) };
    let atom = match t {
        AtomicType::Integer => Atom::Int(text.parse().map_err(|_| bad())?),
        AtomicType::Real => Atom::Real(text.parse().map_err(|_| bad())?),
        AtomicType::Boolean => match text {
            "true" => Atom::Bool(true),
            "false" => Atom::Bool(false),
            _ => return Err(bad()),
        },
        AtomicType::String => {
            if text.starts_with('"') {
                Atom::Str(serde_json::from_str::<String>(text).map_err(|_| bad())?)
            } else {
                Atom::Str(text.to_string())
            }
        }
        AtomicType::Uuid => {
            if is_uuid(text) {
                Atom::Uuid(text.to_ascii_lowercase())
            } else if text.starts_with('@') {
                Atom::Uuid(symbol(text).ok_or_else(bad)?)
            } else {
                return Err(bad());
            }
        }
    };
    if let Some(allowed) = base.enumeration() {
        let as_json = atom.to_json(&|_| false);
        if !allowed.iter().any(|a| a.to_json() == as_json) {
            let list: Vec<String> = allowed.iter().map(|a| a.to_json().to_string()).collect();
            return Err(ValueError::NotAllowed {
                text: text.to_string(),
                allowed: list.join(", "),
            });
        }
    }
    Ok(atom)
}

/// Splits `text` at top-level occurrences of `sep` (and, for `,`, at
/// whitespace after it), respecting double quotes.
fn split_top(text: &str, sep: char) -> Result<Vec<String>, ValueError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_quote {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
        } else if c == '"' {
            in_quote = true;
            cur.push(c);
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if in_quote {
        return Err(ValueError::Syntax(text.to_string()));
    }
    out.push(cur);
    Ok(out.into_iter().map(|s| s.trim().to_string()).collect())
}

/// Splits `key=value` at the first `=` outside double quotes.
pub fn split_pair(text: &str) -> Result<(String, String), ValueError> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
        } else if c == '"' {
            in_quote = true;
        } else if c == '=' {
            return Ok((text[..i].trim().to_string(), text[i + 1..].trim().to_string()));
        }
    }
    Err(ValueError::NotAPair(text.to_string()))
}

impl Datum {
    /// Sorts by key and drops duplicate keys (the last one wins).
    pub fn normalize(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        v.reverse();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0.cmp(&b.0) == Ordering::Equal);
        self.0 = v;
    }

    /// The default value of `ty`: empty, or the type's default atom.
    pub fn default_of(ty: &Type) -> Datum {
        if ty.min() == 0 {
            return Datum::default();
        }
        let atom = |b: &BaseType| match b.atomic_type() {
            AtomicType::Integer => Atom::Int(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Bool(false),
            AtomicType::String => Atom::Str(String::new()),
            AtomicType::Uuid => Atom::Uuid("00000000-0000-0000-0000-000000000000".into()),
        };
        Datum(vec![(atom(ty.key()), ty.value().map(atom))])
    }

    /// Parses `text` as a value of `ty`: an atom, a set (`[a,b]` or `a,b`)
    /// or a map (`{k=v,...}` or `k=v,...`).
    pub fn parse(
        text: &str,
        ty: &Type,
        symbol: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Result<Datum, ValueError> {
        let t = text.trim();
        let inner = if ty.is_map() {
            t.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(t)
        } else {
            t.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(t)
        };
        let mut d = Datum::default();
        if !inner.trim().is_empty() {
            let elems = if ty.is_scalar() && !t.starts_with('[') {
                vec![inner.to_string()]
            } else {
                split_top(inner, ',')?
            };
            for e in elems {
                if let Some(vt) = ty.value() {
                    let (k, v) = split_pair(&e)?;
                    d.0.push((
                        parse_atom(&k, ty.key(), symbol)?,
                        Some(parse_atom(&v, vt, symbol)?),
                    ));
                } else {
                    d.0.push((parse_atom(&e, ty.key(), symbol)?, None));
                }
            }
        }
        d.normalize();
        d.check(text, ty)?;
        Ok(d)
    }

    /// Checks the number of elements against `ty`.
    pub fn check(&self, text: &str, ty: &Type) -> Result<(), ValueError> {
        let n = self.0.len();
        if (n as u64) < ty.min() || !ty.max().allows(n) {
            return Err(ValueError::Count {
                text: text.to_string(),
                n,
                min: ty.min(),
                max: match ty.max() {
                    Max::Limited(m) => m.to_string(),
                    Max::Unlimited => "unlimited".into(),
                },
            });
        }
        Ok(())
    }

    /// The text `ovs-vsctl` prints for this value of `ty`.
    pub fn to_text(&self, ty: &Type) -> String {
        let bracket = ty.max() != Max::Limited(1) || self.0.is_empty();
        let mut s = String::new();
        if bracket {
            s.push(if ty.is_map() { '{' } else { '[' });
        }
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&k.to_text());
            if let Some(v) = v {
                s.push('=');
                s.push_str(&v.to_text());
            }
        }
        if bracket {
            s.push(if ty.is_map() { '}' } else { ']' });
        }
        s
    }

    /// RFC 7047 JSON for this value; UUIDs for which `is_new` holds are
    /// written as `named-uuid`.
    pub fn to_json(&self, ty: &Type, is_new: &dyn Fn(&str) -> bool) -> Value {
        if ty.is_map() {
            let pairs: Vec<Value> = self
                .0
                .iter()
                .map(|(k, v)| json!([k.to_json(is_new), v.as_ref().map(|v| v.to_json(is_new))]))
                .collect();
            json!(["map", pairs])
        } else if self.0.len() == 1 {
            self.0[0].0.to_json(is_new)
        } else {
            let atoms: Vec<Value> = self.0.iter().map(|(k, _)| k.to_json(is_new)).collect();
            json!(["set", atoms])
        }
    }

    /// Reads RFC 7047 JSON.
    pub fn from_json(v: &Value) -> Datum {
        let mut d = Datum::default();
        match v {
            Value::Array(a) if a.len() == 2 && a[0] == "set" => {
                for e in a[1].as_array().into_iter().flatten() {
                    if let Some(atom) = Atom::from_json(e) {
                        d.0.push((atom, None));
                    }
                }
            }
            Value::Array(a) if a.len() == 2 && a[0] == "map" => {
                for e in a[1].as_array().into_iter().flatten() {
                    if let (Some(k), Some(v)) =
                        (e.get(0).and_then(Atom::from_json), e.get(1).and_then(Atom::from_json))
                    {
                        d.0.push((k, Some(v)));
                    }
                }
            }
            other => {
                if let Some(atom) = Atom::from_json(other) {
                    d.0.push((atom, None));
                }
            }
        }
        d.normalize();
        d
    }

    /// The value for `key` in a map.
    pub fn get(&self, key: &Atom) -> Option<&Atom> {
        self.0.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_ref())
    }

    /// The UUIDs among the keys.
    pub fn uuids(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|(k, _)| match k {
                Atom::Uuid(u) => Some(u.clone()),
                _ => None,
            })
            .collect()
    }

    /// Adds the elements of `other`; for maps, keys already present keep
    /// their value.
    pub fn union(&mut self, other: &Datum) {
        for (k, v) in &other.0 {
            if !self.0.iter().any(|(k2, _)| k2 == k) {
                self.0.push((k.clone(), v.clone()));
            }
        }
        self.0.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Removes the elements of `other`: for maps, pairs equal to one of
    /// `other`'s, or keys of `other` when it has no values.
    pub fn subtract(&mut self, other: &Datum) {
        self.0
            .retain(|(k, v)| !other.0.iter().any(|(ok, ov)| ok == k && (ov.is_none() || ov == v)));
    }
}
