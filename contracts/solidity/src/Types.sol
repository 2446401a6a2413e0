// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice What a settlement contract keeps of each committed block: only
/// `keccak256(abi.encode(info))` is stored, and every later call presents the struct.
/// @param blockNumber The L2 block number.
/// @param blockSequence The block's position among this contract's blocks: equal to the
/// block number on the primary; a secondary only receives the blocks that touch it, so
/// its numbers have gaps and its sequence does not.
/// @param priorityOperations This chain's priority requests the block consumed.
/// @param timestamp The L2 block's timestamp.
/// @param stateRoot The L2 state root after the block.
/// @param opsHash This chain's ops hash of the block (DESIGN §2): the ops it executes.
/// @param syncHash On a secondary, its sync hash after the block. On the primary, the
/// hash of every chain's sync hash after the block (`keccak256(abi.encodePacked(hashes))`).
/// @param commitment The pubdata commitment after the block (primary; zero on a secondary).
struct StoredBlockInfo {
    uint32 blockNumber;
    uint32 blockSequence;
    uint64 priorityOperations;
    uint64 timestamp;
    bytes32 stateRoot;
    bytes32 opsHash;
    bytes32 syncHash;
    bytes32 commitment;
}

/// @notice A block as the primary commits it: every op's pubdata.
/// @param changePubKeySignatures The 65-byte ECDSA signatures of this chain's
/// ChangePubKey ops, in block order: witnesses beside the pubdata, checked with ecrecover.
struct CommitBlockInfo {
    uint32 blockNumber;
    uint64 timestamp;
    bytes32 newStateRoot;
    bytes pubdata;
    bytes[] changePubKeySignatures;
}

/// @notice A block and this chain's ops of it, for execution.
struct ExecuteBlockInfo {
    StoredBlockInfo storedBlock;
    bytes ops;
}

/// @notice A deposit or full exit waiting in a chain's priority queue.
/// @param amount For a deposit, the L2 amount (18 decimals) credited; zero for a full exit.
/// @param account For a full exit, the account to exit; zero for a deposit.
struct PriorityRequest {
    uint8 opType;
    uint16 token;
    uint32 account;
    uint64 expiresAt;
    address owner;
    uint128 amount;
    bool refunded;
}

/// @notice A token of the registry: the local asset behind an L2 token id.
/// @param token The ERC-20 contract, or the zero address for the native coin.
/// @param decimals The local decimals (at most 18: L2 amounts have 18).
/// @param minDeposit The smallest deposit accepted, in local units (priority-queue spam
/// must cost more than serving it, DESIGN §4).
struct TokenInfo {
    address token;
    uint8 decimals;
    bool registered;
    uint128 minDeposit;
}
