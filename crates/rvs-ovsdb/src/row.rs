//! Rows: a value for each column of a table.
//!
//! A [`Row`] maps column names to [`Datum`]s. It does not own its schema; the
//! functions that build one from JSON or defaults take the [`TableSchema`] and
//! check every value against it, so a `Row` made through them always fits its
//! table. Transactions, storage and monitors (later layers) build on it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::atom::SymbolTable;
use crate::datum::{Datum, DatumError};
use crate::schema::TableSchema;

/// A row: column name to value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Row {
    columns: BTreeMap<String, Datum>,
}

/// Why a row is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowError {
    /// The JSON is not an object.
    #[error("row must be an object, got {0}")]
    NotObject(String),
    /// A column the table does not have.
    #[error("no column {column} in table {table}")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A column's value is invalid.
    #[error("column {table}.{column}: {source}")]
    BadValue {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong with the value.
        source: DatumError,
    },
}

impl Row {
    /// An empty row (no columns set).
    pub fn new() -> Row {
        Row::default()
    }

    /// A row of `table` with every declared column at its default value
    /// (`_uuid` and `_version` are left to the caller).
    pub fn default_for(table: &TableSchema) -> Row {
        Row {
            columns: table
                .user_columns()
                .map(|c| (c.name().to_string(), Datum::default_for(c.ty())))
                .collect(),
        }
    }

    /// Parses a `<row>` JSON object of `table`: each member names a column
    /// (implicit ones included) and holds its value. Columns not mentioned
    /// are not set.
    pub fn from_json(
        json: &Value,
        table: &TableSchema,
        mut symbols: Option<&mut SymbolTable>,
    ) -> Result<Row, RowError> {
        let Value::Object(obj) = json else {
            return Err(RowError::NotObject(json.to_string()));
        };
        let mut columns = BTreeMap::new();
        for (name, v) in obj {
            let col = table.column(name).ok_or_else(|| RowError::UnknownColumn {
                table: table.name().into(),
                column: name.clone(),
            })?;
            let d = Datum::from_json(v, col.ty(), symbols.as_deref_mut()).map_err(|source| {
                RowError::BadValue { table: table.name().into(), column: name.clone(), source }
            })?;
            columns.insert(name.clone(), d);
        }
        Ok(Row { columns })
    }

    /// The JSON object of all columns set.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.columns
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<Map<String, Value>>(),
        )
    }

    /// The value of `column`, if set.
    pub fn get(&self, column: &str) -> Option<&Datum> {
        self.columns.get(column)
    }

    /// Sets `column` to `value`, returning the old value. The caller checks
    /// the value against the column's type ([`Datum::check`]).
    pub fn set(&mut self, column: impl Into<String>, value: Datum) -> Option<Datum> {
        self.columns.insert(column.into(), value)
    }

    /// Unsets `column`, returning its value.
    pub fn remove(&mut self, column: &str) -> Option<Datum> {
        self.columns.remove(column)
    }

    /// The columns set, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Datum)> {
        self.columns.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many columns are set.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether no column is set.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Schema;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::from_json(&json!({
            "name": "T",
            "tables": {"Bridge": {"columns": {
                "name": {"type": "string", "mutable": false},
                "fail_mode": {"type": {"key": {"type": "string", "enum": ["set", ["secure", "standalone"]]}, "min": 0, "max": 1}},
                "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}
            }}}
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_json() {
        let s = schema();
        let t = s.table("Bridge").unwrap();
        let r = Row::default_for(t);
        assert_eq!(
            r.to_json(),
            json!({"name": "", "fail_mode": ["set", []], "other_config": ["map", []]})
        );
        let r2 = Row::from_json(&r.to_json(), t, None).unwrap();
        assert_eq!(r, r2);
    }

    #[test]
    fn errors_name_table_column_and_value() {
        let s = schema();
        let t = s.table("Bridge").unwrap();
        assert_eq!(
            Row::from_json(&json!({"fail_mode": "foo"}), t, None).unwrap_err().to_string(),
            "column Bridge.fail_mode: \"foo\" is not one of the allowed values {\"secure\",\"standalone\"}"
        );
        assert_eq!(
            Row::from_json(&json!({"nope": 1}), t, None).unwrap_err().to_string(),
            "no column nope in table Bridge"
        );
        assert!(Row::from_json(&json!([]), t, None).is_err());
    }
}
