//! Upcasting on every read path: an event stored at an old version is read at its current
//! version by `read_stream`, `read_all`, `read_all_raw` and the executor, while its hash stays
//! over the bytes as stored.

use chrono::Utc;
use cqrs_es::Aggregate;
use domain::Issued;
use domain::delivery::{Delivery, DeliveryCommand};
use domain::values::{ActorId, DeliveryId, OrderId};
use event_schemas::DeliveryStatus;
use event_store::{Executor, NewEvent, Position, StreamId};
use serde_json::Value;

use crate::fixtures::{StreamWriter, admin, context, metadata};
use crate::support::wait_until_readable;

/// The golden fixtures of `DeliveryScheduled` as published in 1.0.0 and as it is now.
const V1: &str =
    include_str!("../../../event-schemas/tests/fixtures/delivery/DeliveryScheduled.v1.0.0.json");
const V2: &str =
    include_str!("../../../event-schemas/tests/fixtures/delivery/DeliveryScheduled.v2.0.0.json");

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

conformance!(
    a_stored_v1_delivery_scheduled_reads_as_v2_on_every_path,
    |db| async move {
        let store = db.store;
        let (v1, v2) = (fixture(V1), fixture(V2));
        let scheduled = &v1["payload"]["DeliveryScheduled"];
        let delivery_id = scheduled["delivery_id"].as_str().unwrap().to_owned();
        let order_id: OrderId = scheduled["order_id"].as_str().unwrap().parse().unwrap();
        let stream = StreamId::new(Delivery::TYPE, &delivery_id);
        let mut writer = StreamWriter::new(stream.clone());
        let appended = writer
            .append(
                &store,
                vec![NewEvent {
                    event_type: "DeliveryScheduled".to_owned(),
                    event_version: "1.0.0".to_owned(),
                    payload: v1["payload"].clone(),
                    metadata: metadata("ScheduleDelivery"),
                }],
            )
            .await;

        let from_stream = store.read_stream(&stream, 0).await.unwrap();
        wait_until_readable(&store, appended.position).await;
        let from_log = store.read_all(Position::START, 10).await.unwrap();
        let executor = Executor::<Delivery>::new(store.clone(), ());
        let loaded = executor.load(&delivery_id).await.unwrap();

        assert_eq!(from_stream.len(), 1);
        assert_eq!(from_stream[0].event_type, "DeliveryScheduled");
        assert_eq!(from_stream[0].event_version, "2.0.0");
        assert_eq!(from_stream[0].payload, v2["payload"]);
        assert_eq!(from_log, from_stream);
        let raw = store.read_all_raw(Position::START, 10).await.unwrap();
        let raw_decoded: Vec<_> = raw
            .into_iter()
            .map(|event| {
                event
                    .try_map_json(|text| serde_json::from_str::<Value>(text.get()))
                    .unwrap()
            })
            .collect();
        assert_eq!(raw_decoded, from_stream, "the raw read upcasts too");
        assert_eq!(loaded.version, 1);
        assert_eq!(loaded.last_hash, appended.last_hash);
        assert_eq!(
            loaded.state.id(),
            Some(DeliveryId::from_uuid(delivery_id.parse().unwrap()))
        );
        assert_eq!(loaded.state.order_id(), Some(order_id));
        assert_eq!(loaded.state.status(), Some(DeliveryStatus::Scheduled));
        let verified = store.verify_stream(&stream).await.unwrap();
        assert!(
            verified.ok,
            "verify hashes the stored 1.0.0 bytes: {verified:?}"
        );
        assert_eq!(verified.checked, 1);

        // A command on top chains to the stored event's hash, and the chain still holds.
        let driver = ActorId::parse("driver-1").unwrap();
        let assign = Issued::new(
            admin(),
            Utc::now(),
            DeliveryCommand::AssignDriver {
                driver_id: Some(driver.clone()),
                vehicle: None,
            },
        );
        let executed = executor
            .execute(&delivery_id, assign, &context(&admin(), "AssignDriver"))
            .await
            .unwrap();
        assert_eq!(executed.version, 2);
        let verified = store.verify_stream(&stream).await.unwrap();
        assert!(verified.ok, "{verified:?}");
        assert_eq!(verified.checked, 2);
        let reloaded = executor.load(&delivery_id).await.unwrap();
        assert_eq!(reloaded.state.driver(), Some(&driver));
        assert_eq!(reloaded.state.status(), Some(DeliveryStatus::Assigned));
    }
);
