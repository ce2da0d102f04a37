//! Read-your-writes: a query carrying a position (`consistency: {atLeast}` or the
//! `X-Consistency-Position` header) waits, bounded, until every read model has applied the
//! log up to it. One watcher per process follows the read models' checkpoints and shares the
//! lowest in a channel; waiting requests only listen to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_graphql::{Context, InputObject};
use event_store::Position;
use projections::{ReadDb, models, status};
use tokio::sync::watch;

use crate::QueryError;
use crate::error::refused;

/// How long a query waits for the read models before it is refused.
pub const CONSISTENCY_WAIT: Duration = Duration::from_secs(5);

/// How often the watcher looks while someone waits, and while no one does.
const LOOK_WHILE_WAITED: Duration = Duration::from_millis(10);
const LOOK_IDLE: Duration = Duration::from_millis(250);

/// `consistency: {atLeast: "<position token>"}`: read at least the effects of this write.
#[derive(Debug, InputObject)]
pub struct Consistency {
    /// The `position` a command answered with.
    pub at_least: String,
}

/// The lowest checkpoint of the read models, as one watcher sees it.
#[derive(Clone)]
pub struct Checkpoints {
    lowest: watch::Receiver<Option<Position>>,
    waiting: Arc<AtomicUsize>,
}

impl Checkpoints {
    /// Starts the watcher over `db`'s status table (on the current Tokio runtime).
    pub fn watch(db: ReadDb) -> Self {
        let (sender, lowest) = watch::channel(None);
        let waiting = Arc::new(AtomicUsize::new(0));
        let looking = waiting.clone();
        tokio::spawn(async move {
            let read_models = models::names();
            while !sender.is_closed() {
                if let Ok(rows) = status::all(&db).await {
                    let lowest = rows
                        .iter()
                        .filter(|r| read_models.contains(&r.name.as_str()))
                        .filter_map(|r| r.checkpoint().ok())
                        .min();
                    let complete = rows
                        .iter()
                        .filter(|r| read_models.contains(&r.name.as_str()))
                        .count()
                        == read_models.len();
                    sender.send_if_modified(|seen| {
                        let now = if complete { lowest } else { None };
                        let changed = *seen != now;
                        *seen = now;
                        changed
                    });
                }
                let pause = if looking.load(Ordering::Relaxed) > 0 {
                    LOOK_WHILE_WAITED
                } else {
                    LOOK_IDLE
                };
                tokio::time::sleep(pause).await;
            }
        });
        Self { lowest, waiting }
    }

    /// Waits until every read model has applied the log up to `token`, at most
    /// [`CONSISTENCY_WAIT`].
    pub async fn reach(&self, token: &str) -> Result<(), QueryError> {
        let wanted = Position::from_token(token).map_err(|_| {
            QueryError::BadInput(format!("`{token}` is not a position a command answered"))
        })?;
        self.reach_position(wanted).await
    }

    /// Waits until every read model has applied the log up to `wanted`, at most
    /// [`CONSISTENCY_WAIT`].
    pub async fn reach_position(&self, wanted: Position) -> Result<(), QueryError> {
        let mut lowest = self.lowest.clone();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let reached = tokio::time::timeout(
            CONSISTENCY_WAIT,
            lowest.wait_for(|seen| seen.is_some_and(|p| p >= wanted)),
        )
        .await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(QueryError::NotYetConsistent(CONSISTENCY_WAIT)),
        }
    }
}

/// Waits for `consistency` if the query gave one.
pub async fn consistent(
    ctx: &Context<'_>,
    consistency: Option<Consistency>,
) -> async_graphql::Result<()> {
    let Some(consistency) = consistency else {
        return Ok(());
    };
    // Nobody waits on the server's time without a token.
    ctx.data::<crate::Viewer>()?.authenticated()?;
    ctx.data::<Checkpoints>()?
        .reach(&consistency.at_least)
        .await
        .map_err(refused)
}
