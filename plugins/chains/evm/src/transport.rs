//! The HTTP transport under the provider: alloy's reqwest transport, less the endpoint's
//! URL in its logs and errors.
//!
//! alloy's own `Http<reqwest::Client>` opens a `debug` span with the full URL around every
//! request (so every `debug` line of alloy, reqwest and hyper inside it repeats it), and
//! wraps reqwest errors that end in `for url (FULL URL)`. Hosted providers put API keys in
//! that URL (`/v2/KEY`, `?apikey=KEY`), so this transport sends the same requests with the
//! URL out of both: its span names the [`redacted`] endpoint, and reqwest errors lose
//! their URL before they are wrapped.

use std::sync::Arc;
use std::task;
use std::time::Duration;

use alloy_json_rpc::{RequestPacket, ResponsePacket};
use alloy_transport::{TransportError, TransportErrorKind, TransportFut, TransportResult};
use alloy_transport_http::reqwest;
use tracing::Instrument;
use url::Url;

use crate::chain::redacted;

/// A JSON-RPC over HTTP transport for one endpoint (a tower service, as alloy's are).
#[derive(Clone, Debug)]
pub(crate) struct HttpTransport {
    client: reqwest::Client,
    url: Url,
    /// The endpoint as logs show it.
    shown: Arc<str>,
}

impl HttpTransport {
    pub(crate) fn new(url: Url) -> Self {
        Self {
            client: reqwest::Client::new(),
            shown: redacted(&url).into(),
            url,
        }
    }

    /// Posts one request (or batch) and reads the answer; every reqwest error loses its URL
    /// before it is wrapped.
    async fn send(self, request: RequestPacket) -> TransportResult<ResponsePacket> {
        let response = self
            .client
            .post(self.url)
            .json(&request)
            .headers(request.headers())
            .send()
            .await
            .map_err(|e| TransportErrorKind::custom(e.without_url()))?;
        let status = response.status();
        // A delay the server asks for (`Retry-After`, in seconds).
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok())
            .map(Duration::from_secs);
        tracing::debug!(%status, "endpoint answered");
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) if !status.is_success() => {
                return Err(TransportErrorKind::http_error_with_retry_after(
                    status.as_u16(),
                    format!("<failed to read response body: {}>", e.without_url()),
                    retry_after,
                ))
            }
            Err(e) => return Err(TransportErrorKind::custom(e.without_url())),
        };
        tracing::trace!(bytes = body.len(), "answer read");
        if !status.is_success() {
            // Some endpoints answer a JSON-RPC error with a non-2xx status: keep it a
            // JSON-RPC error, which the mapping reads (rate limits, reverts, ...).
            if let Some(packet) = serde_json::from_slice::<ResponsePacket>(&body)
                .ok()
                .filter(ResponsePacket::is_error)
            {
                return Ok(packet);
            }
            return Err(TransportErrorKind::http_error_with_retry_after(
                status.as_u16(),
                String::from_utf8_lossy(&body).into_owned(),
                retry_after,
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|e| TransportError::deser_err(e, String::from_utf8_lossy(&body)))
    }
}

impl tower::Service<RequestPacket> for HttpTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        // reqwest's client is always ready.
        task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let this = self.clone();
        let span = tracing::debug_span!("evm_http", endpoint = %this.shown);
        Box::pin(this.send(request).instrument(span.or_current()))
    }
}
