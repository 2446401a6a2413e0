//! The probe contract the kit deploys: hand-assembled EVM bytecode, so that the kit needs no
//! compiler and the test of a plugin depends on nothing but the chain.
//!
//! The runtime, for calldata `word ‖ rest`:
//! - when the calldata starts with [`REVERT_SELECTOR`], reverts with the calldata itself as
//!   revert data (so the kit can tell a plugin that mangles revert data);
//! - otherwise emits `LOG2(topics = [topic0(), word], data = calldata)` and returns
//!   [`word()`]. A read-only call takes the same path: the log is discarded, the word
//!   returned.
//!
//! Only pre-Shanghai opcodes are used (`PUSH1 0` rather than `PUSH0`), so that any EVM chain
//! runs it.

use alloy_primitives::{keccak256, B256};

/// Calldata starting with these four bytes makes the probe revert.
pub const REVERT_SELECTOR: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

/// Gas for deploying the probe. `CallRequest` has no "create" form, so the kit cannot ask
/// the plugin to estimate a deployment; the real cost is about 60 000.
pub const DEPLOY_GAS: u64 = 200_000;

/// Gas for a call that reverts; estimating it would itself revert.
pub const REVERT_GAS: u64 = 100_000;

/// The event signature hash the probe logs as topic 0.
pub fn topic0() -> B256 {
    keccak256("ManyfoldConformance(bytes32,bytes)")
}

/// The word the probe returns.
pub fn word() -> B256 {
    keccak256("manyfold-conformance word")
}

mod op {
    pub(super) const EQ: u8 = 0x14;
    pub(super) const SHR: u8 = 0x1c;
    pub(super) const CALLDATALOAD: u8 = 0x35;
    pub(super) const CALLDATASIZE: u8 = 0x36;
    pub(super) const CALLDATACOPY: u8 = 0x37;
    pub(super) const CODECOPY: u8 = 0x39;
    pub(super) const MSTORE: u8 = 0x52;
    pub(super) const JUMPI: u8 = 0x57;
    pub(super) const JUMPDEST: u8 = 0x5b;
    pub(super) const PUSH1: u8 = 0x60;
    pub(super) const PUSH2: u8 = 0x61;
    pub(super) const PUSH4: u8 = 0x63;
    pub(super) const PUSH32: u8 = 0x7f;
    pub(super) const DUP1: u8 = 0x80;
    pub(super) const LOG2: u8 = 0xa2;
    pub(super) const RETURN: u8 = 0xf3;
    pub(super) const REVERT: u8 = 0xfd;
}

/// The deployed code.
pub fn runtime_code() -> Vec<u8> {
    use op::*;
    let mut code = vec![
        // memory[0..] = calldata (CALLDATACOPY pops dest, offset, size)
        CALLDATASIZE,
        PUSH1,
        0,
        PUSH1,
        0,
        CALLDATACOPY,
        // calldata[0..4] == REVERT_SELECTOR ?
        PUSH1,
        0,
        CALLDATALOAD,
        PUSH1,
        224,
        SHR,
        PUSH4,
    ];
    code.extend_from_slice(&REVERT_SELECTOR);
    code.extend_from_slice(&[EQ, PUSH1]);
    let jump_target_at = code.len();
    code.extend_from_slice(&[0, JUMPI]);
    // LOG2 pops offset, size, topic0, topic1: push them in reverse.
    code.extend_from_slice(&[PUSH1, 0, CALLDATALOAD, PUSH32]);
    code.extend_from_slice(topic0().as_slice());
    code.extend_from_slice(&[CALLDATASIZE, PUSH1, 0, LOG2, PUSH32]);
    code.extend_from_slice(word().as_slice());
    code.extend_from_slice(&[PUSH1, 0, MSTORE, PUSH1, 32, PUSH1, 0, RETURN]);
    code[jump_target_at] = u8::try_from(code.len()).expect("the probe is under 256 bytes");
    code.extend_from_slice(&[JUMPDEST, CALLDATASIZE, PUSH1, 0, REVERT]);
    code
}

/// The deployment transaction's input: copies the runtime into memory and returns it.
pub fn init_code() -> Vec<u8> {
    use op::*;
    const PREFIX: u8 = 12;
    let runtime = runtime_code();
    let len = u16::try_from(runtime.len()).expect("the probe is small");
    let mut code = vec![PUSH2];
    code.extend_from_slice(&len.to_be_bytes());
    code.extend_from_slice(&[DUP1, PUSH1, PREFIX, PUSH1, 0, CODECOPY, PUSH1, 0, RETURN]);
    debug_assert_eq!(code.len(), usize::from(PREFIX));
    code.extend_from_slice(&runtime);
    code
}

/// Calldata that logs `word` and `rest`.
pub fn log_input(word: B256, rest: &[u8]) -> Vec<u8> {
    [word.as_slice(), rest].concat()
}

/// Calldata that reverts, with itself as revert data.
pub fn revert_input(rest: &[u8]) -> Vec<u8> {
    [&REVERT_SELECTOR[..], rest].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    /// What an execution ended with.
    #[derive(Debug, PartialEq)]
    enum End {
        Return(Vec<u8>),
        Revert(Vec<u8>),
    }

    type Logs = Vec<(Vec<B256>, Vec<u8>)>;

    /// A minimal interpreter for exactly the opcodes the probe uses, written from the
    /// yellow paper's stack orders, so that the bytecode is checked without a chain.
    fn execute(code: &[u8], calldata: &[u8]) -> (End, Logs) {
        let mut stack: Vec<U256> = Vec::new();
        let mut memory: Vec<u8> = Vec::new();
        let mut logs = Vec::new();
        let mut pc = 0;
        let pad = |data: &[u8], at: usize, len: usize| -> Vec<u8> {
            (at..at + len)
                .map(|i| data.get(i).copied().unwrap_or(0))
                .collect()
        };
        let write = |memory: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            if memory.len() < at + bytes.len() {
                memory.resize(at + bytes.len(), 0);
            }
            memory[at..at + bytes.len()].copy_from_slice(bytes);
        };
        let small = |v: U256| usize::try_from(v).expect("small operand");
        loop {
            let opcode = code[pc];
            pc += 1;
            let mut pop = || stack.pop().expect("stack underflow");
            match opcode {
                0x60..=0x7f => {
                    let n = usize::from(opcode - 0x5f);
                    let value = U256::from_be_slice(&code[pc..pc + n]);
                    pc += n;
                    stack.push(value);
                }
                op::EQ => {
                    let (a, b) = (pop(), pop());
                    stack.push(U256::from(u8::from(a == b)));
                }
                op::SHR => {
                    let (shift, value) = (pop(), pop());
                    stack.push(value >> small(shift));
                }
                op::CALLDATALOAD => {
                    let at = small(pop());
                    stack.push(U256::from_be_slice(&pad(calldata, at, 32)));
                }
                op::CALLDATASIZE => stack.push(U256::from(calldata.len())),
                op::CALLDATACOPY | op::CODECOPY => {
                    let (dest, at, len) = (small(pop()), small(pop()), small(pop()));
                    let source = if opcode == op::CODECOPY {
                        code
                    } else {
                        calldata
                    };
                    write(&mut memory, dest, &pad(source, at, len));
                }
                op::MSTORE => {
                    let (at, value) = (small(pop()), pop());
                    write(&mut memory, at, &value.to_be_bytes::<32>());
                }
                op::JUMPI => {
                    let (dest, condition) = (small(pop()), pop());
                    if !condition.is_zero() {
                        assert_eq!(code[dest], op::JUMPDEST, "a jump lands on a JUMPDEST");
                        pc = dest;
                    }
                }
                op::JUMPDEST => {}
                op::DUP1 => {
                    let top = *stack.last().expect("stack underflow");
                    stack.push(top);
                }
                op::LOG2 => {
                    let (at, len, t0, t1) = (small(pop()), small(pop()), pop(), pop());
                    let topics = vec![B256::from(t0), B256::from(t1)];
                    logs.push((topics, pad(&memory, at, len)));
                }
                op::RETURN | op::REVERT => {
                    let (at, len) = (small(pop()), small(pop()));
                    let out = pad(&memory, at, len);
                    let end = if opcode == op::RETURN {
                        End::Return(out)
                    } else {
                        End::Revert(out)
                    };
                    return (end, logs);
                }
                other => panic!("opcode {other:#04x} at {} is not expected", pc - 1),
            }
        }
    }

    #[test]
    fn the_init_code_returns_the_runtime() {
        let (end, logs) = execute(&init_code(), &[]);
        assert_eq!(end, End::Return(runtime_code()));
        assert!(logs.is_empty());
    }

    #[test]
    fn a_call_logs_its_word_and_data_and_returns_the_word() {
        let w = B256::repeat_byte(0x42);
        let input = log_input(w, b"some data");
        let (end, logs) = execute(&runtime_code(), &input);
        assert_eq!(end, End::Return(word().to_vec()));
        assert_eq!(logs, vec![(vec![topic0(), w], input)]);

        let (end, logs) = execute(&runtime_code(), &[]);
        assert_eq!(end, End::Return(word().to_vec()), "empty calldata");
        assert_eq!(logs, vec![(vec![topic0(), B256::ZERO], vec![])]);

        let (end, _) = execute(&runtime_code(), &REVERT_SELECTOR[..3]);
        assert!(
            matches!(end, End::Return(_)),
            "three bytes of the selector are not the selector"
        );
    }

    #[test]
    fn the_selector_reverts_with_the_calldata() {
        let input = revert_input(b"why");
        let (end, logs) = execute(&runtime_code(), &input);
        assert_eq!(end, End::Revert(input));
        assert!(logs.is_empty());
        assert_ne!(topic0(), word());
    }

    #[test]
    fn the_bytecode_is_what_was_written() {
        let runtime = runtime_code();
        assert_eq!(runtime.len(), 107);
        assert_eq!(
            &runtime[..21],
            &[
                0x36, 0x60, 0, 0x60, 0, 0x37, 0x60, 0, 0x35, 0x60, 0xe0, 0x1c, 0x63, 0xde, 0xad,
                0xbe, 0xef, 0x14, 0x60, 102, 0x57
            ]
        );
        assert_eq!(runtime[102], op::JUMPDEST);
        assert_eq!(&runtime[25..57], topic0().as_slice());
        let init = init_code();
        assert_eq!(&init[..3], &[0x61, 0, 107]);
        assert_eq!(&init[12..], &runtime[..]);
    }
}
