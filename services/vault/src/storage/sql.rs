//! One SQL surface for both databases. Statements are written once, with numbered `?N`
//! parameters, in the SQL that SQLite and PostgreSQL share (`ON CONFLICT`, `WITH RECURSIVE`,
//! `CAST(SUM(..) AS BIGINT)` where PostgreSQL would widen a sum to `numeric`), and run through
//! [`Tx`], which binds parameters and reads columns the same way on either database.

use std::cell::RefCell;

use super::StoreError;
use super::postgres::PgTx;

/// A value bound to a statement or read from a row. Integers are 64-bit on both databases;
/// booleans are integers 0 and 1 (PostgreSQL columns are `BIGINT` too, so comparisons with
/// `1` read the same).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Something that can be bound as a statement parameter.
pub(crate) trait Param {
    fn value(&self) -> Value<'_>;
}

impl Param for i64 {
    fn value(&self) -> Value<'_> {
        Value::Int(*self)
    }
}

impl Param for i32 {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl Param for u32 {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

/// Row counts and limits: never near `i64::MAX`, so the clamp never shows.
impl Param for usize {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

/// `params![a, b]`: a statement's parameters, `?1` and `?2`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$(&$value as &dyn $crate::storage::sql::Param),*] as &[&dyn $crate::storage::sql::Param]
    };
}
pub(crate) use params;

/// A column's value converted to a Rust type; the error says why it could not be.
pub(crate) trait FromColumn: Sized {
    fn from_value(value: Value<'_>) -> Result<Self, String>;
}

impl FromColumn for i64 {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Int(int) => Ok(int),
            other => Err(format!("expected an integer, found {}", kind(other))),
        }
    }
}

impl FromColumn for u32 {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        let int = i64::from_value(value)?;
        u32::try_from(int).map_err(|_| format!("{int} is out of range"))
    }
}

impl FromColumn for u64 {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        let int = i64::from_value(value)?;
        u64::try_from(int).map_err(|_| format!("{int} is out of range"))
    }
}

impl FromColumn for bool {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        Ok(i64::from_value(value)? != 0)
    }
}

impl FromColumn for String {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text.to_owned()),
            other => Err(format!("expected text, found {}", kind(other))),
        }
    }
}

impl FromColumn for Vec<u8> {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Blob(bytes) => Ok(bytes.to_vec()),
            other => Err(format!("expected bytes, found {}", kind(other))),
        }
    }
}

impl<T: FromColumn> FromColumn for Option<T> {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

fn kind(value: Value<'_>) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Int(_) => "an integer",
        Value::Text(_) => "text",
        Value::Blob(_) => "bytes",
    }
}

/// One result row.
pub(crate) enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a ::postgres::Row),
}

impl Row<'_> {
    /// Column `index` (from 0) as a `T`.
    pub(crate) fn get<T: FromColumn>(&self, index: usize) -> Result<T, StoreError> {
        let converted = match self {
            Self::Sqlite(row) => super::sqlite::column(row, index, T::from_value)?,
            Self::Postgres(row) => super::postgres::column(row, index, T::from_value)?,
        };
        converted.map_err(|why| StoreError::Corrupt(format!("column {index}: {why}")))
    }
}

/// A transaction on either database; every statement of the vault runs through one.
pub(crate) enum Tx<'a> {
    Sqlite(&'a rusqlite::Transaction<'a>),
    Postgres(RefCell<PgTx<'a>>),
}

impl Tx<'_> {
    /// Runs a statement; returns how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        match self {
            Self::Sqlite(tx) => super::sqlite::execute(tx, sql, params),
            Self::Postgres(tx) => tx.borrow_mut().execute(sql, params),
        }
    }

    /// Runs statements without parameters, one after another.
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(tx) => Ok(tx.execute_batch(sql)?),
            Self::Postgres(tx) => tx.borrow_mut().execute_batch(sql),
        }
    }

    /// Calls `each` with every row of a query, in order, until it returns `false`.
    fn each(
        &self,
        sql: &str,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(tx) => super::sqlite::each(tx, sql, params, each),
            Self::Postgres(tx) => tx.borrow_mut().each(sql, params, each),
        }
    }

    /// The first row of a query, if any.
    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut found = None;
        self.each(sql, params, &mut |row| {
            found = Some(read(row)?);
            Ok(false)
        })?;
        Ok(found)
    }

    /// The first row of a query that always has one (an aggregate, a row just written).
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, read)?.ok_or_else(|| {
            StoreError::Backend("a query expected to return a row returned none".into())
        })
    }

    /// Every row of a query.
    pub(crate) fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        self.each(sql, params, &mut |row| {
            all.push(read(row)?);
            Ok(true)
        })?;
        Ok(all)
    }
}

/// `?N` parameters as PostgreSQL writes them (`$N`), outside quoted text.
pub(crate) fn numbered_for_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered_for_postgres;

    #[test]
    fn parameters_are_renumbered_outside_quotes_only() {
        assert_eq!(
            numbered_for_postgres("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12"
        );
    }
}
