//! `urbis`: run a oneM2M CSE, print its configuration, or benchmark one.

mod credentials;
mod devices;
mod kpi;
mod serve;
mod settings;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// glibc's allocator was a fifth of the server's CPU samples under load
/// (docs/BENCHMARKS.md); mimalloc's thread-local heaps avoid its contention.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "urbis",
    version,
    about = "Urbis: an open-standards (oneM2M) IoT and smart-city data platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the CSE: HTTP, and MQTT, CoAP, WebSocket when asked; SQLite or PostgreSQL store.
    Serve(serve::ServeArgs),
    /// Credentials of originators and enrolment of devices (docs/security.md).
    Credentials(credentials::CredentialsArgs),
    /// U4SSC smart-sustainable-city KPIs (ITU-T Y.4903) from a running Urbis.
    Kpi {
        #[command(subcommand)]
        what: kpi::KpiCommand,
    },
    /// Create simulated data on a running Urbis.
    Simulate {
        #[command(subcommand)]
        what: kpi::SimulateCommand,
    },
    /// Run a device agent: the management client of this device or gateway.
    Agent(devices::AgentArgs),
    /// The device fleet: list, show, update firmware, reboot, watch for alerts.
    Devices {
        #[command(subcommand)]
        what: devices::DevicesCommand,
    },
    /// Print configuration.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the documented default configuration file.
    Default {
        /// With TLS and authentication on, for a public deployment.
        #[arg(long)]
        production: bool,
    },
    /// Print the effective configuration (file + environment).
    Show {
        /// TOML configuration file.
        #[arg(long, env = "URBIS_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Credentials(args) => credentials::run(args),
        Command::Kpi { what } => kpi::run(what),
        Command::Simulate { what } => kpi::simulate(what),
        Command::Agent(args) => devices::run_agent(args),
        Command::Devices { what } => devices::run(what),
        Command::Config {
            what: ConfigCommand::Default { production },
        } => {
            match production {
                true => print!("{}", settings::production_file()),
                false => print!("{}", settings::DEFAULT_FILE),
            }
            Ok(())
        }
        Command::Config {
            what: ConfigCommand::Show { config },
        } => {
            let settings = settings::Settings::load(config.as_deref())?;
            print!("{}", toml::to_string_pretty(&settings)?);
            Ok(())
        }
    }
}
