//! Mutations (RFC 7047 section 5.1, `<mutation>`): `[<column>, <mutator>,
//! <value>]`, the changes a `mutate` operation applies.
//!
//! - `+=`, `-=`, `*=`, `/=`, `%=`: integer or real columns holding one value
//!   or a set (`%=` integers only). The value is a single atom of the
//!   column's atomic type, applied to every element. Division by zero is a
//!   `domain error`; overflow (or a non-finite real) a `range error`; a result
//!   outside the column's constraints, or a set whose elements collide, a
//!   `constraint violation`.
//! - `insert`: set or map columns. The value is a set (or map) of elements
//!   to add; a map key already present keeps its old value.
//! - `delete`: set or map columns. The value is a set of elements to remove
//!   or, for maps, either a map (a pair is removed only if key and value both
//!   match) or a set of keys.
//!
//! Immutable columns (and `_uuid`, `_version`) cannot be mutated
//! (`constraint violation`). A result with too many or too few elements is a
//! `constraint violation` too.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::atom::{Atom, AtomicType, SymbolTable};
use crate::condition::unconstrained;
use crate::datum::Datum;
use crate::error::{ErrorKind, TxnError};
use crate::schema::{ColumnSchema, TableSchema};
use crate::types::{BaseType, Max, Type};

/// A mutator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutator {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `%=`
    Mod,
    /// `insert`
    Insert,
    /// `delete`
    Delete,
}

impl Mutator {
    /// The mutator named `s`.
    pub fn from_name(s: &str) -> Option<Mutator> {
        Some(match s {
            "+=" => Mutator::Add,
            "-=" => Mutator::Sub,
            "*=" => Mutator::Mul,
            "/=" => Mutator::Div,
            "%=" => Mutator::Mod,
            "insert" => Mutator::Insert,
            "delete" => Mutator::Delete,
            _ => return None,
        })
    }

    /// The mutator's name.
    pub fn name(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// One parsed mutation.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    /// The column.
    pub column: String,
    /// The mutator.
    pub mutator: Mutator,
    /// The argument.
    pub value: Datum,
}

impl Mutation {
    /// Parses one `<mutation>` of `table`.
    pub fn from_json(
        json: &Value,
        table: &TableSchema,
        symbols: &mut SymbolTable,
    ) -> Result<Mutation, TxnError> {
        let Some([Value::String(column), Value::String(m), value]) =
            json.as_array().map(Vec::as_slice)
        else {
            return Err(TxnError::syntax(format!(
                "mutation must be [column, mutator, value], got {json}"
            )));
        };
        let tname = table.name();
        let col = table.column(column).ok_or_else(|| {
            TxnError::new(ErrorKind::UnknownColumn, format!("no column {column} in table {tname}"))
        })?;
        let mutator = Mutator::from_name(m).ok_or_else(|| {
            TxnError::syntax(format!("unknown mutator \"{m}\" in mutation {json}"))
        })?;
        if !col.is_mutable() {
            return Err(TxnError::constraint(format!(
                "cannot mutate immutable column {tname}.{column}"
            )));
        }
        let ty = col.ty();
        let mismatch = || {
            TxnError::syntax(format!(
                "type mismatch: \"{m}\" may not be applied to column {tname}.{column} of type {}",
                ty.to_json()
            ))
        };
        let arg_ty = match mutator {
            Mutator::Add | Mutator::Sub | Mutator::Mul | Mutator::Div | Mutator::Mod => {
                let at = ty.key().atomic_type();
                if ty.is_map()
                    || !matches!(at, AtomicType::Integer | AtomicType::Real)
                    || (mutator == Mutator::Mod && at == AtomicType::Real)
                {
                    return Err(mismatch());
                }
                unconstrained(ty, 1, Max::Limited(1))
            }
            Mutator::Insert | Mutator::Delete => {
                if ty.is_scalar() {
                    return Err(mismatch());
                }
                let max = if mutator == Mutator::Delete { Max::Unlimited } else { ty.max() };
                Type::new(ty.key().clone(), ty.value().cloned(), 0, max)
                    .expect("min 0 is a valid type")
            }
        };
        let parsed = Datum::from_json(value, &arg_ty, Some(&mut *symbols));
        let value = match parsed {
            Ok(d) => d,
            // A map's delete may name keys only.
            Err(_) if mutator == Mutator::Delete && ty.is_map() => {
                let keys = Type::new(ty.key().clone(), None, 0, Max::Unlimited)
                    .expect("a set of keys is a valid type");
                Datum::from_json(value, &keys, Some(symbols))
                    .map_err(|e| TxnError::datum(tname, column, &e))?
            }
            Err(e) => return Err(TxnError::datum(tname, column, &e)),
        };
        Ok(Mutation { column: column.clone(), mutator, value })
    }

    /// Parses a `"mutations"` array.
    pub fn parse_list(
        json: &Value,
        table: &TableSchema,
        symbols: &mut SymbolTable,
    ) -> Result<Vec<Mutation>, TxnError> {
        let Value::Array(list) = json else {
            return Err(TxnError::syntax(format!("\"mutations\" must be an array, got {json}")));
        };
        list.iter().map(|m| Mutation::from_json(m, table, symbols)).collect()
    }

    /// Applies this mutation to `datum`, a value of column `col` of table
    /// `table`, returning the new value.
    pub fn apply(&self, datum: &Datum, table: &str, col: &ColumnSchema) -> Result<Datum, TxnError> {
        let ty = col.ty();
        let name = || format!("{table}.{}", self.column);
        let out = match self.mutator {
            Mutator::Insert => match (datum, &self.value) {
                (Datum::Set(s), Datum::Set(a)) => Datum::Set(s.union(a).cloned().collect()),
                (Datum::Map(m), Datum::Map(a)) => {
                    let mut m = m.clone();
                    for (k, v) in a {
                        m.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    Datum::Map(m)
                }
                _ => return Err(TxnError::syntax(format!("type mismatch mutating {}", name()))),
            },
            Mutator::Delete => match (datum, &self.value) {
                (Datum::Set(s), Datum::Set(a)) => Datum::Set(s.difference(a).cloned().collect()),
                (Datum::Map(m), Datum::Set(keys)) => {
                    Datum::Map(m.iter().filter(|(k, _)| !keys.contains(k)).map(clone2).collect())
                }
                (Datum::Map(m), Datum::Map(a)) => {
                    Datum::Map(m.iter().filter(|(k, v)| a.get(k) != Some(v)).map(clone2).collect())
                }
                _ => return Err(TxnError::syntax(format!("type mismatch mutating {}", name()))),
            },
            _ => {
                let arg = self.value.as_scalar().ok_or_else(|| {
                    TxnError::syntax(format!("mutation of {} needs a single value", name()))
                })?;
                let set = datum.as_set().ok_or_else(|| {
                    TxnError::syntax(format!("type mismatch mutating {}", name()))
                })?;
                let mut out = BTreeSet::new();
                for a in set {
                    let r = arith(self.mutator, a, arg).map_err(|(kind, what)| {
                        TxnError::new(
                            kind,
                            format!("{}: {a} {} {arg}: {what}", name(), self.mutator.name()),
                        )
                    })?;
                    check_constraint(ty.key(), &r, &name())?;
                    out.insert(r);
                }
                if out.len() != set.len() {
                    return Err(TxnError::constraint(format!(
                        "result of \"{}\" on {} contains duplicates",
                        self.mutator.name(),
                        name()
                    )));
                }
                Datum::Set(out)
            }
        };
        out.check_count(ty).map_err(|e| {
            TxnError::constraint(format!(
                "column {} after \"{}\": {e}",
                name(),
                self.mutator.name()
            ))
        })?;
        Ok(out)
    }
}

fn clone2((k, v): (&Atom, &Atom)) -> (Atom, Atom) {
    (k.clone(), v.clone())
}

fn check_constraint(base: &BaseType, atom: &Atom, name: &str) -> Result<(), TxnError> {
    base.check_atom(atom).map_err(|e| TxnError::constraint(format!("column {name}: {e}")))
}

/// `a op b`, or the error kind and why.
fn arith(op: Mutator, a: &Atom, b: &Atom) -> Result<Atom, (ErrorKind, &'static str)> {
    let range = (ErrorKind::RangeError, "result is out of range");
    let zero = (ErrorKind::DomainError, "division by zero");
    match (a, b) {
        (Atom::Integer(x), Atom::Integer(y)) => {
            let r = match op {
                Mutator::Add => x.checked_add(*y),
                Mutator::Sub => x.checked_sub(*y),
                Mutator::Mul => x.checked_mul(*y),
                Mutator::Div if *y == 0 => return Err(zero),
                Mutator::Div => x.checked_div(*y),
                Mutator::Mod if *y == 0 => return Err(zero),
                Mutator::Mod => x.checked_rem(*y),
                _ => None,
            };
            r.map(Atom::Integer).ok_or(range)
        }
        (Atom::Real(x), Atom::Real(y)) => {
            let r = match op {
                Mutator::Add => x + y,
                Mutator::Sub => x - y,
                Mutator::Mul => x * y,
                Mutator::Div if *y == 0.0 => return Err(zero),
                Mutator::Div => x / y,
                _ => return Err((ErrorKind::SyntaxError, "not a real operation")),
            };
            if r.is_finite() {
                Ok(Atom::Real(r))
            } else {
                Err(range)
            }
        }
        _ => Err((ErrorKind::SyntaxError, "type mismatch")),
    }
}
