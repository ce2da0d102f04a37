//! An API served in the benchmark's own process, on a random local port.

use command_api::{AppState, Server};
use tokio::sync::oneshot;

/// An API served in this process until [`Served::stop`].
pub(super) struct Served {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub(super) base: String,
    /// Its address.
    pub(super) addr: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Serves `state`'s API; the load generator is one process hammering on purpose, so no
    /// rate limit.
    pub(super) async fn start(state: AppState) -> anyhow::Result<Self> {
        Self::router(command_api::router(
            state.with_rate_limit(0),
            command_api::DEFAULT_REQUEST_TIMEOUT,
        ))
        .await
    }

    /// Serves `router` as the product's server does (its connection limits included).
    pub(super) async fn router(router: axum::Router) -> anyhow::Result<Self> {
        let server = Server::bind("127.0.0.1:0", router).await?;
        let addr = server.local_addr()?;
        let base = format!("http://{addr}");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            base,
            addr,
            stop,
            serving,
        })
    }

    /// Stops serving and waits for the server.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.serving.await??;
        Ok(())
    }
}
