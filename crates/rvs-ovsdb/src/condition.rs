//! Conditions (RFC 7047 section 5.1, `<condition>`): `[<column>, <function>,
//! <value>]`, the `"where"` of select, update, mutate, delete and wait.
//!
//! - `==`, `!=`: any column; the value has the column's type.
//! - `<`, `<=`, `>`, `>=`: integer and real columns that hold one value (or
//!   at most one, as OVS allows; an empty optional value never matches).
//! - `includes`: every element of the value is in the column (for maps, every
//!   key-value pair); `excludes`: no element of the value is. Here the value
//!   may have any number of elements.
//!
//! The value's atoms are checked for their atomic type only, not for the
//! column's constraints: asking whether a port number is below 70000 is a
//! fair question even if no port can be. `true` and `false` are accepted as
//! conditions that always and never hold (OVS's extension).

use std::cmp::Ordering;

use serde_json::Value;

use crate::atom::{Atom, AtomicType, SymbolTable};
use crate::datum::Datum;
use crate::error::{ErrorKind, TxnError};
use crate::row::Row;
use crate::schema::TableSchema;
use crate::types::{BaseType, Max, Type};

/// A condition function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `includes`
    Includes,
    /// `excludes`
    Excludes,
}

impl Function {
    /// The function named `s` in a condition.
    pub fn from_name(s: &str) -> Option<Function> {
        Some(match s {
            "<" => Function::Lt,
            "<=" => Function::Le,
            "==" => Function::Eq,
            "!=" => Function::Ne,
            ">=" => Function::Ge,
            ">" => Function::Gt,
            "includes" => Function::Includes,
            "excludes" => Function::Excludes,
            _ => return None,
        })
    }
}

/// One parsed condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `true` or `false`.
    Constant(bool),
    /// `[column, function, value]`.
    Clause {
        /// The column name.
        column: String,
        /// The function.
        function: Function,
        /// The value, parsed against the column's type.
        value: Datum,
    },
}

/// A type with `ty`'s shape and atomic types but no constraints.
pub(crate) fn unconstrained(ty: &Type, min: u64, max: Max) -> Type {
    let base = |b: &BaseType| BaseType::new(b.atomic_type());
    Type::new(base(ty.key()), ty.value().map(base), min, max)
        .expect("min 0 or 1 with max >= min is a valid type")
}

impl Condition {
    /// Parses one `<condition>` of `table`.
    pub fn from_json(
        json: &Value,
        table: &TableSchema,
        symbols: &mut SymbolTable,
    ) -> Result<Condition, TxnError> {
        if let Value::Bool(b) = json {
            return Ok(Condition::Constant(*b));
        }
        let Some([Value::String(column), Value::String(func), value]) =
            json.as_array().map(Vec::as_slice)
        else {
            return Err(TxnError::syntax(format!(
                "condition must be [column, function, value], got {json}"
            )));
        };
        let col = table.column(column).ok_or_else(|| {
            TxnError::new(
                ErrorKind::UnknownColumn,
                format!("no column {column} in table {}", table.name()),
            )
        })?;
        let function = Function::from_name(func).ok_or_else(|| {
            TxnError::syntax(format!("unknown function \"{func}\" in condition {json}"))
        })?;
        let ty = col.ty();
        let arg_ty = match function {
            Function::Lt | Function::Le | Function::Gt | Function::Ge => {
                let numeric =
                    matches!(ty.key().atomic_type(), AtomicType::Integer | AtomicType::Real);
                if !numeric || !(ty.is_scalar() || ty.is_optional_scalar()) {
                    return Err(TxnError::syntax(format!(
                        "type mismatch: \"{func}\" may not be applied to column {}.{column} of type {}",
                        table.name(),
                        ty.to_json()
                    )));
                }
                unconstrained(ty, 1, Max::Limited(1))
            }
            Function::Eq | Function::Ne => unconstrained(ty, ty.min(), ty.max()),
            Function::Includes | Function::Excludes => unconstrained(ty, 0, Max::Unlimited),
        };
        let value = Datum::from_json(value, &arg_ty, Some(symbols))
            .map_err(|e| TxnError::datum(table.name(), column, &e))?;
        Ok(Condition::Clause { column: column.clone(), function, value })
    }

    /// Parses a `"where"` array.
    pub fn parse_where(
        json: &Value,
        table: &TableSchema,
        symbols: &mut SymbolTable,
    ) -> Result<Vec<Condition>, TxnError> {
        let Value::Array(list) = json else {
            return Err(TxnError::syntax(format!("\"where\" must be an array, got {json}")));
        };
        list.iter().map(|c| Condition::from_json(c, table, symbols)).collect()
    }

    /// Whether `row` satisfies this condition.
    pub fn matches(&self, row: &Row) -> bool {
        let (column, function, arg) = match self {
            Condition::Constant(b) => return *b,
            Condition::Clause { column, function, value } => (column, *function, value),
        };
        let Some(have) = row.get(column) else { return false };
        match function {
            Function::Eq => have == arg,
            Function::Ne => have != arg,
            Function::Includes => includes(have, arg),
            Function::Excludes => excludes(have, arg),
            Function::Lt | Function::Le | Function::Gt | Function::Ge => {
                let (Some(a), Some(b)) = (have.as_scalar(), arg.as_scalar()) else {
                    return false;
                };
                let ord = match (a, b) {
                    (Atom::Integer(x), Atom::Integer(y)) => Some(x.cmp(y)),
                    (Atom::Real(x), Atom::Real(y)) => x.partial_cmp(y),
                    _ => None,
                };
                match (ord, function) {
                    (Some(o), Function::Lt) => o == Ordering::Less,
                    (Some(o), Function::Le) => o != Ordering::Greater,
                    (Some(o), Function::Gt) => o == Ordering::Greater,
                    (Some(o), Function::Ge) => o != Ordering::Less,
                    _ => false,
                }
            }
        }
    }

    /// Whether `row` satisfies every condition of `conds`.
    pub fn all_match(conds: &[Condition], row: &Row) -> bool {
        conds.iter().all(|c| c.matches(row))
    }

    /// The UUID that an `["_uuid", "==", uuid]` condition pins the row to,
    /// letting callers look one row up instead of scanning the table.
    pub fn uuid_eq(&self) -> Option<crate::Uuid> {
        match self {
            Condition::Clause { column, function: Function::Eq, value } if column == "_uuid" => {
                value.as_scalar().and_then(Atom::as_uuid)
            }
            _ => None,
        }
    }
}

fn includes(have: &Datum, arg: &Datum) -> bool {
    match (have, arg) {
        (Datum::Set(h), Datum::Set(a)) => a.is_subset(h),
        (Datum::Map(h), Datum::Map(a)) => a.iter().all(|(k, v)| h.get(k) == Some(v)),
        _ => false,
    }
}

fn excludes(have: &Datum, arg: &Datum) -> bool {
    match (have, arg) {
        (Datum::Set(h), Datum::Set(a)) => a.is_disjoint(h),
        (Datum::Map(h), Datum::Map(a)) => a.iter().all(|(k, v)| h.get(k) != Some(v)),
        _ => false,
    }
}
