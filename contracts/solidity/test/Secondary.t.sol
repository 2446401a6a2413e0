// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {Secondary} from "../src/Secondary.sol";
import {Settlement} from "../src/Settlement.sol";
import {StoredBlockInfo, CommitBlockInfo} from "../src/Types.sol";

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

    function test_executeWaitsForThePrimarysConfirmation() public {
        _depositOn1(2 ether); // what the L2 pays out here was deposited here (its reserve)
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 3, Pubdata.withdraw(1, 1, 0, 2 ether, carol), 0);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 3));
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 1, 0, 2 ether, carol)));

        _confirmTo(secondary1, 2, bytes32(uint256(0x200)));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 3));
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 1, 0, 2 ether, carol)));

        _confirmTo(secondary1, 3, bytes32(uint256(0xBAD)));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Secondary.ConfirmationMismatch.selector, 3));
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 1, 0, 2 ether, carol)));

        _confirmTo(secondary1, 4, bytes32(uint256(0x400)));
        vm.prank(operator);
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 1, 0, 2 ether, carol)));
        assertEq(secondary1.pendingBalances(carol, 0), 2 ether, "claimable after confirmation");
        uint256 before = carol.balance;
        secondary1.withdrawPendingBalance(payable(carol), 0);
        assertEq(carol.balance - before, 2 ether, "paid");
        vm.expectRevert(Settlement.NothingToWithdraw.selector);
        secondary1.withdrawPendingBalance(payable(carol), 0);
    }

    function test_confirmationsAreAttestedAndMonotonic() public {
        _confirmTo(secondary1, 5, bytes32(uint256(5)));
        assertEq(secondary1.confirmedBlockNumber(), 5, "confirmed");
        vm.expectRevert(abi.encodeWithSelector(Secondary.StaleConfirmation.selector, 5, 5));
        _confirmTo(secondary1, 5, bytes32(uint256(5)));
        // a sync-hash attestation is not a confirmation; nor is one meant for chain 2
        bytes[] memory wrongKind = _attest(0, 1, 1, 6, bytes32(uint256(6)), 2);
        vm.expectRevert();
        secondary1.receiveConfirmation(6, bytes32(uint256(6)), wrongKind);
        bytes[] memory otherChain = _attest(0, 2, 2, 6, bytes32(uint256(6)), 2);
        vm.expectRevert();
        secondary1.receiveConfirmation(6, bytes32(uint256(6)), otherChain);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotEnoughSignatures.selector, 1, 2));
        secondary1.receiveConfirmation(6, bytes32(uint256(6)), _attest(0, 1, 2, 6, bytes32(uint256(6)), 1));
        assertEq(secondary1.confirmedBlockNumber(), 5, "unchanged");
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

    function test_revertOnSecondary() public {
        _depositOn1(1 ether);
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 2, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);
        vm.prank(operator);
        secondary1.revertBlocks(_revertList(a));
        assertEq(secondary1.totalBlocksCommitted(), 0, "reverted");
        assertEq(secondary1.totalCommittedPriorityRequests(), 0, "request back in the queue");
        StoredBlockInfo memory b = _commit(_genesisSecondary(), 3, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);

        // once the primary has confirmed (and executed) it, the block stays
        _confirmTo(secondary1, 3, b.stateRoot);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Secondary.CannotRevertConfirmed.selector, 3));
        secondary1.revertBlocks(_revertList(b));
    }

    function test_noRevertsInExodus() public {
        _depositOn1(1 ether);
        StoredBlockInfo memory a = _commit(_genesisSecondary(), 2, Pubdata.deposit(1, 1, 0, 1 ether, carol), 1);
        _depositOn1(1 ether);
        vm.warp(block.timestamp + EXPIRY + 1);
        secondary1.activateExodusMode();
        // reverting now would make the committed deposit refundable: refused
        vm.prank(operator);
        vm.expectRevert(Settlement.InExodusMode.selector);
        secondary1.revertBlocks(_revertList(a));
    }

    function test_constructorRejectsItselfAsPrimary() public {
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "primary chain id"));
        new Secondary(_config(1, 0), 1);
    }
}
