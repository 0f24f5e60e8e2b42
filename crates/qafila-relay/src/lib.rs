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
//!
//! The relay runs its own accept loop ([`listen`]): TLS ([`tls`]: a CA's
//! certificate, or a site relay's own, which devices pin), a header-read
//! timeout, a request timeout and a connection limit; [`http`] refuses
//! abuse before reading bodies (per-address limits on enrollments, convoy
//! creations and failed signatures, a budget of body bytes read at once)
//! and keeps each convoy within its storage quota.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
mod http;
mod limits;
mod listen;
mod metrics;
pub mod storage;
pub mod tls;

use std::future::Future;

pub use config::{Config, Database, Flags, Tls};
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
    /// TLS could not be set up.
    #[error("the relay's TLS certificate cannot be used: {0}")]
    Tls(#[from] tls::TlsError),
}

/// Serves the relay on `listener` until `shutdown` completes, then finishes
/// the requests in flight and returns.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    let identity = tls::load(&config)?;
    serve_as(config, identity, listener, shutdown).await
}

async fn serve_as(
    config: Config,
    identity: Option<tls::Identity>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    match &config.database {
        Database::Sqlite(path) => {
            let storage = SqliteStorage::open(path)?;
            serve_storage(config, storage, identity, listener, shutdown).await
        }
        Database::Postgres(url) => {
            let storage = PgStorage::connect_with(url, config.database_ca.as_deref()).await?;
            serve_storage(config, storage, identity, listener, shutdown).await
        }
    }
}

/// Runs a relay process: JSON logs on stderr (`QAFILA_RELAY_LOG`, default
/// `info`), `listening on ADDR` on stdout once bound (port 0 picks a free
/// port), then with TLS `tls sha256 FINGERPRINT` and, for a self-signed
/// certificate, `address https://ADDR#sha256=FINGERPRINT` (the address to
/// give the convoy lead: devices pin that certificate), and a graceful stop
/// on SIGINT or SIGTERM. Used by the `qafila-relay` binary and
/// `qafila relay serve`.
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
        let identity = tls::load(&config)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|error| RelayError::Listen {
                address: config.listen,
                error,
            })?;
        let address = listener.local_addr()?;
        println!("listening on {address}");
        if let Some(identity) = &identity {
            println!("tls sha256 {}", identity.fingerprint);
            if identity.self_signed {
                println!("address https://{address}#sha256={}", identity.fingerprint);
            }
        }
        if !address.ip().is_loopback() && config.create_token.is_none() {
            tracing::warn!(
                "this relay listens beyond loopback without an operator token: it refuses every new convoy (set --operator-token)"
            );
        }
        if !address.ip().is_loopback() && identity.is_none() {
            tracing::warn!(
                "this relay serves plain HTTP beyond loopback: devices refuse it unless a TLS proxy is in front (use --tls-cert/--tls-key or --tls-self-signed)"
            );
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        serve_as(config, identity, listener, stop_signal()).await
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
    let identity = tls::load(&config)?;
    serve_storage(config, storage, identity, listener, shutdown).await
}

async fn serve_storage<S: Storage>(
    config: Config,
    storage: S,
    identity: Option<tls::Identity>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    let address = listener.local_addr()?;
    // Only a relay nobody else can reach may let anyone create convoys.
    let loopback_only = address.ip().is_loopback();
    let app = http::router(config.clone(), storage, loopback_only);
    tracing::info!(%address, tls = identity.is_some(), "relay listening");
    listen::accept_loop(app, listener, identity.map(|i| i.config), &config, shutdown).await?;
    tracing::info!("relay stopped");
    Ok(())
}
