//! Shared test fixtures: a tiny hand-assembled contract, and signing helpers.
#![allow(dead_code, unreachable_pub)]

use alloy_consensus::{TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
use manyfold_chain_embedded::DevAccount;

/// The event the contract emits: `Set(uint256)`.
pub fn set_topic() -> B256 {
    keccak256("Set(uint256)")
}

/// A contract that, called with a word `v`: reverts with `0xdeadbeef` when `v` is zero,
/// else stores `v` in slot 0 and emits `Set(v)`; called with no data, returns slot 0.
pub fn contract_runtime() -> Vec<u8> {
    let mut code = vec![
        0x36, 0x60, 0x0f, 0x57, // CALLDATASIZE PUSH1 set JUMPI
        0x60, 0x00, 0x54, 0x60, 0x00, 0x52, // SLOAD(0) MSTORE(0)
        0x60, 0x20, 0x60, 0x00, 0xf3, // RETURN(0, 32)
        0x5b, 0x60, 0x00, 0x35, 0x80, 0x60, 0x24, 0x57, // set: CALLDATALOAD(0) DUP1 JUMPI ok
        0x63, 0xde, 0xad, 0xbe, 0xef, 0x60, 0x00, 0x52, // MSTORE(0, 0xdeadbeef)
        0x60, 0x04, 0x60, 0x1c, 0xfd, // REVERT(28, 4)
        0x5b, 0x80, 0x60, 0x00, 0x55, 0x60, 0x00, 0x52, // ok: SSTORE(0, v) MSTORE(0, v)
        0x7f, // PUSH32 topic
    ];
    code.extend_from_slice(set_topic().as_slice());
    code.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0xa1, 0x00]); // LOG1(0, 32, topic) STOP
    assert_eq!(code.len(), 0x53);
    code
}

/// Init code deploying [`contract_runtime`].
pub fn contract_init() -> Bytes {
    let runtime = contract_runtime();
    let mut code = vec![
        0x60,
        runtime.len() as u8,
        0x80,
        0x60,
        0x0b,
        0x60,
        0x00,
        0x39,
        0x60,
        0x00,
        0xf3,
    ];
    code.extend(runtime);
    code.into()
}

pub fn word(v: u64) -> Bytes {
    Bytes::from(U256::from(v).to_be_bytes::<32>().to_vec())
}

pub const GWEI: u128 = 1_000_000_000;

/// A signed EIP-1559 transaction's raw bytes.
pub fn eip1559(
    from: &DevAccount,
    chain_id: u64,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
) -> Bytes {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to,
        value,
        input,
        ..Default::default()
    };
    TxEnvelope::from(from.sign(tx)).encoded_2718().into()
}

/// A signed EIP-155 legacy transfer.
pub fn legacy(from: &DevAccount, chain_id: u64, nonce: u64, to: Address, value: U256) -> Bytes {
    let tx = TxLegacy {
        chain_id: Some(chain_id),
        nonce,
        gas_price: 5 * GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value,
        input: Bytes::new(),
    };
    TxEnvelope::from(from.sign(tx)).encoded_2718().into()
}

/// A signed EIP-2930 transfer.
pub fn eip2930(from: &DevAccount, chain_id: u64, nonce: u64, to: Address, value: U256) -> Bytes {
    let tx = TxEip2930 {
        chain_id,
        nonce,
        gas_price: 5 * GWEI,
        gas_limit: 30_000,
        to: TxKind::Call(to),
        value,
        ..Default::default()
    };
    TxEnvelope::from(from.sign(tx)).encoded_2718().into()
}
