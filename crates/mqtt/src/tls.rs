//! TLS to the broker (`mqtts://`): the broker's certificate is checked
//! against a CA file (or the CA certificates the file holds), and a client
//! certificate is presented when one is configured.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::MqttError;

/// Files that configure TLS, all PEM.
pub struct TlsFiles<'a> {
    pub ca_file: &'a str,
    pub client_cert_file: &'a str,
    pub client_key_file: &'a str,
}

/// A rustls client configuration with the ring provider.
pub fn client_config(files: &TlsFiles<'_>) -> Result<rustls::ClientConfig, MqttError> {
    let tls = |what: String| MqttError::Tls(what);
    if files.ca_file.is_empty() {
        return Err(tls(
            "mqtts:// needs mqtt.ca_file (the CA that signed the broker's certificate)".into(),
        ));
    }
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(files.ca_file)
        .map_err(|e| tls(format!("cannot read CA file {}: {e}", files.ca_file)))?;
    for cert in certs {
        let cert = cert.map_err(|e| tls(format!("bad certificate in {}: {e}", files.ca_file)))?;
        roots
            .add(cert)
            .map_err(|e| tls(format!("unusable CA certificate in {}: {e}", files.ca_file)))?;
    }
    if roots.is_empty() {
        return Err(tls(format!("{} holds no certificate", files.ca_file)));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(e.to_string()))?
        .with_root_certificates(roots);
    match (files.client_cert_file, files.client_key_file) {
        ("", "") => Ok(builder.with_no_client_auth()),
        ("", _) | (_, "") => Err(tls(
            "a client certificate needs both mqtt.client_cert_file and mqtt.client_key_file".into(),
        )),
        (cert_file, key_file) => {
            let chain = CertificateDer::pem_file_iter(cert_file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| tls(format!("cannot read {cert_file}: {e}")))?;
            let key = PrivateKeyDer::from_pem_file(key_file)
                .map_err(|e| tls(format!("cannot read {key_file}: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls(format!("client certificate: {e}")))
        }
    }
}
