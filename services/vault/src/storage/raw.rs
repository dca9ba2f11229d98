//! Direct SQL against the vault's database, in the dialect both backends share: for tests
//! that must reach under the vault (tampering with a sealed row to prove it is caught) and
//! for an operator's one-off repair. Nothing in the service calls it.

use super::sql::{Param, Row, Value};
use super::{Store, StoreError};

/// A value bound to, or read from, a raw statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Param for SqlValue {
    fn value(&self) -> Value<'_> {
        match self {
            Self::Null => Value::Null,
            Self::Int(int) => Value::Int(*int),
            Self::Text(text) => Value::Text(text),
            Self::Blob(bytes) => Value::Blob(bytes),
        }
    }
}

impl super::sql::FromColumn for SqlValue {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        Ok(match value {
            Value::Null => Self::Null,
            Value::Int(int) => Self::Int(int),
            Value::Text(text) => Self::Text(text.to_owned()),
            Value::Blob(bytes) => Self::Blob(bytes.to_vec()),
        })
    }
}

fn bind(values: &[SqlValue]) -> Vec<&dyn Param> {
    values.iter().map(|value| value as &dyn Param).collect()
}

fn read_row(row: &Row<'_>, columns: usize) -> Result<Vec<SqlValue>, StoreError> {
    (0..columns).map(|index| row.get(index)).collect()
}

impl Store {
    /// Runs one statement with `?N` parameters in its own transaction; returns the rows it
    /// changed.
    pub async fn execute_sql(&self, sql: &str, values: Vec<SqlValue>) -> Result<usize, StoreError> {
        let sql = sql.to_owned();
        self.write(move |tx| tx.execute(&sql, &bind(&values))).await
    }

    /// Runs statements without parameters (DDL, triggers) in one transaction.
    pub async fn execute_sql_batch(&self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        self.write(move |tx| tx.execute_batch(&sql)).await
    }

    /// The rows of a query, each as its first `columns` values.
    pub async fn query_sql(
        &self,
        sql: &str,
        values: Vec<SqlValue>,
        columns: usize,
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let sql = sql.to_owned();
        self.read(move |tx| tx.query_map(&sql, &bind(&values), |row| read_row(row, columns)))
            .await
    }
}
