// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice One op's pubdata, decoded. Fields an op type does not have are zero.
struct Op {
    uint8 opType;
    uint16 chain;
    uint32 account;
    uint32 toAccount;
    uint16 token;
    uint128 amount;
    address owner;
    bytes32 pubkeyHash;
    uint32 nonce;
    bool refunded;
}

/// @title The pubdata format of manyfold_types::pubdata
/// @notice Every op publishes 64 bytes: a type byte, its fields big-endian, zero padding.
///
/// | op | after the type byte |
/// |---|---|
/// | Noop (0) | nothing |
/// | Deposit (1) | chain u16, account u32, token u16, amount u128, address 20, refunded u8 (0 or 1) |
/// | Withdraw (3), FullExit (4) | chain u16, account u32, token u16, amount u128, address 20 |
/// | Transfer (2) | from u32, to u32, token u16, amount u128 |
/// | ChangePubKey (5) | chain u16, account u32, pubkey hash 32, address 20, nonce u32 |
library Operations {
    uint256 internal constant RECORD_BYTES = 64;

    uint8 internal constant NOOP = 0;
    uint8 internal constant DEPOSIT = 1;
    uint8 internal constant TRANSFER = 2;
    uint8 internal constant WITHDRAW = 3;
    uint8 internal constant FULL_EXIT = 4;
    uint8 internal constant CHANGE_PUBKEY = 5;

    /// An op's type byte names no op.
    error UnknownOpType(uint256 index, uint8 opType);
    /// A deposit's refunded flag (byte 45) was neither 0 nor 1.
    error BadRefundedFlag(uint256 index, uint8 flag);
    /// Pubdata was not a whole number of 64-byte records.
    error PubdataNotWholeRecords(uint256 length);

    /// The number of records in `pubdata`, which must be whole.
    function count(bytes calldata pubdata) internal pure returns (uint256) {
        if (pubdata.length % RECORD_BYTES != 0) revert PubdataNotWholeRecords(pubdata.length);
        return pubdata.length / RECORD_BYTES;
    }

    /// The raw record `index`.
    function record(bytes calldata pubdata, uint256 index) internal pure returns (bytes calldata) {
        return pubdata[index * RECORD_BYTES:(index + 1) * RECORD_BYTES];
    }

    /// Decodes record `index`.
    function read(bytes calldata pubdata, uint256 index) internal pure returns (Op memory op) {
        bytes calldata r = record(pubdata, index);
        op.opType = uint8(r[0]);
        if (op.opType == NOOP) return op;
        if (op.opType == TRANSFER) {
            op.account = uint32(bytes4(r[1:5]));
            op.toAccount = uint32(bytes4(r[5:9]));
            op.token = uint16(bytes2(r[9:11]));
            op.amount = uint128(bytes16(r[11:27]));
            return op;
        }
        op.chain = uint16(bytes2(r[1:3]));
        op.account = uint32(bytes4(r[3:7]));
        if (op.opType == DEPOSIT || op.opType == WITHDRAW || op.opType == FULL_EXIT) {
            op.token = uint16(bytes2(r[7:9]));
            op.amount = uint128(bytes16(r[9:25]));
            op.owner = address(bytes20(r[25:45]));
            if (op.opType == DEPOSIT) {
                // SPEC A: 1 = not credited on L2, refunded to `owner` when the block executes here
                uint8 flag = uint8(r[45]);
                if (flag > 1) revert BadRefundedFlag(index, flag);
                op.refunded = flag == 1;
            }
            return op;
        }
        if (op.opType == CHANGE_PUBKEY) {
            op.pubkeyHash = bytes32(r[7:39]);
            op.owner = address(bytes20(r[39:59]));
            op.nonce = uint32(bytes4(r[59:63]));
            return op;
        }
        revert UnknownOpType(index, op.opType);
    }

    /// Whether the op is executed on a chain (and so enters that chain's ops hash).
    function isOnchain(Op memory op) internal pure returns (bool) {
        return op.opType != NOOP && op.opType != TRANSFER;
    }

    /// One link of an ops hash: `keccak256(opsHash ‖ record)`.
    function chainHash(bytes32 opsHash, bytes calldata rec) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(opsHash, rec));
    }
}
