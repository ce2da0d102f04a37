//! What keeps an abusive query from becoming a slow answer, beside the schema's depth and
//! complexity limits and the page-size cap: caps on aliases and root fields (each one another
//! query in the same request, repeated or not), one root field per subscription, no NUL in any
//! text; and an `extensions.code` on every refusal, the engine's own included. Every request
//! and subscription passes here through [`crate::QuerySchema`].

use async_graphql::parser::types::{OperationType, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Request, Response, ServerError, Value};

use crate::parsed::{ParsedQueries, Seen};

/// The most aliased fields one request may hold.
pub const MAX_ALIASES: usize = 30;

/// The most root fields one operation may select, repeated ones included.
pub const MAX_ROOT_FIELDS: usize = 30;

/// The code of a query refused for its shape (limits, parse and validation errors).
const REFUSED_SHAPE: &str = "GRAPHQL_VALIDATION_FAILED";

/// Refuses a request over the limits before it runs: parses it, or takes its document from
/// `parsed` (the engine then runs that document), and checks its aliases, root fields and
/// texts; whether the text was validated in full before.
///
/// This is no engine extension on purpose: with any extension the engine sends every field of
/// every answer through the extension chain, which cost a page of orders a tenth of its time.
pub(crate) fn check(request: &mut Request, parsed: &ParsedQueries) -> Result<Seen, ServerError> {
    let variables_have_nul = request.variables.values().any(has_nul);
    let (document, seen) = parsed
        .parse(request)
        .map_err(|e| coded(e, "GRAPHQL_PARSE_FAILED"))?;
    let refuse = |message: String, code: &str| Err(coded(ServerError::new(message, None), code));
    let aliases: usize = document
        .operations
        .iter()
        .map(|(_, operation)| aliases(&operation.node.selection_set.node))
        .chain(
            document
                .fragments
                .values()
                .map(|fragment| aliases(&fragment.node.selection_set.node)),
        )
        .sum();
    if aliases > MAX_ALIASES {
        return refuse(
            format!("the query has {aliases} aliases; at most {MAX_ALIASES} are allowed"),
            REFUSED_SHAPE,
        );
    }
    for (_, operation) in document.operations.iter() {
        let roots = operation.node.selection_set.node.items.len();
        if roots > MAX_ROOT_FIELDS {
            return refuse(
                format!(
                    "the operation selects {roots} root fields; at most {MAX_ROOT_FIELDS} are \
                     allowed"
                ),
                REFUSED_SHAPE,
            );
        }
        if operation.node.ty == OperationType::Subscription && roots != 1 {
            return refuse(
                "a subscription selects exactly one root field".into(),
                REFUSED_SHAPE,
            );
        }
    }
    // PostgreSQL stores no NUL in text: refused here as bad input, not failed there as an
    // outage.
    let with_nul = variables_have_nul
        || document
            .operations
            .iter()
            .any(|(_, operation)| arguments_have_nul(&operation.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|fragment| arguments_have_nul(&fragment.node.selection_set.node));
    if with_nul {
        return refuse(
            "invalid argument: text may not contain NUL characters".into(),
            "BAD_USER_INPUT",
        );
    }
    Ok(seen)
}

/// `response` with a code on every error: the engine's own errors have none. Those without a
/// path were refused before the query ran (validation, the depth and complexity limits, an
/// unknown operation); those with one arose while it ran, from arguments the engine could not
/// coerce or from the engine itself.
pub(crate) fn coded_response(mut response: Response) -> Response {
    for error in &mut response.errors {
        let code = if error.path.is_empty() {
            REFUSED_SHAPE
        } else if COERCION_FAILURES
            .iter()
            .any(|start| error.message.starts_with(start))
        {
            "BAD_USER_INPUT"
        } else {
            "INTERNAL_SERVER_ERROR"
        };
        *error = coded(std::mem::replace(error, ServerError::new("", None)), code);
    }
    response
}

/// How the engine's messages begin when an argument or a variable could not be coerced while
/// the query ran: the caller's input, not the server, is at fault.
const COERCION_FAILURES: [&str; 4] = [
    "Failed to parse",
    "Invalid value",
    "Expected input type",
    "Variable ",
];

/// `error` with `extensions.code` set to `code` unless it has one already.
fn coded(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

/// The aliased fields of `set`, nested ones included.
fn aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Whether an argument anywhere in `set` holds a text with a NUL character.
fn arguments_have_nul(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            field
                .node
                .arguments
                .iter()
                .any(|(_, value)| value.node.clone().into_const().is_some_and(|v| has_nul(&v)))
                || arguments_have_nul(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => {
            arguments_have_nul(&fragment.node.selection_set.node)
        }
        Selection::FragmentSpread(_) => false,
    })
}

/// Whether `value` holds a text with a NUL character.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::List(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.values().any(has_nul),
        _ => false,
    }
}
