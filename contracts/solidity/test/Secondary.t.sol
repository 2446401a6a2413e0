// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {Secondary} from "../src/Secondary.sol";
import {Settlement} from "../src/Settlement.sol";
import {Operations} from "../src/Operations.sol";
import {StoredBlockInfo, CommitBlockInfo, ExecuteBlockInfo} from "../src/Types.sol";

contract SecondaryTest is Fixture {
    address internal carol = address(0xCA201);

    function setUp() public override {
        super.setUp();
        vm.deal(carol, 100 ether);
    }

    function _depositOn1(uint256 amount) internal {
        vm.prank(carol);
        secondary1.depositNative{value: amount}(carol);
    }

    function _commit(StoredBlockInfo memory prev, uint32 number, bytes memory ops, uint64 priorityOps)
        internal
        returns (StoredBlockInfo memory)
    {
        return _commitSecondary(secondary1, prev, _block(number, bytes32(uint256(number) * 0x100), ops), priorityOps);
    }

    function test_commitKeepsABlockSequenceBesideGappyBlockNumbers() public {
        _depositOn1(5 ether);
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 3, Pubdata.deposit(1, 9, 0, 5 ether, carol), 1);
        StoredBlockInfo memory b = _commit(a, 7, Pubdata.withdraw(1, 9, 0, 1 ether, carol), 0);
        assertEq(a.blockSequence, 1, "first of this chain");
        assertEq(b.blockSequence, 2, "second of this chain");
        assertEq(b.blockNumber, 7, "L2 numbering kept");
        assertEq(secondary1.totalBlocksCommitted(), 2, "committed");
        assertEq(secondary1.totalCommittedPriorityRequests(), 1, "deposit consumed");
    }

    function test_commitTakesOnlyThisChainsOps() public {
        StoredBlockInfo memory g = _genesisSecondary();
        bytes[4] memory foreign = [
            Pubdata.withdraw(2, 1, 0, 1, carol),
            Pubdata.transfer(1, 2, 0, 1),
            Pubdata.noop(),
            Pubdata.withdraw(0, 1, 0, 1, carol)
        ];
        for (uint256 i = 0; i < foreign.length; i++) {
            vm.prank(operator);
            vm.expectRevert(abi.encodeWithSelector(Settlement.NotThisChainsOp.selector, 1));
            secondary1.commitCompressedBlocks(
                g, _one(_block(1, 0, bytes.concat(Pubdata.withdraw(1, 1, 0, 1, carol), foreign[i])))
            );
        }
    }

    function test_commitRejectsWrongBlocks() public {
        StoredBlockInfo memory g = _genesisSecondary();
        StoredBlockInfo memory a = _commit(g, 4, Pubdata.withdraw(1, 1, 0, 1, carol), 0);
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockNumber.selector, 4, 4));
        secondary1.commitCompressedBlocks(a, _one(_block(4, 0, Pubdata.withdraw(1, 1, 0, 1, carol))));
        vm.expectRevert(abi.encodeWithSelector(Settlement.EmptyBlock.selector, 5));
        secondary1.commitCompressedBlocks(a, _one(_block(5, 0, "")));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotLatestBlock.selector, 0, 1));
        secondary1.commitCompressedBlocks(g, _one(_block(5, 0, Pubdata.withdraw(1, 1, 0, 1, carol))));
        StoredBlockInfo memory forged = _copy(a);
        forged.syncHash = keccak256("forged");
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongStoredBlock.selector, 1));
        secondary1.commitCompressedBlocks(forged, _one(_block(5, 0, Pubdata.withdraw(1, 1, 0, 1, carol))));
        vm.stopPrank();
        _depositOn1(5 ether);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityOp.selector, 0, 0));
        secondary1.commitCompressedBlocks(a, _one(_block(5, 0, Pubdata.deposit(1, 2, 0, 6 ether, carol))));
        vm.expectRevert(Settlement.NotOperator.selector);
        secondary1.commitCompressedBlocks(a, _one(_block(5, 0, Pubdata.withdraw(1, 1, 0, 1, carol))));
    }

    /// Issue 9 item 6: a confirmation names the primary's sync hash for this chain, and
    /// only the prefix reaching it executes (no longer "everything at or below N").
    function test_executeWaitsForThePrimarysConfirmation() public {
        _depositOn1(2 ether); // what the L2 pays out here was deposited here (its reserve)
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 3, Pubdata.withdraw(1, 1, 0, 2 ether, carol), 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 3));
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 1, 0, 2 ether, carol)));

        // the primary's sync hash for chain 1 at block 2: nothing of chain 1 yet
        _confirmTo(secondary1, 2, bytes32(uint256(0x200)), EMPTY);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 3));
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 1, 0, 2 ether, carol)));

        // a confirmation at a higher block whose sync hash this chain never reached
        _confirmTo(secondary1, 3, a.stateRoot, keccak256("the primary compared other ops"));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 3));
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 1, 0, 2 ether, carol)));

        _confirmTo(secondary1, 4, bytes32(uint256(0x400)), a.syncHash);
        // issue 9 item 8: anyone executes a confirmed block, not only the operator
        vm.prank(address(0xE0E));
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 1, 0, 2 ether, carol)));
        assertEq(secondary1.pendingBalances(carol, 0), 2 ether, "claimable after confirmation");
        assertEq(secondary1.executableSequence(), 1, "the confirmed prefix");
        uint256 before = carol.balance;
        secondary1.withdrawPendingBalance(payable(carol), 0);
        assertEq(carol.balance - before, 2 ether, "paid");
        vm.expectRevert(Settlement.NothingToWithdraw.selector);
        secondary1.withdrawPendingBalance(payable(carol), 0);
    }

    /// Issue 9 item 6, the attack: the operator commits on the secondary an extra block of
    /// withdrawals between the blocks the primary compared (block 3, between 2 and 5),
    /// then the confirmation of block 4 arrives. The old contract executed everything at
    /// or below 4 and drained the chain; now only the prefix whose sync hash is the
    /// primary's executes, and nothing at or below a confirmation can be committed after it.
    function test_aBlockThePrimaryNeverComparedNeverExecutes() public {
        address mallory = address(0xBAD);
        _depositOn1(10 ether);
        StoredBlockInfo memory honest = _commit(_genesisSecondary(), 2, Pubdata.withdraw(1, 1, 0, 1 ether, carol), 0);
        StoredBlockInfo memory extra = _commit(honest, 3, Pubdata.withdraw(1, 6, 0, 9 ether, mallory), 0);
        // the primary executed up to 4; its sync hash for chain 1 at 4 is the one after block 2
        _confirmTo(secondary1, 4, bytes32(uint256(0x400)), honest.syncHash);

        ExecuteBlockInfo[] memory both = new ExecuteBlockInfo[](2);
        both[0] = ExecuteBlockInfo(honest, Pubdata.withdraw(1, 1, 0, 1 ether, carol));
        both[1] = ExecuteBlockInfo(extra, Pubdata.withdraw(1, 6, 0, 9 ether, mallory));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 3));
        secondary1.executeBlocks(both);
        secondary1.executeBlocks(_exec(honest, Pubdata.withdraw(1, 1, 0, 1 ether, carol)));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 3));
        secondary1.executeBlocks(_exec(extra, Pubdata.withdraw(1, 6, 0, 9 ether, mallory)));
        assertEq(secondary1.pendingBalances(mallory, 0), 0, "nothing for the uncompared block");
        assertEq(secondary1.pendingBalances(carol, 0), 1 ether, "the compared block paid");

    }

    /// Issue 9 item 6: after the confirmation of block 4, no block numbered 4 or below is
    /// taken (the old contract accepted any higher block number).
    function test_noCommitAtOrBelowAConfirmation() public {
        address mallory = address(0xBAD);
        StoredBlockInfo memory g = _genesisSecondary();
        _confirmTo(secondary2, 4, bytes32(uint256(0x400)), EMPTY);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockNumber.selector, 4, 4));
        secondary2.commitCompressedBlocks(g, _one(_block(4, 0, Pubdata.withdraw(2, 1, 0, 1, mallory))));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockNumber.selector, 4, 3));
        secondary2.commitCompressedBlocks(g, _one(_block(3, 0, Pubdata.withdraw(2, 1, 0, 1, mallory))));
        _commitSecondary(secondary2, g, _block(5, 0, Pubdata.withdraw(2, 1, 0, 1, mallory)), 0);
    }

    /// Issue 9 item 8: confirmed withdrawals are never stranded: anyone executes them, in
    /// exodus mode too (the old contract: operator only, never in exodus).
    function test_anyoneExecutesConfirmedBlocksInExodus() public {
        _depositOn1(3 ether);
        bytes memory ops = bytes.concat(Pubdata.deposit(1, 1, 0, 3 ether, carol), Pubdata.withdraw(1, 1, 0, 2 ether, carol));
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 2, ops, 1);
        _confirmTo(secondary1, 2, a.stateRoot, a.syncHash);
        _depositOn1(1 ether); // never served: the operator has gone
        vm.warp(block.timestamp + EXPIRY + 1);
        secondary1.activateExodusMode();
        vm.prank(carol);
        secondary1.executeBlocks(_exec(a, ops));
        assertEq(secondary1.pendingBalances(carol, 0), 2 ether, "the confirmed withdrawal is claimable");
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotRefundable.selector, 0));
        secondary1.refundDeposit(0);
        secondary1.refundDeposit(1);
        uint256 before = carol.balance;
        secondary1.withdrawPendingBalance(payable(carol), 0);
        assertEq(carol.balance - before, 3 ether, "the withdrawal and the unserved deposit");
    }

    /// SPEC A: a deposit the L2 could not credit consumes its request at commit, and is
    /// refunded to the depositor when the block executes here; any other flag is refused.
    function test_aRefundedDepositIsPaidBackWhenItsBlockExecutes() public {
        _depositOn1(4 ether);
        bytes memory op = Pubdata.refundedDeposit(1, 0, 4 ether, carol);
        bytes memory bad = Pubdata.refundedDeposit(1, 0, 4 ether, carol);
        bad[45] = 0x02;
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Operations.BadRefundedFlag.selector, 0, 2));
        secondary1.commitCompressedBlocks(_genesisSecondary(), _one(_block(2, 0, bad)));
        // checked against the request like any deposit
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityOp.selector, 0, 0));
        secondary1.commitCompressedBlocks(
            _genesisSecondary(), _one(_block(2, 0, Pubdata.refundedDeposit(1, 0, 5 ether, carol)))
        );
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 2, op, 1);
        assertEq(secondary1.totalCommittedPriorityRequests(), 1, "the request is consumed");
        _confirmTo(secondary1, 2, a.stateRoot, a.syncHash);
        secondary1.executeBlocks(_exec(a, op));
        assertEq(secondary1.pendingBalances(carol, 0), 4 ether, "refunded to the depositor");
        assertEq(secondary1.outstanding(0), 0, "no longer held for the L2");
    }

    function test_exodusRefundsEachUnconsumedRequestOnce() public {
        _depositOn1(1 ether); // 0: consumed by a committed block
        _depositOn1(2 ether); // 1: never committed
        vm.prank(carol);
        secondary1.requestFullExit(1, 0); // 2: a full exit, nothing to refund
        _commit(_genesisSecondary(), 2, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);
        vm.warp(block.timestamp + EXPIRY + 1);
        secondary1.activateExodusMode();
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotRefundable.selector, 0));
        secondary1.refundDeposit(0);
        secondary1.refundDeposit(1);
        assertEq(secondary1.pendingBalances(carol, 0), 2 ether, "refund claimable");
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyRefunded.selector, 1));
        secondary1.refundDeposit(1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotRefundable.selector, 2));
        secondary1.refundDeposit(2);
        uint256 before = carol.balance;
        secondary1.withdrawPendingBalance(payable(carol), 0);
        assertEq(carol.balance - before, 2 ether, "refunded once");
    }

    /// Issue 9 item 9: the operator can no longer revert a secondary's block on its own
    /// (after its sync hash went to the primary) and then have exodus refund a deposit
    /// the L2 credits: a secondary reverts only by the primary's attested revert.
    function test_noUnilateralRevertThenRefund() public {
        _depositOn1(1 ether);
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 2, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);
        StoredBlockInfo[] memory list = _revertList(a);
        StoredBlockInfo memory g = _genesisSecondary();
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotEnoughSignatures.selector, 0, 2));
        secondary1.revertBlocks(list, g, 1, 1, EMPTY, new bytes[](0));
        // an attestation of something the primary did not say (another height) is no help
        bytes[] memory sigs = _attest(0, 1, 3, 2, keccak256(abi.encode(uint64(1), EMPTY)), 2);
        vm.expectRevert();
        secondary1.revertBlocks(list, g, 1, 1, EMPTY, sigs);
        assertEq(secondary1.totalBlocksCommitted(), 1, "the block stays");
        vm.warp(block.timestamp + EXPIRY + 1);
        secondary1.activateExodusMode();
        // the deposit a committed block consumed may be in the primary's exit root
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotRefundable.selector, 0));
        secondary1.refundDeposit(0);
    }

    /// Issue 9 item 9: what the primary reverted, the secondary reverts, once, in order.
    function test_revertFollowsThePrimarysAttestedRevert() public {
        _depositOn1(1 ether);
        StoredBlockInfo memory g = _genesisSecondary();
        StoredBlockInfo memory a = _commit(g, 2, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);
        // the primary reverted to block 1 (revert 1); its sync hash for chain 1 there: EMPTY
        _revertOn(secondary1, _revertList(a), g, 1, 1, EMPTY);
        assertEq(secondary1.totalBlocksCommitted(), 0, "reverted");
        assertEq(secondary1.totalCommittedPriorityRequests(), 0, "request back in the queue");
        assertEq(secondary1.revertsApplied(), 1, "revert 1 applied");
        // replaying revert 1 later (after the block was committed again) is refused
        StoredBlockInfo memory b = _commit(g, 3, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);
        vm.expectRevert(abi.encodeWithSelector(Secondary.WrongRevertId.selector, 2, 1));
        _revertOn(secondary1, _revertList(b), g, 1, 1, EMPTY);
        // revert 2 to block 5 reverts nothing at or below 5 unless it is off the primary's prefix
        vm.expectRevert(abi.encodeWithSelector(Secondary.NotRevertedByThePrimary.selector, 0));
        _revertOn(secondary1, _revertList(b), g, 2, 5, b.syncHash);
        // an empty revert still counts (reverts apply in order)
        _revertOn(secondary1, new StoredBlockInfo[](0), b, 2, 5, b.syncHash);
        // a block the primary never had, at or below its height: reverted back to its prefix
        StoredBlockInfo memory bogus = _commit(b, 4, Pubdata.withdraw(1, 1, 0, 1, carol), 0);
        _revertOn(secondary1, _revertList(bogus), b, 3, 5, b.syncHash);
        assertEq(secondary1.totalBlocksCommitted(), 1, "back to the primary's prefix");

        // once the primary has confirmed (and executed) it, the block stays
        _confirmTo(secondary1, 3, b.stateRoot, b.syncHash);
        vm.expectRevert(abi.encodeWithSelector(Secondary.CannotRevertConfirmed.selector, 3));
        _revertOn(secondary1, _revertList(b), g, 4, 2, EMPTY);
    }

    /// Review finding (issue 9 item 9): the primary reverted to block 1, then confirmed and
    /// executed blocks 2..5 that do not touch this chain; their confirmation (naming the
    /// primary's sync hash at block 1) reaches this chain before the revert does. The revert
    /// must still apply, or this chain's reverts (and with them every later sync hash)
    /// would be stuck for good.
    function test_aConfirmationDeliveredBeforeAnOlderRevertDoesNotJamReverts() public {
        _depositOn1(1 ether);
        StoredBlockInfo memory g = _genesisSecondary();
        StoredBlockInfo memory stale = _commit(g, 2, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);
        _confirmTo(secondary1, 5, bytes32(uint256(7)), EMPTY);
        _revertOn(secondary1, _revertList(stale), g, 1, 1, EMPTY);
        assertEq(secondary1.totalBlocksCommitted(), 0, "the stale block is reverted");
        assertEq(secondary1.revertsApplied(), 1, "and the revert counted");
    }

    function test_revertsInExodusOnlyByThePrimary() public {
        _depositOn1(1 ether);
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 2, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);
        _depositOn1(1 ether);
        vm.warp(block.timestamp + EXPIRY + 1);
        secondary1.activateExodusMode();
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotRefundable.selector, 0));
        secondary1.refundDeposit(0);
        // reverting on the operator's word would make the committed deposit refundable:
        // refused; the primary's attested revert still applies (it is in no exit root)
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotEnoughSignatures.selector, 0, 2));
        secondary1.revertBlocks(_revertList(a), _genesisSecondary(), 1, 1, EMPTY, new bytes[](0));
        _revertOn(secondary1, _revertList(a), _genesisSecondary(), 1, 1, EMPTY);
        secondary1.refundDeposit(0);
        assertEq(secondary1.pendingBalances(carol, 0), 1 ether, "refunded once the primary's revert applied");
    }

    function test_constructorRejectsItselfAsPrimary() public {
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "primary chain id"));
        new Secondary(_config(1, 0), 1);
    }
}
