//! TLS to PostgreSQL: a URL with `sslmode=require` is connected over TLS
//! and the server's certificate is verified — accepted when a CA the relay
//! trusts signed it for the address, refused otherwise (libpq's `require`
//! would take any certificate).

use qafila_relay::storage::Storage;
use qafila_relay::storage::postgres::PgStorage;
use qafila_testkit::postgres::TempPostgres;

/// A CA, and a certificate it signs for 127.0.0.1: (CA PEM, chain PEM,
/// key PEM).
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "qafila test database CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_is_tls_with_the_servers_certificate_verified() {
    let (ca, cert, key) = certificates();
    let server = TempPostgres::start_tls(&cert, &key);
    let url = format!("{}?sslmode=require", server.create_database("relay_tls"));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();

    let storage = PgStorage::connect_with(&url, Some(&ca_file))
        .await
        .expect("a server certified by a trusted CA is taken");
    storage.ready().await.unwrap();

    let refused = PgStorage::connect_with(&url, None).await.unwrap_err();
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "a certificate nobody trusted vouches for is refused: {refused}"
    );
    // Without sslmode=require, as before: no TLS asked, none checked.
    let plain = server.url("relay_tls");
    PgStorage::connect_with(&plain, None)
        .await
        .expect("a plain connection still works")
        .ready()
        .await
        .unwrap();
}
