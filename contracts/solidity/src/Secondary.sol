// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Op, Operations} from "./Operations.sol";
import {Settlement, SettlementConfig} from "./Settlement.sol";
import {StoredBlockInfo, CommitBlockInfo} from "./Types.sol";

/// @title A secondary settlement contract
/// @notice Never verifies a proof. It commits only the blocks that touch it, with only
/// its own ops (their priority requests and ChangePubKey signatures checked here), and
/// extends its sync hash over them; the committee carries that sync hash to the primary.
/// Once the primary has proven, confirmed and executed a block, the committee brings the
/// confirmation back, and this contract executes its blocks up to that height.
contract Secondary is Settlement {
    uint16 public immutable primaryChainId;

    /// The highest block the primary has confirmed (and executed), and its state root.
    uint32 public confirmedBlockNumber;
    bytes32 public confirmedStateRoot;

    event ConfirmationReceived(uint32 indexed blockNumber, bytes32 stateRoot);

    error StaleConfirmation(uint32 confirmed, uint32 got);
    error ConfirmationMismatch(uint32 blockNumber);
    error CannotRevertConfirmed(uint32 blockNumber);

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
        if (number <= previous.blockNumber) revert WrongBlockNumber(previous.blockNumber, number);
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
    /// proven, agreed by every chain and executed on the primary, attested by the committee.
    function receiveConfirmation(uint32 blockNumber, bytes32 stateRoot, bytes[] calldata signatures)
        external
        nonReentrant
    {
        _verifyAttestation(primaryChainId, KIND_CONFIRMATION, blockNumber, stateRoot, signatures);
        if (blockNumber <= confirmedBlockNumber) revert StaleConfirmation(confirmedBlockNumber, blockNumber);
        confirmedBlockNumber = blockNumber;
        confirmedStateRoot = stateRoot;
        emit ConfirmationReceived(blockNumber, stateRoot);
    }

    function _executable(StoredBlockInfo calldata info) internal view override returns (bool) {
        if (info.blockNumber > confirmedBlockNumber) return false;
        if (info.blockNumber == confirmedBlockNumber && info.stateRoot != confirmedStateRoot) {
            revert ConfirmationMismatch(info.blockNumber);
        }
        return true;
    }

    /// A block the primary confirmed has been executed there; this chain must execute it
    /// too, never drop it.
    function _onRevert(StoredBlockInfo calldata info) internal view override {
        if (info.blockNumber <= confirmedBlockNumber) revert CannotRevertConfirmed(info.blockNumber);
    }

    /// DESIGN §4: a secondary refunds the requests no committed block consumed. (Requests
    /// consumed by committed blocks may be in the primary's exit root.)
    function _firstRefundable() internal view override returns (uint64) {
        return totalCommittedPriorityRequests;
    }
}
