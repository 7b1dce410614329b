//! The errors a transaction reports (RFC 7047 section 4.1.3): an error kind,
//! the short string that goes in the result's `"error"` member, and details
//! that name the table, column and value at fault.

use std::fmt;

use crate::datum::DatumError;
use crate::row::RowError;
use crate::AtomError;

/// The kinds of error an operation or a commit can fail with, spelled as
/// RFC 7047 and OVS spell them in the result's `"error"` member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A strong reference would point at a row that does not exist.
    ReferentialIntegrity,
    /// A value breaks its column's constraints (range, enum, count,
    /// immutability, `maxRows`, index uniqueness).
    ConstraintViolation,
    /// The server ran out of some resource.
    ResourcesExhausted,
    /// The request is valid but not implemented.
    NotSupported,
    /// An arithmetic mutation has no defined result (division by zero).
    DomainError,
    /// An arithmetic mutation overflows.
    RangeError,
    /// A `wait` condition does not hold.
    TimedOut,
    /// An `assert` names a lock the session does not own.
    NotOwner,
    /// The transaction hit an `abort` operation.
    Aborted,
    /// The request is malformed.
    SyntaxError,
    /// The operation names a table the schema does not have.
    UnknownTable,
    /// The operation names a column the table does not have.
    UnknownColumn,
    /// The `"op"` member names no operation.
    UnknownOperation,
    /// Two inserts declare the same `"uuid-name"`.
    DuplicateUuidName,
    /// An insert's `"uuid"` is already a row's UUID.
    DuplicateUuid,
}

impl ErrorKind {
    /// The string that goes in the `"error"` member, e.g. `"constraint violation"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ReferentialIntegrity => "referential integrity violation",
            ErrorKind::ConstraintViolation => "constraint violation",
            ErrorKind::ResourcesExhausted => "resources exhausted",
            ErrorKind::NotSupported => "not supported",
            ErrorKind::DomainError => "domain error",
            ErrorKind::RangeError => "range error",
            ErrorKind::TimedOut => "timed out",
            ErrorKind::NotOwner => "not owner",
            ErrorKind::Aborted => "aborted",
            ErrorKind::SyntaxError => "syntax error",
            ErrorKind::UnknownTable => "unknown table",
            ErrorKind::UnknownColumn => "unknown column",
            ErrorKind::UnknownOperation => "unknown operation",
            ErrorKind::DuplicateUuidName => "duplicate uuid-name",
            ErrorKind::DuplicateUuid => "duplicate uuid",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an operation or a commit failed: the kind and details naming the
/// table, column and value, e.g. `constraint violation: column
/// Bridge.fail_mode: "foo" is not one of the allowed values {...}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {details}")]
pub struct TxnError {
    /// The kind, the result's `"error"` member.
    pub kind: ErrorKind,
    /// The result's `"details"` member.
    pub details: String,
}

impl TxnError {
    /// An error of `kind` with `details`.
    pub fn new(kind: ErrorKind, details: impl Into<String>) -> TxnError {
        TxnError { kind, details: details.into() }
    }

    /// A syntax error with `details`.
    pub fn syntax(details: impl Into<String>) -> TxnError {
        TxnError::new(ErrorKind::SyntaxError, details)
    }

    /// A constraint violation with `details`.
    pub fn constraint(details: impl Into<String>) -> TxnError {
        TxnError::new(ErrorKind::ConstraintViolation, details)
    }

    /// A bad value for `table`.`column`: constraint failures (range, enum,
    /// length, duplicates) are constraint violations, malformed JSON is a
    /// syntax error.
    pub fn datum(table: &str, column: &str, e: &DatumError) -> TxnError {
        let kind = match e {
            DatumError::Atom(
                AtomError::OutOfRange { .. }
                | AtomError::BelowMin { .. }
                | AtomError::AboveMax { .. }
                | AtomError::TooShort { .. }
                | AtomError::TooLong { .. }
                | AtomError::NotInEnum { .. },
            )
            | DatumError::DuplicateKey(_)
            | DatumError::DuplicateValue(_) => ErrorKind::ConstraintViolation,
            _ => ErrorKind::SyntaxError,
        };
        TxnError::new(kind, format!("column {table}.{column}: {e}"))
    }

    /// A bad `<row>`.
    pub fn row(e: &RowError) -> TxnError {
        match e {
            RowError::UnknownColumn { .. } => {
                TxnError::new(ErrorKind::UnknownColumn, e.to_string())
            }
            RowError::BadValue { table, column, source } => TxnError::datum(table, column, source),
            RowError::NotObject(_) => TxnError::syntax(e.to_string()),
        }
    }

    /// The JSON error object `{"error": kind, "details": details}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": self.kind.name(), "details": self.details})
    }
}
