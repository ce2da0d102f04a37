//! Relay connections (`edges {cursor node}`, `pageInfo`, `totalCount`) over the read models'
//! pages.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{OutputType, SimpleObject};
use projections::query::{DEFAULT_PAGE, Page, Paged};

use crate::QueryError;
use crate::error::refused;

/// The most nodes one page may ask for.
pub const MAX_PAGE: i32 = 100;

/// How many rows match in all, beside the page.
#[derive(Debug, SimpleObject)]
pub struct Total {
    /// Rows matching the filter, on every page.
    pub total_count: i64,
}

/// A list root's complexity: its nodes' complexity times the page size asked (the default
/// page when not asked), so that a large page of rich nodes counts as what it costs.
pub fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let size: usize = match first {
        Some(n) => usize::try_from(n.clamp(0, MAX_PAGE)).unwrap_or(0),
        None => usize::try_from(DEFAULT_PAGE).unwrap_or(usize::MAX),
    };
    size.max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

/// The page size `first` asks for (`None`: the default); beyond [`MAX_PAGE`] or below 0 is
/// refused.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<Option<u32>> {
    match first {
        None => Ok(None),
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|_| n <= MAX_PAGE)
            .map(Some)
            .ok_or_else(|| {
                refused(QueryError::BadInput(format!(
                    "`first` must be between 0 and {MAX_PAGE}, not {n}"
                )))
            }),
    }
}

/// A page from `first` and `after`; `first` beyond [`MAX_PAGE`] or below 0 is refused.
pub fn page(first: Option<i32>, after: Option<&str>) -> async_graphql::Result<Page> {
    Page::new(page_size(first)?, after).map_err(|e| refused(QueryError::BadInput(e.to_string())))
}

/// The connection of a page of rows, each turned into its node.
pub fn connection<R, N: OutputType>(
    paged: Paged<R>,
    has_previous_page: bool,
    mut node: impl FnMut(R) -> N,
) -> Connection<String, N, Total, EmptyFields> {
    let mut connection = Connection::with_additional_fields(
        has_previous_page,
        paged.has_next_page,
        Total {
            total_count: paged.total_count,
        },
    );
    connection.edges.extend(
        paged
            .rows
            .into_iter()
            .map(|(cursor, row)| Edge::new(cursor, node(row))),
    );
    connection
}
