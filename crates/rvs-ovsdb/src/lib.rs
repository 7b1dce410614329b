//! OVSDB (RFC 7047) for rvs.
//!
//! This crate holds the data model that the embedded OVSDB server and its
//! clients share:
//!
//! - [`Uuid`]: row identities, parsed and printed in the usual 8-4-4-4-12 form;
//! - [`Atom`] and [`AtomicType`]: scalars (integer, real, boolean, string,
//!   uuid), with [`SymbolTable`] resolving a transaction's `["named-uuid", ..]`;
//! - [`BaseType`] and [`Type`]: column types with their constraints;
//! - [`Datum`]: a column value, a sorted set or map of atoms, read from and
//!   written to RFC 7047's JSON notation with every constraint checked;
//! - [`Schema`], [`TableSchema`], [`ColumnSchema`]: a database schema with its
//!   implicit `_uuid` and `_version` columns;
//! - [`Row`]: a map from column name to [`Datum`], the unit later layers
//!   (transactions, storage, monitors) move around.
//!
//! Parsing never panics on bad input: every failure is an error that names the
//! offending thing and value, e.g. `value 70000 is out of range 1 to 65279`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod atom;
pub mod datum;
pub mod row;
pub mod schema;
pub mod types;
pub mod uuid;

pub use atom::{Atom, AtomError, AtomicType, Symbol, SymbolTable};
pub use datum::{Datum, DatumError};
pub use row::{Row, RowError};
pub use schema::{ColumnSchema, Schema, SchemaError, TableSchema};
pub use types::{BaseType, Constraints, Max, RefType, Type, TypeError};
pub use uuid::{Uuid, UuidParseError};
