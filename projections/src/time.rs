//! Times in read models: `TEXT` in one fixed-width RFC 3339 form (UTC, microseconds), so that
//! both databases sort and compare them as the times they stand for.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// `t` as stored in a read model, e.g. `2026-11-30T08:34:21.123456Z`.
pub fn to_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A stored time read back; `None` if it is not one (a table written by hand).
pub fn from_text(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A day as stored in a read model, e.g. `2026-11-30`.
pub fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_sort_as_the_times_do() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:09.5Z").unwrap();
        let b = DateTime::parse_from_rfc3339("2026-01-01T00:00:10Z").unwrap();
        let (a, b) = (
            to_text(a.with_timezone(&Utc)),
            to_text(b.with_timezone(&Utc)),
        );
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), b.len());
        assert_eq!(from_text(&a).map(to_text), Some(a));
    }
}
