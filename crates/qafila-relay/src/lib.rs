//! Qafila's blind relay.
//!
//! It stores and forwards sealed records of per-device logs, grouped by
//! scope (a convoy). It reads record headers, never their contents: it
//! cannot decrypt them, does not know Automerge, and holds no personal data
//! in clear. Every request is signed by a device key ([`qafila_proto::auth`]);
//! uploads are idempotent by `(device, seq)`; downloads stream what a device
//! lacks after its per-device cursors, in bounded batches.
//!
//! [`serve`] runs it on a listener until `shutdown` completes, with storage
//! from [`config::Config`]: SQLite ([`storage::sqlite`]) for one machine,
//! PostgreSQL ([`storage::postgres`]) for several relay processes behind a
//! load balancer.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
mod http;
mod limits;
mod metrics;
pub mod storage;

use std::future::Future;

pub use config::{Config, Database, Flags};
use storage::{Storage, postgres::PgStorage, sqlite::SqliteStorage};

/// Why the relay could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The storage could not be opened.
    #[error("the relay's database could not be opened: {0}")]
    Storage(#[from] storage::StorageError),
    /// The address could not be listened on.
    #[error("cannot listen on {address}: {error} (is another relay running there?)")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The listener failed.
    #[error("the relay's network listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves the relay on `listener` until `shutdown` completes, then finishes
/// the requests in flight and returns.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    match &config.database {
        Database::Sqlite(path) => {
            let storage = SqliteStorage::open(path)?;
            serve_with(config, storage, listener, shutdown).await
        }
        Database::Postgres(url) => {
            let storage = PgStorage::connect(url).await?;
            serve_with(config, storage, listener, shutdown).await
        }
    }
}

/// Runs a relay process: JSON logs on stderr (`QAFILA_RELAY_LOG`, default
/// `info`), `listening on ADDR` on stdout once bound (port 0 picks a free
/// port), and a graceful stop on SIGINT or SIGTERM. Used by the
/// `qafila-relay` binary and `qafila relay serve`.
pub fn run(config: Config) -> Result<(), RelayError> {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QAFILA_RELAY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|error| RelayError::Listen {
                address: config.listen,
                error,
            })?;
        println!("listening on {}", listener.local_addr()?);
        serve(config, listener, stop_signal()).await
    })
}

/// Completes on SIGINT or SIGTERM.
pub async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Serves with a given storage (tests use this to share one).
pub async fn serve_with<S: Storage>(
    config: Config,
    storage: S,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    let app = http::router(config, storage);
    tracing::info!(address = %listener.local_addr()?, "relay listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("relay stopped");
    Ok(())
}
