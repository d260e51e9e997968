//! A small oneM2M HTTP client (TS-0009): the agent and the fleet tools reach
//! the CSE only through it, like any other oneM2M application.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::Value;

use crate::Error;

/// The oneM2M response status codes these tools act on.
pub mod rsc {
    pub const OK: u16 = 2000;
    pub const CREATED: u16 = 2001;
    pub const UPDATED: u16 = 2004;
    pub const CONFLICT: u16 = 4105;
    /// ORIGINATOR_HAS_ALREADY_REGISTERED: an AE registering again.
    pub const ALREADY_REGISTERED: u16 = 4117;
}

#[derive(Clone)]
pub struct Client {
    base: String,
    originator: String,
    http: reqwest::Client,
    next_rqi: std::sync::Arc<AtomicU64>,
}

/// An answer: its oneM2M status and content.
#[derive(Debug)]
pub struct Answer {
    pub rsc: u16,
    pub body: Value,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (2000..3000).contains(&self.rsc)
    }

    /// The answer, or an error naming what was asked.
    pub fn expect(self, what: &str) -> Result<Answer, Error> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(Error::Refused {
                what: what.to_owned(),
                rsc: self.rsc,
                message: self.debug_message(),
            })
        }
    }

    fn debug_message(&self) -> String {
        self.body
            .get("m2m:dbg")
            .and_then(Value::as_str)
            .map_or_else(|| self.body.to_string(), str::to_owned)
    }
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl Client {
    /// `base` is the CSE's HTTP address (`http://127.0.0.1:8080`); requests
    /// go out from `originator`.
    pub fn new(base: &str, originator: &str) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            originator: originator.to_owned(),
            http,
            next_rqi: std::sync::Arc::new(AtomicU64::new(1)),
        })
    }

    /// The same CSE, from another originator.
    pub fn as_originator(&self, originator: &str) -> Client {
        Client {
            originator: originator.to_owned(),
            ..self.clone()
        }
    }

    pub fn originator(&self) -> &str {
        &self.originator
    }

    /// One request; `path` is CSE-relative (`cse-in/meter1`) and may carry
    /// an encoded query.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        ty: Option<u32>,
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let rqi = format!(
            "{}-{}",
            self.originator,
            self.next_rqi.fetch_add(1, Ordering::Relaxed)
        );
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let content_type = match ty {
            Some(ty) => format!("application/json;ty={ty}"),
            None => "application/json".to_owned(),
        };
        let mut builder = self
            .http
            .request(method, &url)
            .header("X-M2M-Origin", &self.originator)
            .header("X-M2M-RI", rqi)
            .header("X-M2M-RVI", "4")
            .header("Accept", "application/json")
            .header("Content-Type", content_type);
        if let Some(body) = body {
            builder = builder.body(body.to_string());
        }
        let answer = builder
            .send()
            .await
            .map_err(|e| Error::Http(format!("{url}: {e}")))?;
        let rsc = answer
            .headers()
            .get("x-m2m-rsc")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let text = answer
            .text()
            .await
            .map_err(|e| Error::Http(format!("{url}: {e}")))?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Answer { rsc, body })
    }

    pub async fn retrieve(&self, path: &str) -> Result<Answer, Error> {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn create(&self, parent: &str, ty: u32, body: &Value) -> Result<Answer, Error> {
        self.send(Method::POST, parent, Some(ty), Some(body)).await
    }

    pub async fn update(&self, path: &str, body: &Value) -> Result<Answer, Error> {
        self.send(Method::PUT, path, None, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Answer, Error> {
        self.send(Method::DELETE, path, None, None).await
    }

    /// Discovery: the resource IDs under `path` that match `filters` (an
    /// encoded query such as `ty=14&lbl=...`).
    pub async fn discover(&self, path: &str, filters: &str) -> Result<Vec<String>, Error> {
        let answer = self
            .retrieve(&format!("{path}?fu=1&drt=2&{filters}"))
            .await?
            .expect("discovery")?;
        Ok(answer
            .body
            .get("m2m:uril")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }
}
