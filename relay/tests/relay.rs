//! The relay over a simulated log on SQLite, into a stream of the test's own on the local
//! NATS server (`NATS_URL`): every event arrives once, in log order, and the checkpoint
//! follows the acknowledgements; a second relay stands by; a relay behind or ahead of its
//! stream, or with a new stream, still leaves the stream holding the log once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

mod support;
use support::{Fixture, nats_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_arrives_once_in_order_and_the_checkpoint_follows() {
    let Some(url) = nats_url() else {
        return;
    };
    let mut fixture = Fixture::new(&url, "test", 7).await;
    fixture.settings.batch = 37;
    fixture.append(20).await;
    // Two relays: one relays, one stands by; events keep coming meanwhile.
    let running = fixture.start(2).await;
    fixture.append(10).await;
    fixture.caught_up().await;
    running.stop().await;
    fixture.assert_published_once(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_behind_the_stream_resumes_after_it_even_past_the_duplicate_window() {
    let Some(url) = nats_url() else {
        return;
    };
    let mut fixture = Fixture::new(&url, "ahead", 3).await;
    fixture.nats.duplicate_window = Duration::from_millis(500);
    fixture.append(15).await;
    fixture.relay_until_head().await;
    // As if the relay had died after the broker acknowledged most of the log but before its
    // checkpoint moved, and came back after the broker forgot the ids.
    fixture.set_checkpoint(10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    fixture.append(5).await;
    fixture.relay_until_head().await;
    fixture.assert_published_once(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_lost_the_last_events_gets_them_again() {
    let Some(url) = nats_url() else {
        return;
    };
    let mut fixture = Fixture::new(&url, "behind", 3).await;
    fixture.append(10).await;
    fixture.relay_until_head().await;
    // As if the stream had been restored from a copy older than the checkpoint.
    fixture.append(5).await;
    let log = fixture
        .store
        .read_all(event_store::Position::START, u32::MAX);
    fixture.set_checkpoint(log.await.unwrap().len()).await;
    fixture.append(3).await;
    fixture.relay_until_head().await;
    fixture.assert_published_once(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_stream_takes_the_whole_log() {
    let Some(url) = nats_url() else {
        return;
    };
    let mut fixture = Fixture::new(&url, "recreated", 3).await;
    fixture.append(10).await;
    fixture.relay_until_head().await;
    // An operator deletes the stream; the relay makes it again and fills it from the start.
    let js = async_nats::jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
    js.delete_stream(&fixture.nats.stream).await.unwrap();
    fixture.append(3).await;
    fixture.relay_until_head().await;
    fixture.assert_published_once(&url).await;
}
