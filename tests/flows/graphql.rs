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

/// An order's delivery through GraphQL: its driver lists it, its restaurant reads it on the
/// order, another driver and a restaurant listing deliveries are refused.
async fn a_delivery_is_read_by_its_driver_and_its_restaurant(app: &App) {
    let (order, delivery) = app.order_ready_for_pickup().await;
    let assigned = app
        .post(
            &format!("/v1/deliveries/{delivery}/assign"),
            ("driver-dan", Role::Distributor),
            &serde_json::json!({}),
        )
        .await
        .expect(200);
    // Read-your-writes: every read model (the order's too) has applied the assignment.
    let position = assigned["position"].as_str().unwrap();
    let consistent = [("x-consistency-position", position)];
    let driver = app.token("driver-dan", Role::Distributor);
    let listed = app
        .graphql_with(
            Some(&driver),
            "{ deliveries { totalCount edges { node { id status driverId } } } }",
            &consistent,
        )
        .await;
    assert_eq!(listed["data"]["deliveries"]["totalCount"], 1, "{listed}");
    assert_eq!(
        listed["data"]["deliveries"]["edges"][0]["node"]["status"],
        "ASSIGNED"
    );
    let on_order = app
        .graphql_with(
            Some(&app.token("bistro-rue", Role::Restaurant)),
            &format!("{{ order(id: \"{order}\") {{ delivery {{ id driverId }} }} }}"),
            &consistent,
        )
        .await;
    assert_eq!(
        on_order["data"]["order"]["delivery"]["id"],
        delivery.as_str(),
        "{on_order}"
    );
    let other_driver = app
        .graphql(
            Some(&app.token("driver-eve", Role::Distributor)),
            &format!("{{ delivery(id: \"{delivery}\") {{ id }} }}"),
        )
        .await;
    assert_eq!(other_driver["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let restaurant_list = app
        .graphql(
            Some(&app.token("bistro-rue", Role::Restaurant)),
            "{ deliveries { totalCount } }",
        )
        .await;
    assert_eq!(
        restaurant_list["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
    let purchases = app
        .graphql(
            Some(&app.token("bistro-rue", Role::Restaurant)),
            "{ purchases { totalCount } }",
        )
        .await;
    assert_eq!(purchases["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let own_purchases = app
        .graphql(
            Some(&app.token("farmer-ada", Role::Farmer)),
            "{ purchases { totalCount } }",
        )
        .await;
    assert_eq!(
        own_purchases["data"]["purchases"]["totalCount"], 0,
        "{own_purchases}"
    );
}
on_both!(
    delivery_read,
    a_delivery_is_read_by_its_driver_and_its_restaurant
);

/// A passed inspection through GraphQL: the farm's compliance for everyone, the inspection
/// for its farm and its inspector, refused to anyone else.
async fn an_inspection_and_a_farms_compliance(app: &App) {
    let inspection = app
        .post(
            "/v1/inspections",
            ("inspector-ines", Role::Inspector),
            &serde_json::json!({
                "farmer_id": "farmer-ada",
                "inspector_id": "inspector-ines",
                "scheduled_for": "2026-05-04T09:00:00Z",
            }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (step, body) in [
        ("start", serde_json::json!({})),
        ("complete", serde_json::json!({"score": 95})),
    ] {
        app.post(
            &format!("/v1/inspections/{inspection}/{step}"),
            ("inspector-ines", Role::Inspector),
            &body,
        )
        .await
        .expect(200);
    }
    app.eventually("the inspection passed", || async {
        projections::models::inspections::inspection(&app.db, &inspection)
            .await
            .unwrap()
            .filter(|i| i.status == "PASSED")
    })
    .await;
    let compliance = app
        .graphql(
            Some(&app.token("bistro-rue", Role::Restaurant)),
            "{ farmCompliance(farmerId: \"farmer-ada\") { status lastScore openViolations { code } } }",
        )
        .await;
    assert_eq!(
        compliance["data"]["farmCompliance"]["status"], "COMPLIANT",
        "{compliance}"
    );
    assert_eq!(compliance["data"]["farmCompliance"]["lastScore"], 95);
    let listing =
        "{ inspections { totalCount edges { node { id status score violations { code } } } } }";
    for (sub, role) in [
        ("farmer-ada", Role::Farmer),
        ("inspector-ines", Role::Inspector),
    ] {
        let own = app.graphql(Some(&app.token(sub, role)), listing).await;
        assert_eq!(own["data"]["inspections"]["totalCount"], 1, "{sub}: {own}");
        assert_eq!(
            own["data"]["inspections"]["edges"][0]["node"]["status"],
            "PASSED"
        );
    }
    let other = app
        .graphql(
            Some(&app.token("farmer-bob", Role::Farmer)),
            &format!("{{ inspection(id: \"{inspection}\") {{ id }} }}"),
        )
        .await;
    assert_eq!(
        other["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{other}"
    );
    let restaurant = app
        .graphql(Some(&app.token("bistro-rue", Role::Restaurant)), listing)
        .await;
    assert_eq!(restaurant["errors"][0]["extensions"]["code"], "FORBIDDEN");
}
on_both!(inspection_read, an_inspection_and_a_farms_compliance);

/// Read-your-writes: a command's position, as the header or the argument, makes the next
/// query see its effect; a position never reached is refused after the wait, a malformed one
/// at once.
async fn a_commands_position_makes_the_next_query_see_it(app: &App) {
    let farmer = ("farmer-ada", Role::Farmer);
    let token = app.token("farmer-ada", Role::Farmer);
    let registered = app
        .post(
            "/v1/stock-items",
            farmer,
            &serde_json::json!({
                "product_name": "Kale", "category": "vegetables", "unit": "bunch",
                "unit_price_cents": 300, "quality_grade": "A", "certifications": [],
                "low_stock_threshold": 2, "initial_quantity": 10,
            }),
        )
        .await
        .expect(201);
    let item = registered["id"].as_str().unwrap();
    let position = registered["position"].as_str().unwrap();
    let seen = app
        .graphql_with(
            Some(&token),
            &format!("{{ stockItem(id: \"{item}\") {{ onHand }} }}"),
            &[("x-consistency-position", position)],
        )
        .await;
    assert_eq!(seen["data"]["stockItem"]["onHand"], 10, "{seen}");
    let received = app
        .post(
            &format!("/v1/stock-items/{item}/receive"),
            farmer,
            &serde_json::json!({"quantity": 5}),
        )
        .await
        .expect(200);
    let position = received["position"].as_str().unwrap();
    let seen = app
        .graphql(
            Some(&token),
            &format!(
                "{{ stockItem(id: \"{item}\", consistency: {{atLeast: \"{position}\"}}) \
                   {{ onHand }} }}"
            ),
        )
        .await;
    assert_eq!(seen["data"]["stockItem"]["onHand"], 15, "{seen}");
    let malformed = app
        .graphql_with(
            Some(&token),
            "{ stockItems { totalCount } }",
            &[("x-consistency-position", "yesterday")],
        )
        .await;
    assert_eq!(
        malformed["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{malformed}"
    );
    // The same epoch, far ahead.
    let beyond = format!("{}{:016x}{:016x}", &position[..8], i64::MAX, i64::MAX);
    let started = std::time::Instant::now();
    let never = app
        .graphql_with(
            Some(&token),
            "{ stockItems { totalCount } }",
            &[("x-consistency-position", &beyond)],
        )
        .await;
    assert_eq!(
        never["errors"][0]["extensions"]["code"], "NOT_YET_CONSISTENT",
        "{never}"
    );
    assert!(started.elapsed() >= query_api::CONSISTENCY_WAIT);
}
on_both!(
    read_your_writes,
    a_commands_position_makes_the_next_query_see_it
);

/// GraphQL behind the command API's layers: the body limit, a request id; and a body that is
/// no GraphQL request refused as a GraphQL error with its code.
async fn graphql_requests_pass_the_servers_layers(app: &App) {
    let huge = format!(
        r#"{{"query": "{{ __typename }}", "variables": {{"pad": "{}"}}}}"#,
        "x".repeat(200_000)
    );
    let response = app.post_raw("/graphql", huge.into_bytes()).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = app.post_raw("/graphql", b"{not json".to_vec()).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().contains_key("x-request-id"));
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{answer}"
    );
    let batch = app
        .post_raw("/graphql", br#"[{"query": "{ __typename }"}]"#.to_vec())
        .await;
    assert_eq!(batch.status(), 400);
    // A consistency header without a token is not waited on: refused at once.
    let far = format!("{:040x}", u128::MAX >> 8);
    let started = std::time::Instant::now();
    let anonymous = app
        .graphql_with(
            None,
            "{ stockItems { totalCount } }",
            &[("x-consistency-position", &far)],
        )
        .await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    // A refused wait is an error without a made-up location.
    let waited = app
        .graphql_with(
            Some(&app.token("admin-amy", Role::Admin)),
            "{ stockItems { totalCount } }",
            &[("x-consistency-position", "not-a-position")],
        )
        .await;
    assert_eq!(
        waited["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{waited}"
    );
    assert!(waited["errors"][0].get("locations").is_none(), "{waited}");
}
on_both!(layers, graphql_requests_pass_the_servers_layers);
