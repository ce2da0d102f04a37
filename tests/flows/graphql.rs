//! GraphQL over real HTTP beside the commands, as `serve` mounts it: a command's effect read
//! back by its owner, another's refused with its code, and GraphiQL on `GET /graphql`.

use event_schemas::values::Role;

use crate::on_both;
use crate::support::App;

async fn an_order_placed_over_http_is_read_back_over_graphql(app: &App) {
    let item = app.stock_item("farmer-ada", 10).await;
    let order = app
        .place_order("bistro-rue", "farmer-ada", &[(&item, 3)])
        .await;
    app.order_in(&order, "CONFIRMED").await;
    let query = format!("{{ order(id: \"{order}\") {{ status totalCents customerId }} }}");
    let own = app
        .graphql(Some(&app.token("bistro-rue", Role::Restaurant)), &query)
        .await;
    assert_eq!(own["data"]["order"]["status"], "CONFIRMED", "{own}");
    assert_eq!(own["data"]["order"]["totalCents"], 3 * 450);
    let other = app
        .graphql(Some(&app.token("cafe-nord", Role::Restaurant)), &query)
        .await;
    assert_eq!(
        other["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{other}"
    );
    let anonymous = app.graphql(None, "{ stockItems { totalCount } }").await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{anonymous}"
    );
    let forged = app
        .graphql(Some("not.a.token"), "{ stockItems { totalCount } }")
        .await;
    assert_eq!(forged["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let (status, page) = app.get("/graphql").await;
    assert_eq!(status, 200);
    assert!(page.contains("graphiql"), "{page}");
}
on_both!(
    read_back,
    an_order_placed_over_http_is_read_back_over_graphql
);
