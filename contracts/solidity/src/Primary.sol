// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Op, Operations} from "./Operations.sol";
import {Settlement, SettlementConfig} from "./Settlement.sol";
import {StoredBlockInfo, CommitBlockInfo, ExecuteBlockInfo} from "./Types.sol";
import {IPoseidon} from "./interfaces/IPoseidon.sol";
import {IVerifier, ProofPublicValues} from "./interfaces/IVerifier.sol";
import {TAG_ACCOUNT, TAG_STATE} from "./PoseidonConstants.sol";

/// @notice A balance's Merkle proof against the state root, for exodus exits: the balance
/// leaf up the account's balance tree (depth 5), the account leaf up the account tree
/// (depth 12), then the state root `H_state(accountsRoot, reservesRoot, accountCount)`
/// (SPEC B). Each level lists the three other children of the node entered, in child order.
struct ExitProof {
    uint32 account;
    uint16 token;
    uint128 balance;
    address owner;
    bytes32 pubkeyHash;
    uint32 nonce;
    bytes32[15] balanceSiblings;
    bytes32[36] accountSiblings;
    bytes32 reservesRoot;
    uint32 accountCount;
}

/// @title The primary settlement contract
/// @notice Commits every op of every block, computing each chain's ops hash and sync hash
/// and the Poseidon pubdata commitment; verifies the folding proof of a block range;
/// collects every secondary's sync hash and confirms a block once all agree; executes its
/// own withdrawals, only up to the end of a verified proof range. In exodus mode, pays
/// exits by Merkle proof against the last executed state root (always a range end), once
/// per (account, token).
contract Primary is Settlement {
    uint16 public immutable chainCount;
    IPoseidon public immutable poseidon;
    /// Replaced only by a governance change after its notice period.
    IVerifier public verifier;

    uint32 public totalBlocksProven;
    uint32 public totalBlocksConfirmed;
    /// Reverts so far; each `revertBlocks` is one, attested to every secondary (kind 3)
    /// with its id, and a secondary's sync hash counts only once it has applied them all.
    uint64 public totalReverts;

    /// Per block, the sync hash of each touched secondary as this contract computed it
    /// (DESIGN §2): what that secondary must deliver, and what a confirmation names.
    mapping(uint32 => mapping(uint16 => bytes32)) public expectedSyncHash;
    /// Per block, a bit per touched secondary whose matching sync hash has not arrived yet.
    mapping(uint32 => uint16) public pendingSyncHashes;
    /// Per verified proof range, keyed by its last block: its first block. Only these
    /// ends (and genesis) carry proven roots, so execution stops only at one of them.
    mapping(uint32 => uint32) public provenRangeStart;
    /// Exodus exits paid, per account and token.
    mapping(uint32 => mapping(uint16 => bool)) public exited;

    event BlocksProven(uint32 fromBlock, uint32 toBlock);
    event VerifierSet(address verifier);
    event SyncHashMatched(uint16 indexed chain, uint32 indexed blockNumber);
    event SyncHashMismatch(uint16 indexed chain, uint32 indexed blockNumber, bytes32 expected, bytes32 received);
    event BlockConfirmed(uint32 indexed blockNumber);
    event Exit(uint32 indexed account, uint16 indexed token, address owner, uint128 amount);

    error WrongSyncHashes();
    error UnknownChain(uint256 opIndex, uint16 chain);
    error NotAfterLastProven(uint32 lastProven, uint32 got);
    error NothingToProve();
    error InvalidProof();
    error NotASecondary(uint16 chain);
    error NoSyncHashExpected(uint16 chain, uint32 blockNumber);
    error NotLastExecuted(uint32 blockSequence);
    error AlreadyExited(uint32 account, uint16 token);
    error InvalidExitProof();
    error NothingToExit();
    error ExodusPayoutsStarted();

    /// @param chains How many chains settle the L2 (ids 0 .. chains-1; this one included).
    /// @param genesisCommitment The pubdata commitment of block 0.
    constructor(
        SettlementConfig memory config,
        uint16 chains,
        IVerifier verifier_,
        IPoseidon poseidon_,
        bytes32 genesisCommitment
    ) Settlement(config) {
        if (chains == 0 || chains > 16 || config.chainId >= chains) revert InvalidConfig("chain count");
        chainCount = chains;
        verifier = verifier_;
        emit VerifierSet(address(verifier_));
        poseidon = poseidon_;
        bytes32[] memory genesisSync = new bytes32[](chains);
        for (uint256 c = 0; c < chains; c++) {
            genesisSync[c] = EMPTY;
        }
        _storeGenesis(config.genesisStateRoot, keccak256(abi.encodePacked(genesisSync)), genesisCommitment);
    }

    /// @notice Applies a proposed `(CHANGE_VERIFIER, verifier)` after its notice period.
    function setVerifier(IVerifier newVerifier) external onlyGovernor {
        _takeChange(abi.encode(CHANGE_VERIFIER, newVerifier));
        verifier = newVerifier;
        emit VerifierSet(address(newVerifier));
    }

    // ---------------------------------------------------------------- commit

    /// @notice Commits the next blocks after `last`, whose every chain's sync hash is
    /// `lastSyncHashes` (checked against `last`).
    function commitBlocks(
        StoredBlockInfo calldata last,
        bytes32[] calldata lastSyncHashes,
        CommitBlockInfo[] calldata blocks
    ) external onlyOperator notExodus nonReentrant {
        _checkLatest(last);
        if (lastSyncHashes.length != chainCount || keccak256(abi.encodePacked(lastSyncHashes)) != last.syncHash) {
            revert WrongSyncHashes();
        }
        bytes32[] memory sync = lastSyncHashes;
        StoredBlockInfo memory previous = last;
        for (uint256 b = 0; b < blocks.length; b++) {
            previous = _commitBlock(previous, blocks[b], sync);
        }
    }

    function _commitBlock(StoredBlockInfo memory previous, CommitBlockInfo calldata block_, bytes32[] memory sync)
        private
        returns (StoredBlockInfo memory info)
    {
        uint32 number = block_.blockNumber;
        if (number != previous.blockNumber + 1) revert WrongBlockNumber(previous.blockNumber, number);
        if (block_.timestamp < previous.timestamp) revert TimestampBackwards(previous.timestamp, block_.timestamp);
        uint256 n = Operations.count(block_.pubdata);
        if (n == 0) revert EmptyBlock(number);

        bytes32[] memory opsHashes = new bytes32[](chainCount);
        for (uint256 c = 0; c < opsHashes.length; c++) {
            opsHashes[c] = EMPTY;
        }
        uint64 priorityOps = 0;
        uint256 signaturesUsed = 0;
        for (uint256 i = 0; i < n; i++) {
            Op memory op = Operations.read(block_.pubdata, i);
            if (!Operations.isOnchain(op)) continue;
            if (op.chain >= chainCount) revert UnknownChain(i, op.chain);
            opsHashes[op.chain] = Operations.chainHash(opsHashes[op.chain], Operations.record(block_.pubdata, i));
            if (op.chain == chainId) {
                uint64 consumed;
                (signaturesUsed, consumed) = _checkOwnOp(op, i, block_.changePubKeySignatures, signaturesUsed);
                priorityOps += consumed;
            }
        }
        if (signaturesUsed != block_.changePubKeySignatures.length) {
            revert UnusedChangePubKeySignatures(block_.changePubKeySignatures.length - signaturesUsed);
        }

        uint16 pending = 0;
        for (uint16 c = 0; c < chainCount; c++) {
            if (opsHashes[c] == EMPTY) continue;
            sync[c] = keccak256(abi.encodePacked(sync[c], number, block_.newStateRoot, opsHashes[c]));
            if (c != chainId) {
                expectedSyncHash[number][c] = sync[c];
                pending |= uint16(1) << c;
            }
        }
        pendingSyncHashes[number] = pending;

        info = StoredBlockInfo({
            blockNumber: number,
            blockSequence: number,
            priorityOperations: priorityOps,
            timestamp: block_.timestamp,
            stateRoot: block_.newStateRoot,
            opsHash: opsHashes[chainId],
            syncHash: keccak256(abi.encodePacked(sync)),
            commitment: bytes32(poseidon.extendCommitment(uint256(previous.commitment), block_.pubdata))
        });
        _store(info);
    }

    // ---------------------------------------------------------------- prove

    /// @notice Verifies one proof of the blocks after `lastProven` up to `to`.
    /// @param steps The IVC steps the proof folded, for the verifier's bookkeeping only.
    function proveBlocks(StoredBlockInfo calldata lastProven, StoredBlockInfo calldata to, uint64 steps, bytes calldata proof)
        external
        onlyOperator
        notExodus
        nonReentrant
    {
        if (lastProven.blockNumber != totalBlocksProven) revert NotAfterLastProven(totalBlocksProven, lastProven.blockNumber);
        _checkStored(lastProven);
        _checkStored(to);
        if (to.blockNumber <= lastProven.blockNumber) revert NothingToProve();
        ProofPublicValues memory values = ProofPublicValues({
            oldStateRoot: lastProven.stateRoot,
            oldCommitment: lastProven.commitment,
            newStateRoot: to.stateRoot,
            newCommitment: to.commitment,
            steps: steps
        });
        if (!verifier.verify(values, proof)) revert InvalidProof();
        totalBlocksProven = to.blockNumber;
        provenRangeStart[to.blockNumber] = lastProven.blockNumber + 1;
        emit BlocksProven(lastProven.blockNumber + 1, to.blockNumber);
        _confirm();
    }

    // ---------------------------------------------------------------- synchronize

    /// @notice Delivers secondary `srcChainId`'s sync hash after block `blockNumber`,
    /// attested by the committee. The attested hash is
    /// `keccak256(abi.encode(syncHash, uint64 revertsApplied))`, the secondary's count of
    /// applied reverts, which must equal `totalReverts`: a sync hash read before the
    /// secondary caught up with a revert here never counts. A hash that differs from the
    /// primary's own is recorded (SyncHashMismatch) and holds the block; the matching one
    /// may still arrive. Anyone may deliver it. Idempotent: once the block's hash from
    /// `srcChainId` has matched, a call returns at once and changes nothing (signatures
    /// unread: it could change nothing even if valid), so a user who copies the committee's
    /// signatures and delivers them first never makes the operator's identical call revert.
    /// A block not committed, or whose ops never touched `srcChainId` (no
    /// `expectedSyncHash`), still reverts with NoSyncHashExpected.
    function receiveSyncHash(uint16 srcChainId, uint32 blockNumber, bytes32 syncHash, bytes[] calldata signatures)
        external
        nonReentrant
    {
        if (srcChainId == chainId || srcChainId >= chainCount) revert NotASecondary(srcChainId);
        uint16 pending = pendingSyncHashes[blockNumber];
        uint16 bit = uint16(1) << srcChainId;
        bytes32 expected = expectedSyncHash[blockNumber][srcChainId];
        if (pending & bit == 0) {
            // a committed block records an expected hash exactly for the chains it sets a
            // bit for, and clears the bit only on a match (a revert deletes both)
            if (expected == 0) revert NoSyncHashExpected(srcChainId, blockNumber);
            return;
        }
        _verifyAttestation(
            srcChainId, KIND_SYNC_HASH, blockNumber, keccak256(abi.encode(syncHash, totalReverts)), signatures
        );
        if (syncHash != expected) {
            emit SyncHashMismatch(srcChainId, blockNumber, expected, syncHash);
            return;
        }
        pendingSyncHashes[blockNumber] = pending ^ bit;
        emit SyncHashMatched(srcChainId, blockNumber);
        _confirm();
    }

    /// Confirms proven blocks, in order, whose every touched secondary has agreed.
    function _confirm() private {
        uint32 confirmed = totalBlocksConfirmed;
        while (confirmed < totalBlocksProven && pendingSyncHashes[confirmed + 1] == 0) {
            confirmed++;
            emit BlockConfirmed(confirmed);
        }
        totalBlocksConfirmed = confirmed;
    }

    /// @notice The primary's sync hash for chain `chain` after block `blockNumber`
    /// (`syncHash[chain]_blockNumber`, DESIGN §2): what a confirmation to that chain names.
    function syncHashAt(uint16 chain, uint32 blockNumber) external view returns (bytes32) {
        for (uint32 n = blockNumber; n > 0; n--) {
            bytes32 h = expectedSyncHash[n][chain];
            if (h != bytes32(0)) return h;
        }
        return EMPTY;
    }

    function _executable(ExecuteBlockInfo[] calldata blocks, uint256 b) internal view override returns (bool) {
        return blocks[b].storedBlock.blockNumber <= totalBlocksConfirmed;
    }

    /// Execution stops only at the end of a verified range (DESIGN §1); in exodus mode,
    /// only until the first exit or refund, which trust the last executed root.
    function _afterExecute(uint32 executed) internal view override {
        if (executed != 0 && provenRangeStart[executed] == 0) revert NotAfterARangeEnd(executed);
        if (exodusPayoutsStarted) revert ExodusPayoutsStarted();
    }

    /// @notice Reverts the latest committed, unexecuted blocks, newest first. Not in exodus
    /// mode: what is committed then decides what a secondary refunds. A proof range that
    /// loses any block is dropped whole. The committee attests the revert (kind 3) to
    /// every secondary: block number `totalBlocksCommitted`, hash
    /// `keccak256(abi.encode(uint64 revertId, bytes32 syncHashAt(chain, totalBlocksCommitted)))`.
    function revertBlocks(StoredBlockInfo[] calldata blocks) external onlyOperator notExodus nonReentrant {
        if (blocks.length == 0) revert NothingToRevert();
        for (uint256 b = 0; b < blocks.length; b++) {
            StoredBlockInfo calldata info = blocks[b];
            _revertBlock(info);
            uint32 number = info.blockNumber;
            for (uint16 c = 0; c < chainCount; c++) {
                delete expectedSyncHash[number][c];
            }
            delete pendingSyncHashes[number];
        }
        uint32 remaining = totalBlocksCommitted;
        uint32 proven = totalBlocksProven;
        while (proven > remaining) {
            uint32 start = provenRangeStart[proven];
            delete provenRangeStart[proven];
            proven = start - 1;
        }
        totalBlocksProven = proven;
        if (totalBlocksConfirmed > proven) totalBlocksConfirmed = proven;
        uint64 revertId = ++totalReverts;
        emit BlocksReverted(remaining, revertId);
    }

    // ---------------------------------------------------------------- exodus

    /// Blocks the primary has not executed are in no chain's executed state (the primary
    /// executes first), and not in the exit root: their deposits can be refunded.
    function _firstRefundable() internal view override returns (uint64) {
        return totalExecutedPriorityRequests;
    }

    /// @notice In exodus mode, credits `proof.owner` with its balance of `proof.token` in
    /// the last executed state, proven by Merkle proof; once per (account, token).
    function exit(StoredBlockInfo calldata lastExecuted, ExitProof calldata proof) external onlyExodus nonReentrant {
        if (lastExecuted.blockSequence != totalBlocksExecuted) revert NotLastExecuted(lastExecuted.blockSequence);
        _checkStored(lastExecuted);
        if (proof.account >= MAX_ACCOUNTS) revert AccountOutOfRange(proof.account);
        _token(proof.token);
        if (exited[proof.account][proof.token]) revert AlreadyExited(proof.account, proof.token);
        if (proof.balance == 0) revert NothingToExit();

        uint256 balanceRoot = _root(proof.token, proof.balance, proof.balanceSiblings);
        uint256 leaf = poseidon.hash(
            TAG_ACCOUNT, [uint256(uint160(proof.owner)), uint256(proof.pubkeyHash), proof.nonce, balanceRoot]
        );
        uint256 accountsRoot = _root(proof.account, leaf, proof.accountSiblings);
        uint256 stateRoot =
            poseidon.hash(TAG_STATE, [accountsRoot, uint256(proof.reservesRoot), proof.accountCount, 0]);
        if (bytes32(stateRoot) != lastExecuted.stateRoot) revert InvalidExitProof();

        exited[proof.account][proof.token] = true;
        exodusPayoutsStarted = true;
        _payOut(proof.owner, proof.token, proof.balance);
        emit Exit(proof.account, proof.token, proof.owner, proof.balance);
    }

    function _root(uint256 index, uint256 leaf, bytes32[15] calldata siblings) private view returns (uint256) {
        uint256[] memory s = new uint256[](15);
        for (uint256 i = 0; i < 15; i++) {
            s[i] = uint256(siblings[i]);
        }
        return poseidon.merkleRoot(index, leaf, s);
    }

    function _root(uint256 index, uint256 leaf, bytes32[36] calldata siblings) private view returns (uint256) {
        uint256[] memory s = new uint256[](36);
        for (uint256 i = 0; i < 36; i++) {
            s[i] = uint256(siblings[i]);
        }
        return poseidon.merkleRoot(index, leaf, s);
    }
}
