//! A list's total with no filter but a status is read from `order_counts`, kept as orders
//! move: it must equal a count of the orders themselves, and a fresh replay's.

use projections::models::orders::{self, OrderFilter};
use projections::query::Page;
use projections::simulate::Simulator;

use crate::on_both;
use crate::support::Env;

/// Every status an order can be in, and none (every order).
const STATUSES: [Option<&str>; 9] = [
    None,
    Some("PENDING"),
    Some("CONFIRMED"),
    Some("REJECTED"),
    Some("CANCELLED"),
    Some("PREPARING"),
    Some("READY_FOR_PICKUP"),
    Some("IN_TRANSIT"),
    Some("DELIVERED"),
];

async fn total(env: &Env, filter: OrderFilter) -> i64 {
    orders::orders(&env.db, &filter, &Page::first())
        .await
        .unwrap()
        .total_count
}

async fn order_totals_equal_a_count_of_the_orders(env: &Env) {
    // Orders before the projectors start and while they run, so that statuses move within
    // a batch and across batches.
    let mut simulator = Simulator::new(env.store.clone(), 7).unwrap();
    for _ in 0..20 {
        simulator.step().await.unwrap();
    }
    let runtime = env.runtime().await;
    for _ in 0..20 {
        simulator.step().await.unwrap();
    }
    env.caught_up(simulator.last_position()).await;
    runtime.stop().await;
    for status in STATUSES {
        let status = status.map(str::to_owned);
        let kept = total(
            env,
            OrderFilter {
                status: status.clone(),
                ..Default::default()
            },
        )
        .await;
        // A time range is not counted ahead: the orders themselves are counted.
        let counted = total(
            env,
            OrderFilter {
                status: status.clone(),
                placed_from: Some("0".into()),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(kept, counted, "orders in {status:?}");
    }
    assert_eq!(total(env, OrderFilter::default()).await, 40);
    env.assert_equals_a_fresh_replay(7).await;
}

on_both!(order_counts, order_totals_equal_a_count_of_the_orders);
