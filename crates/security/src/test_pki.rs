//! A throw-away PKI for tests (feature `test-pki`): a CA, a server
//! certificate for `localhost` and `127.0.0.1`, and client certificates,
//! written as PEM files into a temporary directory.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

use crate::tls::TlsFiles;

pub struct TestPki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    /// The CA certificate as a PEM file.
    pub ca_file: String,
    pub server: TlsFiles,
    ca: Certificate,
    ca_key: KeyPair,
}

/// A client certificate and its key.
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl ClientCert {
    /// Certificate and key in one PEM (what `reqwest::Identity::from_pem` reads).
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, text).expect("write PEM");
    path.display().to_string()
}

impl TestPki {
    /// A CA and a server certificate; `client_ca`: ask for client certificates.
    pub fn new(client_ca: bool) -> TestPki {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Urbis test CA");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = params.self_signed(&ca_key).expect("CA");
        let ca_pem = ca.pem();
        let ca_file = write(&dir, "ca.pem", &ca_pem);
        let mut params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
        let server = TlsFiles {
            cert_file: write(&dir, "server.pem", &cert.pem()),
            key_file: write(&dir, "server.key", &key.serialize_pem()),
            client_ca_file: if client_ca {
                ca_file.clone()
            } else {
                String::new()
            },
        };
        TestPki {
            dir,
            ca_pem,
            ca_file,
            server,
            ca,
            ca_key,
        }
    }

    /// A client certificate signed by this CA, with `name` as common name.
    pub fn client(&self, name: &str) -> ClientCert {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("client cert");
        ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client certificate from a CA the server does not trust.
    pub fn stranger(name: &str) -> ClientCert {
        TestPki::new(false).client(name)
    }

    /// A rustls client configuration that trusts this CA, with an optional
    /// client certificate.
    pub fn client_config(&self, client: Option<&ClientCert>) -> rustls::ClientConfig {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).expect("CA"))
            .expect("root");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        match client {
            None => builder.with_no_client_auth(),
            Some(client) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(client.der.clone())],
                    PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).expect("key"),
                )
                .expect("client auth"),
        }
    }
}
