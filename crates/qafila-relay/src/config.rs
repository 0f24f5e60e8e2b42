//! Relay configuration: defaults, then a TOML file, then `QAFILA_RELAY_*`
//! environment variables, then command-line flags (applied by the caller).
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! db = "/var/lib/qafila/relay.db"            # or:
//! database_url = "postgres://qafila@db/qafila"
//! max_body_bytes = 8388608
//! fetch_max_bytes = 4194304
//! rate_per_second = 20
//! rate_burst = 60
//! create_token = "..."                        # required to create convoys here
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
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Most record bytes answered to one download request.
    pub fetch_max_bytes: usize,
    /// Requests per second each device may make, sustained.
    pub rate_per_second: u32,
    /// Requests a device may make in a burst.
    pub rate_burst: u32,
    /// When set, creating a convoy on this relay needs this token (header
    /// `x-qafila-create-token`): a public relay is not open to anyone who
    /// wants to store data on it. Joining, syncing and publishing an
    /// existing convoy do not need it.
    pub create_token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            database: Database::Sqlite(PathBuf::from("relay.db")),
            max_body_bytes: qafila_proto::MAX_UPLOAD_BYTES,
            fetch_max_bytes: 4 << 20,
            rate_per_second: 20,
            rate_burst: 60,
            create_token: None,
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
    /// A TOML configuration file.
    #[arg(long, env = "QAFILA_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
}

impl Flags {
    /// The configuration: defaults, the file, `QAFILA_RELAY_*`, then these
    /// flags.
    pub fn load(self) -> Result<Config, ConfigError> {
        Ok(
            Config::load(self.config.as_deref(), |name| std::env::var(name).ok())?.with_overrides(
                self.listen,
                self.db,
                self.database_url,
            ),
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    listen: Option<SocketAddr>,
    db: Option<PathBuf>,
    database_url: Option<String>,
    max_body_bytes: Option<usize>,
    fetch_max_bytes: Option<usize>,
    rate_per_second: Option<u32>,
    rate_burst: Option<u32>,
    create_token: Option<String>,
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
            create_token: env("QAFILA_RELAY_CREATE_TOKEN").filter(|t| !t.is_empty()),
        };
        config.apply(layer);
        Ok(config)
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
        std::fs::write(&file, "colour = \"red\"\n").unwrap();
        assert!(Config::load(Some(&file), |_| None).is_err());
    }
}
