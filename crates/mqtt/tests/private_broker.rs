//! The MQTT binding against a Mosquitto broker of the test's own, for what a
//! shared broker cannot show: TLS with username and password (`mqtts://`),
//! and a broker restart that must not lose a request.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use serde_json::{json, Value};
use urbis_core::{Cse, CseConfig};
use urbis_mqtt::MqttOptions;
use urbis_store::sqlite::SqliteStore;

/// The `mosquitto` binary, or a loud note that these tests did not run.
fn mosquitto() -> Option<PathBuf> {
    let found = [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !! mosquitto is not installed: the private-broker MQTT tests (TLS,   !!\n\
             !! broker restart) did NOT run. apt-get install mosquitto (.ci/run). !!\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running broker, stopped (SIGTERM, so it saves its state) on drop.
struct Broker {
    child: Child,
}

impl Broker {
    fn start(binary: &Path, config: &Path, port: u16) -> Broker {
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mosquitto");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Broker { child };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("mosquitto did not listen on {port}");
    }

    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// A CSE served over the broker at `url`.
fn start_cse(url: &str, options: MqttOptions) -> Cse {
    let cse = Cse::open(
        CseConfig::default(),
        Arc::new(SqliteStore::in_memory().unwrap()),
    )
    .unwrap();
    let options = MqttOptions {
        enabled: true,
        url: url.to_owned(),
        ..options
    };
    let serving = cse.clone();
    tokio::spawn(async move { urbis_mqtt::serve(serving, options, std::future::pending()).await });
    cse
}

/// An application on the broker that survives broker restarts.
struct App {
    client: AsyncClient,
    events: EventLoop,
}

impl App {
    async fn connect(options: rumqttc::MqttOptions) -> App {
        let (client, events) = AsyncClient::new(options, 16);
        client
            .subscribe("/oneM2M/resp/Capp/id-in/+", QoS::AtLeastOnce)
            .await
            .unwrap();
        App { client, events }
    }

    /// Publish a request (queued until connected) and wait for its response.
    async fn request(&mut self, primitive: Value, within: Duration) -> Option<Value> {
        self.client
            .publish(
                "/oneM2M/req/Capp/id-in/json",
                QoS::AtLeastOnce,
                false,
                primitive.to_string(),
            )
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.poll()).await {
                Err(_) => return None,
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    return serde_json::from_slice(&p.payload).ok()
                }
                Ok(Ok(_)) => {}
                // the broker is restarting: rumqttc reconnects on the next poll
                Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

fn retrieve_cse_base(rqi: &str) -> Value {
    json!({"op": 2, "to": "cse-in", "fr": "CAdmin", "rqi": rqi, "rvi": "4"})
}

/// A CA and a broker certificate for 127.0.0.1 signed by it, as PEM files.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Urbis test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("broker.pem"),
        dir.join("broker.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, server.pem()).unwrap();
    std::fs::write(&paths.2, server_key.serialize_pem()).unwrap();
    (paths.0, paths.1, paths.2)
}

#[tokio::test]
async fn tls_with_username_and_password() {
    let Some(binary) = mosquitto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let passwords = dir.path().join("passwd");
    // mosquitto 2 reads only hashed password files; mosquitto_passwd hashes
    let passwd_tool = binary.with_file_name("mosquitto_passwd");
    let passwd_tool = if passwd_tool.exists() {
        passwd_tool
    } else {
        PathBuf::from("/usr/bin/mosquitto_passwd")
    };
    let status = Command::new(&passwd_tool)
        .args(["-c", "-b"])
        .arg(&passwords)
        .args(["urbis", "s3cret"])
        .status()
        .expect("mosquitto_passwd");
    assert!(status.success());
    let port = free_port();
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
             allow_anonymous false\npassword_file {}\n",
            ca.display(),
            cert.display(),
            key.display(),
            passwords.display()
        ),
    )
    .unwrap();
    let broker = Broker::start(&binary, &config, port);
    let _cse = start_cse(
        &format!("mqtts://127.0.0.1:{port}"),
        MqttOptions {
            ca_file: ca.display().to_string(),
            username: "urbis".into(),
            password: "s3cret".into(),
            client_id: "urbis-tls".into(),
            ..MqttOptions::default()
        },
    );

    let mut app_options = rumqttc::MqttOptions::new("app-tls", "127.0.0.1", port);
    app_options.set_credentials("urbis", "s3cret");
    let app_tls = urbis_mqtt::tls::client_config(&urbis_mqtt::tls::TlsFiles {
        ca_file: &ca.display().to_string(),
        client_cert_file: "",
        client_key_file: "",
    })
    .unwrap();
    app_options.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(Arc::new(app_tls)),
    ));
    let mut app = App::connect(app_options).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = app
        .request(retrieve_cse_base("tls1"), Duration::from_secs(10))
        .await
        .expect("an answer over TLS");
    assert_eq!(answer["rsc"], json!(2000), "{answer}");
    assert_eq!(answer["pc"]["m2m:cb"]["csi"], json!("/id-in"));
    broker.stop();
}

#[test]
fn tls_settings_that_cannot_work_are_refused() {
    let missing_ca = urbis_mqtt::tls::client_config(&urbis_mqtt::tls::TlsFiles {
        ca_file: "",
        client_cert_file: "",
        client_key_file: "",
    });
    assert!(missing_ca.is_err());
    let unreadable = urbis_mqtt::tls::client_config(&urbis_mqtt::tls::TlsFiles {
        ca_file: "/nonexistent/ca.pem",
        client_cert_file: "",
        client_key_file: "",
    });
    assert!(unreadable.is_err());
}

#[tokio::test]
async fn a_request_sent_during_a_broker_restart_is_answered() {
    let Some(binary) = mosquitto() else { return };
    let dir = tempfile::tempdir().unwrap();
    // mosquitto started as root drops to its own user, which must write here
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let port = free_port();
    let config = dir.path().join("mosquitto.conf");
    // persistence: sessions and queued messages survive the restart
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let broker = Broker::start(&binary, &config, port);
    let url = format!("mqtt://127.0.0.1:{port}");
    let _cse = start_cse(
        &url,
        MqttOptions {
            client_id: "urbis-restart".into(),
            ..MqttOptions::default()
        },
    );
    let mut app_options = rumqttc::MqttOptions::new("app-restart", "127.0.0.1", port);
    app_options.set_clean_session(false);
    let mut app = App::connect(app_options).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = app
        .request(retrieve_cse_base("before"), Duration::from_secs(5))
        .await
        .expect("an answer before the restart");
    assert_eq!(before["rsc"], json!(2000));

    broker.stop();
    // Urbis is now reconnecting with backoff; the broker comes back and the
    // request is published before Urbis is back: the broker must hold it for
    // Urbis's session and Urbis must answer it once reconnected.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _broker = Broker::start(&binary, &config, port);
    let after = app
        .request(retrieve_cse_base("after"), Duration::from_secs(15))
        .await
        .expect("the request sent across the restart is answered");
    assert_eq!(after["rsc"], json!(2000), "{after}");
    assert_eq!(after["rqi"], json!("after"));
}
