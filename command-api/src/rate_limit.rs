//! Per-actor rate limiting: each authenticated actor gets a token bucket; past it, 429.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::ApiError;

/// How many commands per second an actor may send by default (bursts of twice that).
pub const DEFAULT_PER_ACTOR_PER_SECOND: u32 = 200;

/// The rate limit shared by every request.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

impl RateLimit {
    /// `per_second` requests per second per actor, bursts of twice that; 0: no limit.
    pub fn per_actor(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            Arc::new(governor::RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Self { limiter }
    }

    /// No limit.
    pub fn unlimited() -> Self {
        Self { limiter: None }
    }

    /// Takes one request from `actor`'s bucket, or refuses it with 429.
    pub fn check(&self, actor: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&actor.to_owned())
            .map_err(|_| ApiError::RateLimited)?;
        // Keep the map of buckets from growing with every actor ever seen.
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_past_its_burst_is_refused_and_others_are_not() {
        let limit = RateLimit::per_actor(1);
        assert!(limit.check("a").is_ok());
        assert!(limit.check("a").is_ok());
        assert!(matches!(limit.check("a"), Err(ApiError::RateLimited)));
        assert!(limit.check("b").is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let limit = RateLimit::per_actor(0);
        for _ in 0..1000 {
            assert!(limit.check("a").is_ok());
        }
    }
}
