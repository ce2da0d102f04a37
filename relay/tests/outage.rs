//! NATS unreachable mid-run: the relay talks to the local server through a TCP proxy of the
//! test's own, which cuts every connection and refuses new ones for a while, then lets them
//! through again (the machine's server keeps running). Appends go on meanwhile, the
//! checkpoint waits, and once the broker is back the relay catches up: the stream then holds
//! every event of the log exactly once, in log order.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use event_store::Position;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

mod support;
use support::{Fixture, nats_url};

/// A TCP proxy to `upstream` that lets connections through while its switch is on; turning
/// it off resets every open connection and refuses new ones.
struct Proxy {
    port: u16,
    open: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (open, _) = watch::channel(true);
        let switch = open.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut switch = switch.subscribe();
                if !*switch.borrow() {
                    cut(&client);
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        cut(&client);
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = switch.wait_for(|open| !*open) => {
                            cut(&client);
                            cut(&server);
                        }
                    }
                });
            }
        });
        Self { port, open }
    }

    fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

/// Makes the socket's close a reset, as a network failure looks to both ends.
fn cut(stream: &TcpStream) {
    stream.set_zero_linger().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_waits_out_an_outage_and_catches_up_without_gap_or_duplicate() {
    let Some(url) = nats_url() else {
        return;
    };
    let upstream = url
        .trim_start_matches("nats://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = Proxy::start(upstream).await;
    let mut fixture = Fixture::new(&format!("nats://127.0.0.1:{}", proxy.port), "outage", 11).await;
    fixture.settings.batch = 25;
    fixture.append(10).await;
    let running = fixture.start(1).await;
    fixture.caught_up().await;

    // The broker goes away while events keep being appended.
    proxy.set_open(false);
    let appending = Instant::now();
    let mut appended = 0;
    while appending.elapsed() < Duration::from_secs(3) {
        appended += fixture.append(1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(appended > 0, "appends stopped while the broker was away");
    // Whatever was in flight when the connection was cut has settled by now.
    let stuck = fixture.checkpoint().await;
    assert!(
        stuck > Position::START && stuck <= fixture.head().await,
        "the checkpoint is not within the log"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        fixture.checkpoint().await,
        stuck,
        "the checkpoint moved while the broker was unreachable"
    );

    // The broker is back: the relay catches up, appends still going.
    proxy.set_open(true);
    fixture.append(10).await;
    fixture.caught_up().await;
    running.stop().await;
    fixture.assert_published_once(&url).await;
}

/// A NATS server of the test's own (the machine's keeps running), with JetStream in a
/// folder that outlives its restarts.
struct PrivateServer {
    binary: std::path::PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl PrivateServer {
    /// The server, if `nats-server` is installed (`NATS_SERVER_BIN`, else on the PATH).
    async fn start() -> Option<Self> {
        let binary = std::env::var_os("NATS_SERVER_BIN")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .chain([std::path::PathBuf::from("/usr/sbin")])
                        .map(|dir| dir.join("nats-server"))
                        .find(|path| path.is_file())
                })
            })?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            binary,
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.run().await;
        Some(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let child = std::process::Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server never listened"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server at once (SIGKILL): nothing is flushed or handed over.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_goes_on_after_the_server_restarts_and_forgets_the_last_message_id() {
    let Some(mut server) = PrivateServer::start().await else {
        eprintln!("SKIPPED: nats-server is not installed; this NATS restart test did not run");
        return;
    };
    let mut fixture = Fixture::new(&server.url(), "restart", 13).await;
    fixture.settings.batch = 25;
    // The server remembers the last message id after a restart only within the window.
    fixture.nats.duplicate_window = Duration::from_millis(300);
    fixture.append(10).await;
    let running = fixture.start(1).await;
    fixture.caught_up().await;

    // The relay idles past the window; the server dies and comes back on the same folder.
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.kill();
    server.run().await;
    fixture.append(10).await;
    fixture.caught_up().await;
    running.stop().await;
    fixture.assert_published_once(&server.url()).await;
}
