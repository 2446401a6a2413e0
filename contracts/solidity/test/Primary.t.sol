// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {Primary, ExitProof} from "../src/Primary.sol";
import {Settlement} from "../src/Settlement.sol";
import {Operations} from "../src/Operations.sol";
import {StoredBlockInfo, CommitBlockInfo} from "../src/Types.sol";
import {ProofPublicValues} from "../src/interfaces/IVerifier.sol";

contract PrimaryTest is Fixture {
    address internal alice;
    uint256 internal constant ALICE_KEY = 0xA11CE5;
    address internal bob = address(0xB0B0);

    function setUp() public override {
        super.setUp();
        alice = vm.addr(ALICE_KEY);
        vm.deal(alice, 1000 ether);
    }

    function _deposit(address owner, uint256 amount) internal {
        vm.prank(alice);
        primary.depositNative{value: amount}(owner);
    }

    function _changePubKeySig(uint256 key, bytes32 pkh, uint32 nonce, uint32 account) internal view returns (bytes memory) {
        bytes32 body = keccak256(abi.encodePacked("manyfold:change-pubkey", block.chainid, address(primary), pkh, nonce, account));
        return _sign(key, keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", body)));
    }

    /// Block 1: alice's deposit of 10, a transfer, withdrawals to chains 0 and 1, a noop.
    function _block1() internal view returns (CommitBlockInfo memory) {
        return _block(
            1,
            bytes32(uint256(0xB1)),
            bytes.concat(
                Pubdata.deposit(0, 1, 0, 10 ether, alice),
                Pubdata.transfer(1, 2, 0, 1 ether),
                Pubdata.withdraw(0, 1, 0, 2 ether, alice),
                Pubdata.withdraw(1, 2, 0, 1 ether, bob),
                Pubdata.noop()
            )
        );
    }

    function _commit1() internal returns (StoredBlockInfo memory info, bytes32[] memory sync) {
        _deposit(alice, 10 ether);
        (info, sync) = _commitPrimary(_genesisPrimary(), _genesisSync(), _block1(), 1);
    }

    // ------------------------------------------------------------ commit

    function test_commitStoresHashesAndConsumesThePriorityQueue() public {
        (StoredBlockInfo memory info, bytes32[] memory sync) = _commit1();
        assertEq(primary.totalBlocksCommitted(), 1, "committed");
        assertEq(primary.totalCommittedPriorityRequests(), 1, "priority consumed");
        assertEq(primary.expectedSyncHash(1, 1), sync[1], "chain 1 must deliver its sync hash");
        assertEq(primary.expectedSyncHash(1, 2), 0, "chain 2 is untouched");
        assertEq(primary.pendingSyncHashes(1), 2, "one secondary pending (chain 1's bit)");
        assertTrue(info.commitment != 0, "commitment computed");
    }

    function test_commitSeveralBlocksInOneCall() public {
        _deposit(alice, 10 ether);
        CommitBlockInfo[] memory blocks = new CommitBlockInfo[](2);
        blocks[0] = _block1();
        blocks[1] = _block(2, bytes32(uint256(0xB2)), Pubdata.transfer(2, 1, 0, 1));
        (StoredBlockInfo memory one, bytes32[] memory sync1) = _expectPrimary(_genesisPrimary(), _genesisSync(), blocks[0], 1);
        (StoredBlockInfo memory two,) = _expectPrimary(one, sync1, blocks[1], 0);
        vm.prank(operator);
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), blocks);
        assertEq(primary.storedBlockHashes(2), keccak256(abi.encode(two)), "second block");
        assertEq(two.syncHash, one.syncHash, "a block touching no chain keeps every sync hash");
    }

    function test_commitRejectsWhatIsNotTheLatestStoredBlock() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        CommitBlockInfo memory b2 = _block(2, bytes32(uint256(2)), Pubdata.noop());
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotLatestBlock.selector, 0, 1));
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(b2));
        one.stateRoot = bytes32(uint256(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongStoredBlock.selector, 1));
        primary.commitBlocks(one, sync, _one(b2));
        vm.stopPrank();
    }

    function test_commitRejectsWrongSyncHashes() public {
        bytes32[] memory sync = _genesisSync();
        sync[1] = bytes32(uint256(1));
        vm.prank(operator);
        vm.expectRevert(Primary.WrongSyncHashes.selector);
        primary.commitBlocks(_genesisPrimary(), sync, _one(_block(1, 0, Pubdata.noop())));
        vm.prank(operator);
        vm.expectRevert(Primary.WrongSyncHashes.selector);
        primary.commitBlocks(_genesisPrimary(), new bytes32[](2), _one(_block(1, 0, Pubdata.noop())));
    }

    function test_commitRejectsMalformedBlocks() public {
        StoredBlockInfo memory g = _genesisPrimary();
        bytes32[] memory s = _genesisSync();
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockNumber.selector, 0, 2));
        primary.commitBlocks(g, s, _one(_block(2, 0, Pubdata.noop())));
        vm.expectRevert(abi.encodeWithSelector(Settlement.EmptyBlock.selector, 1));
        primary.commitBlocks(g, s, _one(_block(1, 0, "")));
        vm.expectRevert(abi.encodeWithSelector(Operations.PubdataNotWholeRecords.selector, 65));
        primary.commitBlocks(g, s, _one(_block(1, 0, bytes.concat(Pubdata.noop(), hex"00"))));
        bytes memory unknown = Pubdata.noop();
        unknown[0] = 0x09;
        vm.expectRevert(abi.encodeWithSelector(Operations.UnknownOpType.selector, 0, 9));
        primary.commitBlocks(g, s, _one(_block(1, 0, unknown)));
        vm.expectRevert(abi.encodeWithSelector(Primary.UnknownChain.selector, 0, 3));
        primary.commitBlocks(g, s, _one(_block(1, 0, Pubdata.withdraw(3, 1, 0, 1, bob))));
        vm.stopPrank();

        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        CommitBlockInfo memory early = _block(2, 0, Pubdata.noop());
        early.timestamp = one.timestamp - 1;
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TimestampBackwards.selector, one.timestamp, one.timestamp - 1));
        primary.commitBlocks(one, sync, _one(early));
    }

    function test_commitOnlyByOperatorAndNotInExodus() public {
        vm.expectRevert(Settlement.NotOperator.selector);
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(_block(1, 0, Pubdata.noop())));
        _deposit(alice, 1 ether);
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();
        vm.prank(operator);
        vm.expectRevert(Settlement.InExodusMode.selector);
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(_block(1, 0, Pubdata.noop())));
    }

    function test_commitChecksEveryPriorityOpAgainstTheQueue() public {
        StoredBlockInfo memory g = _genesisPrimary();
        bytes32[] memory s = _genesisSync();
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.PriorityQueueExhausted.selector, 0));
        primary.commitBlocks(g, s, _one(_block(1, 0, Pubdata.deposit(0, 1, 0, 10 ether, alice))));
        vm.stopPrank();

        _deposit(alice, 10 ether);
        vm.startPrank(operator);
        // amount, owner, token and type must all match; the account is the L2's choice
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityOp.selector, 0, 0));
        primary.commitBlocks(g, s, _one(_block(1, 0, Pubdata.deposit(0, 1, 0, 11 ether, alice))));
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityOp.selector, 0, 0));
        primary.commitBlocks(g, s, _one(_block(1, 0, Pubdata.deposit(0, 1, 0, 10 ether, bob))));
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityOp.selector, 0, 0));
        primary.commitBlocks(g, s, _one(_block(1, 0, Pubdata.fullExit(0, 1, 0, 0, alice))));
        vm.stopPrank();
        // a deposit made on another chain is not this queue's business
        _commitPrimary(g, s, _block(1, 0, bytes.concat(Pubdata.deposit(1, 5, 0, 3 ether, bob), Pubdata.deposit(0, 77, 0, 10 ether, alice))), 1);
    }

    function test_fullExitMatchesAccountNotAmount() public {
        vm.prank(alice);
        primary.requestFullExit(7, 0);
        PriorityRequestView memory r = _request(0);
        assertEq(r.account, 7, "account recorded");
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityOp.selector, 0, 0));
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(_block(1, 0, Pubdata.fullExit(0, 8, 0, 0, alice))));
        _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, 0, Pubdata.fullExit(0, 7, 0, 5 ether, alice)), 1);
    }

    struct PriorityRequestView {
        uint32 account;
    }

    function _request(uint64 id) internal view returns (PriorityRequestView memory v) {
        v.account = primary.priorityRequest(id).account;
    }

    function test_changePubKeyIsAuthorisedByTheOwnersEthereumKey() public {
        bytes32 pkh = bytes32(uint256(0x5EED));
        CommitBlockInfo memory b = _block(1, 0, Pubdata.changePubKey(0, 3, pkh, alice, 0));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.MissingChangePubKeySignature.selector, 0));
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(b));

        b.changePubKeySignatures = new bytes[](1);
        b.changePubKeySignatures[0] = _changePubKeySig(0xB0B, pkh, 0, 3); // not alice
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadChangePubKeySignature.selector, 0));
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(b));

        b.changePubKeySignatures[0] = _changePubKeySig(ALICE_KEY, pkh, 1, 3); // other nonce
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadChangePubKeySignature.selector, 0));
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(b));

        // the malleable twin (s' = n - s, v flipped) of a valid signature is refused
        bytes memory good = _changePubKeySig(ALICE_KEY, pkh, 0, 3);
        b.changePubKeySignatures[0] = _malleate(good);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadChangePubKeySignature.selector, 0));
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(b));

        bytes[] memory two = new bytes[](2);
        two[0] = good;
        two[1] = good;
        b.changePubKeySignatures = two;
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.UnusedChangePubKeySignatures.selector, 1));
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(b));

        b.changePubKeySignatures = new bytes[](1);
        b.changePubKeySignatures[0] = good;
        _commitPrimary(_genesisPrimary(), _genesisSync(), b, 0);

        // a ChangePubKey for another chain is that chain's to check
        (StoredBlockInfo memory one, bytes32[] memory sync) =
            _expectPrimary(_genesisPrimary(), _genesisSync(), b, 0);
        _commitPrimary(one, sync, _block(2, 0, Pubdata.changePubKey(1, 4, pkh, bob, 0)), 0);
    }

    function _malleate(bytes memory sig) internal pure returns (bytes memory) {
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        return abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
    }

    // ------------------------------------------------------------ prove

    function test_proveVerifiesTheRangeAgainstRootsAndCommitments() public {
        (StoredBlockInfo memory one,) = _commit1();
        _prove(_genesisPrimary(), one);
        assertEq(primary.totalBlocksProven(), 1, "proven");
    }

    function test_aForgedProofIsRejected() public {
        (StoredBlockInfo memory one,) = _commit1();
        // the verifier accepts one other statement only
        verifier.accept(ProofPublicValues(one.stateRoot, 0, one.stateRoot, one.commitment, 1), "forged");
        vm.prank(operator);
        vm.expectRevert(Primary.InvalidProof.selector);
        primary.proveBlocks(_genesisPrimary(), one, 1, "forged");
        assertEq(primary.totalBlocksProven(), 0, "nothing proven");
    }

    function test_proveRejectsWrongRanges() public {
        (StoredBlockInfo memory one,) = _commit1();
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(Primary.NotAfterLastProven.selector, 0, 1));
        primary.proveBlocks(one, one, 1, "");
        vm.expectRevert(Primary.NothingToProve.selector);
        primary.proveBlocks(_genesisPrimary(), _genesisPrimary(), 1, "");
        StoredBlockInfo memory fake = _copy(one);
        fake.stateRoot = bytes32(uint256(0xF00));
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongStoredBlock.selector, 1));
        primary.proveBlocks(_genesisPrimary(), fake, 1, "");
        vm.stopPrank();
        vm.expectRevert(Settlement.NotOperator.selector);
        primary.proveBlocks(_genesisPrimary(), one, 1, "");
    }

    // ------------------------------------------------------------ synchronize, confirm, execute

    function test_blockConfirmsOnceProvenAndEverySecondaryAgrees() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        _prove(_genesisPrimary(), one);
        assertEq(primary.totalBlocksConfirmed(), 0, "waiting for chain 1");
        _syncFrom(secondary1, 1, sync[1]);
        assertEq(primary.totalBlocksConfirmed(), 1, "confirmed");
        vm.prank(operator);
        primary.executeBlocks(_exec(one, _chainOps(_block1().pubdata, 0)));
        assertEq(primary.totalBlocksExecuted(), 1, "executed");
        assertEq(primary.pendingBalances(alice, 0), 2 ether, "withdrawal claimable");
        assertEq(primary.totalExecutedPriorityRequests(), 1, "priority request done");
    }

    function test_syncBeforeProofConfirmsOnProof() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        _syncFrom(secondary1, 1, sync[1]);
        assertEq(primary.totalBlocksConfirmed(), 0, "not proven yet");
        _prove(_genesisPrimary(), one);
        assertEq(primary.totalBlocksConfirmed(), 1, "confirmed by the proof");
    }

    function test_syncHashMismatchHoldsTheBlock() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        _prove(_genesisPrimary(), one);
        vm.recordLogs();
        _syncFrom(secondary1, 1, keccak256("a secondary that committed other ops"));
        assertEq(vm.getRecordedLogs()[0].topics[0], Primary.SyncHashMismatch.selector, "mismatch recorded");
        assertEq(primary.totalBlocksConfirmed(), 0, "held");
        assertEq(primary.pendingSyncHashes(1), 2, "still pending");
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 1));
        primary.executeBlocks(_exec(one, _chainOps(_block1().pubdata, 0)));
        // the right hash still releases it
        _syncFrom(secondary1, 1, sync[1]);
        assertEq(primary.totalBlocksConfirmed(), 1, "released");
    }

    function test_confirmationIsInOrder() public {
        (StoredBlockInfo memory one, bytes32[] memory sync1) = _commit1();
        (StoredBlockInfo memory two, bytes32[] memory sync2) =
            _commitPrimary(one, sync1, _block(2, 0, Pubdata.withdraw(2, 1, 0, 1, bob)), 0);
        _prove(_genesisPrimary(), two);
        _syncFrom(secondary2, 2, sync2[2]);
        assertEq(primary.totalBlocksConfirmed(), 0, "block 1 still waits for chain 1");
        _syncFrom(secondary1, 1, sync1[1]);
        assertEq(primary.totalBlocksConfirmed(), 2, "both confirmed");
    }

    function test_receiveSyncHashRejectsWhatItDoesNotExpect() public {
        (, bytes32[] memory sync) = _commit1();
        vm.expectRevert(abi.encodeWithSelector(Primary.NotASecondary.selector, 0));
        primary.receiveSyncHash(0, 1, sync[0], _attest(0, 0, 1, 1, sync[0], 2));
        vm.expectRevert(abi.encodeWithSelector(Primary.NotASecondary.selector, 3));
        primary.receiveSyncHash(3, 1, sync[1], _attest(3, 0, 1, 1, sync[1], 2));
        vm.expectRevert(abi.encodeWithSelector(Primary.NoSyncHashExpected.selector, 2, 1));
        _syncFrom(secondary2, 1, EMPTY);
        vm.expectRevert(abi.encodeWithSelector(Primary.NoSyncHashExpected.selector, 1, 2));
        _syncFrom(secondary1, 2, sync[1]);
        _syncFrom(secondary1, 1, sync[1]);
        // delivered again once matched (say a user copied it first): nothing to do, and
        // nothing changes (FrontRun.t.sol); a chain the block never touched still reverts
        _syncFrom(secondary1, 1, sync[1]);
        assertEq(primary.pendingSyncHashes(1), 0, "matched once");
        vm.expectRevert(abi.encodeWithSelector(Primary.NoSyncHashExpected.selector, 2, 1));
        _syncFrom(secondary2, 1, EMPTY);
    }

    function test_forgedAttestationsAreRejected() public {
        (, bytes32[] memory sync) = _commit1();
        bytes32 h = sync[1];
        bytes32 attested = keccak256(abi.encode(h, uint64(0)));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotEnoughSignatures.selector, 1, 2));
        primary.receiveSyncHash(1, 1, h, _attest(1, 0, 1, 1, attested, 1));

        bytes[] memory sigs = _attest(1, 0, 1, 1, attested, 2);
        sigs[1] = sigs[0];
        vm.expectRevert(abi.encodeWithSelector(Settlement.SignersNotAscending.selector, 1));
        primary.receiveSyncHash(1, 1, h, sigs);

        sigs = _attest(1, 0, 1, 1, attested, 2);
        sigs[0] = hex"1234";
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadSignature.selector, 0));
        primary.receiveSyncHash(1, 1, h, sigs);

        // signed by keys outside the committee
        bytes32 digest = keccak256(
            abi.encodePacked("\x19Ethereum Signed Message:\n32", _digest(address(primary), 1, 0, 1, 1, attested))
        );
        sigs[0] = _sign(0xE71, digest);
        sigs[1] = _sign(0xE72, digest);
        if (vm.addr(0xE72) < vm.addr(0xE71)) (sigs[0], sigs[1]) = (sigs[1], sigs[0]);
        vm.expectRevert();
        primary.receiveSyncHash(1, 1, h, sigs);

        // a real attestation of something else (another kind, block, chain or hash) recovers
        // to strangers, never to validators
        bytes[] memory otherKind = _attest(1, 0, 2, 1, attested, 2);
        vm.expectRevert();
        primary.receiveSyncHash(1, 1, h, otherKind);
        bytes[] memory otherHash = _attest(1, 0, 1, 1, keccak256(abi.encode(keccak256("x"), uint64(0))), 2);
        vm.expectRevert();
        primary.receiveSyncHash(1, 1, h, otherHash);
        // issue 9 item 12: an attestation for another deployment (same domain and
        // committee, another address) or another EVM chain does not replay here
        bytes[] memory elsewhere = _attestTo(address(secondary1), 1, 0, 1, 1, attested, 2);
        vm.expectRevert();
        primary.receiveSyncHash(1, 1, h, elsewhere);
        bytes[] memory good = _attest(1, 0, 1, 1, attested, 2);
        vm.chainId(block.chainid + 1);
        vm.expectRevert();
        primary.receiveSyncHash(1, 1, h, good);
        assertEq(primary.pendingSyncHashes(1), 2, "nothing accepted");
    }

    function test_executeRejectsWrongBlocksAndOps() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        bytes memory ops = _chainOps(_block1().pubdata, 0);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 1));
        primary.executeBlocks(_exec(one, ops));
        _prove(_genesisPrimary(), one);
        _syncFrom(secondary1, 1, sync[1]);

        vm.startPrank(operator);
        StoredBlockInfo memory ahead = _copy(one);
        ahead.blockSequence = 2;
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockToExecute.selector, 1, 2));
        primary.executeBlocks(_exec(ahead, ops));
        // genesis counts as executed: presented alone, it is skipped and nothing changes
        primary.executeBlocks(_exec(_genesisPrimary(), ops));
        assertEq(primary.totalBlocksExecuted(), 0, "nothing executed");
        vm.expectRevert(abi.encodeWithSelector(Settlement.OpsHashMismatch.selector, 1));
        primary.executeBlocks(_exec(one, _record(ops, 0)));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotThisChainsOp.selector, 2));
        primary.executeBlocks(_exec(one, bytes.concat(ops, Pubdata.withdraw(1, 2, 0, 1 ether, bob))));
        StoredBlockInfo memory wrong = _copy(one);
        wrong.priorityOperations = 0;
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongStoredBlock.selector, 1));
        primary.executeBlocks(_exec(wrong, ops));
        primary.executeBlocks(_exec(one, ops));
        // executed again (say a user executed it first): skipped, nothing paid twice
        primary.executeBlocks(_exec(one, ops));
        assertEq(primary.pendingBalances(alice, 0), 2 ether, "paid once");
        ahead.blockSequence = 3;
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBlockToExecute.selector, 2, 3));
        primary.executeBlocks(_exec(ahead, ops));
        vm.stopPrank();
    }

    function test_withdrawPendingBalancePaysOnceAndDoubleClaimReverts() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        _prove(_genesisPrimary(), one);
        _syncFrom(secondary1, 1, sync[1]);
        vm.prank(operator);
        primary.executeBlocks(_exec(one, _chainOps(_block1().pubdata, 0)));
        uint256 before = alice.balance;
        primary.withdrawPendingBalance(payable(alice), 0);
        assertEq(alice.balance - before, 2 ether, "paid");
        assertEq(primary.outstanding(0), 8 ether, "outstanding net of the payout");
        vm.expectRevert(Settlement.NothingToWithdraw.selector);
        primary.withdrawPendingBalance(payable(alice), 0);
    }

    // ------------------------------------------------------------ revert

    function test_revertBlocksRollsBackCommitProofAndQueue() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        _prove(_genesisPrimary(), one);
        vm.prank(operator);
        primary.revertBlocks(_revertList(one));
        assertEq(primary.totalBlocksCommitted(), 0, "reverted");
        assertEq(primary.totalBlocksProven(), 0, "proof dropped");
        assertEq(primary.totalCommittedPriorityRequests(), 0, "deposit back in the queue");
        assertEq(primary.expectedSyncHash(1, 1), 0, "expectation cleared");
        assertEq(primary.totalReverts(), 1, "revert 1, for the committee to attest");
        vm.expectRevert(abi.encodeWithSelector(Primary.NoSyncHashExpected.selector, 1, 1));
        _syncFromAt(secondary1, 1, sync[1], 1);
        // the same deposit can be committed again, in a different block 1
        _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(9)), Pubdata.deposit(0, 4, 0, 10 ether, alice)), 1);
    }

    function test_revertRefusesExecutedAndNonLatestBlocks() public {
        vm.prank(operator);
        vm.expectRevert(Settlement.NothingToRevert.selector);
        primary.revertBlocks(new StoredBlockInfo[](0));
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        _commitPrimary(one, sync, _block(2, 0, Pubdata.noop()), 0);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotLatestBlock.selector, 1, 2));
        primary.revertBlocks(_revertList(one));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.CannotRevertExecuted.selector, 0));
        primary.revertBlocks(_revertList(_genesisPrimary()));
        vm.expectRevert(Settlement.NotOperator.selector);
        primary.revertBlocks(_revertList(one));
    }

    // ------------------------------------------------------------ exodus

    function test_exodusRefundsDepositsNoExecutedBlockConsumed() public {
        (StoredBlockInfo memory one,) = _commit1(); // consumes deposit 0, not executed
        _deposit(bob, 1 ether); // deposit 1, never committed
        vm.expectRevert(Settlement.NotInExodusMode.selector);
        primary.refundDeposit(0);
        vm.expectRevert(Settlement.NoExpiredPriorityRequest.selector);
        primary.activateExodusMode();
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();
        one;
        // the primary executes first: what it has not executed is in no exit root
        primary.refundDeposit(0);
        primary.refundDeposit(1);
        assertEq(primary.pendingBalances(alice, 0), 10 ether, "alice refunded");
        assertEq(primary.pendingBalances(bob, 0), 1 ether, "bob refunded");
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyRefunded.selector, 0));
        primary.refundDeposit(0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotRefundable.selector, 2));
        primary.refundDeposit(2);
    }

    function test_exodusDoesNotRefundWhatAnExecutedBlockConsumed() public {
        (StoredBlockInfo memory one, bytes32[] memory sync) = _commit1();
        _prove(_genesisPrimary(), one);
        _syncFrom(secondary1, 1, sync[1]);
        vm.prank(operator);
        primary.executeBlocks(_exec(one, _chainOps(_block1().pubdata, 0)));
        vm.prank(alice);
        primary.requestFullExit(1, 0);
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotRefundable.selector, 0));
        primary.refundDeposit(0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotRefundable.selector, 1));
        primary.refundDeposit(1); // a full exit holds nothing to refund
    }

    function test_exitRejectsBadProofsAndCalls() public {
        ExitProof memory p;
        p.account = 1;
        p.balance = 1;
        p.owner = alice;
        vm.expectRevert(Settlement.NotInExodusMode.selector);
        primary.exit(_genesisPrimary(), p);

        _deposit(alice, 1 ether);
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();
        StoredBlockInfo memory g = _genesisPrimary();
        vm.expectRevert(Primary.InvalidExitProof.selector);
        primary.exit(g, p);
        StoredBlockInfo memory wrong = _copy(g);
        wrong.blockSequence = 1;
        vm.expectRevert(abi.encodeWithSelector(Primary.NotLastExecuted.selector, 1));
        primary.exit(wrong, p);
        p.token = 5;
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenNotRegistered.selector, 5));
        primary.exit(g, p);
        p.token = 0;
        p.account = 1 << 24;
        vm.expectRevert(abi.encodeWithSelector(Settlement.AccountOutOfRange.selector, 1 << 24));
        primary.exit(g, p);
        p.account = 1;
        p.balance = 0;
        vm.expectRevert(Primary.NothingToExit.selector);
        primary.exit(g, p);
    }
}
