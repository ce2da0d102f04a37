//! Parsed queries kept by their text. Dashboards send the same few queries again and again,
//! and parsing a small query cost more than running it.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError};
use lru::LruCache;

/// How many distinct query texts are kept.
const KEPT: NonZeroUsize = NonZeroUsize::new(256).unwrap();

/// Longer texts are parsed every time: a cache of them would be memory for an abuser.
const LONGEST_KEPT: usize = 8 * 1024;

/// The most recently used parsed queries, shared by every request of a schema.
pub(crate) struct ParsedQueries(Mutex<LruCache<String, ExecutableDocument>>);

impl ParsedQueries {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Self(Mutex::new(LruCache::new(KEPT)))
    }

    /// `request`'s parsed document: from the cache when its text was parsed before, else
    /// parsed now (and kept, when it parses and is short enough).
    pub(crate) fn parse<'r>(
        &self,
        request: &'r mut Request,
    ) -> Result<&'r ExecutableDocument, ServerError> {
        let known = self
            .0
            .lock()
            .ok()
            .and_then(|mut kept| kept.get(request.query.as_str()).cloned());
        if let Some(document) = known {
            request.set_parsed_query(document);
        } else if request.query.len() <= LONGEST_KEPT {
            let document = request.parsed_query()?.clone();
            if let Ok(mut kept) = self.0.lock() {
                kept.put(request.query.clone(), document);
            }
        }
        request.parsed_query()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_parsed_before_is_taken_from_the_cache_and_a_bad_one_is_never_kept() {
        let parsed = ParsedQueries::new();
        let text = "{ orders(first: 1) { totalCount } }";
        let first = parsed.parse(&mut Request::new(text)).unwrap().clone();
        let again = parsed.parse(&mut Request::new(text)).unwrap().clone();
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert!(parsed.parse(&mut Request::new("{ orders(")).is_err());
        assert!(parsed.parse(&mut Request::new("{ orders(")).is_err());
        let kept = parsed.0.lock().unwrap();
        assert_eq!(kept.len(), 1);
        assert!(kept.contains(text));
    }

    #[test]
    fn a_long_query_is_parsed_but_not_kept() {
        let parsed = ParsedQueries::new();
        let text = format!(
            "{{ orders(first: 1) {{ totalCount }} }}{}",
            " ".repeat(LONGEST_KEPT)
        );
        assert!(parsed.parse(&mut Request::new(text)).is_ok());
        assert_eq!(parsed.0.lock().unwrap().len(), 0);
    }
}
