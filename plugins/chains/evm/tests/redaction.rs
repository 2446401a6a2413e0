//! Endpoint URLs of hosted providers carry API keys in their path or query
//! (`https://host/v2/KEY`, `?apikey=KEY`): no error and no log line may show them.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use manyfold_chain::{BlockTag, ChainReader};
use manyfold_chain_evm::{EvmChain, EvmConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Everything the subscriber writes, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A subscriber for this test's thread (the test runtime is current-thread) that keeps
/// every event, down to `trace`, alloy's and reqwest's included.
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

const SECRETS: [&str; 2] = ["SECRETKEY", "SECRET2"];

fn assert_hidden(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

fn config(name: &str, base: &str) -> EvmConfig {
    let url = url::Url::parse(&format!("{base}/v2/SECRETKEY?apikey=SECRET2")).unwrap();
    let mut config = EvmConfig::new(name, url);
    config.max_retries = 1;
    config.retry_backoff = Duration::from_millis(1);
    config.request_timeout = Duration::from_millis(500);
    config
}

#[tokio::test]
async fn an_unreachable_endpoint_does_not_show_its_credentials() {
    let (logs, _guard) = capture();
    // Port 1 on loopback: connection refused.
    let err = EvmChain::connect(config("keyed", "http://127.0.0.1:1"))
        .await
        .unwrap_err();
    assert_hidden("the error", &err.to_string());
    assert_hidden("the error's Debug", &format!("{err:?}"));
    assert!(
        err.to_string().contains("http://127.0.0.1:1"),
        "the endpoint is still named, redacted: {err}"
    );
    let logs = logs.text();
    assert!(logs.contains("chain endpoint is down"), "{logs}");
    assert_hidden("the log", &logs);
}

/// An endpoint that answers `eth_chainId` (with 1) and every other request with HTTP 401
/// and a body that echoes the request line, as some providers do for a bad key.
async fn echoing_endpoint(chain_id_ok: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let line = request.lines().next().unwrap_or_default().to_owned();
                let (status, body) = if chain_id_ok && request.contains("eth_chainId") {
                    let id = request
                        .split("\"id\":")
                        .nth(1)
                        .and_then(|rest| rest.split([',', '}']).next())
                        .unwrap_or("0")
                        .to_owned();
                    (
                        "200 OK",
                        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x1"}}"#),
                    )
                } else {
                    ("401 Unauthorized", format!("invalid api key in {line}"))
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn an_endpoint_echoing_the_url_does_not_show_its_credentials() {
    let (logs, _guard) = capture();
    let base = echoing_endpoint(false).await;
    let err = EvmChain::connect(config("echoed", &base))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_hidden("the error", &err.to_string());
    assert_hidden("the error's Debug", &format!("{err:?}"));
    assert_hidden("the log", &logs.text());
}

#[tokio::test]
async fn a_failed_read_does_not_show_the_credentials() {
    let (logs, _guard) = capture();
    let base = echoing_endpoint(true).await;
    let chain = EvmChain::connect(config("reader", &base)).await.unwrap();
    let err = chain.head(BlockTag::Latest).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_hidden("the error", &err.to_string());
    assert_hidden("the error's Debug", &format!("{err:?}"));
    assert_hidden("the log", &logs.text());
}
