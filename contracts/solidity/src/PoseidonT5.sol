// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {POSEIDON_T5_TABLE, TAG_NODE, TAG_PUBDATA} from "./PoseidonConstants.sol";
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
    /// Merkle siblings were not three per level.
    error SiblingsNotWholeLevels(uint256 length);
    /// A leaf index does not fit the tree the siblings describe.
    error IndexOutsideTree();
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
    function merkleRoot(uint256 index, uint256 leaf, uint256[] calldata siblings) external pure returns (uint256 node) {
        if (siblings.length % 3 != 0) revert SiblingsNotWholeLevels(siblings.length);
        if (leaf >= Q) revert NotAFieldElement(leaf);
        bytes memory table = POSEIDON_T5_TABLE;
        uint256[5] memory state;
        node = leaf;
        for (uint256 level = 0; level < siblings.length / 3; level++) {
            uint256 position = index % 4;
            state[0] = TAG_NODE;
            uint256 k = level * 3;
            for (uint256 c = 0; c < 4; c++) {
                uint256 child = c == position ? node : siblings[k++];
                if (child >= Q) revert NotAFieldElement(child);
                state[c + 1] = child;
            }
            node = _permute(table, state);
            index /= 4;
        }
        if (index != 0) revert IndexOutsideTree();
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
    /// and `v_rest` (4). The state stays on the stack except while it is mixed.
    function _permute(bytes memory table, uint256[5] memory state) private pure returns (uint256 out) {
        assembly {
            // state := M . state (`stride` 32: rows of M are 160 bytes apart; the MDS
            // matrix), or state . P (`stride` 160: P read by columns; the pre-sparse
            // matrix), on the state in memory. Four products (each below q < 2^254) add
            // without overflow; the fifth reduces.
            function mix(st, m, stride) {
                let q := 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001
                let s0 := mload(st)
                let s1 := mload(add(st, 32))
                let s2 := mload(add(st, 64))
                let s3 := mload(add(st, 96))
                let s4 := mload(add(st, 128))
                let step := sub(192, stride) // between outputs: 160 for rows, 32 for columns
                for { let end := add(st, 160) } lt(st, end) { st := add(st, 32) } {
                    let r := add(mulmod(mload(m), s0, q), mulmod(mload(add(m, stride)), s1, q))
                    r := add(r, mulmod(mload(add(m, mul(2, stride))), s2, q))
                    r := add(r, mulmod(mload(add(m, mul(3, stride))), s3, q))
                    mstore(st, addmod(r, mulmod(mload(add(m, mul(4, stride))), s4, q), q))
                    m := add(m, step)
                }
            }

            let q := 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001
            let st := state
            let rc := add(table, 32)
            let m := add(rc, 3072) // after the 96 round constants
            // Inputs and constants are below q: sums below 2q feed mulmod safely.
            let s0 := add(mload(st), mload(rc))
            let s1 := add(mload(add(st, 32)), mload(add(rc, 32)))
            let s2 := add(mload(add(st, 64)), mload(add(rc, 64)))
            let s3 := add(mload(add(st, 96)), mload(add(rc, 96)))
            let s4 := add(mload(add(st, 128)), mload(add(rc, 128)))
            rc := add(rc, 160)

            // Eight full rounds, four before and four after the partial rounds: S-boxes and
            // the next constants (none after the last S-boxes), then the mix, which is the
            // pre-sparse matrix for the fourth round and the MDS matrix otherwise.
            for { let r := 0 } lt(r, 8) { r := add(r, 1) } {
                let x := mulmod(s0, s0, q)
                s0 := mulmod(mulmod(x, x, q), s0, q)
                x := mulmod(s1, s1, q)
                s1 := mulmod(mulmod(x, x, q), s1, q)
                x := mulmod(s2, s2, q)
                s2 := mulmod(mulmod(x, x, q), s2, q)
                x := mulmod(s3, s3, q)
                s3 := mulmod(mulmod(x, x, q), s3, q)
                x := mulmod(s4, s4, q)
                s4 := mulmod(mulmod(x, x, q), s4, q)
                if lt(r, 7) {
                    s0 := add(s0, mload(rc))
                    s1 := add(s1, mload(add(rc, 32)))
                    s2 := add(s2, mload(add(rc, 64)))
                    s3 := add(s3, mload(add(rc, 96)))
                    s4 := add(s4, mload(add(rc, 128)))
                    rc := add(rc, 160)
                }
                mstore(st, s0)
                mstore(add(st, 32), s1)
                mstore(add(st, 64), s2)
                mstore(add(st, 96), s3)
                mstore(add(st, 128), s4)
                switch r
                case 3 { mix(st, add(m, 800), 160) }
                default { mix(st, m, 32) }
                s0 := mload(st)
                s1 := mload(add(st, 32))
                s2 := mload(add(st, 64))
                s3 := mload(add(st, 96))
                s4 := mload(add(st, 128))

                // After the fourth: the partial rounds, the bulk of the work. S-box on s0,
                // then the round's sparse matrix: s0' = w_hat . s, s_j' = s_j + v_rest[j-1] s0.
                if eq(r, 3) {
                    let sp := add(m, 1600)
                    for { let end := add(rc, 1792) } lt(rc, end) { rc := add(rc, 32) } {
                        x := mulmod(s0, s0, q)
                        s0 := add(mulmod(mulmod(x, x, q), s0, q), mload(rc))
                        x := add(add(add(mulmod(mload(sp), s0, q), mulmod(mload(add(sp, 32)), s1, q)), mulmod(mload(add(sp, 64)), s2, q)), mulmod(mload(add(sp, 96)), s3, q))
                        x := addmod(x, mulmod(mload(add(sp, 128)), s4, q), q)
                        s1 := addmod(s1, mulmod(mload(add(sp, 160)), s0, q), q)
                        s2 := addmod(s2, mulmod(mload(add(sp, 192)), s0, q), q)
                        s3 := addmod(s3, mulmod(mload(add(sp, 224)), s0, q), q)
                        s4 := addmod(s4, mulmod(mload(add(sp, 256)), s0, q), q)
                        s0 := x
                        sp := add(sp, 288)
                    }
                }
            }
            out := s1
        }
    }
}
