//! The JetStream publisher against the local NATS server (`NATS_URL`): messages arrive in
//! order with their subjects, headers and bodies, a batch sent again is dropped as duplicates,
//! and a consumer filtering with a wildcard sees only its subjects.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use chrono::Utc;
use event_store::{Position, RawEvent, RecordedEvent, StoredJson, StreamId};
use futures_util::StreamExt;
use relay::{Held, IntegrationMessage, JetStream, JetStreamSettings, Publisher};
use serde_json::{Value, json};

/// A stream and subjects of the test's own, on the shared server.
fn settings() -> Option<JetStreamSettings> {
    let Ok(url) = std::env::var("NATS_URL") else {
        eprintln!("SKIPPED: NATS_URL is not set; this NATS test did not run");
        return None;
    };
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let mut settings = JetStreamSettings::new(url);
    settings.stream = format!("RELAY_TEST_{tag}");
    settings.subject_prefix = format!("relaytest{tag}");
    settings.ack_wait = Duration::from_secs(2);
    Some(settings)
}

/// The `n`th event of a scripted log: orders and stock items by turns.
fn event(n: u64) -> RawEvent {
    let (aggregate_type, event_type) = if n.is_multiple_of(2) {
        ("order", "OrderPlaced")
    } else {
        ("stock_item", "StockReceived")
    };
    RecordedEvent {
        stream: StreamId::new(aggregate_type, format!("{aggregate_type}-{}", n % 5)),
        sequence: n / 5 + 1,
        event_type: event_type.to_owned(),
        event_version: "1".to_owned(),
        payload: json!({ event_type: { "n": n } }),
        metadata: json!({
            "event_id": uuid::Uuid::now_v7().to_string(),
            "correlation_id": uuid::Uuid::now_v7().to_string(),
        }),
        position: Position::new(0, n + 1, 0),
        recorded_at: Utc::now(),
    }
    .try_map_json(|value| StoredJson::from_value(&value))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_once_in_log_order_and_filter_by_subject() {
    let Some(settings) = settings() else {
        return;
    };
    let prefix = settings.subject_prefix.clone();
    let name = settings.stream.clone();
    let publisher = JetStream::connect(settings.clone()).await.unwrap();
    publisher.ensure_stream().await.unwrap();
    let messages: Vec<IntegrationMessage> = (0..60)
        .map(|n| IntegrationMessage::of(&event(n), &prefix).unwrap())
        .collect();
    publisher.publish(messages[..25].to_vec()).await.unwrap();
    publisher.publish(messages[25..40].to_vec()).await.unwrap();
    // A crash between the acknowledgement and the checkpoint sends a batch again.
    publisher.publish(messages[25..40].to_vec()).await.unwrap();
    // So does a new process, which knows nothing of what it sent.
    let restarted = JetStream::connect(settings).await.unwrap();
    restarted.publish(messages[30..60].to_vec()).await.unwrap();

    let client = async_nats::connect(std::env::var("NATS_URL").unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(&name).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 60);
    for (n, sent) in messages.iter().enumerate() {
        let stored = stream.get_raw_message(n as u64 + 1).await.unwrap();
        assert_eq!(stored.subject.as_str(), sent.subject);
        assert_eq!(stored.payload, sent.body);
        for (header, value) in &sent.headers {
            assert_eq!(
                stored.headers.get(*header).map(|v| v.as_str()),
                Some(value.as_str()),
                "header {header} of message {n}"
            );
        }
        let body: Value = serde_json::from_slice(&stored.payload).unwrap();
        assert_eq!(body["position"], Position::new(0, n as u64 + 1, 0).token());
    }
    let Held::Last(last) = restarted.last_stored().await.unwrap() else {
        panic!("the stream's last message is not the last one sent");
    };
    assert_eq!(last.event_id, messages[59].event_id);

    // A consumer of orders only.
    let orders = stream
        .create_consumer(OrderedConfig {
            filter_subject: format!("{prefix}.order.>"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut received = orders.messages().await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 30 {
        let message = tokio::time::timeout(Duration::from_secs(5), received.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(message.subject.to_string());
    }
    assert!(
        seen.iter()
            .all(|s| s == &format!("{prefix}.order.OrderPlaced"))
    );
    let pending = tokio::time::timeout(Duration::from_millis(300), received.next()).await;
    assert!(
        pending.is_err(),
        "a consumer of orders got more than the orders"
    );

    js.delete_stream(&name).await.unwrap();
}

/// Once every message has aged out of the stream, a new publisher cannot tell which event
/// the stream holds last, and names the stream's last sequence (which stays) as predecessor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_messages_aged_out_takes_new_ones() {
    let Some(mut settings) = settings() else {
        return;
    };
    settings.max_age = Duration::from_secs(1);
    settings.duplicate_window = Duration::from_secs(1);
    let prefix = settings.subject_prefix.clone();
    let messages: Vec<IntegrationMessage> = (0..6)
        .map(|n| IntegrationMessage::of(&event(n), &prefix).unwrap())
        .collect();
    let publisher = JetStream::connect(settings.clone()).await.unwrap();
    publisher.publish(messages[..3].to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let restarted = JetStream::connect(settings.clone()).await.unwrap();
    assert_eq!(restarted.last_stored().await.unwrap(), Held::Unknown);
    restarted.publish(messages[3..].to_vec()).await.unwrap();

    let client = async_nats::connect(std::env::var("NATS_URL").unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(&settings.stream).await.unwrap();
    // (The new ones age out in their turn: only the sequence is sure to say they went in.)
    assert_eq!(stream.info().await.unwrap().state.last_sequence, 6);
    js.delete_stream(&settings.stream).await.unwrap();
}

/// An existing stream keeps what an operator set (other subjects, limits); only the relay's
/// own settings are brought up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_stream_keeps_the_operators_settings() {
    let Some(settings) = settings() else {
        return;
    };
    let client = async_nats::connect(std::env::var("NATS_URL").unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let extra = format!("{}extra.>", settings.subject_prefix);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: settings.stream.clone(),
        subjects: vec![extra.clone()],
        max_messages: 1_000,
        duplicate_window: Duration::from_secs(30),
        ..Default::default()
    })
    .await
    .unwrap();
    let publisher = JetStream::connect(settings.clone()).await.unwrap();
    publisher.ensure_stream().await.unwrap();
    let mut stream = js.get_stream(&settings.stream).await.unwrap();
    let config = stream.info().await.unwrap().config.clone();
    assert!(config.subjects.contains(&extra), "{:?}", config.subjects);
    assert!(
        config
            .subjects
            .contains(&format!("{}.>", settings.subject_prefix))
    );
    assert_eq!(config.max_messages, 1_000);
    assert_eq!(config.duplicate_window, settings.duplicate_window);
    js.delete_stream(&settings.stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_is_not_the_streams_acknowledgement_never_counts_as_one() {
    let Some(settings) = settings() else {
        return;
    };
    let prefix = settings.subject_prefix.clone();
    let publisher = JetStream::connect(settings.clone()).await.unwrap();
    publisher.ensure_stream().await.unwrap();
    let messages: Vec<IntegrationMessage> = (0..5)
        .map(|n| IntegrationMessage::of(&event(n), &prefix).unwrap())
        .collect();
    publisher.publish(messages[..2].to_vec()).await.unwrap();
    // Another service answers every message on the relay's subjects...
    let client = async_nats::connect(std::env::var("NATS_URL").unwrap())
        .await
        .unwrap();
    let mut requests = client.subscribe(format!("{prefix}.>")).await.unwrap();
    let responder = client.clone();
    let answering = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                responder.publish(reply, "{}".into()).await.unwrap();
            }
        }
    });
    client.flush().await.unwrap();
    // ...and the stream is gone, so nothing stores them: the batch must fail, not pass on
    // that service's answers.
    async_nats::jetstream::new(client.clone())
        .delete_stream(&settings.stream)
        .await
        .unwrap();
    let failed = publisher.publish(messages[2..].to_vec()).await;
    answering.abort();
    assert!(failed.is_err(), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_the_messages_in_flight_is_stored_whole_and_in_order() {
    let Some(settings) = settings() else {
        return;
    };
    let prefix = settings.subject_prefix.clone();
    let name = settings.stream.clone();
    let publisher = JetStream::connect(settings).await.unwrap();
    publisher.ensure_stream().await.unwrap();
    // More than the publisher sends before it reads acknowledgements (10,000).
    let messages: Vec<IntegrationMessage> = (0..10_050)
        .map(|n| IntegrationMessage::of(&event(n), &prefix).unwrap())
        .collect();
    let last = messages.last().unwrap().event_id.clone();
    publisher.publish(messages).await.unwrap();
    let client = async_nats::connect(std::env::var("NATS_URL").unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(&name).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    assert_eq!(state.messages, 10_050);
    let stored = stream.get_raw_message(state.last_sequence).await.unwrap();
    assert_eq!(stored.headers.get("Nats-Msg-Id").unwrap().as_str(), last);
    js.delete_stream(&name).await.unwrap();
}
