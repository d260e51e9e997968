//! TLS for the CSE's own listeners (HTTPS, wss), with rustls and the ring
//! provider as for mqtts. A client CA makes client certificates possible,
//! not mandatory: a client without one can still authenticate by password
//! or token. A certificate that is presented must chain to that CA.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::SecurityError;

pub use tokio_rustls::server::TlsStream;
pub use tokio_rustls::TlsAcceptor;

/// The PEM files of one listener; empty paths are not configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first. Empty = no TLS.
    pub cert_file: String,
    pub key_file: String,
    /// CA of client certificates; empty = none are asked for.
    pub client_ca_file: String,
}

impl TlsFiles {
    /// Whether TLS is on: a certificate is configured.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

fn read_certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| SecurityError::Tls(format!("cannot read {what} {path}: {e}")))?;
    if certs.is_empty() {
        return Err(SecurityError::Tls(format!("{path} holds no certificate")));
    }
    Ok(certs)
}

/// A server configuration (HTTP/1.1 by ALPN) from the files.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, SecurityError> {
    let tls = SecurityError::Tls;
    if files.key_file.is_empty() {
        return Err(tls(format!(
            "the certificate {} needs its private key file too",
            files.cert_file
        )));
    }
    let chain = read_certs(&files.cert_file, "certificate file")?;
    let key = PrivateKeyDer::from_pem_file(&files.key_file)
        .map_err(|e| tls(format!("cannot read key file {}: {e}", files.key_file)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(e.to_string()))?;
    let builder = if files.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for cert in read_certs(&files.client_ca_file, "client CA file")? {
            roots.add(cert).map_err(|e| {
                tls(format!(
                    "unusable CA certificate in {}: {e}",
                    files.client_ca_file
                ))
            })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| tls(format!("client CA {}: {e}", files.client_ca_file)))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// An acceptor for `files`.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, SecurityError> {
    server_config(files).map(TlsAcceptor::from)
}

/// The end-entity certificate a client presented (already verified by the
/// handshake against the client CA), if any.
pub fn peer_certificate<IO>(stream: &TlsStream<IO>) -> Option<Vec<u8>> {
    let (_, connection) = stream.get_ref();
    connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.as_ref().to_vec())
}

/// SHA-256 of a certificate in hex: how a client certificate is registered.
/// Accepts DER, or PEM (the first certificate in it).
pub fn fingerprint(cert: &[u8]) -> String {
    let der = CertificateDer::from_pem_slice(cert)
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_else(|_| cert.to_vec());
    crate::secret::hex(&crate::secret::sha256(&der))
}

/// A client configuration for connections this CSE opens (notifications to
/// `https://` targets): the operating system's trusted roots, plus the CA
/// certificates in `extra_ca_file` (PEM) when not empty.
pub fn client_config(extra_ca_file: &str) -> Result<rustls::ClientConfig, SecurityError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if !extra_ca_file.is_empty() {
        for cert in read_certs(extra_ca_file, "CA file")? {
            roots.add(cert).map_err(|e| {
                SecurityError::Tls(format!("unusable CA certificate in {extra_ca_file}: {e}"))
            })?;
        }
    } else if added == 0 {
        tracing::warn!(
            "no trusted root certificates found: https:// notification targets will fail"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SecurityError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
