//! Error codes of the API and the mapping of node errors onto them.

use jsonrpsee::types::ErrorObjectOwned;
use manyfold_mempool::MempoolError;
use manyfold_state::StateError;

/// The application error codes (JSON-RPC reserves -32768..-32000 for protocol errors,
/// which jsonrpsee answers itself: parse error, invalid request, method not found,
/// invalid params, oversized request).
pub mod codes {
    /// A transaction or op that cannot be decoded or names impossible values.
    pub const INVALID_TRANSACTION: i32 = 1000;
    /// A signature that does not verify, or a key that is not the registered one.
    pub const BAD_SIGNATURE: i32 = 1001;
    /// A nonce already used, or one that leaves a gap.
    pub const BAD_NONCE: i32 = 1002;
    /// A balance or a chain's reserve below the amount.
    pub const INSUFFICIENT_FUNDS: i32 = 1003;
    /// An amount that would overflow a balance or reserve.
    pub const OVERFLOW: i32 = 1004;
    /// An account that does not exist.
    pub const UNKNOWN_ACCOUNT: i32 = 1005;
    /// A transaction or priority op already received.
    pub const DUPLICATE: i32 = 1006;
    /// A mempool limit is reached.
    pub const MEMPOOL_FULL: i32 = 1007;
    /// An op the rules forbid for another reason (self transfer, zero key, order).
    pub const INVALID_OP: i32 = 1008;
    /// The node cannot serve the request now (storage, a component restarting).
    pub const UNAVAILABLE: i32 = 1009;
    /// The method is disabled by configuration.
    pub const METHOD_DISABLED: i32 = 1010;
}

/// An error object with `code`, a message, and no data.
pub fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn state_code(e: &StateError) -> i32 {
    use StateError::*;
    match e {
        UnknownAccount(_) => codes::UNKNOWN_ACCOUNT,
        NoKeyRegistered(_) | WrongSigner(_) | BadSignature | BadEthSignature(_) => {
            codes::BAD_SIGNATURE
        }
        BadNonce { .. } | NonceExhausted(_) => codes::BAD_NONCE,
        InsufficientBalance { .. } | InsufficientReserve { .. } => codes::INSUFFICIENT_FUNDS,
        BalanceOverflow { .. } | ReserveOverflow { .. } => codes::OVERFLOW,
        SelfTransfer(_) | ZeroPubKeyHash | UnknownChain { .. } => codes::INVALID_OP,
        Storage(_) | Corrupt(_) | ChainSetMismatch(_) | NotReplayable(_) => codes::UNAVAILABLE,
    }
}

/// The error object for a mempool refusal.
pub fn from_mempool(e: MempoolError) -> ErrorObjectOwned {
    use MempoolError::*;
    let code = match &e {
        Full { .. } | AccountLimit { .. } | PriorityFull { .. } => codes::MEMPOOL_FULL,
        Duplicate(_) | DuplicatePriority { .. } => codes::DUPLICATE,
        NonceTooLow { .. } | NonceGap { .. } => codes::BAD_NONCE,
        Rejected(s) => state_code(s),
        PriorityGap { .. } | TokenNotOnChain { .. } | BelowPrecision { .. } => codes::INVALID_OP,
        Storage(_) | Unavailable(_) => codes::UNAVAILABLE,
    };
    error(code, e.to_string())
}
