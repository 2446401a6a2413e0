// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Op, Operations} from "./Operations.sol";
import {Settlement, SettlementConfig} from "./Settlement.sol";
import {StoredBlockInfo, CommitBlockInfo, ExecuteBlockInfo} from "./Types.sol";

/// @title A secondary settlement contract
/// @notice Never verifies a proof. It commits only the blocks that touch it, with only
/// its own ops (their priority requests and ChangePubKey signatures checked here), and
/// extends its sync hash over them; the committee carries that sync hash to the primary.
/// Once the primary has proven, confirmed and executed a block, the committee brings the
/// confirmation back, naming the primary's own sync hash for this chain at that block, and
/// this contract executes exactly the prefix of its blocks whose sync hash reaches it. It
/// reverts only what the primary reverted, as the committee attests.
contract Secondary is Settlement {
    uint16 public immutable primaryChainId;

    /// The highest block the primary has confirmed (and executed), and the primary's sync
    /// hash for this chain after it: the end of the prefix this chain may execute.
    uint32 public confirmedBlockNumber;
    bytes32 public confirmedSyncHash;
    /// Every sync hash a confirmation ever named: each ends a prefix the primary compared,
    /// so a block at or before a block holding any of them may execute. A newer
    /// confirmation landing first (delivered by anyone) never makes an execution or a mark
    /// of an older confirmed prefix revert.
    mapping(bytes32 => bool) public confirmedSyncHashes;
    /// The last block sequence known to lie in a confirmed prefix.
    uint32 public executableSequence;
    /// The primary's reverts applied here, in order (its `totalReverts` once caught up).
    uint64 public revertsApplied;

    event ConfirmationReceived(uint32 indexed blockNumber, bytes32 stateRoot, bytes32 syncHash);

    error CannotRevertConfirmed(uint32 blockNumber);
    error WrongRevertId(uint64 expected, uint64 got);
    error NotRevertedByThePrimary(uint32 blockNumber);

    constructor(SettlementConfig memory config, uint16 primaryChainId_) Settlement(config) {
        if (primaryChainId_ == config.chainId || primaryChainId_ >= 16) revert InvalidConfig("primary chain id");
        primaryChainId = primaryChainId_;
        _storeGenesis(config.genesisStateRoot, EMPTY, bytes32(0));
    }

    /// @notice Commits the next blocks that touch this chain, each with exactly this
    /// chain's ops (`pubdata` holds only those; block numbers may skip).
    function commitCompressedBlocks(StoredBlockInfo calldata last, CommitBlockInfo[] calldata blocks)
        external
        onlyOperator
        notExodus
        nonReentrant
    {
        _checkLatest(last);
        StoredBlockInfo memory previous = last;
        for (uint256 b = 0; b < blocks.length; b++) {
            previous = _commitBlock(previous, blocks[b]);
        }
    }

    function _commitBlock(StoredBlockInfo memory previous, CommitBlockInfo calldata block_)
        private
        returns (StoredBlockInfo memory info)
    {
        uint32 number = block_.blockNumber;
        // nothing at or below a confirmation: the primary has compared all of those
        uint32 floor = previous.blockNumber > confirmedBlockNumber ? previous.blockNumber : confirmedBlockNumber;
        if (number <= floor) revert WrongBlockNumber(floor, number);
        if (block_.timestamp < previous.timestamp) revert TimestampBackwards(previous.timestamp, block_.timestamp);
        uint256 n = Operations.count(block_.pubdata);
        if (n == 0) revert EmptyBlock(number);

        bytes32 opsHash = EMPTY;
        uint64 priorityOps = 0;
        uint256 signaturesUsed = 0;
        for (uint256 i = 0; i < n; i++) {
            Op memory op = Operations.read(block_.pubdata, i);
            if (!Operations.isOnchain(op) || op.chain != chainId) revert NotThisChainsOp(i);
            opsHash = Operations.chainHash(opsHash, Operations.record(block_.pubdata, i));
            uint64 consumed;
            (signaturesUsed, consumed) = _checkOwnOp(op, i, block_.changePubKeySignatures, signaturesUsed);
            priorityOps += consumed;
        }
        if (signaturesUsed != block_.changePubKeySignatures.length) {
            revert UnusedChangePubKeySignatures(block_.changePubKeySignatures.length - signaturesUsed);
        }

        info = StoredBlockInfo({
            blockNumber: number,
            blockSequence: previous.blockSequence + 1,
            priorityOperations: priorityOps,
            timestamp: block_.timestamp,
            stateRoot: block_.newStateRoot,
            opsHash: opsHash,
            syncHash: keccak256(abi.encodePacked(previous.syncHash, number, block_.newStateRoot, opsHash)),
            commitment: bytes32(0)
        });
        _store(info);
    }

    /// @notice Delivers the primary's confirmation that blocks up to `blockNumber` are
    /// proven, agreed by every chain and executed on the primary, attested by the committee
    /// (kind 2, hash `keccak256(abi.encode(stateRoot, syncHash))`), where `syncHash` is the
    /// primary's sync hash for this chain after `blockNumber` (`Primary.syncHashAt`).
    /// Anyone may deliver it. Idempotent: a confirmation at or below `confirmedBlockNumber`
    /// returns at once and changes nothing (its signatures unread: it could change nothing
    /// even if valid), so a user who copies the committee's signatures and delivers them
    /// first never makes the operator's identical call revert. A newer one is verified.
    function receiveConfirmation(uint32 blockNumber, bytes32 stateRoot, bytes32 syncHash, bytes[] calldata signatures)
        external
        nonReentrant
    {
        if (blockNumber <= confirmedBlockNumber) return;
        _verifyAttestation(
            primaryChainId, KIND_CONFIRMATION, blockNumber, keccak256(abi.encode(stateRoot, syncHash)), signatures
        );
        confirmedBlockNumber = blockNumber;
        confirmedSyncHash = syncHash;
        confirmedSyncHashes[syncHash] = true;
        emit ConfirmationReceived(blockNumber, stateRoot, syncHash);
    }

    /// A block executes only inside a prefix whose sync hash reaches a confirmed one: at or
    /// below `executableSequence`, or at or before a block of this call whose sync hash a
    /// confirmation named (each block of the call from `b` on is checked as stored
    /// before the call ends; the leading blocks `executeBlocks` skipped, already executed,
    /// are never read here, and a skipped block never moves `executableSequence`). A block
    /// the primary never compared is in no such prefix.
    function _executable(ExecuteBlockInfo[] calldata blocks, uint256 b) internal override returns (bool) {
        if (blocks[b].storedBlock.blockSequence <= executableSequence) return true;
        bytes32 target = confirmedSyncHash;
        for (uint256 j = b; j < blocks.length; j++) {
            bytes32 syncHash = blocks[j].storedBlock.syncHash;
            if (syncHash == target || confirmedSyncHashes[syncHash]) {
                executableSequence = blocks[j].storedBlock.blockSequence;
                return true;
            }
        }
        return false;
    }

    function _afterExecute(uint32) internal override {}

    /// @notice Marks every block up to `reached` executable: a block this contract stores
    /// whose sync hash a confirmation named. Lets anyone execute a confirmed prefix over
    /// several `executeBlocks` calls (one call holding the whole prefix needs no mark).
    function markConfirmedPrefix(StoredBlockInfo calldata reached) external {
        _checkStored(reached);
        if (!confirmedSyncHashes[reached.syncHash]) revert NotConfirmed(reached.blockNumber);
        if (reached.blockSequence > executableSequence) executableSequence = reached.blockSequence;
    }

    /// @notice Reverts the blocks the primary reverted, newest first, as the committee
    /// attests (kind 3 from the primary: block number `primaryBlock`, the primary's height
    /// after revert `revertId`; hash `keccak256(abi.encode(uint64 revertId, syncHash))`,
    /// `syncHash` the primary's sync hash for this chain at `primaryBlock`). Reverts apply
    /// in order, each once. Every block above `primaryBlock` may go; one at or below it
    /// only if what remains is the primary's prefix (`newLatest.syncHash == syncHash`).
    /// `newLatest` is the latest block left. Never unilaterally, allowed in exodus mode
    /// (what the primary reverted is in no root it pays exits from).
    function revertBlocks(
        StoredBlockInfo[] calldata blocks,
        StoredBlockInfo calldata newLatest,
        uint64 revertId,
        uint32 primaryBlock,
        bytes32 syncHash,
        bytes[] calldata signatures
    ) external nonReentrant {
        _verifyAttestation(
            primaryChainId, KIND_REVERT, primaryBlock, keccak256(abi.encode(revertId, syncHash)), signatures
        );
        if (revertId != revertsApplied + 1) revert WrongRevertId(revertsApplied + 1, revertId);
        revertsApplied = revertId;
        bool prefixOnly = false;
        for (uint256 b = 0; b < blocks.length; b++) {
            // Reverts go newest first, so removing any block of the confirmed prefix means
            // removing its tip, the block that holds the confirmed sync hash. A confirmation
            // may arrive before an older revert (it names a later primary block than the
            // revert's height), so the heights themselves are not compared.
            if (confirmedSyncHashes[blocks[b].syncHash]) revert CannotRevertConfirmed(blocks[b].blockNumber);
            _revertBlock(blocks[b]);
            if (blocks[b].blockNumber <= primaryBlock) prefixOnly = true;
        }
        _checkLatest(newLatest);
        if (newLatest.blockNumber > primaryBlock || (prefixOnly && newLatest.syncHash != syncHash)) {
            revert NotRevertedByThePrimary(newLatest.blockNumber);
        }
        if (totalBlocksCommitted < executableSequence) revert CannotRevertConfirmed(newLatest.blockNumber);
        emit BlocksReverted(totalBlocksCommitted, revertId);
    }

    /// DESIGN §4: a secondary refunds the requests no committed block consumed. (Requests
    /// consumed by committed blocks may be in the primary's exit root.)
    function _firstRefundable() internal view override returns (uint64) {
        return totalCommittedPriorityRequests;
    }
}
