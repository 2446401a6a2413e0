// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {POSEIDON_T5_TABLE, TAG_PUBDATA} from "./PoseidonConstants.sol";
import {IPoseidon} from "./interfaces/IPoseidon.sol";

/// @title Poseidon over BN254's scalar field, exactly as nova-snark's sponge runs it
/// @notice Width 5 (one capacity element, four rate elements), x^5 S-box, 8 full and 56
/// partial rounds, in nova-snark's optimised schedule (round constants folded forwards,
/// sparse matrices in the partial rounds). A hash of up to four inputs is one permutation
/// of `[tag, x1, x2, x3, x4]` (absent inputs are zero); the output is the first rate
/// element. The tag encodes the sponge's IO pattern and the use's domain; the node's
/// `manyfold-contracts` crate generates the tags and the table from nova-snark itself.
/// @dev Its own contract because the constant table (20,800 bytes) would push the
/// settlement contract past the 24 KiB code limit.
contract PoseidonT5 is IPoseidon {
    /// The BN254 scalar field's modulus.
    uint256 internal constant Q = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    /// Bytes of pubdata per operation.
    uint256 internal constant RECORD_BYTES = 64;

    /// An input was not a canonical field element.
    error NotAFieldElement(uint256 value);
    /// Pubdata was not a whole number of records.
    error PubdataNotWholeRecords(uint256 length);

    /// @inheritdoc IPoseidon
    function hash(uint256 tag, uint256[4] calldata inputs) external pure returns (uint256) {
        for (uint256 i = 0; i < 4; i++) {
            if (inputs[i] >= Q) revert NotAFieldElement(inputs[i]);
        }
        if (tag >= Q) revert NotAFieldElement(tag);
        return _permute(POSEIDON_T5_TABLE, [tag, inputs[0], inputs[1], inputs[2], inputs[3]]);
    }

    /// @inheritdoc IPoseidon
    function extendCommitment(uint256 commitment, bytes calldata pubdata) external pure returns (uint256 c) {
        if (pubdata.length % RECORD_BYTES != 0) revert PubdataNotWholeRecords(pubdata.length);
        if (commitment >= Q) revert NotAFieldElement(commitment);
        // One copy of the table for the whole block: it is the bulk of a small call's cost.
        bytes memory table = POSEIDON_T5_TABLE;
        c = commitment;
        for (uint256 offset = 0; offset < pubdata.length; offset += RECORD_BYTES) {
            uint256 e0;
            uint256 e1;
            uint256 e2;
            assembly {
                let p := add(pubdata.offset, offset)
                // bytes [0..31], [31..62], [62..64] as big-endian integers
                e0 := shr(8, calldataload(p))
                e1 := shr(8, calldataload(add(p, 31)))
                e2 := shr(240, calldataload(add(p, 62)))
            }
            c = _permute(table, [TAG_PUBDATA, c, e0, e1, e2]);
        }
    }

    /// The permutation of `state` in place, returning its first rate element.
    /// Layout of `table` (32-byte words): 96 folded round constants, the MDS matrix and the
    /// pre-sparse matrix (row-major, 25 words each), then per partial round `w_hat` (5)
    /// and `v_rest` (4). The state lives in memory to keep the stack shallow.
    function _permute(bytes memory table, uint256[5] memory state) private pure returns (uint256 out) {
        assembly {
            function pow5(x) -> y {
                let q := 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001
                let x2 := mulmod(x, x, q)
                y := mulmod(mulmod(x2, x2, q), x, q)
            }
            // S-boxes on all five elements, then the next five round constants (optional).
            function sboxes(st, rc, withConstants) {
                for { let i := 0 } lt(i, 160) { i := add(i, 32) } {
                    let y := pow5(mload(add(st, i)))
                    if withConstants { y := add(y, mload(add(rc, i))) }
                    mstore(add(st, i), y)
                }
            }
            // The dot product of the state with five words at `m`, `stride` bytes apart.
            // Four products (each below q < 2^254) add without overflow; the fifth reduces.
            function dot(m, stride, st) -> r {
                let q := 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001
                r := add(mulmod(mload(m), mload(st), q), mulmod(mload(add(m, stride)), mload(add(st, 32)), q))
                r := add(r, mulmod(mload(add(m, mul(2, stride))), mload(add(st, 64)), q))
                r := add(r, mulmod(mload(add(m, mul(3, stride))), mload(add(st, 96)), q))
                r := addmod(r, mulmod(mload(add(m, mul(4, stride))), mload(add(st, 128)), q), q)
            }
            // state := M · state (rows of M are 160 bytes apart), or state · P when
            // `byColumns` (entries of a column are 160 bytes apart, columns 32).
            function mix(st, m, byColumns) {
                let rowStep := 160
                let stride := 32
                if byColumns {
                    rowStep := 32
                    stride := 160
                }
                let r0 := dot(m, stride, st)
                let r1 := dot(add(m, rowStep), stride, st)
                let r2 := dot(add(m, mul(2, rowStep)), stride, st)
                let r3 := dot(add(m, mul(3, rowStep)), stride, st)
                let r4 := dot(add(m, mul(4, rowStep)), stride, st)
                mstore(st, r0)
                mstore(add(st, 32), r1)
                mstore(add(st, 64), r2)
                mstore(add(st, 96), r3)
                mstore(add(st, 128), r4)
            }

            let st := state
            let rc := add(table, 32)
            let m := add(rc, 3072) // after the 96 round constants
            // Inputs and constants are below q: sums below 2q feed mulmod safely.
            for { let i := 0 } lt(i, 160) { i := add(i, 32) } {
                mstore(add(st, i), add(mload(add(st, i)), mload(add(rc, i))))
            }
            rc := add(rc, 160)

            // First half of the full rounds; the last of them mixes with the pre-sparse matrix.
            for { let r := 0 } lt(r, 4) { r := add(r, 1) } {
                sboxes(st, rc, 1)
                rc := add(rc, 160)
                switch lt(r, 3)
                case 1 { mix(st, m, 0) }
                default { mix(st, add(m, 800), 1) }
            }

            // Partial rounds: S-box on the first element, then the round's sparse matrix:
            // s0' = w_hat · s, s_j' = s_j + v_rest[j-1] · s0.
            let q := 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001
            let sp := add(m, 1600)
            for { let r := 0 } lt(r, 56) { r := add(r, 1) } {
                let s0 := add(pow5(mload(st)), mload(rc))
                mstore(st, s0)
                rc := add(rc, 32)
                let first := dot(sp, 32, st)
                for { let j := 32 } lt(j, 160) { j := add(j, 32) } {
                    mstore(add(st, j), addmod(mload(add(st, j)), mulmod(mload(add(sp, add(128, j))), s0, q), q))
                }
                mstore(st, first)
                sp := add(sp, 288)
            }

            // Second half of the full rounds; the last adds no constant.
            for { let r := 0 } lt(r, 4) { r := add(r, 1) } {
                let last := eq(r, 3)
                sboxes(st, rc, iszero(last))
                rc := add(rc, 160)
                mix(st, m, 0)
            }
            out := mload(add(st, 32))
        }
    }
}
