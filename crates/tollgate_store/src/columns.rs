//! Conversions between column values and domain types, and from driver errors to `StoreError`.
//! Times are unix milliseconds in BIGINT columns: the one time type both databases share.

use std::fmt::Write;

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tollgate_core::StoreError;

use crate::Backend;

/// Appends the rows of a multi-row `VALUES` list: `rows` tuples of `columns` parameters, bound
/// in order. SQLite gets anonymous `?`: sqlx looks the name of every numbered parameter up in
/// SQLite's list of names, which is quadratic in a statement of hundreds of parameters (4% of
/// the webhook path's CPU). PostgreSQL gets `$1, $2, …`.
pub fn push_values(sql: &mut String, backend: Backend, rows: usize, columns: usize) {
    sql.reserve(rows * columns * 6);
    let mut number = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            number += 1;
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    let _ = write!(sql, "${number}");
                }
            }
        }
        sql.push(')');
    }
}

pub fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub fn from_millis(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000_000)
        .map_err(|_| StoreError::Corrupt(format!("timestamp {value} out of range")))
}

pub fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column)
        .map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

pub fn get_time(row: &AnyRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    from_millis(get(row, column)?)
}

pub fn get_opt_time(row: &AnyRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    get::<Option<i64>>(row, column)?
        .map(from_millis)
        .transpose()
}

/// Parses a text column into a typed value, naming the column when it does not parse.
pub fn parse<T, E: std::fmt::Display>(
    row: &AnyRow,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    let text: String = get(row, column)?;
    parse(&text).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

/// Maps a driver error: uniqueness violations become `Conflict`, everything else `Unavailable`.
pub fn db_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.constraint().unwrap_or("unique").to_string())
        }
        _ => StoreError::Unavailable(error.to_string()),
    }
}
