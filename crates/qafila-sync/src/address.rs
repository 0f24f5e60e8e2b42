//! Relay addresses as devices store them, and the TLS each one gets:
//!
//! - `https://relay.example.org` — a relay with a certificate from a CA,
//!   checked against the system's trusted roots (WebPKI);
//! - `https://192.168.43.1:8443#sha256=<64 hex>` — a site relay's own
//!   certificate, pinned: exactly the certificate with that SHA-256 is
//!   accepted, whatever name or CA it shows; the part after `#` never
//!   leaves the device (it is not sent to the relay);
//! - `http://127.0.0.1:8443` — plain HTTP, to this machine only (loopback:
//!   127.0.0.0/8, `::1`, `localhost`). Plain HTTP to any other machine is
//!   refused before connecting: anyone on the network could read and alter
//!   it.
//!
//! The address, pin included, is what a convoy stores for its relay, what
//! an invite carries, and what [`crate::client::RelayClient`] is made
//! from, so a device that enrolled through a pinned address keeps checking
//! the same certificate on every sync.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::SyncError;

/// A relay's address, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayAddress {
    /// `scheme://host[:port]`, what requests go to.
    pub base: String,
    /// The SHA-256 of the only certificate accepted, for a pinned address.
    pub pin: Option<[u8; 32]>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a pin as typed or printed: hex, any case, with or without colons.
fn parse_pin(text: &str) -> Option<[u8; 32]> {
    let clean: String = text
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if clean.len() != 64 || !clean.is_ascii() {
        return None;
    }
    let mut pin = [0u8; 32];
    for (i, byte) in pin.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&clean[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(pin)
}

/// The host of `scheme://host[:port]...` (brackets of an IPv6 literal
/// removed).
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// Whether `host` names this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        })
}

impl RelayAddress {
    /// Reads an address; refuses plain HTTP to another machine.
    pub fn parse(text: &str) -> Result<RelayAddress, SyncError> {
        let text = text.trim();
        let (before, fragment) = match text.split_once('#') {
            Some((before, fragment)) => (before, Some(fragment)),
            None => (text, None),
        };
        let base = before.trim_end_matches('/').to_owned();
        let (https, rest) = if let Some(rest) = base.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = base.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(SyncError::BadRelayUrl(text.to_owned()));
        };
        let host = host_of(rest);
        if host.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(SyncError::BadRelayUrl(text.to_owned()));
        }
        let pin = match fragment {
            None | Some("") => None,
            Some(fragment) => Some(
                fragment
                    .strip_prefix("sha256=")
                    .and_then(parse_pin)
                    .ok_or_else(|| SyncError::BadRelayUrl(text.to_owned()))?,
            ),
        };
        if !https {
            if pin.is_some() {
                return Err(SyncError::BadRelayUrl(text.to_owned()));
            }
            if !is_loopback(host) {
                return Err(SyncError::InsecureRelay(text.to_owned()));
            }
        }
        Ok(RelayAddress { base, pin })
    }

    /// The address as stored and shown: the base, and `#sha256=…` when
    /// pinned.
    pub fn text(&self) -> String {
        match &self.pin {
            Some(pin) => format!("{}#sha256={}", self.base, hex(pin)),
            None => self.base.clone(),
        }
    }
}

/// Where a pinned verifier leaves the fingerprint of a certificate it
/// refused.
pub(crate) type Refused = Arc<Mutex<Option<String>>>;

/// Accepts exactly the pinned certificate (its handshake signature still
/// checked, so a copy of the certificate without its key is refused), and
/// remembers the fingerprint of any other it was shown.
#[derive(Debug)]
pub(crate) struct PinnedCertificate {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
    /// The fingerprint of a certificate refused, for the error message.
    pub(crate) refused: Refused,
}

impl PinnedCertificate {
    /// The TLS configuration for a pinned relay, and where a refused
    /// certificate's fingerprint is left.
    pub(crate) fn config(pin: [u8; 32]) -> Result<(rustls::ClientConfig, Refused), SyncError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let refused = Arc::new(Mutex::new(None));
        let verifier = PinnedCertificate {
            pin,
            provider: provider.clone(),
            refused: refused.clone(),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SyncError::Protocol(format!("cannot set up TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok((config, refused))
    }
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let shown: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if shown == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(hex(&shown));
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<(&str, bool), &str>) {
        match (RelayAddress::parse(text), expect) {
            (Ok(address), Ok((base, pinned))) => {
                assert_eq!(address.base, base, "{text}");
                assert_eq!(address.pin.is_some(), pinned, "{text}");
                assert_eq!(RelayAddress::parse(&address.text()).unwrap(), address);
            }
            (Err(error), Err(code)) => assert_eq!(error.code(), code, "{text}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn plain_http_is_for_this_machine_only_and_pins_are_for_https() {
        let pin = "ab".repeat(32);
        check(
            "https://relay.example.org/",
            Ok(("https://relay.example.org", false)),
        );
        check(
            &format!("https://192.168.43.1:8443#sha256={pin}"),
            Ok(("https://192.168.43.1:8443", true)),
        );
        check(
            &format!("https://10.0.0.1:8443/#sha256={}", pin.to_uppercase()),
            Ok(("https://10.0.0.1:8443", true)),
        );
        check(
            "http://127.0.0.1:8443",
            Ok(("http://127.0.0.1:8443", false)),
        );
        check("http://127.8.9.10:1", Ok(("http://127.8.9.10:1", false)));
        check(
            "http://localhost:8443/",
            Ok(("http://localhost:8443", false)),
        );
        check("http://[::1]:8443", Ok(("http://[::1]:8443", false)));
        for insecure in [
            "http://192.168.43.1:8443",
            "http://10.0.0.1",
            "http://relay.example.org",
            "http://localhost.example.org:8443",
            "http://127.0.0.1.example.org",
            "http://[::2]:80",
            "http://user@192.0.2.1",
        ] {
            check(insecure, Err("insecure_relay_url"));
        }
        for bad in [
            "relay.example.org",
            "ftp://x",
            "https://",
            "https://x#sha256=abc",
            "https://x#pin=00",
            &format!("http://127.0.0.1#sha256={pin}"),
        ] {
            check(bad, Err("bad_relay_url"));
        }
    }
}
