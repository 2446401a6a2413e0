// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Vm} from "./utils/Vm.sol";
import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {Primary} from "../src/Primary.sol";
import {Secondary} from "../src/Secondary.sol";
import {Settlement} from "../src/Settlement.sol";
import {StoredBlockInfo, ExecuteBlockInfo} from "../src/Types.sol";

/// DESIGN §9, a user: the settlement work open to anyone (executing confirmed blocks,
/// delivering the committee's sync hashes and confirmations) is idempotent for work
/// already done. A user who copies the operator's transaction from the mempool and lands
/// it first must not make the operator's identical transaction revert: the node's sender
/// stops its chain on a mined revert, so that would halt settlement. Each test has the
/// user do the work first, then checks that the operator's identical call succeeds and
/// changes nothing (no event, counters unchanged), and that new work keeps every check.
contract FrontRunTest is Fixture {
    address internal alice = address(0xA11CE);
    address internal carol = address(0xCA201);
    address internal mallory = address(0xBAD);

    event BlockExecuted(uint32 indexed blockNumber, uint32 blockSequence, bytes32 stateRoot);

    function setUp() public override {
        super.setUp();
        vm.deal(alice, 100 ether);
        vm.deal(carol, 100 ether);
    }

    function _blocks(ExecuteBlockInfo memory a, ExecuteBlockInfo memory b) internal pure returns (ExecuteBlockInfo[] memory e) {
        e = new ExecuteBlockInfo[](2);
        e[0] = a;
        e[1] = b;
    }

    function _blocks(ExecuteBlockInfo memory a, ExecuteBlockInfo memory b, ExecuteBlockInfo memory c)
        internal
        pure
        returns (ExecuteBlockInfo[] memory e)
    {
        e = new ExecuteBlockInfo[](3);
        e[0] = a;
        e[1] = b;
        e[2] = c;
    }

    /// The events emitted since `vm.recordLogs()`.
    function _logs() internal returns (Vm.Log[] memory) {
        return vm.getRecordedLogs();
    }

    /// Exactly one BlockExecuted, of `number`, was emitted since `vm.recordLogs()` (its
    /// payouts emit PendingBalanceCredited beside it).
    function _assertExecutedOnly(uint32 number) internal {
        Vm.Log[] memory logs = _logs();
        uint256 executed = 0;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].topics[0] != BlockExecuted.selector) continue;
            executed++;
            assertEq(logs[i].topics[1], bytes32(uint256(number)), "of the new block only");
        }
        assertEq(executed, 1, "one block executed");
    }

    // ------------------------------------------------------------ primary: execute

    /// Blocks 1 and 2 of the primary, touching only the primary (confirmed once proven),
    /// each its own proof range: block 1 consumes alice's deposit of 10 and withdraws 2,
    /// block 2 withdraws 3.
    function _primaryTwoRanges() internal returns (ExecuteBlockInfo memory e1, ExecuteBlockInfo memory e2) {
        vm.prank(alice);
        primary.depositNative{value: 10 ether}(alice);
        bytes memory ops1 = bytes.concat(Pubdata.deposit(0, 1, 0, 10 ether, alice), Pubdata.withdraw(0, 1, 0, 2 ether, alice));
        bytes memory ops2 = Pubdata.withdraw(0, 1, 0, 3 ether, alice);
        (StoredBlockInfo memory one, bytes32[] memory s1) =
            _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x11)), ops1), 1);
        (StoredBlockInfo memory two,) = _commitPrimary(one, s1, _block(2, bytes32(uint256(0x22)), ops2), 0);
        _prove(_genesisPrimary(), one);
        _prove(one, two);
        assertEq(primary.totalBlocksConfirmed(), 2, "confirmed");
        e1 = ExecuteBlockInfo(one, ops1);
        e2 = ExecuteBlockInfo(two, ops2);
    }

    function test_primaryExecuteAfterAUserExecutedFirst() public {
        (ExecuteBlockInfo memory e1, ExecuteBlockInfo memory e2) = _primaryTwoRanges();
        // the user executes block 1 (a range end) before the operator's [1, 2] lands
        vm.prank(mallory);
        primary.executeBlocks(_exec(e1.storedBlock, e1.ops));
        vm.recordLogs();
        vm.prank(operator);
        primary.executeBlocks(_blocks(e1, e2));
        _assertExecutedOnly(2);
        assertEq(primary.totalBlocksExecuted(), 2, "block 2 executed");
        assertEq(primary.totalExecutedPriorityRequests(), 1, "block 1's deposit counted once");
        assertEq(primary.pendingBalances(alice, 0), 5 ether, "block 1 paid once, block 2 once");

        // the user executes both before the operator's identical [1, 2]: nothing changes
        vm.recordLogs();
        vm.prank(operator);
        primary.executeBlocks(_blocks(e1, e2));
        assertEq(_logs().length, 0, "no event");
        assertEq(primary.totalBlocksExecuted(), 2, "unchanged");
        assertEq(primary.totalExecutedPriorityRequests(), 1, "unchanged");
        assertEq(primary.pendingBalances(alice, 0), 5 ether, "nothing paid twice");
    }

    function test_primaryExecuteOfEverythingAlreadyExecutedChangesNothing() public {
        (ExecuteBlockInfo memory e1, ExecuteBlockInfo memory e2) = _primaryTwoRanges();
        vm.prank(mallory);
        primary.executeBlocks(_blocks(e1, e2));
        assertEq(primary.pendingBalances(alice, 0), 5 ether, "the user's call paid");
        vm.recordLogs();
        vm.prank(operator);
        primary.executeBlocks(_blocks(e1, e2));
        assertEq(_logs().length, 0, "no event");
        vm.prank(operator);
        primary.executeBlocks(_exec(e2.storedBlock, e2.ops));
        vm.prank(operator);
        primary.executeBlocks(new ExecuteBlockInfo[](0));
        assertEq(_logs().length, 0, "still no event");
        assertEq(primary.totalBlocksExecuted(), 2, "unchanged");
        assertEq(primary.totalExecutedPriorityRequests(), 1, "unchanged");
        assertEq(primary.pendingBalances(alice, 0), 5 ether, "nothing paid twice");
    }

    /// A skipped block is never read beyond its sequence: a forged block 1 (not stored,
    /// paying mallory) presented after block 1 executed pays nothing, alone or leading.
    function test_primarySkippedBlocksAreNeverRead() public {
        (ExecuteBlockInfo memory e1, ExecuteBlockInfo memory e2) = _primaryTwoRanges();
        primary.executeBlocks(_exec(e1.storedBlock, e1.ops));
        StoredBlockInfo memory forged = _copy(e1.storedBlock);
        forged.stateRoot = keccak256("forged");
        bytes memory steal = Pubdata.withdraw(0, 6, 0, 7 ether, mallory);
        forged.opsHash = _opsHash(steal, 0);
        vm.recordLogs();
        primary.executeBlocks(_exec(forged, steal));
        assertEq(_logs().length, 0, "nothing");
        primary.executeBlocks(_blocks(ExecuteBlockInfo(forged, steal), e2));
        _assertExecutedOnly(2);
        assertEq(primary.pendingBalances(mallory, 0), 0, "the forged block paid nothing");
        assertEq(primary.pendingBalances(alice, 0), 5 ether, "the stored blocks paid");
    }

    /// After skipped blocks, the rest continues exactly from totalBlocksExecuted + 1 with
    /// every check: no gap, stored, confirmed, ending at a range end; and a block already
    /// executed that follows new work is not skipped.
    function test_primaryExecuteStillChecksTheBlocksAfterTheSkippedOnes() public {
        vm.prank(alice);
        primary.depositNative{value: 10 ether}(alice);
        bytes memory ops1 = Pubdata.deposit(0, 1, 0, 10 ether, alice);
        (StoredBlockInfo memory one, bytes32[] memory s1) =
            _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x11)), ops1), 1);
        (StoredBlockInfo memory two, bytes32[] memory s2) =
            _commitPrimary(one, s1, _block(2, bytes32(uint256(0x22)), Pubdata.noop()), 0);
        (StoredBlockInfo memory three, bytes32[] memory s3) =
            _commitPrimary(two, s2, _block(3, bytes32(uint256(0x33)), Pubdata.noop()), 0);
        _prove(_genesisPrimary(), one);
        _prove(one, three); // one range, 2..3
        ExecuteBlockInfo memory e1 = ExecuteBlockInfo(one, ops1);
        ExecuteBlockInfo memory e2 = ExecuteBlockInfo(two, "");
        ExecuteBlockInfo memory e3 = ExecuteBlockInfo(three, "");
        vm.prank(mallory);
        primary.executeBlocks(_exec(one, ops1));

        vm.startPrank(operator);
        // a gap after the skipped block
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockToExecute.selector, 2, 3));
        primary.executeBlocks(_blocks(e1, e3));
        // inside a range: the primary stops only at a range end (DESIGN §1)
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotAfterARangeEnd.selector, 2));
        primary.executeBlocks(_blocks(e1, e2));
        // not stored
        StoredBlockInfo memory wrong = _copy(two);
        wrong.stateRoot = keccak256("forged");
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongStoredBlock.selector, 2));
        primary.executeBlocks(_blocks(e1, ExecuteBlockInfo(wrong, ""), e3));
        // an executed block after new work is out of order, not skipped
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockToExecute.selector, 4, 1));
        primary.executeBlocks(_blocks(e2, e3, e1));
        vm.stopPrank();
        // not confirmed: block 4, committed and unproven
        (StoredBlockInfo memory four,) = _commitPrimary(three, s3, _block(4, bytes32(uint256(0x44)), Pubdata.noop()), 0);
        vm.startPrank(operator);
        ExecuteBlockInfo[] memory upTo4 = new ExecuteBlockInfo[](4);
        (upTo4[0], upTo4[1], upTo4[2], upTo4[3]) = (e1, e2, e3, ExecuteBlockInfo(four, ""));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 4));
        primary.executeBlocks(upTo4);
        assertEq(primary.totalBlocksExecuted(), 1, "nothing of these executed");

        primary.executeBlocks(_blocks(e1, e2, e3));
        vm.stopPrank();
        assertEq(primary.totalBlocksExecuted(), 3, "the whole range 2..3");
    }

    /// Exodus: once exodus has paid out, execution stops (the exits trust the last
    /// executed root); a call of blocks already executed still changes nothing and
    /// succeeds, and a call that would execute anything new still reverts.
    function test_primaryExodusStopAppliesToNewBlocksOnly() public {
        (ExecuteBlockInfo memory e1, ExecuteBlockInfo memory e2) = _primaryTwoRanges();
        vm.prank(alice);
        primary.depositNative{value: 1 ether}(alice); // 1: never served
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();
        vm.prank(mallory);
        primary.executeBlocks(_exec(e1.storedBlock, e1.ops));
        primary.refundDeposit(1);
        assertTrue(primary.exodusPayoutsStarted(), "exodus has paid out");

        vm.recordLogs();
        primary.executeBlocks(_exec(e1.storedBlock, e1.ops));
        assertEq(_logs().length, 0, "nothing");
        vm.expectRevert(Primary.ExodusPayoutsStarted.selector);
        primary.executeBlocks(_blocks(e1, e2));
        vm.expectRevert(Primary.ExodusPayoutsStarted.selector);
        primary.executeBlocks(_exec(e2.storedBlock, e2.ops));
        assertEq(primary.totalBlocksExecuted(), 1, "the exit root stays put");
    }

    // ------------------------------------------------------------ secondary: execute

    function _commitOn1(StoredBlockInfo memory prev, uint32 number, bytes memory ops, uint64 priorityOps)
        internal
        returns (ExecuteBlockInfo memory)
    {
        StoredBlockInfo memory info =
            _commitSecondary(secondary1, prev, _block(number, bytes32(uint256(number) * 0x100), ops), priorityOps);
        return ExecuteBlockInfo(info, ops);
    }

    /// Chain 1's blocks 2, 4 and 6 (sequences 1, 2, 3): a deposit of 10 and withdrawals of
    /// 1, 2 and 3 to carol.
    function _secondaryThree() internal returns (ExecuteBlockInfo memory a, ExecuteBlockInfo memory b, ExecuteBlockInfo memory c) {
        vm.prank(carol);
        secondary1.depositNative{value: 10 ether}(carol);
        a = _commitOn1(
            _genesisSecondary(),
            2,
            bytes.concat(Pubdata.deposit(1, 1, 0, 10 ether, carol), Pubdata.withdraw(1, 1, 0, 1 ether, carol)),
            1
        );
        b = _commitOn1(a.storedBlock, 4, Pubdata.withdraw(1, 1, 0, 2 ether, carol), 0);
        c = _commitOn1(b.storedBlock, 6, Pubdata.withdraw(1, 1, 0, 3 ether, carol), 0);
    }

    function test_secondaryExecuteAfterAUserExecutedFirst() public {
        (ExecuteBlockInfo memory a, ExecuteBlockInfo memory b, ExecuteBlockInfo memory c) = _secondaryThree();
        _confirmTo(secondary1, 4, b.storedBlock.stateRoot, b.storedBlock.syncHash);
        // the user executes the confirmed prefix before the operator's identical call
        vm.prank(mallory);
        secondary1.executeBlocks(_blocks(a, b));
        vm.recordLogs();
        vm.prank(operator);
        secondary1.executeBlocks(_blocks(a, b));
        assertEq(_logs().length, 0, "no event");
        assertEq(secondary1.totalBlocksExecuted(), 2, "unchanged");
        assertEq(secondary1.executableSequence(), 2, "unchanged");
        assertEq(secondary1.totalExecutedPriorityRequests(), 1, "unchanged");
        assertEq(secondary1.pendingBalances(carol, 0), 3 ether, "nothing paid twice");

        // the next confirmation: the operator's call holds the blocks the user executed
        // and the new one; only the new one executes, found by its own sync hash
        _confirmTo(secondary1, 6, c.storedBlock.stateRoot, c.storedBlock.syncHash);
        vm.recordLogs();
        vm.prank(operator);
        secondary1.executeBlocks(_blocks(a, b, c));
        _assertExecutedOnly(6);
        assertEq(secondary1.totalBlocksExecuted(), 3, "block 6 executed");
        assertEq(secondary1.executableSequence(), 3, "the new prefix");
        assertEq(secondary1.pendingBalances(carol, 0), 6 ether, "each paid once");
    }

    /// A skipped block never marks the confirmed prefix: only the blocks after the skipped
    /// ones are searched for the confirmed sync hash, and each of them must be stored.
    function test_secondarySkippedBlocksNeverMarkThePrefix() public {
        (ExecuteBlockInfo memory a, ExecuteBlockInfo memory b,) = _secondaryThree();
        _confirmTo(secondary1, 2, a.storedBlock.stateRoot, a.storedBlock.syncHash);
        secondary1.executeBlocks(_exec(a.storedBlock, a.ops));
        // the primary compared other ops for chain 1 at block 5: b is in no confirmed prefix
        bytes32 other = keccak256("the primary compared other ops");
        _confirmTo(secondary1, 5, bytes32(uint256(0x500)), other);
        StoredBlockInfo memory forged = _copy(a.storedBlock);
        forged.syncHash = other;
        ExecuteBlockInfo memory fake = ExecuteBlockInfo(forged, a.ops);
        // leading: skipped, never searched
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 4));
        secondary1.executeBlocks(_blocks(fake, b));
        // after new work: not skipped, so checked, and the call reverts
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockToExecute.selector, 3, 1));
        secondary1.executeBlocks(_blocks(b, fake));
        assertEq(secondary1.totalBlocksExecuted(), 1, "b not executed");
        assertEq(secondary1.executableSequence(), 1, "the prefix did not move");
        assertEq(secondary1.pendingBalances(carol, 0), 1 ether, "only a paid");
    }

    function test_anOlderConfirmedPrefixStillExecutesAfterANewerConfirmationLanded() public {
        (ExecuteBlockInfo memory a, ExecuteBlockInfo memory b, ExecuteBlockInfo memory c) = _secondaryThree();
        // the node asks for the execution up to b (confirmed at 4); meanwhile anyone
        // delivers the confirmation at 6 first: the prefix up to b is still confirmed
        _confirmTo(secondary1, 4, b.storedBlock.stateRoot, b.storedBlock.syncHash);
        _confirmTo(secondary1, 6, c.storedBlock.stateRoot, c.storedBlock.syncHash);
        secondary1.markConfirmedPrefix(b.storedBlock);
        assertEq(secondary1.executableSequence(), 2, "marked up to b");
        secondary1.executeBlocks(_blocks(a, b));
        assertEq(secondary1.totalBlocksExecuted(), 2, "a and b executed");
        secondary1.executeBlocks(_exec(c.storedBlock, c.ops));
        assertEq(secondary1.totalBlocksExecuted(), 3, "then c");
        assertEq(secondary1.pendingBalances(carol, 0), 6 ether, "each paid once");
    }

    function test_anOlderConfirmedPrefixExecutesInOneCallWithoutAMark() public {
        (ExecuteBlockInfo memory a, ExecuteBlockInfo memory b, ExecuteBlockInfo memory c) = _secondaryThree();
        _confirmTo(secondary1, 4, b.storedBlock.stateRoot, b.storedBlock.syncHash);
        _confirmTo(secondary1, 6, c.storedBlock.stateRoot, c.storedBlock.syncHash);
        // the call holds the older confirmed hash (b's): no mark needed
        secondary1.executeBlocks(_blocks(a, b));
        assertEq(secondary1.totalBlocksExecuted(), 2, "a and b executed");
        assertEq(secondary1.executableSequence(), 2, "up to b");
    }

    // ------------------------------------------------------------ secondary: confirmation

    function test_receiveConfirmationAfterAUserDeliveredItFirst() public {
        bytes32 root = bytes32(uint256(0x400));
        bytes32 sync = keccak256("the primary's sync hash for chain 1 at block 4");
        bytes[] memory sigs = _attest(0, 1, 2, 4, keccak256(abi.encode(root, sync)), 2);
        // the user copies the committee's signatures from the mempool and lands first
        vm.prank(mallory);
        secondary1.receiveConfirmation(4, root, sync, sigs);
        vm.recordLogs();
        vm.prank(operator);
        secondary1.receiveConfirmation(4, root, sync, sigs);
        assertEq(_logs().length, 0, "no event");
        assertEq(secondary1.confirmedBlockNumber(), 4, "unchanged");
        assertEq(secondary1.confirmedSyncHash(), sync, "unchanged");

        // an older confirmation, valid or not, changes nothing (its signatures unread)
        bytes32 older = keccak256("older");
        secondary1.receiveConfirmation(3, root, older, _attest(0, 1, 2, 3, keccak256(abi.encode(root, older)), 2));
        secondary1.receiveConfirmation(4, root, older, new bytes[](0));
        assertEq(_logs().length, 0, "no event");
        assertEq(secondary1.confirmedBlockNumber(), 4, "unchanged");
        assertEq(secondary1.confirmedSyncHash(), sync, "unchanged");

        // a newer one is verified as ever
        bytes32 newer = keccak256("newer");
        bytes32 h = keccak256(abi.encode(root, newer));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotEnoughSignatures.selector, 1, 2));
        secondary1.receiveConfirmation(5, root, newer, _attest(0, 1, 2, 5, h, 1));
        vm.expectRevert(); // signatures of another block recover to strangers
        secondary1.receiveConfirmation(5, root, newer, _attest(0, 1, 2, 4, h, 2));
        vm.expectRevert();
        secondary1.receiveConfirmation(5, root, newer, sigs);
        assertEq(secondary1.confirmedBlockNumber(), 4, "nothing forged accepted");
        secondary1.receiveConfirmation(5, root, newer, _attest(0, 1, 2, 5, h, 2));
        assertEq(secondary1.confirmedBlockNumber(), 5, "newer");
        assertEq(secondary1.confirmedSyncHash(), newer, "newer");
    }

    // ------------------------------------------------------------ primary: sync hash

    /// Block 1 touches chain 1 only (a withdrawal there), proven.
    function _primaryTouching1() internal returns (StoredBlockInfo memory one, bytes32[] memory sync) {
        (one, sync) = _commitPrimary(
            _genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x11)), Pubdata.withdraw(1, 2, 0, 1, carol)), 0
        );
        _prove(_genesisPrimary(), one);
    }

    function test_receiveSyncHashAfterAUserDeliveredItFirst() public {
        (, bytes32[] memory sync) = _primaryTouching1();
        bytes[] memory sigs = _attest(1, 0, 1, 1, keccak256(abi.encode(sync[1], uint64(0))), 2);
        vm.prank(mallory);
        primary.receiveSyncHash(1, 1, sync[1], sigs);
        assertEq(primary.totalBlocksConfirmed(), 1, "the user's delivery confirmed block 1");
        vm.recordLogs();
        vm.prank(operator);
        primary.receiveSyncHash(1, 1, sync[1], sigs);
        assertEq(_logs().length, 0, "no event");
        assertEq(primary.pendingSyncHashes(1), 0, "unchanged");
        assertEq(primary.totalBlocksConfirmed(), 1, "unchanged");
        assertEq(primary.expectedSyncHash(1, 1), sync[1], "unchanged");
        // once matched, any delivery for (chain 1, block 1) has nothing left to change
        primary.receiveSyncHash(1, 1, keccak256("other"), new bytes[](0));
        assertEq(_logs().length, 0, "no event, no mismatch recorded");
        assertEq(primary.totalBlocksConfirmed(), 1, "unchanged");
    }

    /// A hash never expected still reverts: a chain the block never touched, a block not
    /// committed, a block reverted; and a pending one is still verified.
    function test_receiveSyncHashStillRefusesWhatWasNeverExpected() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _primaryTouching1();
        // chain 2: block 1 never touched it, even with a valid attestation
        bytes[] memory sigs2 = _attest(2, 0, 1, 1, keccak256(abi.encode(EMPTY, uint64(0))), 2);
        vm.expectRevert(abi.encodeWithSelector(Primary.NoSyncHashExpected.selector, 2, 1));
        primary.receiveSyncHash(2, 1, EMPTY, sigs2);
        // block 2: not committed
        vm.expectRevert(abi.encodeWithSelector(Primary.NoSyncHashExpected.selector, 1, 2));
        _syncFrom(secondary1, 2, sync[1]);
        // pending: verified as ever, then a mismatch is recorded and holds the block
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotEnoughSignatures.selector, 0, 2));
        primary.receiveSyncHash(1, 1, sync[1], new bytes[](0));
        vm.expectRevert(); // signatures of another hash recover to strangers
        primary.receiveSyncHash(1, 1, sync[1], _attest(1, 0, 1, 1, keccak256("x"), 2));
        vm.recordLogs();
        _syncFrom(secondary1, 1, keccak256("diverged"));
        Vm.Log[] memory logs = _logs();
        assertEq(logs.length, 1, "the mismatch is logged");
        assertEq(logs[0].topics[0], Primary.SyncHashMismatch.selector, "SyncHashMismatch");
        assertEq(primary.pendingSyncHashes(1), 2, "still pending");
        assertEq(primary.totalBlocksConfirmed(), 0, "held");

        // block 2 touching chain 1, committed then reverted: no longer expected
        (StoredBlockInfo memory two, bytes32[] memory s2) =
            _commitPrimary(one, sync, _block(2, bytes32(uint256(0x22)), Pubdata.withdraw(1, 2, 0, 1, carol)), 0);
        vm.prank(operator);
        primary.revertBlocks(_revertList(two));
        vm.expectRevert(abi.encodeWithSelector(Primary.NoSyncHashExpected.selector, 1, 2));
        _syncFromAt(secondary1, 2, s2[1], 1);
    }

    // ------------------------------------------------------------ the whole way

    /// A user lands every open step before the operator: sync hashes, the primary's
    /// execution, the confirmations, the secondaries' execution. Each of the operator's
    /// identical calls succeeds and changes nothing.
    function test_aUserFrontRunningEveryStepHaltsNothing() public {
        vm.prank(carol);
        secondary1.depositNative{value: 10 ether}(carol);
        bytes memory pubdata =
            bytes.concat(Pubdata.deposit(1, 1, 0, 10 ether, carol), Pubdata.withdraw(2, 1, 0, 4 ether, carol));
        (StoredBlockInfo memory p1, bytes32[] memory sync) =
            _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x111)), pubdata), 0);
        StoredBlockInfo memory s1 = _commitSecondary(secondary1, _genesisSecondary(), _block(1, bytes32(uint256(0x111)), pubdata), 1);
        StoredBlockInfo memory s2 = _commitSecondary(secondary2, _genesisSecondary(), _block(1, bytes32(uint256(0x111)), pubdata), 0);
        _prove(_genesisPrimary(), p1);

        bytes[] memory from1 = _attest(1, 0, 1, 1, keccak256(abi.encode(s1.syncHash, uint64(0))), 2);
        bytes[] memory from2 = _attest(2, 0, 1, 1, keccak256(abi.encode(s2.syncHash, uint64(0))), 2);
        ExecuteBlockInfo[] memory onPrimary = _exec(p1, "");
        bytes[] memory to1 = _attest(0, 1, 2, 1, keccak256(abi.encode(p1.stateRoot, sync[1])), 2);
        bytes[] memory to2 = _attest(0, 2, 2, 1, keccak256(abi.encode(p1.stateRoot, sync[2])), 2);
        ExecuteBlockInfo[] memory on1 = _exec(s1, _chainOps(pubdata, 1));
        ExecuteBlockInfo[] memory on2 = _exec(s2, _chainOps(pubdata, 2));

        vm.startPrank(mallory);
        primary.receiveSyncHash(1, 1, s1.syncHash, from1);
        primary.receiveSyncHash(2, 1, s2.syncHash, from2);
        primary.executeBlocks(onPrimary);
        secondary1.receiveConfirmation(1, p1.stateRoot, sync[1], to1);
        secondary2.receiveConfirmation(1, p1.stateRoot, sync[2], to2);
        secondary1.executeBlocks(on1);
        secondary2.executeBlocks(on2);
        vm.stopPrank();
        assertEq(secondary2.pendingBalances(carol, 0), 4 ether, "the user's calls settled the block");

        vm.recordLogs();
        vm.startPrank(operator);
        primary.receiveSyncHash(1, 1, s1.syncHash, from1);
        primary.receiveSyncHash(2, 1, s2.syncHash, from2);
        primary.executeBlocks(onPrimary);
        secondary1.receiveConfirmation(1, p1.stateRoot, sync[1], to1);
        secondary2.receiveConfirmation(1, p1.stateRoot, sync[2], to2);
        secondary1.executeBlocks(on1);
        secondary2.executeBlocks(on2);
        vm.stopPrank();
        assertEq(_logs().length, 0, "the operator's copies changed nothing");
        assertEq(primary.totalBlocksExecuted(), 1, "primary");
        assertEq(secondary1.totalBlocksExecuted(), 1, "chain 1");
        assertEq(secondary2.totalBlocksExecuted(), 1, "chain 2");
        assertEq(secondary1.totalExecutedPriorityRequests(), 1, "chain 1's deposit counted once");
        assertEq(secondary2.pendingBalances(carol, 0), 4 ether, "paid once");
    }
}
