//! Parsed queries kept by their text. Dashboards send the same few queries again and again,
//! and parsing a small query cost more than running it; so did validating it in full, which a
//! text needs once: the rules that do not read the variables give the same verdict for the same
//! text, and the engine still coerces every variable's value when it runs.

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
pub(crate) struct ParsedQueries(Mutex<LruCache<String, Kept>>);

/// A query text's document, and whether a run of it passed every validation rule.
struct Kept {
    document: ExecutableDocument,
    validated: bool,
}

/// What [`ParsedQueries::parse`] found of a request's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Never run without errors (or too long to keep): it is validated in full.
    Unvalidated,
    /// Its one operation once ran without any error, validation included.
    Validated,
}

impl ParsedQueries {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Self(Mutex::new(LruCache::new(KEPT)))
    }

    /// `request`'s parsed document, and whether its text was validated before: from the cache
    /// when its text was parsed before, else parsed now (and kept, when it parses and is short
    /// enough).
    pub(crate) fn parse<'r>(
        &self,
        request: &'r mut Request,
    ) -> Result<(&'r ExecutableDocument, Seen), ServerError> {
        let known = self.0.lock().ok().and_then(|mut kept| {
            kept.get(request.query.as_str())
                .map(|kept| (kept.document.clone(), kept.validated))
        });
        let seen = match known {
            Some((document, validated)) => {
                request.set_parsed_query(document);
                if validated {
                    Seen::Validated
                } else {
                    Seen::Unvalidated
                }
            }
            None => {
                if request.query.len() <= LONGEST_KEPT {
                    let document = request.parsed_query()?.clone();
                    if let Ok(mut kept) = self.0.lock() {
                        let validated = false;
                        kept.put(
                            request.query.clone(),
                            Kept {
                                document,
                                validated,
                            },
                        );
                    }
                }
                Seen::Unvalidated
            }
        };
        Ok((request.parsed_query()?, seen))
    }

    /// Marks `text` validated: a run of it answered without any error. Only a document of one
    /// operation is marked, so that no request can pick another operation than the one that
    /// passed.
    pub(crate) fn validated(&self, text: &str) {
        if let Ok(mut kept) = self.0.lock()
            && let Some(kept) = kept.get_mut(text)
            && kept.document.operations.iter().count() == 1
        {
            kept.validated = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_parsed_before_is_taken_from_the_cache_and_a_bad_one_is_never_kept() {
        let parsed = ParsedQueries::new();
        let text = "{ orders(first: 1) { totalCount } }";
        let first = parsed.parse(&mut Request::new(text)).unwrap().0.clone();
        let again = parsed.parse(&mut Request::new(text)).unwrap().0.clone();
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

    #[test]
    fn only_a_kept_text_of_one_operation_is_marked_validated() {
        let parsed = ParsedQueries::new();
        let one = "{ orders(first: 1) { totalCount } }";
        let two =
            "query A { orders(first: 1) { totalCount } } query B { stockItems { totalCount } }";
        for text in [one, two] {
            assert_eq!(
                parsed.parse(&mut Request::new(text)).unwrap().1,
                Seen::Unvalidated
            );
            parsed.validated(text);
        }
        parsed.validated("{ never { parsed } }");
        assert_eq!(
            parsed.parse(&mut Request::new(one)).unwrap().1,
            Seen::Validated
        );
        assert_eq!(
            parsed.parse(&mut Request::new(two)).unwrap().1,
            Seen::Unvalidated
        );
        assert_eq!(parsed.0.lock().unwrap().len(), 2);
    }
}
