//! The subscription sockets a process holds: bounded per process, per actor and (in
//! subscriptions) per socket, and told when the server goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

/// The most subscription sockets a process holds open: an upgraded socket leaves the HTTP
/// server's connection limit, so this one bounds them.
pub const MAX_SOCKETS: usize = 10_000;

/// The subscription sockets of a router: their places, and the word that the server is going
/// away. Whoever runs the server calls [`Sockets::close_all`] once it stops taking requests:
/// an upgraded socket has left the HTTP server, whose shutdown does not wait for it.
#[derive(Clone)]
pub struct Sockets {
    /// Places for sockets ([`MAX_SOCKETS`]).
    pub(crate) places: Arc<Semaphore>,
    /// Sockets open per actor ([`MAX_SOCKETS_PER_ACTOR`]).
    pub(crate) actors: ActorSockets,
    /// Set once the server is going away.
    pub(crate) going_away: Arc<watch::Sender<bool>>,
}

impl Default for Sockets {
    fn default() -> Self {
        Self {
            places: Arc::new(Semaphore::new(MAX_SOCKETS)),
            actors: ActorSockets::default(),
            going_away: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Sockets {
    /// Closes every socket with 1001 (going away), so that clients reconnect elsewhere
    /// rather than see the connection drop, and waits at most `grace` for them to close.
    pub async fn close_all(&self, grace: Duration) {
        self.going_away.send_replace(true);
        let all = u32::try_from(MAX_SOCKETS).unwrap_or(u32::MAX);
        if tokio::time::timeout(grace, self.places.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("some subscription sockets did not close in time");
        }
    }
}

/// The most subscriptions one socket may hold at once.
pub const MAX_SUBSCRIPTIONS_PER_SOCKET: usize = 100;

/// The most sockets one actor may hold open at once: one actor cannot take every place.
pub const MAX_SOCKETS_PER_ACTOR: usize = 16;

/// A socket's places for subscriptions ([`MAX_SUBSCRIPTIONS_PER_SOCKET`]); each running
/// subscription holds one.
#[derive(Clone)]
pub(crate) struct SubscriptionBudget(pub(crate) Arc<Semaphore>);

/// How many sockets each actor holds open.
#[derive(Clone, Default)]
pub(crate) struct ActorSockets(Arc<Mutex<HashMap<String, usize>>>);

impl ActorSockets {
    /// A place for one more socket of `sub`, or `None` at [`MAX_SOCKETS_PER_ACTOR`].
    pub(crate) fn open(&self, sub: &str) -> Option<ActorSocket> {
        let mut open = self.0.lock().ok()?;
        let count = open.entry(sub.to_owned()).or_default();
        if *count >= MAX_SOCKETS_PER_ACTOR {
            return None;
        }
        *count += 1;
        Some(ActorSocket {
            sockets: self.clone(),
            sub: sub.to_owned(),
        })
    }
}

/// One socket's place among its actor's, given back when dropped.
pub(crate) struct ActorSocket {
    sockets: ActorSockets,
    sub: String,
}

impl Drop for ActorSocket {
    fn drop(&mut self) {
        if let Ok(mut open) = self.sockets.0.lock()
            && let Some(count) = open.get_mut(&self.sub)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.sub);
            }
        }
    }
}
