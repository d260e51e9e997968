//! The HTTP notification transport: NOTIFY (and other) request primitives sent
//! as HTTP requests (TS-0009), answers mapped back to response primitives.

use std::time::Duration;

use serde_json::Value;
use urbis_core::registry::BoxFuture;
use urbis_core::Transport;
use urbis_model::{CseError, CseResult, Operation, Request, Response, Rsc, Serialization};

pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// `https://` targets are checked against the operating system's roots.
    pub fn new(timeout: Duration) -> CseResult<HttpTransport> {
        Self::trusting(timeout, "")
    }

    /// Like [`HttpTransport::new`], also trusting the CA certificates in
    /// `ca_file` (PEM) for `https://` targets.
    pub fn trusting(timeout: Duration, ca_file: &str) -> CseResult<HttpTransport> {
        let tls = urbis_security::tls::client_config(ca_file)
            .map_err(|e| CseError::internal(format!("notification TLS: {e}")))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            // Header names as TS-0009 writes them (X-M2M-Origin); some receivers
            // compare them case-sensitively.
            .http1_title_case_headers()
            .build()
            .map_err(|e| CseError::internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpTransport { client })
    }
}

impl Transport for HttpTransport {
    fn handles(&self, uri: &str) -> bool {
        uri.starts_with("http://") || uri.starts_with("https://")
    }

    fn send(
        &self,
        uri: &str,
        request: Request,
        serialization: Serialization,
    ) -> BoxFuture<'static, CseResult<Response>> {
        let client = self.client.clone();
        let uri = uri.to_owned();
        Box::pin(async move {
            let method = match request.op {
                Operation::Create | Operation::Notify => reqwest::Method::POST,
                Operation::Retrieve => reqwest::Method::GET,
                Operation::Update => reqwest::Method::PUT,
                Operation::Delete => reqwest::Method::DELETE,
            };
            let mut content_type = serialization.media_type().to_owned();
            if let Some(ty) = request.ty {
                content_type.push_str(&format!(";ty={ty}"));
            }
            let mut builder = client
                .request(method, &uri)
                .header("X-M2M-RI", &request.rqi)
                .header("Accept", serialization.media_type())
                .header("Content-Type", content_type);
            if let Some(fr) = &request.fr {
                builder = builder.header("X-M2M-Origin", fr);
            }
            if let Some(rvi) = &request.rvi {
                builder = builder.header("X-M2M-RVI", rvi);
            }
            if let Some(ec) = request.ec {
                builder = builder.header("X-M2M-EC", ec.to_string());
            }
            builder = builder.header("X-M2M-OT", urbis_model::time::now_string());
            if let Some(pc) = &request.pc {
                builder = builder.body(urbis_codec::encode(pc, serialization)?);
            }
            let unreachable =
                |e: reqwest::Error| CseError::new(Rsc::TargetNotReachable, format!("{uri}: {e}"));
            let answer = builder.send().await.map_err(unreachable)?;
            let status = answer.status().as_u16();
            let rsc = answer
                .headers()
                .get("x-m2m-rsc")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u16>().ok())
                .and_then(Rsc::from_code)
                .unwrap_or(match status {
                    200 | 204 => Rsc::Ok,
                    201 => Rsc::Created,
                    400 => Rsc::BadRequest,
                    403 => Rsc::OriginatorHasNoPrivilege,
                    404 => Rsc::NotFound,
                    _ => Rsc::InternalServerError,
                });
            let answer_type = answer
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = answer.bytes().await.map_err(unreachable)?;
            let answered_in = answer_type
                .as_deref()
                .and_then(Serialization::from_name)
                .unwrap_or_default();
            let pc: Option<Value> = if body.is_empty() {
                None
            } else {
                urbis_codec::decode(&body, answered_in).ok()
            };
            Ok(Response::new(rsc, pc))
        })
    }
}
