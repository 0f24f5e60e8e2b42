//! Relay configuration: defaults, then a TOML file, then `QAFILA_RELAY_*`
//! environment variables, then command-line flags (applied by the caller).
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! db = "/var/lib/qafila/relay.db"            # or:
//! database_url = "postgres://qafila@db/qafila?sslmode=require"  # TLS, verified
//! database_ca = "/etc/qafila/db-ca.pem"       # a private CA for it, if any
//! max_body_bytes = 8388608
//! fetch_max_bytes = 4194304
//! rate_per_second = 20
//! rate_burst = 60
//! operator_token = "..."                      # required to create convoys here
//! tls_cert = "/etc/qafila/relay.crt"          # PEM chain, or:
//! tls_key = "/etc/qafila/relay.key"
//! tls_self_signed = true                      # a site relay: its own certificate
//! header_read_timeout_ms = 10000
//! request_timeout_ms = 300000                  # 8 MiB at 30 KB/s still fits
//! max_connections = 512
//! max_connections_per_address = 64
//! convoy_quota_bytes = 2147483648
//! address_rate_per_minute = 30                # enrollments, creations, bad signatures
//! address_rate_burst = 10
//! body_budget_bytes = 67108864                # request bodies read at once, in all
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the relay keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (the default: `relay.db` in the working directory).
    Sqlite(PathBuf),
    /// A PostgreSQL URL; several relays may share it.
    Postgres(String),
}

/// Everything the relay can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (used by the binary; `serve` takes a listener).
    pub listen: SocketAddr,
    /// Storage.
    pub database: Database,
    /// PEM certificates trusted, besides the system's roots, for TLS to
    /// PostgreSQL (`sslmode=require`).
    pub database_ca: Option<PathBuf>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Most record bytes answered to one download request.
    pub fetch_max_bytes: usize,
    /// Requests per second each device may make, sustained.
    pub rate_per_second: u32,
    /// Requests a device may make in a burst.
    pub rate_burst: u32,
    /// The operator's token: creating a convoy on this relay needs it
    /// (header `x-qafila-create-token`), so a public relay is not open to
    /// anyone who wants to store data on it. A relay that listens on
    /// anything but loopback refuses every new convoy while none is set.
    /// Joining, syncing and publishing an existing convoy do not need it.
    pub create_token: Option<String>,
    /// Where TLS comes from; `None` serves plain HTTP (loopback, or behind a
    /// TLS-terminating proxy).
    pub tls: Option<Tls>,
    /// How long a client may take to send a request's headers (and the TLS
    /// handshake) before its connection is closed; also how long an idle
    /// kept-alive connection stays open. At least 2 s: devices reuse an
    /// idle connection for up to 1 s.
    pub header_read_timeout_ms: u64,
    /// How long one request may take, body included, before it is answered
    /// 408 (a download's stream is not cut by it).
    pub request_timeout_ms: u64,
    /// Most connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Most connections open at once from one network address, so one
    /// client cannot take them all.
    pub max_connections_per_address: usize,
    /// Most bytes of records one convoy may store on this relay.
    pub convoy_quota_bytes: u64,
    /// Enrollments, convoy creations and failed signatures one network
    /// address may make per minute, sustained, and in a burst.
    pub address_rate_per_minute: u32,
    /// See [`Config::address_rate_per_minute`].
    pub address_rate_burst: u32,
    /// Most request-body bytes the relay reads at once, over all requests:
    /// past it, uploads are answered 503 (retry) before their bodies are
    /// read.
    pub body_budget_bytes: usize,
}

/// Where a relay's TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// A certificate chain and its private key, PEM files (e.g. from an ACME
    /// client).
    Files {
        /// The chain, leaf first.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// A certificate the relay makes once and keeps beside its database; its
    /// SHA-256 fingerprint goes into the relay's address (`#sha256=…`),
    /// which devices pin.
    SelfSigned,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            database: Database::Sqlite(PathBuf::from("relay.db")),
            database_ca: None,
            max_body_bytes: qafila_proto::MAX_UPLOAD_BYTES,
            fetch_max_bytes: 4 << 20,
            rate_per_second: 20,
            rate_burst: 60,
            create_token: None,
            tls: None,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 300_000,
            max_connections: 512,
            max_connections_per_address: 64,
            convoy_quota_bytes: 2 << 30,
            address_rate_per_minute: 30,
            address_rate_burst: 10,
            body_budget_bytes: 64 << 20,
        }
    }
}

/// A relay process's command-line flags (`qafila-relay` and
/// `qafila relay serve` share them).
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Address to listen on, e.g. 0.0.0.0:8443.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// SQLite database file (the default storage).
    #[arg(long, conflicts_with = "database_url")]
    pub db: Option<PathBuf>,
    /// PostgreSQL URL, for several relays sharing one database.
    #[arg(long)]
    pub database_url: Option<String>,
    /// PEM certificates to trust for TLS to PostgreSQL (`sslmode=require`),
    /// besides the system's roots.
    #[arg(long)]
    pub database_ca: Option<PathBuf>,
    /// A TOML configuration file.
    #[arg(long, env = "QAFILA_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// The TLS certificate chain (PEM), with --tls-key.
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM), with --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a certificate the relay makes once and keeps beside
    /// its database (a site relay on a hotspot): devices pin its
    /// fingerprint, which the relay prints and invites carry.
    #[arg(long)]
    pub tls_self_signed: bool,
    /// The operator's token, needed to create convoys on this relay
    /// (also `QAFILA_RELAY_OPERATOR_TOKEN`).
    #[arg(long)]
    pub operator_token: Option<String>,
}

impl Flags {
    /// The configuration: defaults, the file, `QAFILA_RELAY_*`, then these
    /// flags.
    pub fn load(self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.config.as_deref(), |name| std::env::var(name).ok())?
            .with_overrides(self.listen, self.db, self.database_url);
        config.apply(Layer {
            database_ca: self.database_ca,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            tls_self_signed: self.tls_self_signed.then_some(true),
            create_token: self.operator_token.filter(|t| !t.is_empty()),
            ..Layer::default()
        });
        config.check()?;
        Ok(config)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    listen: Option<SocketAddr>,
    db: Option<PathBuf>,
    database_url: Option<String>,
    database_ca: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    fetch_max_bytes: Option<usize>,
    rate_per_second: Option<u32>,
    rate_burst: Option<u32>,
    #[serde(alias = "operator_token")]
    create_token: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_self_signed: Option<bool>,
    header_read_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    convoy_quota_bytes: Option<u64>,
    address_rate_per_minute: Option<u32>,
    address_rate_burst: Option<u32>,
    body_budget_bytes: Option<usize>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the relay configuration {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file or a variable is malformed.
    #[error("the relay configuration is invalid: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, overlaid with `file` (if given) and the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                path: path.to_owned(),
                error,
            })?;
            let layer: Layer =
                toml::from_str(&text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
            config.apply(layer);
        }
        fn parsed<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
        ) -> Result<Option<T>, ConfigError> {
            value
                .map(|v| {
                    v.parse()
                        .map_err(|_| ConfigError::Invalid(format!("{name}={v} is not valid")))
                })
                .transpose()
        }
        let layer = Layer {
            listen: parsed("QAFILA_RELAY_LISTEN", env("QAFILA_RELAY_LISTEN"))?,
            db: env("QAFILA_RELAY_DB").map(PathBuf::from),
            database_url: env("QAFILA_RELAY_DATABASE_URL"),
            database_ca: env("QAFILA_RELAY_DATABASE_CA").map(PathBuf::from),
            max_body_bytes: parsed(
                "QAFILA_RELAY_MAX_BODY_BYTES",
                env("QAFILA_RELAY_MAX_BODY_BYTES"),
            )?,
            fetch_max_bytes: parsed(
                "QAFILA_RELAY_FETCH_MAX_BYTES",
                env("QAFILA_RELAY_FETCH_MAX_BYTES"),
            )?,
            rate_per_second: parsed(
                "QAFILA_RELAY_RATE_PER_SECOND",
                env("QAFILA_RELAY_RATE_PER_SECOND"),
            )?,
            rate_burst: parsed("QAFILA_RELAY_RATE_BURST", env("QAFILA_RELAY_RATE_BURST"))?,
            create_token: env("QAFILA_RELAY_OPERATOR_TOKEN")
                .or_else(|| env("QAFILA_RELAY_CREATE_TOKEN"))
                .filter(|t| !t.is_empty()),
            tls_cert: env("QAFILA_RELAY_TLS_CERT").map(PathBuf::from),
            tls_key: env("QAFILA_RELAY_TLS_KEY").map(PathBuf::from),
            tls_self_signed: parsed(
                "QAFILA_RELAY_TLS_SELF_SIGNED",
                env("QAFILA_RELAY_TLS_SELF_SIGNED"),
            )?,
            header_read_timeout_ms: parsed(
                "QAFILA_RELAY_HEADER_READ_TIMEOUT_MS",
                env("QAFILA_RELAY_HEADER_READ_TIMEOUT_MS"),
            )?,
            request_timeout_ms: parsed(
                "QAFILA_RELAY_REQUEST_TIMEOUT_MS",
                env("QAFILA_RELAY_REQUEST_TIMEOUT_MS"),
            )?,
            max_connections: parsed(
                "QAFILA_RELAY_MAX_CONNECTIONS",
                env("QAFILA_RELAY_MAX_CONNECTIONS"),
            )?,
            max_connections_per_address: parsed(
                "QAFILA_RELAY_MAX_CONNECTIONS_PER_ADDRESS",
                env("QAFILA_RELAY_MAX_CONNECTIONS_PER_ADDRESS"),
            )?,
            convoy_quota_bytes: parsed(
                "QAFILA_RELAY_CONVOY_QUOTA_BYTES",
                env("QAFILA_RELAY_CONVOY_QUOTA_BYTES"),
            )?,
            address_rate_per_minute: parsed(
                "QAFILA_RELAY_ADDRESS_RATE_PER_MINUTE",
                env("QAFILA_RELAY_ADDRESS_RATE_PER_MINUTE"),
            )?,
            address_rate_burst: parsed(
                "QAFILA_RELAY_ADDRESS_RATE_BURST",
                env("QAFILA_RELAY_ADDRESS_RATE_BURST"),
            )?,
            body_budget_bytes: parsed(
                "QAFILA_RELAY_BODY_BUDGET_BYTES",
                env("QAFILA_RELAY_BODY_BUDGET_BYTES"),
            )?,
        };
        config.apply(layer);
        config.check()?;
        Ok(config)
    }

    /// Refuses combinations that cannot work.
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(Tls::Files { cert, key }) = &self.tls
            && (cert.as_os_str().is_empty() || key.as_os_str().is_empty())
        {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key must be given together".into(),
            ));
        }
        if self.header_read_timeout_ms < 2_000 {
            return Err(ConfigError::Invalid(format!(
                "header_read_timeout_ms ({}) must be at least 2000: devices reuse an idle connection for up to 1 s",
                self.header_read_timeout_ms
            )));
        }
        if self.body_budget_bytes < self.max_body_bytes {
            return Err(ConfigError::Invalid(format!(
                "body_budget_bytes ({}) must be at least max_body_bytes ({})",
                self.body_budget_bytes, self.max_body_bytes
            )));
        }
        Ok(())
    }

    /// Applies command-line flags over the loaded configuration.
    pub fn with_overrides(
        mut self,
        listen: Option<SocketAddr>,
        db: Option<PathBuf>,
        database_url: Option<String>,
    ) -> Self {
        self.apply(Layer {
            listen,
            db,
            database_url,
            ..Layer::default()
        });
        self
    }

    fn apply(&mut self, layer: Layer) {
        if let Some(v) = layer.listen {
            self.listen = v;
        }
        if let Some(v) = layer.db {
            self.database = Database::Sqlite(v);
        }
        if let Some(v) = layer.database_url {
            self.database = Database::Postgres(v);
        }
        if let Some(v) = layer.database_ca {
            self.database_ca = Some(v);
        }
        if let Some(v) = layer.max_body_bytes {
            self.max_body_bytes = v;
        }
        if let Some(v) = layer.fetch_max_bytes {
            self.fetch_max_bytes = v;
        }
        if let Some(v) = layer.rate_per_second {
            self.rate_per_second = v.max(1);
        }
        if let Some(v) = layer.rate_burst {
            self.rate_burst = v.max(1);
        }
        if let Some(v) = layer.create_token {
            self.create_token = Some(v);
        }
        match (layer.tls_cert, layer.tls_key) {
            (Some(cert), Some(key)) => self.tls = Some(Tls::Files { cert, key }),
            (Some(cert), None) => {
                self.tls = Some(Tls::Files {
                    cert,
                    key: PathBuf::new(),
                });
            }
            (None, Some(key)) => {
                self.tls = Some(Tls::Files {
                    cert: PathBuf::new(),
                    key,
                });
            }
            (None, None) => {}
        }
        if let Some(v) = layer.tls_self_signed {
            if v {
                self.tls = Some(Tls::SelfSigned);
            } else if self.tls == Some(Tls::SelfSigned) {
                self.tls = None;
            }
        }
        if let Some(v) = layer.header_read_timeout_ms {
            self.header_read_timeout_ms = v.max(1);
        }
        if let Some(v) = layer.request_timeout_ms {
            self.request_timeout_ms = v.max(1);
        }
        if let Some(v) = layer.max_connections {
            self.max_connections = v.max(1);
        }
        if let Some(v) = layer.max_connections_per_address {
            self.max_connections_per_address = v.max(1);
        }
        if let Some(v) = layer.convoy_quota_bytes {
            self.convoy_quota_bytes = v;
        }
        if let Some(v) = layer.address_rate_per_minute {
            self.address_rate_per_minute = v.max(1);
        }
        if let Some(v) = layer.address_rate_burst {
            self.address_rate_burst = v.max(1);
        }
        if let Some(v) = layer.body_budget_bytes {
            self.body_budget_bytes = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("relay.toml");
        std::fs::write(&file, "db = \"a.db\"\nrate_per_second = 5\n").unwrap();
        let config = Config::load(Some(&file), |name| {
            (name == "QAFILA_RELAY_DATABASE_URL").then(|| "postgres://x/y".to_string())
        })
        .unwrap();
        assert_eq!(config.database, Database::Postgres("postgres://x/y".into()));
        assert_eq!(config.rate_per_second, 5);
        let bad = Config::load(None, |name| {
            (name == "QAFILA_RELAY_RATE_BURST").then(|| "many".into())
        });
        assert!(
            matches!(bad, Err(ConfigError::Invalid(m)) if m.contains("QAFILA_RELAY_RATE_BURST"))
        );
        let token = Config::load(Some(&file), |name| {
            (name == "QAFILA_RELAY_CREATE_TOKEN").then(|| "t0ken".to_string())
        })
        .unwrap();
        assert_eq!(token.create_token.as_deref(), Some("t0ken"));
        assert_eq!(Config::default().create_token, None, "open by default");
        let operator = Config::load(None, |name| {
            (name == "QAFILA_RELAY_OPERATOR_TOKEN").then(|| "op".to_string())
        })
        .unwrap();
        assert_eq!(operator.create_token.as_deref(), Some("op"));
        std::fs::write(
            &file,
            "tls_self_signed = true\noperator_token = \"x\"\nheader_read_timeout_ms = 2500\n",
        )
        .unwrap();
        let tls = Config::load(Some(&file), |_| None).unwrap();
        assert_eq!(tls.tls, Some(Tls::SelfSigned));
        assert_eq!(tls.create_token.as_deref(), Some("x"));
        assert_eq!(tls.header_read_timeout_ms, 2500);
        std::fs::write(&file, "header_read_timeout_ms = 500\n").unwrap();
        assert!(
            Config::load(Some(&file), |_| None).is_err(),
            "shorter than devices keep idle connections"
        );
        std::fs::write(&file, "tls_cert = \"a.pem\"\n").unwrap();
        assert!(
            Config::load(Some(&file), |_| None).is_err(),
            "a certificate without its key"
        );
        std::fs::write(&file, "colour = \"red\"\n").unwrap();
        assert!(Config::load(Some(&file), |_| None).is_err());
    }
}
