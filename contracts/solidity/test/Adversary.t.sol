// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {TestToken} from "./utils/Mocks.sol";
import {Primary, ExitProof} from "../src/Primary.sol";
import {Secondary} from "../src/Secondary.sol";
import {Settlement, SettlementConfig} from "../src/Settlement.sol";
import {IPoseidon} from "../src/interfaces/IPoseidon.sol";
import {IVerifier} from "../src/interfaces/IVerifier.sol";
import {TAG_ACCOUNT, TAG_STATE} from "../src/PoseidonConstants.sol";
import {StoredBlockInfo, CommitBlockInfo, ExecuteBlockInfo} from "../src/Types.sol";

/// Issue 9: the attacks a malicious operator or user played against the contracts, each
/// of which must now fail. (The secondary's own, items 6, 8 and 9, are in Secondary.t.sol;
/// governance, item 13, in Settlement.t.sol.)
contract AdversaryTest is Fixture {
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B0);
    address internal mallory = address(0xBAD);

    function setUp() public override {
        super.setUp();
        vm.deal(alice, 1000 ether);
        vm.deal(bob, 1000 ether);
        vm.deal(mallory, 1000 ether);
    }

    function _two(StoredBlockInfo memory a, bytes memory opsA, StoredBlockInfo memory b, bytes memory opsB)
        internal
        pure
        returns (ExecuteBlockInfo[] memory e)
    {
        e = new ExecuteBlockInfo[](2);
        e[0] = ExecuteBlockInfo(a, opsA);
        e[1] = ExecuteBlockInfo(b, opsB);
    }

    // ------------------------------------------------------------ item 7

    /// Issue 9 item 7: a proof checks only the roots at its range's two ends. The operator
    /// commits block 1 with a forged root (crediting itself) and block 2 with the true one,
    /// proves 0..2 in one range, and executes block 1 alone so that exodus exits trust
    /// the forged root. The old primary executed part-way into a range; now execution
    /// stops only at a range end.
    function test_executionStopsOnlyAtTheEndOfAProvenRange() public {
        bytes32 forged = keccak256("a root crediting the operator");
        (StoredBlockInfo memory one, bytes32[] memory sync1) =
            _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, forged, Pubdata.noop()), 0);
        (StoredBlockInfo memory two,) = _commitPrimary(one, sync1, _block(2, bytes32(uint256(0x22)), Pubdata.noop()), 0);
        _prove(_genesisPrimary(), two);
        assertEq(primary.totalBlocksConfirmed(), 2, "both confirmed (no secondary touched)");
        assertEq(primary.provenRangeStart(2), 1, "the range 1..2 is recorded");

        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotAfterARangeEnd.selector, 1));
        primary.executeBlocks(_exec(one, ""));
        primary.executeBlocks(_two(one, "", two, ""));
        assertEq(primary.totalBlocksExecuted(), 2, "the whole range");
    }

    /// Issue 9 item 7: reverting part of a proven range must not leave its inner root as
    /// the start of the next proof (the old primary set totalBlocksProven to the revert
    /// point, so the next proof started from a root nobody had proven).
    function test_aRevertDropsWholeProofRanges() public {
        (StoredBlockInfo memory one, bytes32[] memory s1) =
            _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x11)), Pubdata.noop()), 0);
        (StoredBlockInfo memory two, bytes32[] memory s2) = _commitPrimary(one, s1, _block(2, keccak256("forged"), Pubdata.noop()), 0);
        (StoredBlockInfo memory three,) = _commitPrimary(two, s2, _block(3, bytes32(uint256(0x33)), Pubdata.noop()), 0);
        _prove(_genesisPrimary(), one);
        _prove(one, three);
        vm.prank(operator);
        primary.revertBlocks(_revertList(three));
        assertEq(primary.totalBlocksProven(), 1, "back to the last range end, not to block 2");
        assertEq(primary.totalBlocksConfirmed(), 1, "confirmed no further than proven");
        assertEq(primary.provenRangeStart(3), 0, "the range is gone");
        (StoredBlockInfo memory threeAgain,) = _expectPrimary(two, s2, _block(3, bytes32(uint256(0x34)), Pubdata.noop()), 0);
        vm.prank(operator);
        primary.commitBlocks(two, s2, _one(_block(3, bytes32(uint256(0x34)), Pubdata.noop())));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Primary.NotAfterLastProven.selector, 1, 2));
        primary.proveBlocks(two, threeAgain, 1, "");
        // block 1 (a range end) still executes; block 2 needs a proof from block 1
        primary.executeBlocks(_exec(one, ""));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 2));
        primary.executeBlocks(_exec(two, ""));
    }

    // ------------------------------------------------------------ item 8

    /// Issue 9 item 8: anyone executes confirmed blocks on the primary, in exodus mode
    /// too (the old primary: operator only, never in exodus), until exodus has paid an
    /// exit or a refund against the last executed root, which must then stay put.
    function test_anyoneExecutesOnThePrimaryInExodusUntilItPaysOut() public {
        vm.prank(alice);
        primary.depositNative{value: 3 ether}(alice); // 0
        bytes memory ops1 = bytes.concat(Pubdata.deposit(0, 1, 0, 3 ether, alice), Pubdata.withdraw(0, 1, 0, 1 ether, alice));
        (StoredBlockInfo memory one, bytes32[] memory s1) =
            _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x11)), ops1), 1);
        (StoredBlockInfo memory two,) =
            _commitPrimary(one, s1, _block(2, bytes32(uint256(0x22)), Pubdata.withdraw(0, 1, 0, 1 ether, alice)), 0);
        _prove(_genesisPrimary(), one);
        _prove(one, two);
        vm.prank(bob);
        primary.depositNative{value: 1 ether}(bob); // 1: never served, the operator is gone
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();

        vm.prank(mallory); // anyone
        primary.executeBlocks(_exec(one, ops1));
        assertEq(primary.pendingBalances(alice, 0), 1 ether, "a confirmed withdrawal is not stranded");
        primary.refundDeposit(1);
        assertTrue(primary.exodusPayoutsStarted(), "exodus has paid out");
        vm.expectRevert(Primary.ExodusPayoutsStarted.selector);
        primary.executeBlocks(_exec(two, Pubdata.withdraw(0, 1, 0, 1 ether, alice)));
    }

    // ------------------------------------------------------------ item 9 (primary side)

    /// Issue 9 item 9: the primary's revert is numbered and attested to each secondary;
    /// a secondary's sync hash counts only if it was read after the secondary applied
    /// every revert (else a block the secondary later drops could be confirmed).
    function test_aSyncHashReadBeforeTheSecondaryAppliedARevertNeverCounts() public {
        bytes memory pubdata = Pubdata.withdraw(1, 1, 0, 1, bob);
        (StoredBlockInfo memory one, bytes32[] memory sync) =
            _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x11)), pubdata), 0);
        vm.prank(operator);
        primary.revertBlocks(_revertList(one));
        assertEq(primary.totalReverts(), 1, "revert 1");
        assertEq(primary.syncHashAt(1, 0), EMPTY, "what revert 1 names for chain 1");
        _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x11)), pubdata), 0);
        // read from a secondary that has not applied revert 1 yet: refused
        bytes32 stale = keccak256(abi.encode(sync[1], uint64(0)));
        bytes[] memory sigs = _attest(1, 0, 1, 1, stale, 2);
        vm.expectRevert();
        primary.receiveSyncHash(1, 1, sync[1], sigs);
        _syncFromAt(secondary1, 1, sync[1], 1);
        assertEq(primary.pendingSyncHashes(1), 0, "counted once caught up");
    }

    // ------------------------------------------------------------ item 10

    function _feeConfig(uint16 chain) internal view returns (SettlementConfig memory c) {
        c = _config(chain, GENESIS_ROOT);
        c.priorityFee = 0.001 ether;
        c.maxOpenPriorityRequests = 2;
    }

    /// Issue 9 item 10: priority-queue spam (1-wei deposits to fresh addresses, free full
    /// exits) forced exodus cheaply and filled the account tree. Now every request pays a
    /// fee in the native coin, deposits have a per-token minimum, and the open queue is
    /// bounded; the old contracts took all of these.
    function test_priorityQueueSpamIsPricedAndBounded() public {
        Secondary s = new Secondary(_feeConfig(1), 0);
        vm.prank(governor);
        s.addToken(0, address(0), 18, 0.01 ether);
        vm.startPrank(mallory);
        vm.expectRevert(abi.encodeWithSelector(Settlement.DepositTooSmall.selector, 0, 0.01 ether, 1));
        s.depositNative{value: 0.001 ether + 1}(address(0xF1));
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityFee.selector, 0.001 ether, 0.0005 ether));
        s.depositNative{value: 0.0005 ether}(address(0xF1));
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityFee.selector, 0.001 ether, 0));
        s.requestFullExit(1, 0);
        s.requestFullExit{value: 0.001 ether}(1, 0);
        s.depositNative{value: 0.011 ether}(address(0xF2));
        assertEq(s.priorityRequest(1).amount, 0.01 ether, "the deposit net of the fee");
        vm.expectRevert(abi.encodeWithSelector(Settlement.PriorityQueueFull.selector, 2));
        s.depositNative{value: 0.011 ether}(address(0xF3));
        vm.stopPrank();
        assertEq(s.collectedFees(), 0.002 ether, "fees kept apart");
        assertEq(s.outstanding(0), 0.01 ether, "only the deposit is held for the L2");

        // serving the queue reopens it
        CommitBlockInfo memory b = _block(1, 0, Pubdata.fullExit(1, 1, 0, 0, mallory));
        vm.prank(operator);
        s.commitCompressedBlocks(_genesisSecondary(), _one(b));
        vm.prank(mallory);
        s.depositNative{value: 0.011 ether}(address(0xF3));

        // the fees are the operator's compensation, claimed apart from user funds
        vm.prank(governor);
        s.claimFees(payable(operator));
        assertEq(operator.balance, 0.003 ether, "fees claimed");
        assertEq(address(s).balance, 0.02 ether, "deposits stay");
    }

    /// Issue 9 item 10 and the ERC-20 path: the fee is paid in the native coin.
    function test_erc20DepositsPayTheNativeFee() public {
        Secondary s = new Secondary(_feeConfig(1), 0);
        TestToken t = new TestToken();
        vm.prank(governor);
        s.addToken(3, address(t), 18, 5);
        t.mint(mallory, 100);
        vm.startPrank(mallory);
        t.approve(address(s), 100);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongPriorityFee.selector, 0.001 ether, 0));
        s.depositERC20(3, 10, mallory);
        vm.expectRevert(abi.encodeWithSelector(Settlement.DepositTooSmall.selector, 3, 5, 4));
        s.depositERC20{value: 0.001 ether}(3, 4, mallory);
        s.depositERC20{value: 0.001 ether}(3, 10, mallory);
        vm.stopPrank();
        assertEq(s.collectedFees(), 0.001 ether, "fee taken");
    }

    // ------------------------------------------------------------ item 11

    /// An exit proof of one balance over zero siblings, and the state root it proves.
    function _proofAndRoot(uint128 balance) internal view returns (ExitProof memory p, bytes32 root) {
        p.account = 1;
        p.token = 0;
        p.balance = balance;
        p.owner = alice;
        p.reservesRoot = bytes32(uint256(0x77));
        p.accountCount = 2;
        uint256 balanceRoot = poseidon.merkleRoot(p.token, balance, new uint256[](15));
        uint256 leaf = poseidon.hash(TAG_ACCOUNT, [uint256(uint160(alice)), 0, 0, balanceRoot]);
        uint256 accountsRoot = poseidon.merkleRoot(p.account, leaf, new uint256[](36));
        // SPEC B: H_state(accountsRoot, reservesRoot, accountCount)
        root = bytes32(poseidon.hash(TAG_STATE, [accountsRoot, uint256(p.reservesRoot), p.accountCount, 0]));
    }

    /// Issue 9 item 11: an exit pays what other chains took in (DESIGN §4's shortfall), so
    /// `outstanding` reaches 0; the old refundDeposit then underflowed (a deposit frozen for
    /// good), and a pending balance above the holdings could not be claimed even in part.
    function test_exodusBookkeepingSaturatesAndClaimsArePartial() public {
        (ExitProof memory p, bytes32 root) = _proofAndRoot(5 ether);
        primary = new Primary(_config(0, root), CHAINS, IVerifier(address(verifier)), IPoseidon(address(poseidon)), 0);
        vm.prank(governor);
        primary.addToken(0, address(0), 18, 0);
        vm.prank(bob);
        primary.depositNative{value: 1 ether}(bob); // 0, never served
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();
        StoredBlockInfo memory genesis = _genesisPrimary();
        genesis.stateRoot = root;

        // SPEC B: the account count is part of the proven root
        p.accountCount = 3;
        vm.expectRevert(Primary.InvalidExitProof.selector);
        primary.exit(genesis, p);
        p.accountCount = 2;
        primary.exit(genesis, p);
        assertEq(primary.outstanding(0), 0, "saturated at zero");
        primary.refundDeposit(0);
        assertEq(primary.pendingBalances(bob, 0), 1 ether, "the refund is not frozen");

        uint256 before = alice.balance;
        primary.withdrawPendingBalance(payable(alice), 0);
        assertEq(alice.balance - before, 1 ether, "what is held, paid in part");
        assertEq(primary.pendingBalances(alice, 0), 4 ether, "the rest stays claimable");
        vm.expectRevert(Settlement.NothingToWithdraw.selector);
        primary.withdrawPendingBalance(payable(bob), 0);
        vm.deal(address(primary), 2 ether); // holdings arrive later
        primary.withdrawPendingBalance(payable(alice), 0);
        assertEq(primary.pendingBalances(alice, 0), 2 ether, "claimed as holdings allow");
    }

    /// Item 11 and item 10 together: fees are never paid out as user funds.
    function test_partialClaimsNeverTouchTheFees() public {
        Secondary s = new Secondary(_feeConfig(1), 0);
        vm.prank(governor);
        s.addToken(0, address(0), 18, 0);
        vm.prank(bob);
        s.depositNative{value: 1.001 ether}(bob);
        // an executed withdrawal larger than what is held (the operator's L2 could not
        // produce it; the bookkeeping still must not pay out the fees)
        CommitBlockInfo memory b = _block(1, bytes32(uint256(1)), Pubdata.withdraw(1, 3, 0, 2 ether, alice));
        StoredBlockInfo memory a = _expectSecondary(_genesisSecondary(), 1, b, 0);
        vm.prank(operator);
        s.commitCompressedBlocks(_genesisSecondary(), _one(b));
        bytes32 h = keccak256(abi.encode(bytes32(uint256(1)), a.syncHash));
        s.receiveConfirmation(1, bytes32(uint256(1)), a.syncHash, _attestTo(address(s), 0, 1, 2, 1, h, 2));
        s.executeBlocks(_exec(a, Pubdata.withdraw(1, 3, 0, 2 ether, alice)));
        uint256 before = alice.balance;
        s.withdrawPendingBalance(payable(alice), 0);
        assertEq(alice.balance - before, 1 ether, "the deposit, not the fee");
        assertEq(address(s).balance, 0.001 ether, "the fee stays");
    }

    // ------------------------------------------------------------ item 12

    function _cpkSig(uint256 key, uint256 evmChainId, address verifying, bytes32 pkh) internal pure returns (bytes memory) {
        bytes32 body = keccak256(abi.encodePacked("manyfold:change-pubkey", evmChainId, verifying, pkh, uint32(0), uint32(3)));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", body)));
        return abi.encodePacked(r, s, v);
    }

    /// Issue 9 item 12 (SPEC C): a ChangePubKey authorisation binds the EVM chain id and
    /// the verifying contract; one made for another deployment or chain, or the old
    /// unbound message, does not replay here.
    function test_aChangePubKeySignatureDoesNotReplayAcrossDeployments() public {
        uint256 key = 0xC0FFEE;
        address owner = vm.addr(key);
        bytes32 pkh = bytes32(uint256(0x5EED));
        CommitBlockInfo memory b = _block(1, 0, Pubdata.changePubKey(0, 3, pkh, owner, 0));
        b.changePubKeySignatures = new bytes[](1);
        bytes32 oldBody = keccak256(abi.encodePacked("manyfold:change-pubkey", pkh, uint32(0), uint32(3)));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", oldBody)));
        bytes[3] memory replays = [
            abi.encodePacked(r, s, v), // the old message
            _cpkSig(key, block.chainid, address(secondary1), pkh), // another deployment
            _cpkSig(key, block.chainid + 1, address(primary), pkh) // another EVM chain
        ];
        for (uint256 i = 0; i < replays.length; i++) {
            b.changePubKeySignatures[0] = replays[i];
            vm.prank(operator);
            vm.expectRevert(abi.encodeWithSelector(Settlement.BadChangePubKeySignature.selector, 0));
            primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(b));
        }
        b.changePubKeySignatures[0] = _cpkSig(key, block.chainid, address(primary), pkh);
        _commitPrimary(_genesisPrimary(), _genesisSync(), b, 0);
    }

    /// Issue 9 item 12 (SPEC D): a committee attestation to one deployment does not
    /// replay on another with the same domain and committee (the old digest bound neither
    /// the EVM chain id nor the receiving contract).
    function test_anAttestationDoesNotReplayOnAnotherDeployment() public {
        Secondary twin = new Secondary(_config(1, GENESIS_ROOT), 0);
        bytes32 root = bytes32(uint256(5));
        bytes32 h = keccak256(abi.encode(root, EMPTY));
        bytes[] memory sigs = _attestTo(address(secondary1), 0, 1, 2, 5, h, 2);
        secondary1.receiveConfirmation(5, root, EMPTY, sigs);
        vm.expectRevert();
        twin.receiveConfirmation(5, root, EMPTY, sigs);
        assertEq(twin.confirmedBlockNumber(), 0, "nothing replayed");
        assertEq(
            secondary1.attestationDigest(0, 1, 2, 5, h),
            keccak256(abi.encode(DOMAIN, block.chainid, address(secondary1), uint16(0), uint16(1), uint8(2), uint32(5), h)),
            "the documented packing"
        );
    }

    // ------------------------------------------------------------ SPEC A on the primary

    /// SPEC A: a refunded deposit consumes its request and is paid back to the depositor
    /// when its block executes on its own chain; byte 45 other than 0/1 is refused.
    function test_aRefundedDepositOnThePrimary() public {
        vm.prank(alice);
        primary.depositNative{value: 2 ether}(alice);
        bytes memory op = Pubdata.refundedDeposit(0, 0, 2 ether, alice);
        bytes memory bad = Pubdata.refundedDeposit(0, 0, 2 ether, alice);
        bad[45] = 0xFF;
        vm.prank(operator);
        vm.expectRevert();
        primary.commitBlocks(_genesisPrimary(), _genesisSync(), _one(_block(1, 0, bad)));
        (StoredBlockInfo memory one,) = _commitPrimary(_genesisPrimary(), _genesisSync(), _block(1, bytes32(uint256(0x11)), op), 1);
        _prove(_genesisPrimary(), one);
        primary.executeBlocks(_exec(one, op));
        assertEq(primary.pendingBalances(alice, 0), 2 ether, "refunded");
        assertEq(primary.totalExecutedPriorityRequests(), 1, "the request is done");
    }

    /// Every request the contract accepts is one the L2 can process: a full exit of an
    /// account the tree cannot hold, or of an unregistered token, is refused at request time.
    function test_unprocessableRequestsAreRefused() public {
        vm.startPrank(mallory);
        vm.expectRevert(abi.encodeWithSelector(Settlement.AccountOutOfRange.selector, 1 << 24));
        primary.requestFullExit(1 << 24, 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenNotRegistered.selector, 1));
        primary.requestFullExit(1, 1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenNotRegistered.selector, 1));
        primary.depositERC20(1, 1, mallory);
        vm.stopPrank();
        assertEq(primary.totalPriorityRequests(), 0, "nothing queued");
    }
}
