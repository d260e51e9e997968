//! The oneM2M MQTT binding (TS-0010). Urbis is a client of an MQTT broker: it
//! subscribes to the request topics addressed to its CSE-ID, hands each
//! request primitive to the CSE and publishes the response primitive on the
//! matching response topic. It only translates; the CSE decides.
//!
//! # Layout
//! - [`topics`]: topic parsing and formatting (pure).
//! - [`tls`]: TLS to the broker for `mqtts://`.
//! - this file: connection, reconnection with backoff, request handling.

pub mod tls;
pub mod topics;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use urbis_core::registry::BoxFuture;
use urbis_core::{Cse, Transport};
use urbis_model::{CseError, CseResult, Operation, Request, Response, Rsc, Serialization};

use crate::topics::{Channel, RequestTopic};

/// Settings of the MQTT binding.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttOptions {
    /// Connect to the broker at all.
    pub enabled: bool,
    /// Broker address, `mqtt://HOST:PORT` or `mqtts://HOST:PORT` (TLS).
    pub url: String,
    /// MQTT client ID; empty = `C::<CSE-ID>` as TS-0010 suggests.
    pub client_id: String,
    pub username: String,
    pub password: String,
    /// PEM file of the CA that signed the broker's certificate (mqtts).
    pub ca_file: String,
    /// PEM files of a client certificate and its key, when the broker asks for one.
    pub client_cert_file: String,
    pub client_key_file: String,
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
}

impl Default for MqttOptions {
    fn default() -> Self {
        MqttOptions {
            enabled: false,
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
            ca_file: String::new(),
            client_cert_file: String::new(),
            client_key_file: String::new(),
            max_message_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("invalid MQTT URL {0:?}: expected mqtt://HOST:PORT or mqtts://HOST:PORT")]
    Url(String),
    #[error("MQTT TLS: {0}")]
    Tls(String),
}

/// A broker address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

/// `mqtt://host[:port]` (default 1883) or `mqtts://host[:port]` (default 8883).
pub fn parse_broker_url(url: &str) -> Result<BrokerUrl, MqttError> {
    let bad = || MqttError::Url(url.to_owned());
    let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("mqtt://") {
        (rest, false, 1883)
    } else if let Some(rest) = url.strip_prefix("mqtts://") {
        (rest, true, 8883)
    } else {
        return Err(bad());
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
        None => (rest, default_port),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(BrokerUrl {
        host: host.to_owned(),
        port,
        tls,
    })
}

/// `mqtt(s)://host:port` → (host, port).
pub fn parse_url(url: &str) -> Result<(String, u16), MqttError> {
    parse_broker_url(url).map(|b| (b.host, b.port))
}

/// Serve requests from the broker until `shutdown` completes. Connection
/// losses are retried with exponential backoff (up to 5 s); subscriptions are
/// renewed after every reconnect.
pub async fn serve(
    cse: Cse,
    options: MqttOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MqttError> {
    let broker = parse_broker_url(&options.url)?;
    let client_id = if options.client_id.is_empty() {
        format!("C::{}", topics::id_to_topic(&cse.config().cse_id))
    } else {
        options.client_id.clone()
    };
    let mut settings = rumqttc::MqttOptions::new(client_id, broker.host.clone(), broker.port);
    settings.set_keep_alive(Duration::from_secs(30));
    // A persistent session: while Urbis reconnects, the broker keeps the
    // subscriptions and queues QoS 1 requests for it instead of dropping them.
    settings.set_clean_session(false);
    if broker.tls {
        let config = tls::client_config(&tls::TlsFiles {
            ca_file: &options.ca_file,
            client_cert_file: &options.client_cert_file,
            client_key_file: &options.client_key_file,
        })?;
        settings.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(config)),
        ));
    }
    // The client library drops the connection on a packet above its limit;
    // with a persistent session the broker would redeliver that packet after
    // every reconnect. So the library's limit is generous and the configured
    // limit is enforced per message, with an error answer (see `handle`).
    let library_limit = options
        .max_message_bytes
        .saturating_mul(LIBRARY_LIMIT_FACTOR)
        .min(MQTT_MAX_PACKET);
    settings.set_max_packet_size(library_limit, library_limit);
    if !options.username.is_empty() {
        settings.set_credentials(options.username.clone(), options.password.clone());
    }
    let (client, mut events) = AsyncClient::new(settings, 1024);
    // request/response traffic: small messages must not wait for Nagle
    events.network_options.set_tcp_nodelay(true);
    let own = topics::id_to_topic(&cse.config().cse_id);
    let transport = Arc::new(MqttTransport {
        client: client.clone(),
        own: own.clone(),
        pending: Pending::default(),
    });
    cse.add_transport(transport.clone());
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                let _ = client.try_disconnect();
                return Ok(());
            }
            event = events.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = Duration::from_millis(100);
                    let answers = format!("/oneM2M/resp/{own}/+/+");
                    for topic in topics::subscriptions(&cse.config().cse_id).into_iter().chain([answers]) {
                        if let Err(err) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                            tracing::error!(%topic, %err, "cannot subscribe");
                        }
                    }
                    tracing::info!(url = %options.url, "MQTT binding connected");
                }
                Ok(Event::Incoming(Packet::Publish(message))) if message.topic.starts_with("/oneM2M/resp/") => {
                    transport.answer(&message.topic, &message.payload);
                }
                Ok(Event::Incoming(Packet::Publish(message))) => {
                    // at the limit, stop reading from the broker until a request is done
                    let Ok(slot) = in_flight.clone().acquire_owned().await else {
                        return Ok(());
                    };
                    let cse = cse.clone();
                    let client = client.clone();
                    let limit = options.max_message_bytes;
                    tokio::spawn(async move {
                        handle(&cse, &client, &message.topic, &message.payload, limit).await;
                        drop(slot);
                    });
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(%err, retry_in_ms = backoff.as_millis() as u64, "MQTT connection lost");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// One message: topic → primitive → CSE → response on the response topic.
async fn handle(cse: &Cse, client: &AsyncClient, topic: &str, payload: &[u8], limit: usize) {
    let Some(request_topic) = topics::parse_request(topic) else {
        tracing::info!(%topic, "message on an unexpected topic dropped");
        return;
    };
    let decoded = if payload.len() > limit {
        urbis_core::audit::request_too_large("mqtt", None, payload.len(), limit);
        Err(CseError::bad_request(format!(
            "the message has {} bytes; this CSE accepts at most {limit}",
            payload.len()
        )))
    } else {
        decode(&request_topic, payload)
    };
    let response = match decoded {
        Ok(request) => {
            let no_response = request.response_type() == urbis_model::primitive::rtv::NO_RESPONSE;
            let response = cse.handle(request).await;
            if no_response {
                return;
            }
            response
        }
        Err(err) => {
            let mut response = Response::error(&err);
            // answer to the same request identifier when it can be read at all
            // (an oversized message is not parsed for it)
            response.rqi = (payload.len() <= limit)
                .then(|| urbis_codec::decode(payload, request_topic.serialization).ok())
                .flatten()
                .and_then(|v| v.get("rqi").and_then(|r| r.as_str()).map(str::to_owned))
                .unwrap_or_default();
            response
        }
    };
    publish(client, &request_topic, &response).await;
}

fn decode(topic: &RequestTopic, payload: &[u8]) -> Result<urbis_model::Request, CseError> {
    let value = urbis_codec::decode(payload, topic.serialization)?;
    let request = urbis_codec::primitive::request_from_value(&value)?;
    if topic.channel == Channel::Registration
        && !(request.op == Operation::Create && matches!(request.ty, Some(2 | 16)))
    {
        return Err(CseError::bad_request(
            "only AE and remoteCSE registrations go on reg_req",
        ));
    }
    Ok(request)
}

async fn publish(client: &AsyncClient, topic: &RequestTopic, response: &Response) {
    let value = urbis_codec::primitive::response_to_value(response);
    // a bare primitive becomes m2m:rsp in XML (codec), as TS-0010 has it
    match urbis_codec::encode(&value, topic.serialization) {
        Ok(bytes) => {
            let target = topics::response_topic(topic);
            if let Err(err) = client
                .publish(target.clone(), QoS::AtLeastOnce, false, bytes)
                .await
            {
                tracing::warn!(topic = %target, %err, "response not published");
            }
        }
        Err(err) => tracing::warn!(%err, "response not encoded"),
    }
}

/// Requests processed at once; the broker holds the rest (QoS 1).
const MAX_IN_FLIGHT: usize = 256;

/// How much larger than `max_message_bytes` a packet may be before the client
/// library refuses it (and drops the connection).
const LIBRARY_LIMIT_FACTOR: usize = 16;

/// The largest packet MQTT can express (remaining length of 268,435,455).
const MQTT_MAX_PACKET: usize = 268_435_455;

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>>;

/// Requests this CSE sends over the broker (notifications to `mqtt://`
/// points of access): published on `/oneM2M/req/<CSE-ID>/<receiver>/<ser>`,
/// answered on the matching `resp` topic, matched by request identifier.
pub struct MqttTransport {
    client: AsyncClient,
    own: String,
    pending: Pending,
}

/// How long a target may take to answer over the broker.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

impl MqttTransport {
    fn answer(&self, topic: &str, payload: &[u8]) {
        let serialization = topic
            .rsplit('/')
            .next()
            .and_then(Serialization::from_name)
            .unwrap_or_default();
        let parsed = urbis_codec::decode(payload, serialization)
            .and_then(|value| urbis_codec::primitive::response_from_value(&value));
        match parsed {
            Ok(response) => {
                let waiting = self
                    .pending
                    .lock()
                    .ok()
                    .and_then(|mut p| p.remove(&response.rqi));
                if let Some(waiting) = waiting {
                    let _ = waiting.send(response);
                }
            }
            Err(err) => tracing::info!(%topic, %err, "unreadable response dropped"),
        }
    }
}

impl Transport for MqttTransport {
    fn handles(&self, uri: &str) -> bool {
        uri.starts_with("mqtt://") || uri.starts_with("mqtts://")
    }

    fn send(
        &self,
        uri: &str,
        request: Request,
        serialization: Serialization,
    ) -> BoxFuture<'static, CseResult<Response>> {
        let unreachable = |why: String| CseError::new(Rsc::TargetNotReachable, why);
        // the receiver is the entity the request is for, or the URI's path
        let receiver = if !request.to.contains("://") {
            topics::id_to_topic(&request.to)
        } else {
            let path = uri
                .split_once("://")
                .map_or(uri, |(_, rest)| rest)
                .split_once('/')
                .map(|(_, p)| p)
                .unwrap_or_default();
            topics::id_to_topic(path)
        };
        let topic = format!(
            "/oneM2M/req/{}/{receiver}/{}",
            self.own,
            topics::short_name(serialization)
        );
        let client = self.client.clone();
        let pending = self.pending.clone();
        let uri = uri.to_owned();
        Box::pin(async move {
            if receiver.is_empty() {
                return Err(unreachable(format!("{uri} names no receiver")));
            }
            let payload = urbis_codec::encode(
                &urbis_codec::primitive::request_to_value(&request),
                serialization,
            )?;
            let (tx, rx) = oneshot::channel();
            if let Ok(mut waiting) = pending.lock() {
                waiting.insert(request.rqi.clone(), tx);
            }
            if let Err(err) = client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
            {
                forget(&pending, &request.rqi);
                return Err(unreachable(format!("{uri}: {err}")));
            }
            let answer = tokio::time::timeout(ANSWER_TIMEOUT, rx).await;
            forget(&pending, &request.rqi);
            match answer {
                Ok(Ok(response)) => Ok(response),
                _ => Err(unreachable(format!("{uri}: no answer"))),
            }
        })
    }
}

fn forget(pending: &Pending, rqi: &str) {
    if let Ok(mut waiting) = pending.lock() {
        waiting.remove(rqi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(parse_url("mqtt://broker").unwrap(), ("broker".into(), 1883));
        assert!(parse_url("http://x:1").is_err());
        assert!(parse_url("mqtt://x:notaport").is_err());
        assert!(parse_url("mqtt://").is_err());
        assert_eq!(
            parse_broker_url("mqtts://broker").unwrap(),
            BrokerUrl {
                host: "broker".into(),
                port: 8883,
                tls: true
            }
        );
        assert!(!parse_broker_url("mqtt://b:1").unwrap().tls);
    }
}
