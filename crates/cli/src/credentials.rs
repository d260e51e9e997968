//! `urbis credentials`: credentials of originators and enrolments of devices,
//! straight in the store the server uses (the data directory's
//! `credentials.db`, or the PostgreSQL database). It works while the server
//! runs: every request reads its credential afresh, so a revocation counts
//! from the next request on.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use urbis_security::{enrolment, issue};
use urbis_store::credentials::{CredentialStore, PostgresCredentials, SqliteCredentials};

use crate::settings::Settings;

#[derive(Args, Debug)]
pub struct CredentialsArgs {
    /// TOML configuration file (its [store] names where credentials live).
    #[arg(long, env = "URBIS_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded store.
    #[arg(long, env = "URBIS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL database of the server: postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long, env = "URBIS_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: CredentialsCommand,
}

#[derive(Subcommand, Debug)]
pub enum CredentialsCommand {
    /// Add a credential for an originator: a Bearer token (default, printed
    /// once), a password read from stdin (HTTP Basic, user name = originator),
    /// or a client certificate.
    Add {
        /// The originator (AE-ID such as Cmeter1, or CAdmin) it authenticates;
        /// `*` makes a gateway credential that may use any originator.
        #[arg(long)]
        originator: String,
        /// Read a password (HTTP Basic) from the first line of stdin.
        #[arg(long, conflicts_with = "certificate")]
        password_stdin: bool,
        /// Register this PEM client certificate (it must be signed by the
        /// configured tls_client_ca_file).
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// A note for `list`.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List credentials (never their secrets).
    List,
    /// Revoke one credential, or every credential of an originator.
    Revoke {
        #[arg(
            long,
            conflicts_with = "originator",
            required_unless_present = "originator"
        )]
        id: Option<String>,
        #[arg(long)]
        originator: Option<String>,
    },
    /// Pre-register a device and print its one-time enrolment secret.
    Enrol {
        /// Serial number or M2M-Node-ID of the device.
        #[arg(long)]
        device: String,
        /// AE-ID the device receives (default: C followed by the device name).
        #[arg(long)]
        originator: Option<String>,
        /// Validity of the secret in seconds (default [security] enrolment_valid_secs).
        #[arg(long)]
        valid_secs: Option<u64>,
    },
    /// List pre-registered devices and whether they enrolled.
    Enrolments,
}

/// The credential store of the configured store: PostgreSQL, or
/// `credentials.db` in the data directory (in memory with `in_memory`).
pub fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn CredentialStore>> {
    let store = &settings.store;
    Ok(if !store.database_url.is_empty() {
        Arc::new(
            PostgresCredentials::open(&store.database_url).with_context(|| {
                format!(
                    "cannot open the credentials at {}",
                    urbis_store::postgres::describe_url(&store.database_url)
                )
            })?,
        )
    } else if store.in_memory {
        Arc::new(SqliteCredentials::in_memory()?)
    } else {
        Arc::new(
            SqliteCredentials::open(&store.data_dir).with_context(|| {
                format!("cannot open credentials in {}", store.data_dir.display())
            })?,
        )
    })
}

fn time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}

pub fn run(args: CredentialsArgs) -> anyhow::Result<()> {
    let mut settings = Settings::load(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        settings.store.data_dir = dir;
    }
    if let Some(url) = args.database_url {
        settings.store.database_url = url;
    }
    if settings.store.in_memory {
        bail!("the store is in memory: there are no credentials to manage outside the server");
    }
    let store = open_store(&settings)?;
    let store = store.as_ref();
    match args.command {
        CredentialsCommand::Add {
            originator,
            password_stdin,
            certificate,
            label,
        } => {
            if originator == urbis_model::primitive::ANY_ORIGINATOR {
                eprintln!(
                    "WARNING: a gateway credential: its holder may act as ANY originator, \
                     including the admin. Give it only to a gateway you trust."
                );
            }
            if password_stdin {
                let mut password = String::new();
                std::io::stdin().lock().read_line(&mut password)?;
                let password = password.trim_end_matches(['\r', '\n']);
                let credential = issue::password(store, &originator, password, &label)?;
                println!("password credential {} for {originator}", credential.id);
            } else if let Some(path) = certificate {
                let pem =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let credential = issue::certificate(store, &originator, &pem, &label)?;
                println!(
                    "certificate credential {} (SHA-256 fingerprint) for {originator}",
                    credential.id
                );
            } else {
                let (credential, token) = issue::token(store, &originator, &label)?;
                eprintln!(
                    "token credential {} for {originator}; the token (shown only now):",
                    credential.id
                );
                println!("{token}");
            }
        }
        CredentialsCommand::List => {
            for c in store.credentials()? {
                let state = match c.revoked_at {
                    Some(at) => format!("revoked {}", time(at)),
                    None => "active".into(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    c.id,
                    c.kind.name(),
                    c.originator,
                    time(c.created_at),
                    state,
                    c.label
                );
            }
        }
        CredentialsCommand::Revoke { id, originator } => {
            let now = urbis_security::now_secs();
            let revoked = match (id, originator) {
                (Some(id), _) => usize::from(store.revoke_credential(&id, now)?),
                (None, Some(originator)) => store.revoke_originator(&originator, now)?,
                (None, None) => bail!("name --id or --originator"),
            };
            println!("{revoked} credential(s) revoked");
            if revoked == 0 {
                bail!("nothing active matched");
            }
        }
        CredentialsCommand::Enrol {
            device,
            originator,
            valid_secs,
        } => {
            let valid = valid_secs.unwrap_or(settings.security.enrolment_valid_secs);
            let issued = enrolment::pre_register(
                store,
                &device,
                originator.as_deref(),
                Duration::from_secs(valid),
            )?;
            eprintln!(
                "device {} will enrol as {} until {}; its one-time secret (shown only now):",
                issued.device,
                issued.originator,
                time(issued.expires_at)
            );
            println!("{}", issued.secret);
        }
        CredentialsCommand::Enrolments => {
            for e in store.enrolments()? {
                let state = match (e.redeemed_at, &e.credential_id) {
                    (Some(at), Some(id)) => format!("enrolled {} (credential {id})", time(at)),
                    (Some(at), None) => format!("enrolled {}", time(at)),
                    (None, _) => format!("waiting until {}", time(e.expires_at)),
                };
                println!("{}\t{}\t{}", e.device, e.originator, state);
            }
        }
    }
    Ok(())
}
