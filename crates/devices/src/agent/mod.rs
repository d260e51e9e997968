//! The device agent: the management client of one device (or gateway).
//!
//! On every boot it registers the device's AE (with its point of access, a
//! small HTTP listener), its `<node>` and its mgmtObjs (deviceInfo,
//! firmware, battery, memory, reboot, eventLog), then reports battery and
//! memory every interval. Management actions the CSE forwards arrive as
//! UPDATE primitives on the listener: a firmware update is downloaded,
//! checked (SHA-256) and swapped in, then reported in `uds`; a reboot
//! restarts the boot loop, which registers again as a device would.
//!
//! # Layout
//! - [`state`]: firmware version, boot count and event log on disk.
//! - [`firmware`]: image download, verification, atomic swap, rollback.
//! - [`listener`]: the point of access the CSE sends actions to.

pub mod firmware;
pub mod listener;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use std::sync::Mutex;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::client::{rsc, Client};
use crate::Error;
use firmware::{Images, UpdateOrder};
use state::{State, StateFile};

/// What the agent is told on its command line.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// The CSE's HTTP address.
    pub url: String,
    /// The CSEBase name (`cse-in`).
    pub cse_name: String,
    /// The device's M2M-Node-ID (`ni`).
    pub node_id: String,
    /// Where firmware images and the agent's state live.
    pub state_dir: PathBuf,
    /// Address of the listener the CSE sends actions to (port 0: any).
    pub listen: SocketAddr,
    /// The address the CSE reaches the listener at, when not `http://<listen>`.
    pub advertise: Option<String>,
    /// Seconds between status reports.
    pub report_interval: Duration,
    /// Originator that may create `<node>` resources on the CSE (the
    /// device's AE becomes the node's custodian).
    pub provisioner: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    /// Firmware version of a device on its first start.
    pub factory_version: String,
    /// Battery level at start (percent), and how much each report drains,
    /// for devices without a battery the agent can read.
    pub battery_level: u64,
    pub battery_drain: u64,
}

impl AgentOptions {
    pub fn new(url: &str, node_id: &str, state_dir: PathBuf) -> AgentOptions {
        AgentOptions {
            url: url.to_owned(),
            cse_name: "cse-in".into(),
            node_id: node_id.to_owned(),
            state_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            report_interval: Duration::from_secs(10),
            provisioner: "CAdmin".into(),
            manufacturer: "Urbis".into(),
            model: "urbis-agent".into(),
            serial: node_id.to_owned(),
            factory_version: "1.0.0".into(),
            battery_level: 100,
            battery_drain: 0,
        }
    }

    /// The device's name in the resource tree: the node ID with everything
    /// but letters, digits, `-` and `_` replaced.
    pub fn name(&self) -> String {
        device_name(&self.node_id)
    }
}

pub fn device_name(node_id: &str) -> String {
    node_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The resource names the agent uses.
pub mod names {
    pub const DEVICE_INFO: &str = "deviceInfo";
    pub const FIRMWARE: &str = "firmware";
    pub const BATTERY: &str = "battery";
    pub const MEMORY: &str = "memory";
    pub const REBOOT: &str = "reboot";
    pub const EVENT_LOG: &str = "eventLog";

    /// The `<node>` of a device named `name`.
    pub fn node(name: &str) -> String {
        format!("nod-{name}")
    }
    /// The device's AE-ID.
    pub fn ae_id(name: &str) -> String {
        format!("C{name}")
    }
}

/// One running device: shared by the boot loop, the reporter and the listener.
pub(crate) struct Device {
    options: AgentOptions,
    client: Client,
    http: reqwest::Client,
    state_file: StateFile,
    state: Mutex<State>,
    images: Images,
    battery: Mutex<u64>,
    /// Signalled to restart the boot loop (reboot, factory reset).
    reboot: Notify,
    /// The CSE-ID, learned from the CSEBase; forwarded actions must come from it.
    cse_id: Mutex<String>,
}

impl Device {
    fn node_path(&self) -> String {
        format!(
            "{}/{}",
            self.options.cse_name,
            names::node(&self.options.name())
        )
    }

    fn mgmt_obj_path(&self, rn: &str) -> String {
        format!("{}/{rn}", self.node_path())
    }

    fn log(&self, event: &str) -> Result<(), Error> {
        tracing::info!(device = %self.options.node_id, "{event}");
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::State("poisoned".into()))?;
        state.log(event);
        self.state_file.save(&state)
    }

    fn snapshot(&self) -> Result<State, Error> {
        self.state
            .lock()
            .map(|s| s.clone())
            .map_err(|_| Error::State("poisoned".into()))
    }
}

/// Run the agent until `shutdown` completes.
pub async fn run(
    options: AgentOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    std::fs::create_dir_all(&options.state_dir)
        .map_err(|e| Error::State(format!("{}: {e}", options.state_dir.display())))?;
    let state_file = StateFile::new(&options.state_dir);
    let state = state_file.load_or(&options.factory_version)?;
    let images = Images::new(&options.state_dir)?;
    images.ensure_factory(&state.firmware_version)?;
    let name = options.name();
    let device = Arc::new(Device {
        client: Client::new(&options.url, &names::ae_id(&name))?,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Http(e.to_string()))?,
        battery: Mutex::new(options.battery_level),
        options,
        state_file,
        state: Mutex::new(state),
        images,
        reboot: Notify::new(),
        cse_id: Mutex::new(String::new()),
    });
    let shutdown = Arc::new(ShutdownLatch::new(shutdown));
    loop {
        let reason = boot(&device, &shutdown).await?;
        match reason {
            Stop::Shutdown => return Ok(()),
            Stop::Reboot => continue,
        }
    }
}

enum Stop {
    Shutdown,
    Reboot,
}

/// A shutdown future that many boots can wait on.
struct ShutdownLatch {
    notify: Arc<Notify>,
    done: Arc<std::sync::atomic::AtomicBool>,
}

impl ShutdownLatch {
    fn new(shutdown: impl Future<Output = ()> + Send + 'static) -> ShutdownLatch {
        let notify = Arc::new(Notify::new());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (n, d) = (notify.clone(), done.clone());
        tokio::spawn(async move {
            shutdown.await;
            d.store(true, std::sync::atomic::Ordering::SeqCst);
            n.notify_waiters();
        });
        ShutdownLatch { notify, done }
    }

    async fn wait(&self) {
        let notified = self.notify.notified();
        if self.done.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

/// One boot: listen, register, report until shut down or rebooted.
async fn boot(device: &Arc<Device>, shutdown: &ShutdownLatch) -> Result<Stop, Error> {
    let boots = {
        let mut state = device
            .state
            .lock()
            .map_err(|_| Error::State("poisoned".into()))?;
        state.boots += 1;
        state.boots
    };
    let version = device.snapshot()?.firmware_version;
    device.log(&format!("boot {boots}: firmware {version}"))?;

    let listener = TcpListener::bind(device.options.listen)
        .await
        .map_err(|e| Error::Http(format!("cannot listen on {}: {e}", device.options.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Http(e.to_string()))?;
    let poa = device
        .options
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/mgmt"));
    let stop_listening = Arc::new(Notify::new());
    let served = {
        let stop = stop_listening.clone();
        let router = listener::router(device.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await;
        })
    };

    let registered = tokio::select! {
        registered = register(device, &poa) => registered,
        () = shutdown.wait() => Ok(()),
    };
    if let Err(err) = registered {
        stop_listening.notify_one();
        let _ = served.await;
        return Err(err);
    }
    let stop = tokio::select! {
        () = report_periodically(device) => Stop::Shutdown,
        () = device.reboot.notified() => Stop::Reboot,
        () = shutdown.wait() => Stop::Shutdown,
    };
    stop_listening.notify_one();
    let _ = served.await;
    Ok(stop)
}

/// Register (or re-register) the AE, the node and the mgmtObjs.
async fn register(device: &Device, poa: &str) -> Result<(), Error> {
    let options = &device.options;
    let cse = &options.cse_name;
    let name = options.name();
    let ae_id = names::ae_id(&name);
    let provisioner = device.client.as_originator(&options.provisioner);
    let node = json!({"m2m:nod": {
        "rn": names::node(&name),
        "ni": options.node_id,
        "cstn": ae_id,
        "lbl": [format!("urbis:reportInterval/{}", options.report_interval.as_secs())],
    }});
    let answer = provisioner.create(cse, 14, &node).await?;
    if answer.rsc == rsc::CONFLICT {
        // Registered before (a restart): the node must be this device's.
        let existing = provisioner
            .retrieve(&device.node_path())
            .await?
            .expect("the device's node")?;
        if existing.body.pointer("/m2m:nod/ni").and_then(Value::as_str)
            != Some(options.node_id.as_str())
        {
            return Err(Error::Refused {
                what: "node registration".into(),
                rsc: answer.rsc,
                message: answer
                    .body
                    .get("m2m:dbg")
                    .and_then(Value::as_str)
                    .unwrap_or("conflict")
                    .to_owned(),
            });
        }
    } else {
        answer.expect("node registration")?;
    }

    let node_path = device.node_path();
    let ae = json!({"m2m:ae": {
        "rn": name,
        "api": "Nurbis-agent",
        "rr": true,
        "poa": [poa],
        "srv": ["3", "4"],
        "nl": node_path,
    }});
    let answer = device.client.create(cse, 2, &ae).await?;
    if matches!(answer.rsc, rsc::CONFLICT | rsc::ALREADY_REGISTERED) {
        let changes = json!({"m2m:ae": {"poa": [poa], "nl": node_path}});
        device
            .client
            .update(&format!("{cse}/{name}"), &changes)
            .await?
            .expect("AE re-registration")?;
    } else {
        answer.expect("AE registration")?;
    }
    // Forwarded actions must come from the CSE the AE registered with.
    let base = device.client.retrieve(cse).await?.expect("CSEBase")?;
    let cse_id = base
        .body
        .pointer("/m2m:cb/csi")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut known) = device.cse_id.lock() {
        *known = cse_id;
    }

    for (ty_body, path) in mgmt_objs(device)? {
        let answer = device.client.create(&node_path, 13, &ty_body).await?;
        if answer.rsc == rsc::CONFLICT {
            let changes = current_values(&ty_body);
            if let Some(changes) = changes {
                device
                    .client
                    .update(&path, &changes)
                    .await?
                    .expect("mgmtObj update")?;
            }
        } else {
            answer.expect("mgmtObj registration")?;
        }
    }
    Ok(())
}

/// The mgmtObjs a device registers, with the resource path of each.
fn mgmt_objs(device: &Device) -> Result<Vec<(Value, String)>, Error> {
    let options = &device.options;
    let state = device.snapshot()?;
    let (mma, mmt) = memory();
    let battery = battery_level(device);
    let objs = vec![
        (
            names::DEVICE_INFO,
            json!({"m2m:dvi": {"mgd": 1007, "rn": names::DEVICE_INFO,
                "dlb": options.serial, "man": options.manufacturer, "mod": options.model,
                "dty": "urbis-agent", "fwv": state.firmware_version,
                "dvnm": options.node_id, "syst": now()}}),
        ),
        (
            names::FIRMWARE,
            json!({"m2m:fwr": {"mgd": 1001, "rn": names::FIRMWARE,
                "vr": state.firmware_version, "fwn": "firmware", "url": "none:", "ud": false}}),
        ),
        (
            names::BATTERY,
            json!({"m2m:bat": {"mgd": 1006, "rn": names::BATTERY,
                "btl": battery, "bts": battery_status(battery)}}),
        ),
        (
            names::MEMORY,
            json!({"m2m:mem": {"mgd": 1003, "rn": names::MEMORY, "mma": mma, "mmt": mmt}}),
        ),
        (
            names::REBOOT,
            json!({"m2m:rbo": {"mgd": 1009, "rn": names::REBOOT, "rbo": false, "far": false}}),
        ),
        (names::EVENT_LOG, event_log_body(&state, true)),
    ];
    Ok(objs
        .into_iter()
        .map(|(rn, body)| (body, device.mgmt_obj_path(rn)))
        .collect())
}

fn event_log_body(state: &State, create: bool) -> Value {
    let mut evl = json!({"lgt": 1, "lgd": state.events.join("\n"), "lgst": 1});
    if create {
        evl["mgd"] = json!(1010);
        evl["rn"] = json!(names::EVENT_LOG);
    }
    json!({ "m2m:evl": evl })
}

/// On re-registration, what a device reports of an existing mgmtObj: its
/// measured and installed values, never the operator's settings.
fn current_values(body: &Value) -> Option<Value> {
    let (key, attrs) = body.as_object()?.iter().next()?;
    let keep: &[&str] = match key.as_str() {
        "m2m:dvi" => &["fwv", "syst"],
        "m2m:fwr" => &["vr"],
        "m2m:bat" => &["btl", "bts"],
        "m2m:mem" => &["mma", "mmt"],
        "m2m:evl" => &["lgd", "lgst"],
        _ => return None,
    };
    let mut out = serde_json::Map::new();
    for sn in keep {
        if let Some(v) = attrs.get(*sn) {
            out.insert((*sn).to_owned(), v.clone());
        }
    }
    Some(json!({ key.clone(): out }))
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S").to_string()
}

/// Available and total memory in bytes, from the kernel; zero where unknown.
fn memory() -> (u64, u64) {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return (0, 0);
    };
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kb| kb * 1024)
    };
    (field("MemAvailable:"), field("MemTotal:"))
}

fn battery_level(device: &Device) -> u64 {
    device.battery.lock().map_or(0, |b| *b)
}

/// m2m:batteryStatus: 1 normal, 5 low.
fn battery_status(level: u64) -> u64 {
    if level < 20 {
        5
    } else {
        1
    }
}

async fn report_periodically(device: &Arc<Device>) {
    let mut ticker = tokio::time::interval(device.options.report_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // registration just reported everything
    loop {
        ticker.tick().await;
        if let Err(err) = report(device).await {
            tracing::warn!(device = %device.options.node_id, %err, "status report failed");
        }
    }
}

/// One status report: battery and memory.
pub(crate) async fn report(device: &Device) -> Result<(), Error> {
    let level = {
        let mut battery = device
            .battery
            .lock()
            .map_err(|_| Error::State("poisoned".into()))?;
        *battery = battery.saturating_sub(device.options.battery_drain);
        *battery
    };
    let (mma, mmt) = memory();
    device
        .client
        .update(
            &device.mgmt_obj_path(names::BATTERY),
            &json!({"m2m:bat": {"btl": level, "bts": battery_status(level)}}),
        )
        .await?
        .expect("battery report")?;
    device
        .client
        .update(
            &device.mgmt_obj_path(names::MEMORY),
            &json!({"m2m:mem": {"mma": mma, "mmt": mmt}}),
        )
        .await?
        .expect("memory report")?;
    Ok(())
}

/// Carry out a firmware update and report its outcome in `uds`.
pub(crate) async fn update_firmware(device: Arc<Device>, fwr: Value) {
    let url = fwr.get("url").and_then(Value::as_str).unwrap_or_default();
    let fwn = fwr.get("fwn").and_then(Value::as_str).unwrap_or_default();
    let outcome = match UpdateOrder::parse(url, fwn) {
        Ok(order) => {
            let _ = device.log(&format!(
                "firmware update to {} from {} started",
                order.version, order.location
            ));
            match device.images.install(&device.http, &order).await {
                Ok(()) => Ok(order.version),
                Err(err) => Err(err),
            }
        }
        Err(err) => Err(err),
    };
    let path = device.mgmt_obj_path(names::FIRMWARE);
    let report = match &outcome {
        Ok(version) => {
            let saved = device.state.lock().map(|mut s| {
                s.firmware_version = version.clone();
                s.clone()
            });
            if let Ok(state) = saved {
                let _ = device.state_file.save(&state);
            }
            let _ = device.log(&format!("firmware {version} installed"));
            json!({"m2m:fwr": {"vr": version, "uds": {"acn": "ud", "sus": 1}}})
        }
        Err(err) => {
            let version = device
                .snapshot()
                .map(|s| s.firmware_version)
                .unwrap_or_default();
            let _ = device.log(&format!("firmware update failed, kept {version}: {err}"));
            json!({"m2m:fwr": {"uds": {"acn": format!("ud: {err}"), "sus": 2}}})
        }
    };
    let reported = device.client.update(&path, &report).await;
    if let Err(err) = reported.and_then(|a| a.expect("firmware status report")) {
        tracing::warn!(device = %device.options.node_id, %err, "firmware outcome not reported");
    }
    if outcome.is_ok() {
        let version = device
            .snapshot()
            .map(|s| s.firmware_version)
            .unwrap_or_default();
        let _ = device
            .client
            .update(
                &device.mgmt_obj_path(names::DEVICE_INFO),
                &json!({"m2m:dvi": {"fwv": version}}),
            )
            .await;
    }
    report_event_log(&device).await;
}

/// Restart as asked: a reboot keeps everything, a factory reset goes back
/// to the factory firmware and an empty log.
pub(crate) fn restart(device: &Arc<Device>, factory_reset: bool) {
    if factory_reset {
        let version = device.options.factory_version.clone();
        if let Err(err) = device.images.reset(&version) {
            tracing::warn!(%err, "factory reset of the firmware failed");
        }
        if let Ok(mut state) = device.state.lock() {
            state.firmware_version = version;
            state.events.clear();
        }
    }
    let _ = device.log(if factory_reset {
        "factory reset requested"
    } else {
        "reboot requested"
    });
    device.reboot.notify_one();
}

/// Report the event log as it stands.
pub(crate) async fn report_event_log(device: &Device) {
    let Ok(state) = device.snapshot() else {
        return;
    };
    let body = event_log_body(&state, false);
    let reported = device
        .client
        .update(&device.mgmt_obj_path(names::EVENT_LOG), &body)
        .await;
    if let Err(err) = reported.and_then(|a| a.expect("event log report")) {
        tracing::warn!(device = %device.options.node_id, %err, "event log not reported");
    }
}
