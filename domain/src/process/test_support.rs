//! What every process test builds: a fixed time and causes with simple ids.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::Cause;

/// The fixed time every test event is recorded at.
pub(crate) fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
}

/// A cause whose event id is `n`.
pub(crate) fn cause(n: u128) -> Cause {
    Cause {
        event_id: Uuid::from_u128(n),
        at: at(),
    }
}
