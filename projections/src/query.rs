//! Paging for the query functions: Relay-style `first`/`after` over a keyset, so a page costs
//! the same however deep it is.

/// Rows per page when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;
/// The most rows a page may ask for.
pub const MAX_PAGE: u32 = 500;

/// A cursor that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid cursor")]
pub struct InvalidCursor(pub String);

/// Which page to read: at most `first` rows after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    first: u32,
    after: Option<(String, String)>,
}

impl Page {
    /// The first `first` rows (capped at [`MAX_PAGE`]) after `after`, a cursor of an earlier
    /// page.
    pub fn new(first: Option<u32>, after: Option<&str>) -> Result<Self, InvalidCursor> {
        let after = after.map(decode_cursor).transpose()?;
        Ok(Self {
            first: first.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE),
            after,
        })
    }

    /// The first page of [`DEFAULT_PAGE`] rows.
    pub fn first() -> Self {
        Self {
            first: DEFAULT_PAGE,
            after: None,
        }
    }

    /// The sort key and id to read after.
    pub fn after_pair(&self) -> (Option<String>, Option<String>) {
        match &self.after {
            Some((key, id)) => (Some(key.clone()), Some(id.clone())),
            None => (None, None),
        }
    }

    /// One more row than the page holds, to tell whether another page follows.
    pub fn limit_plus_one(&self) -> i64 {
        i64::from(self.first) + 1
    }
}

/// A page of rows with the cursor of each and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<R> {
    /// The rows with their cursors.
    pub rows: Vec<(String, R)>,
    /// Whether rows follow this page.
    pub has_next_page: bool,
    /// How many rows match in all.
    pub total_count: i64,
}

impl<R> Paged<R> {
    /// A page from rows read with [`Page::limit_plus_one`], keyed for cursors by `key`.
    pub fn new(
        mut rows: Vec<R>,
        page: &Page,
        total_count: i64,
        key: impl Fn(&R) -> (String, String),
    ) -> Self {
        let has_next_page = rows.len() > page.first as usize;
        rows.truncate(page.first as usize);
        Self {
            rows: rows
                .into_iter()
                .map(|r| {
                    let (sort, id) = key(&r);
                    (encode_cursor(&sort, &id), r)
                })
                .collect(),
            has_next_page,
            total_count,
        }
    }
}

fn encode_cursor(sort: &str, id: &str) -> String {
    let mut text = String::with_capacity(sort.len() + id.len() + 1);
    text.push_str(sort);
    text.push('\u{1f}');
    text.push_str(id);
    hex::encode(text.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<(String, String), InvalidCursor> {
    let invalid = || InvalidCursor(cursor.chars().take(64).collect());
    if !cursor.len().is_multiple_of(2) || cursor.len() > 1024 {
        return Err(invalid());
    }
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (sort, id) = text.split_once('\u{1f}').ok_or_else(invalid)?;
    Ok((sort.to_owned(), id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips() {
        let cursor = encode_cursor("2026-01-01T00:00:00.000000Z", "abc");
        let page = Page::new(Some(10), Some(&cursor)).unwrap();
        assert_eq!(
            page.after_pair(),
            (
                Some("2026-01-01T00:00:00.000000Z".into()),
                Some("abc".into())
            )
        );
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        assert!(Page::new(None, Some("xyz")).is_err());
        assert!(Page::new(None, Some("6162")).is_err());
    }

    #[test]
    fn a_page_is_capped() {
        assert_eq!(
            Page::new(Some(100_000), None).unwrap().limit_plus_one(),
            501
        );
    }
}
