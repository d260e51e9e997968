//! The HTTP notification transport: NOTIFY (and other) request primitives sent
//! as HTTP requests (TS-0009), answers mapped back to response primitives.

use std::time::Duration;

use serde_json::Value;
use urbis_core::registry::BoxFuture;
use urbis_core::Transport;
use urbis_model::{CseError, CseResult, Operation, Request, Response, Rsc};

pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    pub fn new(timeout: Duration) -> CseResult<HttpTransport> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CseError::internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpTransport { client })
    }
}

impl Transport for HttpTransport {
    fn handles(&self, uri: &str) -> bool {
        uri.starts_with("http://") || uri.starts_with("https://")
    }

    fn send(&self, uri: &str, request: Request) -> BoxFuture<'static, CseResult<Response>> {
        let client = self.client.clone();
        let uri = uri.to_owned();
        Box::pin(async move {
            let method = match request.op {
                Operation::Create | Operation::Notify => reqwest::Method::POST,
                Operation::Retrieve => reqwest::Method::GET,
                Operation::Update => reqwest::Method::PUT,
                Operation::Delete => reqwest::Method::DELETE,
            };
            let mut content_type = "application/json".to_owned();
            if let Some(ty) = request.ty {
                content_type.push_str(&format!(";ty={ty}"));
            }
            let mut builder = client
                .request(method, &uri)
                .header("X-M2M-RI", &request.rqi)
                .header("Accept", "application/json")
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
                builder = builder.body(serde_json::to_vec(pc).unwrap_or_default());
            }
            let unreachable = |e: reqwest::Error| CseError::new(Rsc::TargetNotReachable, format!("{uri}: {e}"));
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
            let body = answer.bytes().await.map_err(unreachable)?;
            let pc = if body.is_empty() { None } else { serde_json::from_slice::<Value>(&body).ok() };
            Ok(Response::new(rsc, pc))
        })
    }
}
