//! A small oneM2M HTTP client (TS-0009) for the KPI engine: discovery,
//! retrieval of a container's instances, creation. The engine only ever talks
//! to the platform through this, like any other oneM2M application.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::fetch::{DataSource, ReadingSpec, Series};
use crate::Error;

/// Results asked for per page; the CSE may cap it at its own discovery limit.
const PAGE: usize = 1000;

pub struct Platform {
    base: String,
    /// CSEBase resource name, the root of every structured path (`cse-in`).
    cse_name: String,
    originator: String,
    client: reqwest::Client,
    next_rqi: AtomicU64,
}

/// A answer with its oneM2M status.
pub struct Answer {
    pub rsc: u16,
    pub body: Value,
}

pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl Platform {
    pub fn new(base: &str, cse_name: &str, originator: &str) -> Result<Platform, Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Platform(e.to_string()))?;
        Ok(Platform {
            base: base.trim_end_matches('/').to_owned(),
            cse_name: cse_name.to_owned(),
            originator: originator.to_owned(),
            client,
            next_rqi: AtomicU64::new(1),
        })
    }

    pub fn cse_name(&self) -> &str {
        &self.cse_name
    }

    /// One request; `path` is CSE-relative (`cse-in/aq1/no2`), `query` already encoded.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        originator: Option<&str>,
        create: Option<(u32, Value)>,
    ) -> Result<Answer, Error> {
        let rqi = format!("kpi{}", self.next_rqi.fetch_add(1, Ordering::Relaxed));
        let mut url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let mut builder = self
            .client
            .request(method, &url)
            .header("X-M2M-Origin", originator.unwrap_or(&self.originator))
            .header("X-M2M-RI", rqi)
            .header("X-M2M-RVI", "3")
            .header("Accept", "application/json");
        if let Some((ty, body)) = create {
            builder = builder
                .header("Content-Type", format!("application/json;ty={ty}"))
                .body(body.to_string());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| Error::Platform(format!("{url}: {e}")))?;
        let rsc = response
            .headers()
            .get("X-M2M-RSC")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let text = response
            .text()
            .await
            .map_err(|e| Error::Platform(format!("{url}: {e}")))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|e| Error::Platform(format!("{url}: answer is not JSON: {e}")))?
        };
        Ok(Answer { rsc, body })
    }

    async fn get_ok(&self, path: &str, query: &str) -> Result<Value, Error> {
        let answer = self
            .send(reqwest::Method::GET, path, query, None, None)
            .await?;
        if answer.rsc != 2000 {
            return Err(Error::Platform(format!(
                "GET {path}?{query}: rsc {} {}",
                answer.rsc,
                answer
                    .body
                    .get("m2m:dbg")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            )));
        }
        Ok(answer.body)
    }

    /// Structured paths of the resources of type `ty` carrying label `lbl`.
    pub async fn discover(&self, lbl: &str, ty: u32) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        loop {
            let query = format!(
                "fu=1&ty={ty}&lbl={}&lim={PAGE}&ofst={}",
                enc(lbl),
                out.len() + 1
            );
            let body = self.get_ok(&self.cse_name, &query).await?;
            let page: Vec<String> = body
                .get("m2m:uril")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let n = page.len();
            out.extend(page);
            // the CSE may cap a page below PAGE, so only an empty page ends the list
            if n == 0 {
                return Ok(out);
            }
        }
    }

    /// Every resource of type `ty` below `path` (conditional retrieval, rcn=4),
    /// as attribute objects, optionally only those with label `lbl`.
    pub async fn children(
        &self,
        path: &str,
        ty: u32,
        root_key: &str,
        lbl: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let mut query = format!("rcn=4&fu=2&ty={ty}&lim={PAGE}&ofst={}", out.len() + 1);
            if let Some(lbl) = lbl {
                query.push_str(&format!("&lbl={}", enc(lbl)));
            }
            let body = self.get_ok(path, &query).await?;
            let page: Vec<Value> = body
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|inner| inner.get(root_key))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = page.len();
            out.extend(page);
            // the CSE may cap a page below PAGE, so only an empty page ends the list
            if n == 0 {
                return Ok(out);
            }
        }
    }

    /// Is there a resource at `path`?
    pub async fn exists(&self, path: &str) -> Result<bool, Error> {
        let answer = self
            .send(reqwest::Method::GET, path, "rcn=1", None, None)
            .await?;
        match answer.rsc {
            2000 => Ok(true),
            4004 => Ok(false),
            rsc => Err(Error::Platform(format!("GET {path}: rsc {rsc}"))),
        }
    }

    /// POST a new resource of type `ty`; the answer's rsc tells what happened.
    async fn post(
        &self,
        parent: &str,
        ty: u32,
        body: Value,
        originator: &str,
    ) -> Result<Answer, Error> {
        self.send(
            reqwest::Method::POST,
            parent,
            "",
            Some(originator),
            Some((ty, body)),
        )
        .await
    }

    /// Create a resource; an existing one with the same name (4105) is fine.
    /// Says whether it was created.
    pub async fn ensure(
        &self,
        parent: &str,
        ty: u32,
        body: Value,
        originator: &str,
    ) -> Result<bool, Error> {
        let answer = self.post(parent, ty, body, originator).await?;
        match answer.rsc {
            2001 => Ok(true),
            4105 => Ok(false),
            _ => Err(refused(parent, ty, &answer)),
        }
    }

    /// Create a resource that must be new.
    pub async fn create(
        &self,
        parent: &str,
        ty: u32,
        body: Value,
        originator: &str,
    ) -> Result<(), Error> {
        let answer = self.post(parent, ty, body, originator).await?;
        if answer.rsc == 2001 {
            Ok(())
        } else {
            Err(refused(parent, ty, &answer))
        }
    }
}

fn refused(parent: &str, ty: u32, answer: &Answer) -> Error {
    Error::Platform(format!(
        "create ty={ty} under {parent}: rsc {} {}",
        answer.rsc,
        answer
            .body
            .get("m2m:dbg")
            .and_then(Value::as_str)
            .unwrap_or("")
    ))
}

/// The platform read over oneM2M like any application: discovery, then
/// each container's instances page by page.
impl DataSource for Platform {
    async fn containers(&self, label: &str) -> Result<Vec<String>, Error> {
        self.discover(label, 3).await
    }

    async fn device_types(&self) -> Result<Vec<String>, Error> {
        let infos = self.children(self.cse_name(), 13, "m2m:dvi", None).await?;
        Ok(infos
            .iter()
            .map(|d| {
                d.get("dty")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            })
            .collect())
    }

    async fn statistic_instances(&self) -> Result<Vec<(String, Value)>, Error> {
        let path = format!("{}/{}", self.cse_name(), crate::publish::STATISTICS_PATH);
        if !self.exists(&path).await? {
            return Ok(Vec::new());
        }
        Ok(self
            .children(&path, 4, "m2m:cin", None)
            .await?
            .into_iter()
            .map(|cin| {
                let rn = cin.get("rn").and_then(Value::as_str).unwrap_or("");
                (
                    format!("{path}/{rn}"),
                    cin.get("con").cloned().unwrap_or(Value::Null),
                )
            })
            .collect())
    }

    async fn series(
        &self,
        containers: &[String],
        spec: &ReadingSpec<'_>,
    ) -> Result<Vec<Series>, Error> {
        let mut out = Vec::with_capacity(containers.len());
        for path in containers {
            let mut series = Series::default();
            for cin in self.children(path, 4, "m2m:cin", None).await? {
                let ct = cin.get("ct").and_then(Value::as_str);
                series.add(cin.get("con").unwrap_or(&Value::Null), ct, spec);
            }
            out.push(series);
        }
        Ok(out)
    }
}
