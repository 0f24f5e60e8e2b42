//! The relay's TLS identity: a certificate chain from PEM files (a public
//! relay with a certificate from a CA), or one the relay makes for itself
//! once and keeps beside its database (a site relay on a hotspot, which no
//! CA can vouch for). Either way its SHA-256 fingerprint is known: a
//! self-signed relay's address carries it (`https://host:port#sha256=…`),
//! and devices accept exactly that certificate for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::{Config, Database, Tls};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("cannot use {path}: {error}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The PEM files hold no usable certificate or key.
    #[error("{0}")]
    Invalid(String),
}

/// A loaded certificate and what devices compare it with.
#[derive(Clone)]
pub struct Identity {
    /// The server configuration for accepting connections.
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), lowercase hex.
    pub fingerprint: String,
    /// Whether nobody but this fingerprint vouches for the certificate:
    /// the address handed to devices must then carry it.
    pub self_signed: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity(sha256={})", self.fingerprint)
    }
}

/// SHA-256 of a certificate, lowercase hex: what `#sha256=` pins.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The relay's TLS identity from its configuration, or `None` for plain
/// HTTP.
pub fn load(config: &Config) -> Result<Option<Identity>, TlsError> {
    match &config.tls {
        None => Ok(None),
        Some(Tls::Files { cert, key }) => {
            let certs = read(cert)?;
            let key = read(key)?;
            from_pem(&certs, &key, false).map(Some)
        }
        Some(Tls::SelfSigned) => {
            let (cert, key) = self_signed_paths(&config.database);
            self_signed(&cert, &key).map(Some)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::File {
        path: path.to_owned(),
        error,
    })
}

/// Where a self-signed relay keeps its certificate and key: beside its
/// SQLite database (`relay.db` → `relay.db.tls-cert.pem`), or in the
/// working directory for PostgreSQL.
pub fn self_signed_paths(database: &Database) -> (PathBuf, PathBuf) {
    let base = match database {
        Database::Sqlite(path) => path.as_os_str().to_owned(),
        Database::Postgres(_) => "relay".into(),
    };
    let with = |suffix: &str| {
        let mut name = base.clone();
        name.push(suffix);
        PathBuf::from(name)
    };
    (with(".tls-cert.pem"), with(".tls-key.pem"))
}

/// Loads the certificate made earlier, or makes one (once: it must survive
/// restarts, or every device's pin would break).
fn self_signed(cert_path: &Path, key_path: &Path) -> Result<Identity, TlsError> {
    if cert_path.exists() && key_path.exists() {
        return from_pem(&read(cert_path)?, &read(key_path)?, true);
    }
    let names = vec!["qafila-relay".to_owned(), "localhost".to_owned()];
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::Invalid(format!("cannot make a certificate: {e}")))?;
    let key_pem = made.signing_key.serialize_pem();
    let cert_pem = made.cert.pem();
    write_private(key_path, key_pem.as_bytes())?;
    std::fs::write(cert_path, cert_pem.as_bytes()).map_err(|error| TlsError::File {
        path: cert_path.to_owned(),
        error,
    })?;
    from_pem(cert_pem.as_bytes(), key_pem.as_bytes(), true)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let error = |error| TlsError::File {
        path: path.to_owned(),
        error,
    };
    let mut file = options.open(path).map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_all().map_err(error)
}

fn from_pem(certs: &[u8], key: &[u8], self_signed: bool) -> Result<Identity, TlsError> {
    let chain = CertificateDer::pem_slice_iter(certs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid(format!("the certificate file is not PEM: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::Invalid("the certificate file holds no certificate".to_owned()))?;
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| TlsError::Invalid(format!("the key file holds no private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Invalid(format!("the certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity {
        config: Arc::new(config),
        fingerprint,
        self_signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::Sqlite(dir.path().join("relay.db"));
        let (cert, key) = self_signed_paths(&database);
        let first = self_signed(&cert, &key).unwrap();
        let again = self_signed(&cert, &key).unwrap();
        assert_eq!(
            first.fingerprint, again.fingerprint,
            "it survives a restart"
        );
        assert_eq!(first.fingerprint.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is the owner's only");
        }
        let other = tempfile::tempdir().unwrap();
        let (cert2, key2) = self_signed_paths(&Database::Sqlite(other.path().join("r.db")));
        assert_ne!(
            self_signed(&cert2, &key2).unwrap().fingerprint,
            first.fingerprint,
            "another relay, another certificate"
        );
        assert!(from_pem(b"nonsense", b"nonsense", false).is_err());
    }

    #[test]
    fn a_certificate_from_files_is_loaded_and_not_taken_for_a_self_signed_one() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::Sqlite(dir.path().join("relay.db"));
        let (cert, key) = self_signed_paths(&database);
        let made = self_signed(&cert, &key).unwrap();
        let config = Config {
            tls: Some(Tls::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            ..Config::default()
        };
        let loaded = load(&config).unwrap().unwrap();
        assert_eq!(loaded.fingerprint, made.fingerprint);
        assert!(!loaded.self_signed, "its address needs no pin");
        let missing = Config {
            tls: Some(Tls::Files {
                cert: dir.path().join("none.pem"),
                key,
            }),
            ..Config::default()
        };
        assert!(load(&missing).unwrap_err().to_string().contains("none.pem"));
        assert!(load(&Config::default()).unwrap().is_none());
    }
}
