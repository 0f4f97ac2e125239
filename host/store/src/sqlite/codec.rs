//! Conversions between the store's values and SQLite's column types.
//!
//! This is the one place where integers change width and JSON is encoded or decoded, so that a
//! malformed row always becomes a [`StoreError::Corrupt`] that names its table, column and key,
//! never a panic. It must never touch a connection.

use crate::{StoreError, StoreResult};
use reprise_core::{RuntimeStatus, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Display;

/// The terminal statuses as an SQL list, for queries that must skip finished instances.
/// A test checks it against [`RuntimeStatus::is_terminal`].
pub(super) const TERMINAL_STATUSES_SQL: &str = "'Completed', 'Failed', 'Terminated'";

/// The suspended status as an SQL literal, for queries that must hold a suspended instance's
/// work back. A test checks it against [`RuntimeStatus::Suspended`].
pub(super) const SUSPENDED_SQL: &str = "'Suspended'";

/// A time as SQLite stores it. SQLite integers are signed; a time past `i64::MAX` milliseconds
/// (a caller's "never") saturates, which keeps every comparison the store makes correct.
pub(super) fn time_to_sql(time: Timestamp) -> i64 {
    i64::try_from(time).unwrap_or(i64::MAX)
}

/// A `usize` limit as an SQL `LIMIT`.
pub(super) fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A count or id as SQLite stores it. Unlike times these must stay exact, so a value past
/// `i64::MAX` is refused rather than saturated.
pub(super) fn int_to_sql(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|err| StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(err))))
}

/// Where a value was read from, for [`StoreError::Corrupt`]: `table.column of key`.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    /// The table.
    pub table: &'static str,
    /// The row's key, as people would name it.
    pub key: &'a dyn Display,
}

impl At<'_> {
    /// The error for a bad value in `column`.
    pub fn corrupt(self, column: &str, problem: impl Display) -> StoreError {
        StoreError::Corrupt(format!("{}.{column} of {}: {problem}", self.table, self.key))
    }

    /// An unsigned integer column (counts, times, ids).
    pub fn unsigned<T: TryFrom<i64>>(self, column: &str, value: i64) -> StoreResult<T> {
        T::try_from(value).map_err(|_| self.corrupt(column, format_args!("{value} is out of range")))
    }

    /// An optional unsigned integer column.
    pub fn unsigned_opt<T: TryFrom<i64>>(self, column: &str, value: Option<i64>) -> StoreResult<Option<T>> {
        value.map(|value| self.unsigned(column, value)).transpose()
    }

    /// A JSON column.
    pub fn json<T: DeserializeOwned>(self, column: &str, text: &str) -> StoreResult<T> {
        serde_json::from_str(text).map_err(|err| self.corrupt(column, err))
    }

    /// An optional JSON column.
    pub fn json_opt<T: DeserializeOwned>(self, column: &str, text: Option<&str>) -> StoreResult<Option<T>> {
        text.map(|text| self.json(column, text)).transpose()
    }

    /// A status column.
    pub fn status(self, column: &str, text: &str) -> StoreResult<RuntimeStatus> {
        text.parse().map_err(|err| self.corrupt(column, err))
    }
}

/// A value as JSON text. The store's own types always serialize; should one ever fail, it is
/// reported as a value SQLite could not be given rather than a panic.
pub(super) fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|err| StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(err))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_statuses_sql_matches_core() {
        let listed: Vec<String> = RuntimeStatus::ALL
            .into_iter()
            .filter(|status| status.is_terminal())
            .map(|status| format!("'{status}'"))
            .collect();
        assert_eq!(TERMINAL_STATUSES_SQL, listed.join(", "));
        assert_eq!(SUSPENDED_SQL, format!("'{}'", RuntimeStatus::Suspended));
    }

    #[test]
    fn far_future_times_saturate_and_ids_do_not() {
        assert_eq!(time_to_sql(u64::MAX), i64::MAX);
        assert_eq!(time_to_sql(42), 42);
        assert!(int_to_sql(u64::MAX).is_err());
    }

    #[test]
    fn corrupt_values_name_where_they_were_found() {
        let at = At { table: "instances", key: &"instance 'a'" };
        let err = at.json::<Vec<String>>("failure", "{not json").unwrap_err();
        assert!(err.to_string().contains("instances.failure of instance 'a'"), "{err}");
        let err = at.unsigned::<u32>("execution", -1).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        let err = at.status("status", "Sleeping").unwrap_err();
        assert!(err.to_string().contains("Sleeping"), "{err}");
    }
}
