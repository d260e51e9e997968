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
    pub log: LogSettings,
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
    fn bad_environment_value_is_an_error() {
        let mut table = toml::Table::try_from(Settings::default()).unwrap();
        let vars = vec![(
            "URBIS_CSE_MAX_EXPIRATION_SECS".to_owned(),
            "soon".to_owned(),
        )];
        assert!(apply_environment(&mut table, vars.into_iter()).is_err());
    }
}
