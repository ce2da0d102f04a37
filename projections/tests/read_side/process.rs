//! A process manager whose command is refused in a way it did not foresee stops like a
//! failing projector: it stays at its checkpoint, names the event, and retries; it never drops
//! the event. And no rebuild runs it again.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::process::{ProcessCommand, Target};
use domain::stock::StockCommand;
use event_schemas::StockEvent;
use event_schemas::values::Cents;
use event_store::Position;
use projections::event::{Body, Event};
use projections::processes::{Causes, Issuer, Process, ProcessManager, PurchaseProcessRow, Stuck};
use projections::simulate::Simulator;
use projections::{Projection, ProjectionError, Runtime, Unwatched, rebuild, status};
use uuid::Uuid;

use crate::on_both;
use crate::support::{Env, quick};

/// Asks, as the system, to reprice every new stock item: a command only farmers and admins
/// may issue, so its refusal is one no decision foresees.
struct Repricing;

#[async_trait]
impl Process for Repricing {
    const NAME: &'static str = "repricing-process";
    const VERSION: i64 = 1;
    type State = u32;
    type Row = PurchaseProcessRow;

    fn key(event: &Event) -> Option<String> {
        matches!(event.body, Body::Stock(StockEvent::StockItemRegistered(_)))
            .then(|| event.aggregate_id.clone())
    }

    async fn react(
        state: &mut u32,
        event: &Event,
        causes: Causes,
        issuer: &Issuer,
    ) -> Result<(), Stuck> {
        *state += 1;
        let command = ProcessCommand {
            id: Uuid::new_v5(&causes.event_id, b"reprice"),
            causation_id: causes.event_id,
            at: event.recorded_at,
            target: Target::Stock {
                stock_item_id: event.aggregate_id.parse().unwrap(),
                command: StockCommand::ChangePrice {
                    unit_price_cents: Cents::new(1).unwrap(),
                },
            },
        };
        match issuer.issue(&command, causes).await.error() {
            Some(error) => Err(Stuck(format!("repricing refused: {error}"))),
            None => Ok(()),
        }
    }
}

fn repricing(env: &Env) -> Box<dyn Projection> {
    Box::new(ProcessManager::<Repricing>::new(Issuer::new(
        env.executors(),
        Repricing::NAME,
    )))
}

async fn a_stuck_process_records_why_retries_and_never_drops_the_event(env: &Env) {
    let mut simulator = Simulator::new(env.store.clone(), 3).unwrap();
    for _ in 0..5 {
        simulator.step().await.unwrap();
    }
    let runtime = Runtime::start(
        env.store.clone(),
        env.db.clone(),
        vec![repricing(env)],
        quick(),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let failing = loop {
        let row = status::one(&env.db, Repricing::NAME).await.unwrap();
        if row.state == "failing" && row.error_event.is_some() {
            break row;
        }
        assert!(
            Instant::now() < deadline,
            "the process never failed: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let error = failing.last_error.clone().unwrap();
    assert!(error.contains("repricing refused"), "{error}");
    assert!(
        failing
            .error_event
            .as_deref()
            .unwrap()
            .starts_with("stock/")
    );
    // It stays before the event and keeps retrying.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = status::one(&env.db, Repricing::NAME).await.unwrap();
    assert_eq!(later.state, "failing");
    assert!(later.attempts > failing.attempts, "{later:?}");
    let failing_at = Position::from_token(later.error_position.as_deref().unwrap()).unwrap();
    assert!(later.checkpoint().unwrap() < failing_at, "{later:?}");
    runtime.stop().await;

    // A rebuild never runs a process again.
    let mut process = repricing(env);
    let mut refs: Vec<&mut dyn Projection> = vec![process.as_mut()];
    let refused = rebuild(
        &env.store,
        &env.db,
        &mut refs,
        &Unwatched,
        Default::default(),
    )
    .await;
    assert!(matches!(refused, Err(ProjectionError::NotRebuildable(_))));
}
on_both!(
    stuck_process,
    a_stuck_process_records_why_retries_and_never_drops_the_event
);
