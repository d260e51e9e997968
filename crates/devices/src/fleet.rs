//! The fleet client (`urbis devices ...`): what an operator sees of the
//! devices and asks of them, through standard oneM2M requests only.
//!
//! - A device is a `<node>`; its view is the node retrieved with its
//!   mgmtObjs (`rcn=4`): deviceInfo, firmware, battery, memory, eventLog.
//! - Last seen is the newest `lt` of the mgmtObjs the device itself reports
//!   (battery, memory, deviceInfo, eventLog); a device is `online` while it
//!   has been silent for at most twice its expected report interval (the
//!   node label `urbis:reportInterval/<seconds>`, else [`DEFAULT_INTERVAL`]).
//! - Devices are found by M2M-Node-ID, serial number (deviceInfo `dlb`),
//!   AE-ID or any address of the node, and selected by model, manufacturer
//!   or firmware version with discovery filters on the mgmtObjs' attributes;
//!   battery thresholds are compared here, since filter criteria only test
//!   equality.
//! - Firmware updates and reboots write the triggers; the CSE carries them to
//!   the device and the status follows what the device confirms. A group
//!   update goes through a `<group>` of firmware mgmtObjs and its `fopt`.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::client::{enc, Client};
use crate::Error;

/// Expected report interval of a device that declares none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
const INTERVAL_LABEL: &str = "urbis:reportInterval/";

/// One device as the fleet view shows it.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceView {
    pub node_id: String,
    /// The node's resource ID.
    pub node: String,
    pub hosted_aes: Vec<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    /// The last firmware action: `{acn, sus}`.
    pub firmware_status: Option<Value>,
    pub battery_level: Option<u64>,
    pub memory_available: Option<u64>,
    pub memory_total: Option<u64>,
    /// oneM2M timestamp of the device's newest report.
    pub last_seen: Option<String>,
    pub silent_for_secs: Option<u64>,
    pub expected_interval_secs: u64,
    /// `online` or `silent`.
    pub connectivity: &'static str,
    #[serde(skip)]
    pub event_log: Option<String>,
}

/// Which devices to list.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub firmware: Option<String>,
    pub battery_below: Option<u64>,
}

pub struct Fleet {
    client: Client,
    cse_name: String,
}

fn first<'a>(node: &'a Value, key: &str) -> Option<&'a Value> {
    node.get(key)?.as_array()?.first()
}

fn text(value: Option<&Value>, sn: &str) -> Option<String> {
    value?.get(sn)?.as_str().map(str::to_owned)
}

/// Seconds since the Unix epoch of a oneM2M timestamp (`20261201T160948,17`).
fn epoch_secs(ts: &str) -> Option<i64> {
    let whole = ts.split(',').next()?;
    let civil = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S", whole).ok()?;
    Some(
        civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_second(),
    )
}

impl DeviceView {
    /// The view of a node retrieved with its children (`rcn=4`).
    pub fn from_node(nod: &Value, now: jiff::Timestamp) -> Option<DeviceView> {
        let dvi = first(nod, "m2m:dvi");
        let fwr = first(nod, "m2m:fwr");
        let bat = first(nod, "m2m:bat");
        let mem = first(nod, "m2m:mem");
        let evl = first(nod, "m2m:evl");
        let last_seen = [dvi, bat, mem, evl]
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("lt").and_then(Value::as_str))
            .max()
            .map(str::to_owned);
        let expected_interval_secs = nod
            .get("lbl")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|l| l.strip_prefix(INTERVAL_LABEL)?.parse().ok())
            .unwrap_or(DEFAULT_INTERVAL.as_secs());
        let silent_for_secs = last_seen
            .as_deref()
            .and_then(epoch_secs)
            .map(|seen| u64::try_from(now.as_second() - seen).unwrap_or(0));
        let online = silent_for_secs.is_some_and(|s| s <= 2 * expected_interval_secs);
        Some(DeviceView {
            node_id: nod.get("ni")?.as_str()?.to_owned(),
            node: nod.get("ri")?.as_str()?.to_owned(),
            hosted_aes: nod
                .get("hael")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            manufacturer: text(dvi, "man"),
            model: text(dvi, "mod"),
            serial: text(dvi, "dlb"),
            firmware: text(fwr, "vr").or_else(|| text(dvi, "fwv")),
            firmware_status: fwr.and_then(|f| f.get("uds")).cloned(),
            battery_level: bat.and_then(|b| b.get("btl")).and_then(Value::as_u64),
            memory_available: mem.and_then(|m| m.get("mma")).and_then(Value::as_u64),
            memory_total: mem.and_then(|m| m.get("mmt")).and_then(Value::as_u64),
            last_seen,
            silent_for_secs,
            expected_interval_secs,
            connectivity: if online { "online" } else { "silent" },
            event_log: text(evl, "lgd"),
        })
    }
}

impl Fleet {
    pub fn new(client: Client, cse_name: &str) -> Fleet {
        Fleet {
            client,
            cse_name: cse_name.to_owned(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Node resource IDs of the devices whose mgmtObj of type `mgd` has
    /// `sn` equal to `value` (the parent of each match).
    async fn nodes_with(&self, mgd: u64, sn: &str, value: &str) -> Result<Vec<String>, Error> {
        let filters = format!("ty=13&mgd={mgd}&{sn}={}", enc(value));
        let mut nodes = Vec::new();
        for ri in self.client.discover(&self.cse_name, &filters).await? {
            let answer = self.client.retrieve(&ri).await?.expect("mgmtObj")?;
            if let Some(pi) = answer
                .body
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|m| m.get("pi"))
                .and_then(Value::as_str)
            {
                nodes.push(pi.to_owned());
            }
        }
        Ok(nodes)
    }

    /// Retrieve one node with its mgmtObjs.
    pub async fn view(&self, node: &str) -> Result<DeviceView, Error> {
        let answer = self
            .client
            .retrieve(&format!("{node}?rcn=4"))
            .await?
            .expect("device")?;
        answer
            .body
            .get("m2m:nod")
            .and_then(|nod| DeviceView::from_node(nod, jiff::Timestamp::now()))
            .ok_or_else(|| Error::Fleet(format!("{node} is not a <node>")))
    }

    /// The devices matching `selection`.
    pub async fn list(&self, selection: &Selection) -> Result<Vec<DeviceView>, Error> {
        let mut nodes: Option<HashSet<String>> = None;
        let mut narrow = |found: Vec<String>| {
            let found: HashSet<String> = found.into_iter().collect();
            nodes = Some(match nodes.take() {
                Some(before) => before.intersection(&found).cloned().collect(),
                None => found,
            });
        };
        if let Some(model) = &selection.model {
            narrow(self.nodes_with(1007, "mod", model).await?);
        }
        if let Some(man) = &selection.manufacturer {
            narrow(self.nodes_with(1007, "man", man).await?);
        }
        if let Some(version) = &selection.firmware {
            narrow(self.nodes_with(1001, "vr", version).await?);
        }
        let nodes: Vec<String> = match nodes {
            Some(nodes) => nodes.into_iter().collect(),
            None => self.client.discover(&self.cse_name, "ty=14").await?,
        };
        let mut views = Vec::new();
        for node in nodes {
            let view = self.view(&node).await?;
            if let Some(threshold) = selection.battery_below {
                if view.battery_level.is_none_or(|level| level >= threshold) {
                    continue;
                }
            }
            views.push(view);
        }
        views.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(views)
    }

    /// The node of a device named by its M2M-Node-ID, serial number, AE-ID,
    /// or any address of the node itself.
    pub async fn find(&self, key: &str) -> Result<String, Error> {
        let by_ni = self
            .client
            .discover(&self.cse_name, &format!("ty=14&ni={}", enc(key)))
            .await?;
        if let Some(node) = by_ni.into_iter().next() {
            return Ok(node);
        }
        let by_serial = self.nodes_with(1007, "dlb", key).await?;
        match by_serial.as_slice() {
            [node] => return Ok(node.clone()),
            [] => {}
            more => {
                return Err(Error::Fleet(format!(
                    "serial number {key} names {} devices: {}",
                    more.len(),
                    more.join(", ")
                )))
            }
        }
        let direct = self.client.retrieve(key).await?;
        if direct.is_success() {
            if let Some(nod) = direct.body.get("m2m:nod") {
                return nod
                    .get("ri")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| Error::Fleet("a node without ri".into()));
            }
            if let Some(nl) = direct.body.pointer("/m2m:ae/nl").and_then(Value::as_str) {
                return Ok(nl.to_owned());
            }
        }
        Err(Error::Fleet(format!(
            "no device with node ID, serial number, AE-ID or address {key}"
        )))
    }

    /// The path of a device's mgmtObj of type `mgd`.
    async fn mgmt_obj(&self, node: &str, mgd: u64) -> Result<String, Error> {
        let found = self
            .client
            .discover(node, &format!("ty=13&mgd={mgd}&lvl=1"))
            .await?;
        found
            .into_iter()
            .next()
            .ok_or_else(|| Error::Fleet(format!("device {node} has no mgmtObj {mgd}")))
    }

    /// Ask one device for a firmware update and wait for its outcome.
    pub async fn update_firmware(
        &self,
        key: &str,
        order: &FirmwareOrder,
        wait: Duration,
    ) -> Result<Outcome, Error> {
        let node = self.find(key).await?;
        let fwr = self.mgmt_obj(&node, 1001).await?;
        self.client
            .update(&fwr, &order.content())
            .await?
            .expect("firmware update")?;
        Ok(self.outcome_of(&fwr, wait).await?.unwrap_or(Outcome {
            member: fwr,
            succeeded: None,
            detail: "still in process".into(),
        }))
    }

    async fn outcome_of(&self, fwr: &str, wait: Duration) -> Result<Option<Outcome>, Error> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let answer = self.client.retrieve(fwr).await?.expect("firmware")?;
            if let Some(outcome) = answer
                .body
                .get("m2m:fwr")
                .and_then(|f| Outcome::of_firmware(fwr, f))
            {
                return Ok(Some(outcome));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Firmware update of many devices at once through a `<group>` of their
    /// firmware mgmtObjs; one outcome per member, failures included.
    pub async fn update_firmware_of_group(
        &self,
        keys: &[String],
        order: &FirmwareOrder,
        wait: Duration,
    ) -> Result<Vec<Outcome>, Error> {
        let mut members = Vec::new();
        for key in keys {
            let node = self.find(key).await?;
            members.push(self.mgmt_obj(&node, 1001).await?);
        }
        let rn = format!("fw-{}", jiff::Timestamp::now().as_millisecond());
        let group =
            json!({"m2m:grp": {"rn": rn, "mt": 13, "mnm": members.len().max(1), "mid": members}});
        self.client
            .create(&self.cse_name, 9, &group)
            .await?
            .expect("group")?;
        let fopt = format!("{}/{rn}/fopt", self.cse_name);
        self.client
            .update(&fopt, &order.content())
            .await?
            .expect("group firmware update")?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let answer = self.client.retrieve(&fopt).await?.expect("group")?;
            let outcomes: Vec<Option<Outcome>> = answer
                .body
                .pointer("/m2m:agr/m2m:rsp")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|rsp| {
                    let fwr = rsp.pointer("/pc/m2m:fwr")?;
                    let ri = fwr.get("ri").and_then(Value::as_str).unwrap_or("?");
                    Outcome::of_firmware(ri, fwr)
                })
                .collect();
            let done = outcomes.iter().all(Option::is_some);
            if done || tokio::time::Instant::now() >= deadline {
                let _ = self.client.delete(&format!("{}/{rn}", self.cse_name)).await;
                return Ok(outcomes
                    .into_iter()
                    .zip(answer_members(&answer.body))
                    .map(|(outcome, member)| {
                        outcome.unwrap_or(Outcome {
                            member,
                            succeeded: None,
                            detail: "still in process".into(),
                        })
                    })
                    .collect());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Ask a device to reboot (or reset to factory settings) and wait until
    /// it is back: its event log shows a boot newer than the request.
    /// Reboot has no status attribute (TS-0001 Annex D), so the device
    /// coming back is the confirmation.
    pub async fn reboot(
        &self,
        key: &str,
        factory_reset: bool,
        wait: Duration,
    ) -> Result<String, Error> {
        let node = self.find(key).await?;
        let rbo = self.mgmt_obj(&node, 1009).await?;
        let boots_before = self.view(&node).await?.boots();
        let trigger = if factory_reset { "far" } else { "rbo" };
        self.client
            .update(&rbo, &json!({"m2m:rbo": { trigger: true }}))
            .await?
            .expect("reboot")?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let view = self.view(&node).await?;
            if let Some(line) = view.last_boot().filter(|_| view.boots() != boots_before) {
                return Ok(line);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Fleet(format!(
                    "{node} did not come back within {} s",
                    wait.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl DeviceView {
    /// Boot lines in the device's event log (the agent writes `boot N: ...`).
    fn boots(&self) -> usize {
        self.event_log.as_deref().map_or(0, |log| {
            log.lines().filter(|l| l.contains(" boot ")).count()
        })
    }

    fn last_boot(&self) -> Option<String> {
        self.event_log
            .as_deref()?
            .lines()
            .rev()
            .find(|l| l.contains(" boot "))
            .map(str::to_owned)
    }
}

fn answer_members(body: &Value) -> Vec<String> {
    body.pointer("/m2m:agr/m2m:rsp")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|rsp| {
            rsp.get("fr")
                .or_else(|| rsp.get("to"))
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

/// A firmware update as the operator asks for it.
#[derive(Clone, Debug)]
pub struct FirmwareOrder {
    pub image_url: String,
    pub sha256: String,
    pub version: String,
}

impl FirmwareOrder {
    /// The firmware mgmtObj's `url` carries the image's checksum and
    /// version in its fragment (the agent reads them there).
    pub fn content(&self) -> Value {
        let url = format!(
            "{}#sha256={}&vr={}",
            self.image_url,
            self.sha256.to_ascii_lowercase(),
            self.version
        );
        json!({"m2m:fwr": {"url": url, "fwn": format!("firmware-{}", self.version), "ud": true}})
    }
}

/// The outcome of an action on one device.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub member: String,
    /// `None` while still in process.
    pub succeeded: Option<bool>,
    pub detail: String,
}

impl Outcome {
    fn of_firmware(member: &str, fwr: &Value) -> Option<Outcome> {
        let uds = fwr.get("uds")?;
        let succeeded = match uds.get("sus").and_then(Value::as_u64)? {
            1 => true,
            2 => false,
            _ => return None,
        };
        Some(Outcome {
            member: member.to_owned(),
            succeeded: Some(succeeded),
            detail: format!(
                "{} (firmware {})",
                uds.get("acn").and_then(Value::as_str).unwrap_or(""),
                fwr.get("vr").and_then(Value::as_str).unwrap_or("?")
            ),
        })
    }
}

/// Why a device needs attention.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    Silent,
    BatteryLow,
}

/// Devices to alert about: silent longer than twice their expected
/// interval, or with a battery under `battery_threshold` percent.
pub fn alerts(views: &[DeviceView], battery_threshold: u64) -> Vec<(AlertKind, &DeviceView)> {
    let mut out = Vec::new();
    for view in views {
        if view.connectivity == "silent" {
            out.push((AlertKind::Silent, view));
        }
        if view.battery_level.is_some_and(|b| b < battery_threshold) {
            out.push((AlertKind::BatteryLow, view));
        }
    }
    out
}

/// Watch the fleet and send each new alert once, as a oneM2M NOTIFY to
/// `target` (an HTTP URI), until `rounds` checks are done (0: forever).
pub async fn watch(
    fleet: &Fleet,
    target: &str,
    battery_threshold: u64,
    every: Duration,
    rounds: u64,
) -> Result<(), Error> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::Http(e.to_string()))?;
    let mut raised: HashSet<(AlertKind, String)> = HashSet::new();
    let mut round = 0;
    loop {
        let views = fleet.list(&Selection::default()).await?;
        let current = alerts(&views, battery_threshold);
        let now_raised: HashSet<(AlertKind, String)> = current
            .iter()
            .map(|(k, v)| (k.clone(), v.node_id.clone()))
            .collect();
        for (kind, view) in &current {
            if raised.contains(&(kind.clone(), view.node_id.clone())) {
                continue;
            }
            let body = json!({"m2m:sgn": {"nev": {"rep": {"urbis:alert": {
                "kind": kind, "ni": view.node_id, "node": view.node,
                "lastSeen": view.last_seen, "silentForSecs": view.silent_for_secs,
                "expectedIntervalSecs": view.expected_interval_secs,
                "batteryLevel": view.battery_level,
            }}, "net": 1}}});
            let sent = http
                .post(target)
                .header("X-M2M-Origin", fleet.client().originator())
                .header(
                    "X-M2M-RI",
                    format!("alert-{}", jiff::Timestamp::now().as_millisecond()),
                )
                .header("X-M2M-RVI", "4")
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            if let Err(err) = sent {
                tracing::warn!(%target, %err, "alert not delivered");
            }
        }
        raised = now_raised;
        round += 1;
        if rounds != 0 && round >= rounds {
            return Ok(());
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_connectivity() {
        assert_eq!(epoch_secs("19700101T000100,5"), Some(60));
        let nod = json!({"ni": "n1", "ri": "nod1", "lbl": ["urbis:reportInterval/10"],
            "m2m:bat": [{"btl": 15, "lt": "19700101T000100"}],
            "m2m:fwr": [{"vr": "2", "uds": {"acn": "ud", "sus": 1}, "lt": "19700101T000500"}]});
        let now = jiff::Timestamp::from_second(60 + 20).unwrap();
        let view = DeviceView::from_node(&nod, now).unwrap();
        assert_eq!(
            view.last_seen.as_deref(),
            Some("19700101T000100"),
            "firmware lt is the operator's"
        );
        assert_eq!(view.connectivity, "online");
        let later = jiff::Timestamp::from_second(60 + 21).unwrap();
        assert_eq!(
            DeviceView::from_node(&nod, later).unwrap().connectivity,
            "silent"
        );
        let kinds: Vec<AlertKind> = alerts(&[view], 20).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, vec![AlertKind::BatteryLow]);
    }
}
