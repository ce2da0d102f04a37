//! Tokens verified before, kept until they expire: a client sends the same token with every
//! request, and checking its signature and claims again cost a request more than routing it.
//!
//! Only a token that passed every check is kept, under its whole text, so a forged or altered
//! token is never found here; and a kept token is answered only while its `exp` (with the
//! configured leeway) holds, as the full check would answer.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use event_schemas::values::Actor;
use lru::LruCache;

/// How many distinct tokens are kept.
const KEPT: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// Longer tokens are verified every time.
const LONGEST_KEPT: usize = 4 * 1024;

/// The actors of the tokens verified last.
pub(crate) struct VerifiedTokens {
    kept: Mutex<LruCache<String, Verified>>,
    /// Seconds a token is still accepted after its `exp`, as the full check allows.
    leeway: u64,
}

/// A verified token's actor, and the last second it is accepted.
#[derive(Clone)]
struct Verified {
    actor: Actor,
    accepted_until: u64,
}

impl VerifiedTokens {
    /// An empty cache for tokens checked with `leeway` seconds.
    pub(crate) fn new(leeway: u64) -> Self {
        Self {
            kept: Mutex::new(LruCache::new(KEPT)),
            leeway,
        }
    }

    /// The actor of `token` if it was verified before and has not expired since.
    pub(crate) fn get(&self, token: &str) -> Option<Actor> {
        let now = now()?;
        let mut kept = self.kept.lock().ok()?;
        let verified = kept.get(token)?;
        if now > verified.accepted_until {
            kept.pop(token);
            return None;
        }
        Some(verified.actor.clone())
    }

    /// Keeps `token`, verified just now, whose `exp` claim is `expires` (seconds since the
    /// epoch), for `actor`.
    pub(crate) fn keep(&self, token: &str, expires: u64, actor: &Actor) {
        if token.len() > LONGEST_KEPT {
            return;
        }
        if let Ok(mut kept) = self.kept.lock() {
            let verified = Verified {
                actor: actor.clone(),
                accepted_until: expires.saturating_add(self.leeway),
            };
            kept.put(token.to_owned(), verified);
        }
    }
}

/// Seconds since the epoch, as the token check reads the clock.
fn now() -> Option<u64> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use event_schemas::values::{ActorId, Role};

    use super::*;

    fn actor() -> Actor {
        Actor::new(ActorId::parse("farmer-1").unwrap(), Role::Farmer)
    }

    #[test]
    fn a_kept_token_is_answered_until_its_expiry_and_leeway_pass() {
        let tokens = VerifiedTokens::new(60);
        let now = now().unwrap();
        tokens.keep("live", now + 10, &actor());
        tokens.keep("in-leeway", now - 30, &actor());
        tokens.keep("expired", now - 61, &actor());
        assert_eq!(tokens.get("live"), Some(actor()));
        assert_eq!(tokens.get("in-leeway"), Some(actor()));
        assert_eq!(tokens.get("expired"), None);
        assert_eq!(tokens.get("never-kept"), None);
        // An expired token is dropped, not kept for the next look.
        assert!(!tokens.kept.lock().unwrap().contains("expired"));
    }

    #[test]
    fn a_long_token_is_never_kept() {
        let tokens = VerifiedTokens::new(0);
        let long = "x".repeat(LONGEST_KEPT + 1);
        tokens.keep(&long, now().unwrap() + 60, &actor());
        assert_eq!(tokens.get(&long), None);
    }
}
