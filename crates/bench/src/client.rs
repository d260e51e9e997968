//! A oneM2M HTTP client (TS-0009) on one keep-alive connection per worker.
//!
//! Each worker owns its connection outright (no pool, no lock), so the client
//! costs one hyper request/response per operation and stays far below the
//! server under test. A connection the server closed is reopened on the next
//! request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How every request addresses the CSE under test.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port` to connect to.
    pub authority: String,
    /// Path prefix before the CSE base name (usually empty).
    pub prefix: String,
    /// CSEBase resource name, e.g. `cse-in`.
    pub cse_name: String,
    /// `X-M2M-Origin` of every request.
    pub originator: String,
    /// `X-M2M-RVI` of every request.
    pub rvi: String,
    pub timeout: Duration,
}

impl Target {
    pub fn new(
        url: &str,
        cse_name: &str,
        originator: &str,
        rvi: &str,
        timeout: Duration,
    ) -> anyhow::Result<Target> {
        let uri: http::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// URLs are supported, not {url}");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("{url} has no host"))?;
        let authority = if authority.port().is_some() {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Target {
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            cse_name: cse_name.to_owned(),
            originator: originator.to_owned(),
            rvi: rvi.to_owned(),
            timeout,
        })
    }

    /// The HTTP path of a structured resource name below the CSEBase
    /// (`""` is the CSEBase itself).
    pub fn path(&self, below_cse: &str) -> String {
        if below_cse.is_empty() {
            format!("{}/{}", self.prefix, self.cse_name)
        } else {
            format!("{}/{}/{}", self.prefix, self.cse_name, below_cse)
        }
    }
}

/// One answer: HTTP status, `X-M2M-RSC`, body.
pub struct Answer {
    pub status: StatusCode,
    pub rsc: Option<u16>,
    pub body: Bytes,
}

impl Answer {
    /// Successful as oneM2M sees it (RSC 2xxx).
    pub fn ok(&self) -> bool {
        match self.rsc {
            Some(rsc) => (2000..3000).contains(&rsc),
            None => self.status.is_success(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "HTTP {} rsc {} {}",
            self.status,
            self.rsc.map_or("-".into(), |r| r.to_string()),
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        )
    }
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(0);

/// A worker's connection to the CSE.
pub struct Client {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
    host: HeaderValue,
    origin: HeaderValue,
    rvi: HeaderValue,
}

const ORIGIN: HeaderName = HeaderName::from_static("x-m2m-origin");
const RI: HeaderName = HeaderName::from_static("x-m2m-ri");
const RVI: HeaderName = HeaderName::from_static("x-m2m-rvi");
const RSC: HeaderName = HeaderName::from_static("x-m2m-rsc");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Client {
    pub fn new(target: Arc<Target>) -> anyhow::Result<Client> {
        Ok(Client {
            host: HeaderValue::from_str(&target.authority)?,
            origin: HeaderValue::from_str(&target.originator)
                .context("the originator is not a valid header value")?,
            rvi: HeaderValue::from_str(&target.rvi)?,
            target,
            sender: None,
        })
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.target.authority)
            .await
            .with_context(|| format!("connecting to {}", self.target.authority))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Open the connection now, so that a timed phase does not count the handshake.
    pub async fn open(&mut self) -> anyhow::Result<()> {
        if self.sender.is_none() {
            self.sender = Some(self.connect().await?);
        }
        Ok(())
    }

    /// Send one request primitive: `ty` makes it a CREATE of that type.
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        ty: Option<u32>,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let timeout = self.target.timeout;
        match tokio::time::timeout(timeout, self.send_once(method, path_and_query, ty, body)).await
        {
            Ok(result) => result,
            Err(_) => {
                // the connection may still carry the late answer: start afresh
                self.sender = None;
                bail!("no answer within {timeout:?} for {path_and_query}")
            }
        }
    }

    async fn send_once(
        &mut self,
        method: Method,
        path_and_query: &str,
        ty: Option<u32>,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let mut sender = match self.sender.take() {
            Some(mut sender) => match sender.ready().await {
                Ok(()) => sender,
                Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        let rqi = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
        let mut builder = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(http::header::HOST, self.host.clone())
            .header(ORIGIN, self.origin.clone())
            .header(RI, HeaderValue::from(rqi))
            .header(RVI, self.rvi.clone())
            .header(http::header::ACCEPT, JSON);
        if let Some(ty) = ty {
            builder = builder.header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_str(&format!("application/json;ty={ty}"))?,
            );
        } else if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, JSON);
        }
        let request = builder.body(Full::new(body.unwrap_or_default()))?;
        let response = sender.send_request(request).await.context("request")?;
        let status = response.status();
        let rsc = response
            .headers()
            .get(RSC)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response
            .into_body()
            .collect()
            .await
            .context("response body")?
            .to_bytes();
        self.sender = Some(sender);
        Ok(Answer { status, rsc, body })
    }

    /// CREATE `body` (a JSON resource) of type `ty` below `parent`; fails
    /// unless the CSE answered 2001.
    pub async fn create(
        &mut self,
        parent: &str,
        ty: u32,
        body: &serde_json::Value,
    ) -> anyhow::Result<Answer> {
        let path = self.target.path(parent);
        let answer = self
            .send(
                Method::POST,
                &path,
                Some(ty),
                Some(Bytes::from(body.to_string())),
            )
            .await?;
        if answer.rsc != Some(2001) && !(answer.rsc.is_none() && answer.status.as_u16() == 201) {
            bail!("CREATE ty={ty} at {path} failed: {}", answer.describe());
        }
        Ok(answer)
    }

    pub async fn delete(&mut self, resource: &str) -> anyhow::Result<Answer> {
        let path = self.target.path(resource);
        self.send(Method::DELETE, &path, None, None).await
    }
}
