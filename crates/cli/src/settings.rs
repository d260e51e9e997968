//! Settings: built-in defaults, then the TOML file, then `URBIS_<SECTION>_<KEY>`
//! environment variables, then command-line flags. Validated before start.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use urbis_coap::CoapOptions;
use urbis_core::CseConfig;
use urbis_http::HttpOptions;
use urbis_mqtt::MqttOptions;
use urbis_ws::WsOptions;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub cse: CseConfig,
    pub http: HttpOptions,
    pub mqtt: MqttOptions,
    pub coap: CoapOptions,
    pub ws: WsOptions,
    pub store: StoreSettings,
    pub security: SecuritySettings,
    pub log: LogSettings,
}

/// Who may talk to the CSE (docs/security.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// Every HTTP and WebSocket request must authenticate.
    pub authentication: bool,
    /// Listen beyond loopback without authentication (logged loudly).
    pub insecure_public: bool,
    /// With authentication, take MQTT originators as the broker checked them.
    pub trust_mqtt_originators: bool,
    /// Lifetime of enrolment secrets, in seconds.
    pub enrolment_valid_secs: u64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            authentication: false,
            insecure_public: false,
            trust_mqtt_originators: false,
            enrolment_valid_secs: 24 * 3600,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    /// Keep everything in memory; nothing survives a restart.
    pub in_memory: bool,
    /// A PostgreSQL database (`postgres://user:password@host:port/db`) instead
    /// of the embedded store; empty = the embedded store.
    pub database_url: String,
    /// PostgreSQL: reader connections (each on a thread of its own).
    pub pool_size: u32,
    /// PostgreSQL: this node is the database's only user; keeps the
    /// write-through cache and refuses other nodes. Off: any number of
    /// nodes may share the database and act as one CSE.
    pub single_node: bool,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            data_dir: PathBuf::from("./urbis-data"),
            in_memory: false,
            database_url: String::new(),
            pool_size: 4,
            single_node: false,
        }
    }
}

impl StoreSettings {
    fn validate(&self) -> anyhow::Result<()> {
        if self.database_url.is_empty() {
            return Ok(());
        }
        if !(self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            bail!("store.database_url must be a postgres:// URL (or empty for the embedded store)");
        }
        if self.in_memory {
            bail!("store.in_memory and store.database_url exclude each other");
        }
        if !(1..=256).contains(&self.pool_size) {
            bail!(
                "store.pool_size must be between 1 and 256, got {}",
                self.pool_size
            );
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// tracing filter, e.g. `info` or `urbis_core=debug,info`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".into(),
        }
    }
}

/// The documented default configuration file (`urbis config default`).
pub const DEFAULT_FILE: &str = include_str!("../urbis.default.toml");

/// Keys `urbis config default --production` changes in the default file:
/// public addresses, TLS on HTTP and WebSocket, authentication.
const PRODUCTION_CHANGES: &[(&str, &str)] = &[
    ("addr = \"127.0.0.1:8080\"", "addr = \"0.0.0.0:8443\""),
    ("addr = \"127.0.0.1:8180\"", "addr = \"0.0.0.0:8180\""),
    (
        "tls_cert_file = \"\"",
        "tls_cert_file = \"/etc/urbis/tls/cert.pem\"",
    ),
    (
        "tls_key_file = \"\"",
        "tls_key_file = \"/etc/urbis/tls/key.pem\"",
    ),
    ("authentication = false", "authentication = true"),
    (
        "data_dir = \"./urbis-data\"",
        "data_dir = \"/var/lib/urbis\"",
    ),
];

/// The default file with TLS and authentication on, for a public deployment
/// (`urbis config default --production`).
pub fn production_file() -> String {
    let mut text = format!(
        "# Production: HTTPS and wss with the certificate below, every request\n\
         # authenticated. Create credentials with `urbis credentials` (docs/security.md).\n{DEFAULT_FILE}"
    );
    for (default, production) in PRODUCTION_CHANGES {
        text = text.replace(default, production);
    }
    text
}

fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback())
}

impl Settings {
    /// Defaults, overlaid by the file (if any), then by the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut table =
            toml::Table::try_from(Settings::default()).context("serializing defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let from_file: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            merge(&mut table, from_file);
        }
        apply_environment(&mut table, std::env::vars())?;
        let settings: Settings = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration (unknown key or wrong type?)")?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if let Err(why) = self.cse.validate() {
            bail!("invalid [cse] settings: {why}");
        }
        if self.mqtt.enabled {
            urbis_mqtt::parse_url(&self.mqtt.url)
                .map_err(|e| anyhow::anyhow!("invalid [mqtt] settings: {e}"))?;
        }
        self.store.validate()?;
        if self.coap.enabled && self.coap.addr.parse::<std::net::SocketAddr>().is_err() {
            bail!(
                "coap.addr must be HOST:PORT with an IP address, got {:?}",
                self.coap.addr
            );
        }
        if self.ws.enabled && self.ws.addr.parse::<std::net::SocketAddr>().is_err() {
            bail!(
                "ws.addr must be HOST:PORT with an IP address, got {:?}",
                self.ws.addr
            );
        }
        if self.http.addr.parse::<std::net::SocketAddr>().is_err() {
            bail!(
                "http.addr must be HOST:PORT with an IP address, got {:?}",
                self.http.addr
            );
        }
        self.validate_security()
    }

    /// Addresses this CSE listens on beyond loopback.
    pub fn public_addresses(&self) -> Vec<&str> {
        let mut listening = vec![self.http.addr.as_str()];
        if self.ws.enabled {
            listening.push(&self.ws.addr);
        }
        if self.coap.enabled {
            listening.push(&self.coap.addr);
        }
        listening.retain(|addr| !is_loopback(addr));
        listening
    }

    fn validate_security(&self) -> anyhow::Result<()> {
        let security = &self.security;
        let public = self.public_addresses();
        if !public.is_empty() && !security.authentication && !security.insecure_public {
            bail!(
                "refusing to listen on {} without authentication: anyone could act as any \
                 originator. Turn on [security] authentication (see `urbis config default \
                 --production`), listen on 127.0.0.1, or, on a network you trust, set \
                 [security] insecure_public (--insecure-public)",
                public.join(", ")
            );
        }
        if security.authentication {
            if self.coap.enabled {
                bail!(
                    "[security] authentication is on, but CoAP cannot authenticate (no DTLS yet, \
                     see docs/security.md): disable [coap]"
                );
            }
            if self.mqtt.enabled && !security.trust_mqtt_originators {
                bail!(
                    "[security] authentication is on, but MQTT requests carry no credential the \
                     CSE can check: let the broker pin originators to its users (ACL) and set \
                     [security] trust_mqtt_originators, or disable [mqtt]"
                );
            }
        }
        for (name, files) in [("http", self.http.tls_files()), ("ws", self.ws.tls_files())] {
            let configured = [&files.cert_file, &files.key_file, &files.client_ca_file];
            if files.cert_file.is_empty() && configured.iter().any(|f| !f.is_empty()) {
                bail!("[{name}] tls_key_file and tls_client_ca_file need tls_cert_file");
            }
            if !files.cert_file.is_empty() && files.key_file.is_empty() {
                bail!("[{name}] tls_cert_file needs tls_key_file");
            }
        }
        Ok(())
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => merge(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// `URBIS_HTTP_ADDR=0.0.0.0:8080` sets `[http] addr`. A value is read as TOML
/// (numbers, booleans, arrays) and falls back to a plain string.
fn apply_environment(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("URBIS_") else {
            continue;
        };
        let rest = rest.to_ascii_lowercase();
        let mut matched = false;
        for (section, value) in table.iter_mut() {
            let Some(key) = rest.strip_prefix(&format!("{section}_")) else {
                continue;
            };
            let toml::Value::Table(inner) = value else {
                continue;
            };
            if let Some(existing) = inner.get(key) {
                let parsed = parse_env_value(&raw, existing)
                    .with_context(|| format!("environment variable {name} has an invalid value"))?;
                inner.insert(key.to_owned(), parsed);
                matched = true;
            }
        }
        if !matched && !KNOWN_FLAG_VARIABLES.contains(&name.as_str()) {
            tracing::warn!(variable = %name, "unknown URBIS_ environment variable ignored");
        }
    }
    Ok(())
}

/// Variables read by command-line flags rather than by the settings table.
const KNOWN_FLAG_VARIABLES: &[&str] = &[
    "URBIS_CONFIG",
    "URBIS_IN_MEMORY",
    "URBIS_DATA_DIR",
    "URBIS_DATABASE_URL",
    "URBIS_HTTP_ADDR",
];

fn parse_env_value(raw: &str, existing: &toml::Value) -> anyhow::Result<toml::Value> {
    Ok(match existing {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse()?),
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(matches!(raw.trim(), "1" | "true" | "yes" | "on"))
        }
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(|s| toml::Value::String(s.trim().to_owned()))
                .collect(),
        ),
        _ => toml::from_str::<toml::Table>(&format!("v = {raw}"))?
            .remove("v")
            .unwrap_or(toml::Value::String(raw.into())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_matches_defaults() {
        let parsed: Settings = toml::from_str(DEFAULT_FILE).expect("default file parses");
        let defaults = Settings::default();
        assert_eq!(
            toml::to_string(&parsed).unwrap(),
            toml::to_string(&defaults).unwrap()
        );
    }

    #[test]
    fn environment_overrides() {
        let mut table = toml::Table::try_from(Settings::default()).unwrap();
        let vars = vec![
            ("URBIS_HTTP_ADDR".to_owned(), "0.0.0.0:9000".to_owned()),
            ("URBIS_CSE_MAX_EXPIRATION_SECS".to_owned(), "60".to_owned()),
            ("URBIS_HTTP_UPPER_TESTER".to_owned(), "true".to_owned()),
            ("URBIS_CSE_RELEASE_VERSIONS".to_owned(), "3,4".to_owned()),
        ];
        apply_environment(&mut table, vars.into_iter()).unwrap();
        let settings: Settings = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(settings.http.addr, "0.0.0.0:9000");
        assert_eq!(settings.cse.max_expiration_secs, 60);
        assert!(settings.http.upper_tester);
        assert_eq!(settings.cse.release_versions, vec!["3", "4"]);
    }

    #[test]
    fn database_url_is_checked() {
        let mut settings = Settings::default();
        settings.store.database_url = "postgres://urbis@127.0.0.1/urbis".into();
        settings.validate().unwrap();
        settings.store.in_memory = true;
        assert!(settings.validate().is_err(), "in_memory with a database");
        settings.store.in_memory = false;
        settings.store.pool_size = 0;
        assert!(settings.validate().is_err(), "no readers");
        settings.store.pool_size = 4;
        settings.store.database_url = "mysql://127.0.0.1/urbis".into();
        assert!(settings.validate().is_err(), "not PostgreSQL");
    }

    #[test]
    fn production_file_turns_tls_and_authentication_on() {
        for (default, _) in PRODUCTION_CHANGES {
            assert!(
                DEFAULT_FILE.contains(default),
                "{default} not in the default file"
            );
        }
        let production: Settings = toml::from_str(&production_file()).expect("parses");
        assert!(production.security.authentication);
        assert!(production.http.tls_files().enabled());
        assert_eq!(production.http.tls_key_file, "/etc/urbis/tls/key.pem");
        assert!(production.ws.tls_files().enabled());
        assert!(!production.security.insecure_public);
        assert_eq!(production.public_addresses(), ["0.0.0.0:8443"]);
        production.validate().expect("a valid configuration");
    }

    #[test]
    fn public_addresses_need_authentication_or_an_explicit_override() {
        let mut settings = Settings::default();
        settings
            .validate()
            .expect("loopback without authentication");
        settings.http.addr = "0.0.0.0:8080".into();
        let refused = settings.validate().unwrap_err().to_string();
        assert!(
            refused.contains("refusing to listen on 0.0.0.0:8080"),
            "{refused}"
        );
        settings.security.insecure_public = true;
        settings.validate().expect("explicitly insecure");
        settings.security.insecure_public = false;
        settings.security.authentication = true;
        settings.validate().expect("authenticated");
        settings.coap.enabled = true;
        assert!(settings.validate().is_err(), "CoAP cannot authenticate");
        settings.coap.enabled = false;
        settings.mqtt.enabled = true;
        assert!(settings.validate().is_err(), "MQTT not trusted");
        settings.security.trust_mqtt_originators = true;
        settings.validate().expect("MQTT trusted");
        settings.http.tls_key_file = "key.pem".into();
        assert!(settings.validate().is_err(), "key without certificate");
    }

    #[test]
    fn bad_environment_value_is_an_error() {
        let mut table = toml::Table::try_from(Settings::default()).unwrap();
        let vars = vec![(
            "URBIS_CSE_MAX_EXPIRATION_SECS".to_owned(),
            "soon".to_owned(),
        )];
        assert!(apply_environment(&mut table, vars.into_iter()).is_err());
    }
}
