//! How JSON-RPC failures become [`ChainError`]s, and which of them are worth a retry.
//!
//! Nodes (geth, reth, erigon, anvil, hosted providers) agree on few error codes, so most
//! of the mapping reads the message. The table is in the crate's README.

use std::time::Duration;

use alloy_json_rpc::{ErrorPayload, RpcError};
use alloy_primitives::Bytes;
use alloy_transport::{TransportError, TransportErrorKind};
use manyfold_chain::ChainError;
use url::Url;

use crate::chain::redacted;

/// Why a request failed, before it is mapped: the mapping depends on the caller (a log
/// query treats "too many results" as "split the range").
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer within the request timeout.
    Timeout(Duration),
    /// The transport or the endpoint failed.
    Rpc(TransportError),
}

/// Error code of a reverted call or gas estimate (geth, anvil: `execution reverted`).
const REVERT_CODE: i64 = 3;
/// Standard JSON-RPC "method not found".
const METHOD_NOT_FOUND: i64 = -32601;
/// Selector of `Error(string)`, Solidity's `require`/`revert` reason.
const ERROR_STRING_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];

impl Failure {
    /// Whether trying the same request again may succeed: the connection or the endpoint
    /// failed, it timed out, or it asked us to slow down. Errors the chain gave about the
    /// request itself (nonce too low, revert, ...) are transient for the supervisor (see
    /// [`ChainError::class`]) but asking again at once cannot change them.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_) => true,
            Self::Rpc(RpcError::Transport(kind)) => match kind {
                TransportErrorKind::HttpError(http) => {
                    http.status == 429 || http.status == 408 || http.status >= 500
                }
                TransportErrorKind::NonRetryable(_) => false,
                _ => true,
            },
            Self::Rpc(RpcError::ErrorResp(payload)) => is_rate_limit(payload),
            // A body that is not JSON-RPC: a proxy or load balancer in trouble.
            Self::Rpc(RpcError::DeserError { .. }) => true,
            Self::Rpc(_) => false,
        }
    }

    /// Whether the endpoint refused an `eth_getLogs` for its size: too many blocks, too
    /// many results, or a response over its limit.
    pub(crate) fn is_range_too_large(&self) -> bool {
        let Self::Rpc(RpcError::ErrorResp(payload)) = self else {
            return false;
        };
        let message = payload.message.to_lowercase();
        [
            "range too large",
            "range is too large",
            "block range",
            "too many blocks",
            "too many results",
            "more than",
            "limit exceeded",
            "response size",
            "exceed maximum",
            "exceeds maximum",
            "range exceeds",
            "query timeout",
        ]
        .iter()
        .any(|pattern| message.contains(pattern))
    }

    /// Whether the endpoint could not be reached or did not answer (as opposed to an answer
    /// that was an error): what makes a chain count as down.
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_)
                | Self::Rpc(RpcError::Transport(_))
                | Self::Rpc(RpcError::DeserError { .. })
        )
    }

    /// The shared error for a failure of `method` at endpoint `url`. Its text never shows
    /// `url`'s credentials (see [`scrub`]).
    pub(crate) fn into_chain_error(self, method: &str, url: &Url) -> ChainError {
        let error = match self {
            Self::Timeout(after) => ChainError::Timeout(format!("{method} after {after:?}")),
            Self::Rpc(error) => map_rpc_error(method, error),
        };
        scrub_error(error, url)
    }

    /// The failure in full (`Debug`), for a debug log line, without `url`'s credentials.
    pub(crate) fn describe(&self, url: &Url) -> String {
        scrub(&format!("{self:?}"), url)
    }
}

/// What stands in for a secret part of the endpoint's URL.
const HIDDEN: &str = "<redacted>";
/// Path segments shorter than this are kept: `v2`, `rpc`, `mainnet` are routes, not keys
/// (providers' keys are 20 characters or more).
const MIN_SECRET_SEGMENT: usize = 8;

/// `text` without any part of `url` that may be a credential.
///
/// Hosted providers put API keys in the URL's path (`/v2/KEY`) or query (`?apikey=KEY`),
/// and both reqwest (`error sending request for url (FULL URL)`) and some endpoints (a 401
/// body echoing the request line) repeat them in error texts that end up in `ChainError`s
/// and logs. The full URL becomes [`redacted`]'s form (the endpoint stays recognisable);
/// the path, query, user, password, long path segments and query values become
/// `<redacted>`.
pub(crate) fn scrub(text: &str, url: &Url) -> String {
    let full = url.as_str();
    let mut secrets: Vec<String> = Vec::new();
    let path = url.path();
    if path.len() > 1 {
        secrets.push(path.to_owned());
        secrets.push(path.trim_end_matches('/').to_owned());
        secrets.extend(
            path.split('/')
                .filter(|s| s.len() >= MIN_SECRET_SEGMENT)
                .map(str::to_owned),
        );
    }
    if let Some(query) = url.query().filter(|q| !q.is_empty()) {
        secrets.push(format!("{path}?{query}"));
        secrets.push(query.to_owned());
        for pair in query.split('&') {
            let value = pair.split_once('=').map_or(pair, |(_, v)| v);
            secrets.push(value.to_owned());
        }
        // Decoded too: an endpoint may echo them decoded.
        secrets.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    }
    if !url.username().is_empty() {
        secrets.push(url.username().to_owned());
    }
    if let Some(password) = url.password() {
        secrets.push(password.to_owned());
    }
    secrets.retain(|s| s.len() > 1);
    // Longest first, so that a part inside a longer one does not break it up.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let mut out = text.replace(full, &redacted(url));
    if let Some(bare) = full.strip_suffix('/') {
        out = out.replace(bare, &redacted(url));
    }
    for secret in &secrets {
        out = out.replace(secret.as_str(), HIDDEN);
    }
    out
}

/// `error` with [`scrub`] applied to every text it carries.
fn scrub_error(error: ChainError, url: &Url) -> ChainError {
    let s = |text: String| scrub(&text, url);
    match error {
        ChainError::Transport(m) => ChainError::Transport(s(m)),
        ChainError::Timeout(m) => ChainError::Timeout(s(m)),
        ChainError::NotFound(m) => ChainError::NotFound(s(m)),
        ChainError::NonceTooLow(m) => ChainError::NonceTooLow(s(m)),
        ChainError::Underpriced(m) => ChainError::Underpriced(s(m)),
        ChainError::InsufficientFunds(m) => ChainError::InsufficientFunds(s(m)),
        ChainError::Unsupported(m) => ChainError::Unsupported(s(m)),
        ChainError::Reverted { tx, reason, data } => ChainError::Reverted {
            tx,
            reason: reason.map(s),
            data,
        },
        // The mapping puts only `RpcFailure`s in `Other`.
        ChainError::Other(other) => match other.downcast::<RpcFailure>() {
            Ok(failure) => ChainError::other(RpcFailure {
                method: failure.method,
                message: s(failure.message),
            }),
            Err(other) => ChainError::Other(other),
        },
        other => other,
    }
}

fn is_rate_limit(payload: &ErrorPayload) -> bool {
    let message = payload.message.to_lowercase();
    payload.code == 429
        || message.contains("rate limit")
        || message.contains("too many requests")
        || message.contains("exceeded its compute units")
        || message.contains("request rate exceeded")
}

fn map_rpc_error(method: &str, error: TransportError) -> ChainError {
    match error {
        RpcError::ErrorResp(payload) => map_payload(method, &payload),
        RpcError::NullResp => ChainError::NotFound(format!("{method} answered null")),
        RpcError::UnsupportedFeature(what) => ChainError::Unsupported(what.to_owned()),
        RpcError::Transport(kind) => ChainError::Transport(format!("{method}: {kind}")),
        RpcError::DeserError { err, text } => ChainError::Transport(format!(
            "{method}: unreadable answer ({err}): {}",
            truncate(&text, 200)
        )),
        other => ChainError::other(RpcFailure {
            method: method.to_owned(),
            message: other.to_string(),
        }),
    }
}

fn map_payload(method: &str, payload: &ErrorPayload) -> ChainError {
    let message = payload.message.to_string();
    let lower = message.to_lowercase();
    let detail = || format!("{method}: {message}");
    if payload.code == REVERT_CODE || lower.contains("execution reverted") || lower == "revert" {
        let data = payload.as_revert_data().unwrap_or_default();
        return ChainError::Reverted {
            tx: None,
            reason: revert_reason(&data).or_else(|| reason_from_message(&message)),
            data,
        };
    }
    if lower.contains("nonce too low")
        || lower.contains("nonce is too low")
        || lower.contains("invalid nonce")
        || lower.contains("nonce has already been used")
    {
        return ChainError::NonceTooLow(detail());
    }
    if lower.contains("already known")
        || lower.contains("already imported")
        || lower.contains("known transaction")
        || lower.contains("already in mempool")
    {
        return ChainError::AlreadyKnown;
    }
    if lower.contains("underpriced")
        || lower.contains("fee too low")
        || lower.contains("less than block base fee")
        || lower.contains("max fee per gas less than")
        || lower.contains("fee cap less than")
        || lower.contains("gas price too low")
    {
        return ChainError::Underpriced(detail());
    }
    if lower.contains("insufficient funds") || lower.contains("insufficient balance") {
        return ChainError::InsufficientFunds(detail());
    }
    if is_rate_limit(payload) {
        return ChainError::Transport(format!("{method}: rate limited: {message}"));
    }
    if lower.contains("header not found")
        || lower.contains("unknown block")
        || lower.contains("block not found")
    {
        return ChainError::NotFound(detail());
    }
    if payload.code == METHOD_NOT_FOUND {
        return ChainError::Unsupported(detail());
    }
    ChainError::other(RpcFailure {
        method: method.to_owned(),
        message: format!("code {}: {message}", payload.code),
    })
}

/// The reason of a `revert("...")`, decoded from `Error(string)` data.
pub(crate) fn revert_reason(data: &Bytes) -> Option<String> {
    let body = data.strip_prefix(&ERROR_STRING_SELECTOR)?;
    // ABI: a 32-byte offset (0x20), a 32-byte length, then the bytes. Offsets and lengths
    // are the endpoint's (any value): every sum is checked, and a word that does not fit a
    // usize is refused rather than truncated.
    let word = |i: usize| -> Option<usize> {
        let w = body.get(i..i.checked_add(32)?)?;
        if w[..24].iter().any(|b| *b != 0) {
            return None;
        }
        usize::try_from(u64::from_be_bytes(w[24..].try_into().ok()?)).ok()
    };
    let offset = word(0)?;
    let len = word(offset)?;
    let start = offset.checked_add(32)?;
    let bytes = body.get(start..start.checked_add(len)?)?;
    String::from_utf8(bytes.to_vec()).ok()
}

/// `"execution reverted: reason"`, as nodes that leave `data` out still say.
fn reason_from_message(message: &str) -> Option<String> {
    let (_, reason) = message.split_once("reverted: ")?;
    let reason = reason.trim();
    (!reason.is_empty()).then(|| reason.to_owned())
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// An endpoint error that fits none of the shared variants; in [`ChainError::Other`].
#[derive(Debug, thiserror::Error)]
#[error("{method}: {message}")]
pub struct RpcFailure {
    /// The JSON-RPC method.
    pub method: String,
    /// What the endpoint (or the client) said.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_chain::ErrorClass;
    use serde_json::value::RawValue;

    fn local() -> Url {
        Url::parse("http://127.0.0.1:1").unwrap()
    }

    fn resp(code: i64, message: &str, data: Option<&str>) -> Failure {
        Failure::Rpc(RpcError::ErrorResp(ErrorPayload {
            code,
            message: message.to_owned().into(),
            data: data.map(|d| RawValue::from_string(d.to_owned()).unwrap()),
        }))
    }

    fn error_string(reason: &str) -> String {
        let mut data = ERROR_STRING_SELECTOR.to_vec();
        data.extend([0u8; 31]);
        data.push(0x20);
        data.extend([0u8; 24]);
        data.extend((reason.len() as u64).to_be_bytes());
        let mut padded = reason.as_bytes().to_vec();
        padded.resize(reason.len().div_ceil(32) * 32, 0);
        data.extend(padded);
        alloy_primitives::hex::encode_prefixed(data)
    }

    #[test]
    fn node_messages_map_to_the_shared_variants() {
        let map = |f: Failure| f.into_chain_error("m", &local());
        assert!(matches!(
            map(resp(
                -32000,
                "nonce too low: next nonce 5, tx nonce 4",
                None
            )),
            ChainError::NonceTooLow(_)
        ));
        assert!(matches!(
            map(resp(
                -32003,
                "Insufficient funds for gas * price + value",
                None
            )),
            ChainError::InsufficientFunds(_)
        ));
        assert!(matches!(
            map(resp(-32000, "replacement transaction underpriced", None)),
            ChainError::Underpriced(_)
        ));
        assert!(matches!(
            map(resp(-32000, "already known", None)),
            ChainError::AlreadyKnown
        ));
        assert!(matches!(
            map(resp(-32000, "header not found", None)),
            ChainError::NotFound(_)
        ));
        assert!(matches!(
            map(resp(
                METHOD_NOT_FOUND,
                "the method eth_x does not exist",
                None
            )),
            ChainError::Unsupported(_)
        ));
        let other = map(resp(-32000, "something new", None));
        assert_eq!(other.class(), ErrorClass::Fatal);
        assert_eq!(other.to_string(), "m: code -32000: something new");
    }

    #[test]
    fn reverts_carry_data_and_reason() {
        let data = error_string("not the operator");
        let quoted = format!("\"{data}\"");
        match resp(3, "execution reverted: not the operator", Some(&quoted))
            .into_chain_error("m", &local())
        {
            ChainError::Reverted {
                tx,
                reason,
                data: raw,
            } => {
                assert_eq!(tx, None);
                assert_eq!(reason.as_deref(), Some("not the operator"));
                assert_eq!(alloy_primitives::hex::encode_prefixed(&raw), data);
            }
            other => panic!("{other:?}"),
        }
        match resp(3, "execution reverted", Some("\"0xdeadbeef\"")).into_chain_error("m", &local())
        {
            ChainError::Reverted { reason, data, .. } => {
                assert_eq!(reason, None);
                assert_eq!(data.as_ref(), [0xde, 0xad, 0xbe, 0xef]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            revert_reason(&Bytes::from(vec![0x08, 0xc3, 0x79, 0xa0, 1])),
            None
        );
    }

    #[test]
    fn hostile_revert_offsets_and_lengths_decode_to_nothing() {
        let word = |tail: [u8; 8]| [[0u8; 24].as_slice(), &tail].concat();
        let max = [0xff; 8];
        let cases = [
            // Offset u64::MAX: reading the length word at it overflows a plain `+ 32`.
            [ERROR_STRING_SELECTOR.as_slice(), &word(max)].concat(),
            // A sane offset, a length of u64::MAX.
            [
                ERROR_STRING_SELECTOR.as_slice(),
                &word(32u64.to_be_bytes()),
                &word(max),
            ]
            .concat(),
            // Offset u64::MAX - 31: the string's start (`offset + 32`) overflows.
            [
                ERROR_STRING_SELECTOR.as_slice(),
                &word((u64::MAX - 31).to_be_bytes()),
            ]
            .concat(),
        ];
        for data in cases {
            assert_eq!(revert_reason(&Bytes::from(data)), None);
        }
    }

    #[test]
    fn scrub_hides_every_part_of_the_url_that_may_be_a_key() {
        let url =
            Url::parse("http://user:pa55word@rpc.example:8545/v2/SECRETKEY?apikey=SECRET%2B2")
                .unwrap();
        let text = format!(
            "error sending request for url ({url}); 401: bad key in POST /v2/SECRETKEY?apikey=SECRET%2B2; \
             key SECRETKEY, value SECRET+2, user user, password pa55word"
        );
        let scrubbed = scrub(&text, &url);
        for secret in ["SECRETKEY", "SECRET%2B2", "SECRET+2", "pa55word", "user:"] {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        assert!(
            scrubbed.contains("url (http://rpc.example:8545)"),
            "{scrubbed}"
        );
        // Short path segments are routes, kept.
        assert!(scrubbed.contains("POST <redacted>"), "{scrubbed}");
        let plain = Url::parse("http://127.0.0.1:8545").unwrap();
        assert_eq!(
            scrub("connection refused: http://127.0.0.1:8545/", &plain),
            "connection refused: http://127.0.0.1:8545"
        );
    }

    #[test]
    fn what_is_retried_and_what_splits_a_log_range() {
        assert!(Failure::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(Failure::Rpc(TransportErrorKind::backend_gone()).is_retryable());
        assert!(resp(429, "Too Many Requests", None).is_retryable());
        assert!(!resp(-32000, "nonce too low", None).is_retryable());
        assert!(!resp(3, "execution reverted", None).is_retryable());
        for message in [
            "query returned more than 10000 results",
            "block range too large",
            "exceed maximum block range: 50000",
            "Log response size exceeded.",
            "eth_getLogs is limited to a 10,000 block range",
        ] {
            assert!(
                resp(-32005, message, None).is_range_too_large(),
                "{message}"
            );
        }
        assert!(!resp(-32000, "nonce too low", None).is_range_too_large());
        assert!(!Failure::Timeout(Duration::ZERO).is_range_too_large());
        let t =
            Failure::Rpc(TransportErrorKind::backend_gone()).into_chain_error("eth_call", &local());
        assert!(
            matches!(t, ChainError::Transport(ref m) if m.starts_with("eth_call")),
            "{t}"
        );
        assert!(t.is_transient());
    }
}
