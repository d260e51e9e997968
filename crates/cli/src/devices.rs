//! `urbis agent` and `urbis devices ...`: the device agent and the fleet
//! client (crate `urbis-devices`), oneM2M applications talking to a running
//! Urbis over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use urbis_devices::agent::{self, AgentOptions};
use urbis_devices::client::Client;
use urbis_devices::fleet::{self, DeviceView, FirmwareOrder, Fleet, Selection};

#[derive(Args)]
pub struct AgentArgs {
    /// Base URL of the Urbis HTTP binding.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The device's M2M-Node-ID.
    #[arg(long)]
    node_id: String,
    /// Resource name of the CSEBase.
    #[arg(long, default_value = "cse-in")]
    cse_name: String,
    /// Firmware images and agent state.
    #[arg(long, default_value = "./urbis-agent")]
    state_dir: PathBuf,
    /// Address of the listener the CSE sends management actions to.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The point of access to register, when the CSE reaches the listener
    /// at another address than http://<listen>/mgmt.
    #[arg(long)]
    advertise: Option<String>,
    /// Seconds between status reports.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Originator allowed to create <node> resources; the device's AE
    /// becomes the node's custodian.
    #[arg(long, default_value = "CAdmin")]
    provisioner: String,
    #[arg(long, default_value = "Urbis")]
    manufacturer: String,
    #[arg(long, default_value = "urbis-agent")]
    model: String,
    /// Serial number (deviceInfo deviceLabel); default: the node ID.
    #[arg(long)]
    serial: Option<String>,
    /// Firmware version on first start.
    #[arg(long, default_value = "1.0.0")]
    factory_version: String,
    /// Battery level to report (percent) on a device without a readable battery.
    #[arg(long, default_value_t = 100)]
    battery: u64,
}

#[derive(Args)]
pub struct FleetArgs {
    /// Base URL of the Urbis HTTP binding.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Resource name of the CSEBase.
    #[arg(long, default_value = "cse-in")]
    cse_name: String,
    /// Originator of the operator's requests.
    #[arg(long, default_value = "CAdmin")]
    originator: String,
}

#[derive(Args)]
pub struct FirmwareArgs {
    /// Where the devices download the image.
    #[arg(long)]
    image_url: String,
    /// SHA-256 of the image (hex); devices refuse an image that does not match.
    #[arg(long)]
    sha256: String,
    /// Version the image installs.
    #[arg(long)]
    version: String,
    /// Seconds to wait for the devices' outcomes.
    #[arg(long, default_value_t = 300)]
    wait: u64,
}

#[derive(Subcommand)]
pub enum DevicesCommand {
    /// Devices with last seen, connectivity, battery, memory, firmware.
    List {
        #[command(flatten)]
        fleet: FleetArgs,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        manufacturer: Option<String>,
        /// Firmware version.
        #[arg(long)]
        firmware: Option<String>,
        /// Only devices whose battery is under this level (percent).
        #[arg(long)]
        battery_below: Option<u64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One device in full, found by node ID, serial number, AE-ID or node address.
    Show {
        #[command(flatten)]
        fleet: FleetArgs,
        device: String,
    },
    /// Update the firmware of one device, or of several at once (a group).
    UpdateFirmware {
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        firmware: FirmwareArgs,
        /// Devices (node ID, serial number, AE-ID or node address).
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// Reboot a device (or reset it to factory settings).
    Reboot {
        #[command(flatten)]
        fleet: FleetArgs,
        device: String,
        #[arg(long)]
        factory_reset: bool,
        /// Seconds to wait for the device to come back.
        #[arg(long, default_value_t = 120)]
        wait: u64,
    },
    /// Check the fleet periodically; notify a target of silent devices and low batteries.
    Watch {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Where alerts go (an HTTP URI; a oneM2M NOTIFY each).
        #[arg(long)]
        alert_target: String,
        /// Battery level (percent) under which a device is reported.
        #[arg(long, default_value_t = 20)]
        battery_below: u64,
        /// Seconds between checks.
        #[arg(long, default_value_t = 30)]
        every: u64,
    },
    /// Simulate many devices registering and reporting their battery, to measure the CSE.
    Simulate {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Number of devices.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Seconds between a device's reports.
        #[arg(long, default_value_t = 10)]
        interval: u64,
        /// Seconds of reporting after registration.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Requests in flight at most.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Prefix of the simulated node IDs.
        #[arg(long, default_value = "urn:sim:dev-")]
        prefix: String,
        /// Process ID of the CSE, to report its CPU and memory use.
        #[arg(long)]
        cse_pid: Option<u32>,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}

pub fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    init_logging();
    let mut options = AgentOptions::new(&args.url, &args.node_id, args.state_dir);
    options.cse_name = args.cse_name;
    options.listen = args.listen;
    options.advertise = args.advertise;
    options.report_interval = Duration::from_secs(args.interval.max(1));
    options.provisioner = args.provisioner;
    options.manufacturer = args.manufacturer;
    options.model = args.model;
    options.serial = args.serial.unwrap_or_else(|| args.node_id.clone());
    options.factory_version = args.factory_version;
    options.battery_level = args.battery;
    runtime()?.block_on(agent::run(options, async {
        let _ = tokio::signal::ctrl_c().await;
    }))?;
    Ok(())
}

fn fleet(args: &FleetArgs) -> anyhow::Result<Fleet> {
    Ok(Fleet::new(
        Client::new(&args.url, &args.originator)?,
        &args.cse_name,
    ))
}

fn print_table(views: &[DeviceView]) {
    println!(
        "{:<28} {:<12} {:<10} {:>7} {:>12} {:<8} {:<20}",
        "NODE ID", "MODEL", "FIRMWARE", "BATTERY", "MEM FREE", "STATE", "LAST SEEN"
    );
    for v in views {
        println!(
            "{:<28} {:<12} {:<10} {:>7} {:>12} {:<8} {:<20}",
            v.node_id,
            v.model.as_deref().unwrap_or("-"),
            v.firmware.as_deref().unwrap_or("-"),
            v.battery_level.map_or("-".into(), |b| format!("{b}%")),
            v.memory_available
                .map_or("-".into(), |m| format!("{} MiB", m / (1024 * 1024))),
            v.connectivity,
            v.last_seen.as_deref().unwrap_or("never"),
        );
    }
}

pub fn run(command: DevicesCommand) -> anyhow::Result<()> {
    let rt = runtime()?;
    match command {
        DevicesCommand::List {
            fleet: args,
            model,
            manufacturer,
            firmware,
            battery_below,
            json,
        } => {
            let selection = Selection {
                model,
                manufacturer,
                firmware,
                battery_below,
            };
            let views = rt.block_on(fleet(&args)?.list(&selection))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                print_table(&views);
            }
        }
        DevicesCommand::Show {
            fleet: args,
            device,
        } => {
            let fleet = fleet(&args)?;
            let view = rt.block_on(async {
                let node = fleet.find(&device).await?;
                fleet.view(&node).await
            })?;
            println!("{}", serde_json::to_string_pretty(&view)?);
            if let Some(log) = &view.event_log {
                println!("event log:\n{log}");
            }
        }
        DevicesCommand::UpdateFirmware {
            fleet: args,
            firmware,
            devices,
        } => {
            let fleet = fleet(&args)?;
            let order = FirmwareOrder {
                image_url: firmware.image_url,
                sha256: firmware.sha256,
                version: firmware.version,
            };
            let wait = Duration::from_secs(firmware.wait);
            let outcomes = rt.block_on(async {
                if let [one] = devices.as_slice() {
                    fleet
                        .update_firmware(one, &order, wait)
                        .await
                        .map(|o| vec![o])
                } else {
                    fleet.update_firmware_of_group(&devices, &order, wait).await
                }
            })?;
            let mut failed = 0;
            for outcome in &outcomes {
                let verdict = match outcome.succeeded {
                    Some(true) => "ok",
                    Some(false) => {
                        failed += 1;
                        "FAILED"
                    }
                    None => {
                        failed += 1;
                        "PENDING"
                    }
                };
                println!("{:<8} {} {}", verdict, outcome.member, outcome.detail);
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} devices not updated", outcomes.len());
            }
        }
        DevicesCommand::Reboot {
            fleet: args,
            device,
            factory_reset,
            wait,
        } => {
            let fleet = fleet(&args)?;
            let boot =
                rt.block_on(fleet.reboot(&device, factory_reset, Duration::from_secs(wait)))?;
            println!("{device} is back: {boot}");
        }
        DevicesCommand::Watch {
            fleet: args,
            alert_target,
            battery_below,
            every,
        } => {
            init_logging();
            rt.block_on(fleet::watch(
                &fleet(&args)?,
                &alert_target,
                battery_below,
                Duration::from_secs(every.max(1)),
                0,
            ))?;
        }
        DevicesCommand::Simulate {
            fleet: args,
            count,
            interval,
            duration,
            concurrency,
            prefix,
            cse_pid,
        } => {
            let report = rt.block_on(urbis_devices::simulate::run(
                urbis_devices::simulate::SimulationOptions {
                    url: args.url,
                    cse_name: args.cse_name,
                    provisioner: args.originator,
                    count,
                    interval: Duration::from_secs(interval.max(1)),
                    duration: Duration::from_secs(duration),
                    concurrency,
                    prefix,
                    cse_pid,
                },
            ))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    Ok(())
}
