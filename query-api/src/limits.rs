//! What keeps an abusive query from becoming a slow answer: a cap on aliases (each alias of a
//! root is another query in the same request), beside the schema's depth and complexity
//! limits and the page-size cap.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// The most aliased fields one request may hold.
pub const MAX_ALIASES: usize = 30;

/// Refuses a query with more than [`MAX_ALIASES`] aliases, before it runs.
pub struct AliasLimit;

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimit)
    }
}

#[async_trait::async_trait]
impl Extension for AliasLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let aliases: usize = document
            .operations
            .iter()
            .map(|(_, operation)| count(&operation.node.selection_set.node))
            .chain(
                document
                    .fragments
                    .values()
                    .map(|fragment| count(&fragment.node.selection_set.node)),
            )
            .sum();
        if aliases > MAX_ALIASES {
            return Err(ServerError::new(
                format!("the query has {aliases} aliases; at most {MAX_ALIASES} are allowed"),
                None,
            ));
        }
        Ok(document)
    }
}

/// The aliased fields of `set`, nested ones included.
fn count(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}
