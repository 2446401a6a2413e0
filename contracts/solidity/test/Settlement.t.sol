// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {TestToken, Reenterer, IClaim, FakePrecompile} from "./utils/Mocks.sol";
import {Primary} from "../src/Primary.sol";
import {Secondary} from "../src/Secondary.sol";
import {Settlement, SettlementConfig} from "../src/Settlement.sol";
import {PoseidonT5} from "../src/PoseidonT5.sol";
import {TAG_NODE} from "../src/PoseidonConstants.sol";
import {PrecompileVerifier} from "../src/PrecompileVerifier.sol";
import {IPoseidon} from "../src/interfaces/IPoseidon.sol";
import {IVerifier, ProofPublicValues} from "../src/interfaces/IVerifier.sol";
import {StoredBlockInfo, PriorityRequest} from "../src/Types.sol";

/// What both settlement contracts share, exercised on a secondary (and the primary where
/// it differs): governance, the token registry, deposits, full exit requests, pending
/// balances, exodus activation and the committee.
contract SettlementTest is Fixture {
    address internal dave = address(0xDA7E);
    TestToken internal usdc;

    function setUp() public override {
        super.setUp();
        usdc = new TestToken();
        vm.prank(governor);
        secondary1.addToken(7, address(usdc), 6, 0);
        usdc.mint(dave, 1_000_000e6);
        vm.deal(dave, 100 ether);
    }

    // ------------------------------------------------------------ configuration

    function test_constructorRejectsBadConfig() public {
        SettlementConfig memory c = _config(1, 0);
        c.governor = address(0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "governor is zero"));
        new Secondary(c, 0);
        c = _config(1, 0);
        c.operator = address(0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "operator is zero"));
        new Secondary(c, 0);
        c = _config(16, 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "chain id is not below 16"));
        new Secondary(c, 0);
        c = _config(1, 0);
        c.priorityExpiry = 0;
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "priority expiry is zero"));
        new Secondary(c, 0);
        c = _config(1, 0);
        c.threshold = 4;
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "threshold out of range"));
        new Secondary(c, 0);
        c = _config(1, 0);
        c.validators[1] = c.validators[0];
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "validator zero or repeated"));
        new Secondary(c, 0);
        c = _config(1, 0);
        c.governanceDelay = EXPIRY - 1;
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "governance delay"));
        new Secondary(c, 0);
        c = _config(1, 0);
        c.maxOpenPriorityRequests = 0;
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "queue bound"));
        new Secondary(c, 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "chain count"));
        new Primary(_config(3, 0), 3, IVerifier(address(verifier)), IPoseidon(address(poseidon)), 0);
    }

    function test_governanceIsTheGovernorsAlone() public {
        vm.expectRevert(Settlement.NotGovernor.selector);
        secondary1.addToken(1, address(usdc), 6, 0);
        vm.expectRevert(Settlement.NotGovernor.selector);
        secondary1.proposeChange(abi.encode(uint8(1), dave, true));
        vm.expectRevert(Settlement.NotGovernor.selector);
        secondary1.setOperator(dave, true);
        vm.expectRevert(Settlement.NotGovernor.selector);
        secondary1.setCommittee(validators, 1);
        vm.expectRevert(Settlement.NotGovernor.selector);
        secondary1.cancelChange(0);
        vm.expectRevert(Settlement.NotGovernor.selector);
        secondary1.claimFees(payable(dave));
    }

    function _changeId(bytes memory change) internal pure returns (bytes32) {
        return keccak256(change);
    }

    /// Issue 9 item 13: committee, operator, verifier and governor changes wait a notice
    /// period of at least the priority expiry (the old contracts applied them at once),
    /// and never apply in exodus mode; the governor's transfer is two-step.
    function test_governanceChangesWaitTheirNoticePeriod() public {
        bytes memory dropOperator = abi.encode(uint8(1), operator, false);
        vm.startPrank(governor);
        // not proposed: refused (the old setOperator applied at once)
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChangeNotDue.selector, _changeId(dropOperator), 0));
        secondary1.setOperator(operator, false);
        secondary1.proposeChange(dropOperator);
        uint64 due = uint64(block.timestamp) + NOTICE;
        assertEq(secondary1.pendingChanges(_changeId(dropOperator)), due, "announced");
        vm.warp(due);
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChangeNotDue.selector, _changeId(dropOperator), due));
        secondary1.setOperator(operator, false);
        // what applies is exactly what was announced
        vm.warp(due + 1);
        vm.expectRevert();
        secondary1.setOperator(operator, true);
        vm.expectRevert();
        secondary1.setOperator(dave, false);
        secondary1.setOperator(operator, false);
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChangeNotDue.selector, _changeId(dropOperator), 0));
        secondary1.setOperator(operator, false); // once
        vm.stopPrank();
        assertTrue(!secondary1.isOperator(operator), "operator dropped after notice");
        vm.prank(operator);
        vm.expectRevert(Settlement.NotOperator.selector);
        secondary1.commitCompressedBlocks(_genesisSecondary(), _one(_block(1, 0, Pubdata.noop())));

        // a cancelled change never applies
        bytes memory addDave = abi.encode(uint8(1), dave, true);
        vm.startPrank(governor);
        secondary1.proposeChange(addDave);
        secondary1.cancelChange(_changeId(addDave));
        vm.warp(block.timestamp + NOTICE + 1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChangeNotDue.selector, _changeId(addDave), 0));
        secondary1.setOperator(dave, true);
        vm.stopPrank();
    }

    function test_theGovernorsTransferIsTwoStep() public {
        bytes memory toDave = abi.encode(uint8(3), dave);
        vm.prank(governor);
        secondary1.proposeChange(toDave);
        vm.prank(dave);
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChangeNotDue.selector, _changeId(toDave), block.timestamp + NOTICE));
        secondary1.acceptGovernor();
        vm.warp(block.timestamp + NOTICE + 1);
        // only the proposed governor takes over
        vm.prank(address(0xE0E));
        vm.expectRevert();
        secondary1.acceptGovernor();
        assertEq(secondary1.governor(), governor, "unchanged");
        vm.prank(dave);
        secondary1.acceptGovernor();
        assertEq(secondary1.governor(), dave, "handed over");
        vm.prank(governor);
        vm.expectRevert(Settlement.NotGovernor.selector);
        secondary1.proposeChange(toDave);
    }

    function test_governanceChangesNeverApplyInExodus() public {
        address[] memory next = new address[](1);
        next[0] = dave;
        bytes memory committee = abi.encode(uint8(2), next, uint256(1));
        vm.prank(governor);
        secondary1.proposeChange(committee);
        vm.prank(dave);
        secondary1.depositNative{value: 1 ether}(dave); // never served
        vm.warp(block.timestamp + NOTICE + 1);
        secondary1.activateExodusMode();
        vm.startPrank(governor);
        vm.expectRevert(Settlement.InExodusMode.selector);
        secondary1.setCommittee(next, 1);
        vm.expectRevert(Settlement.InExodusMode.selector);
        secondary1.proposeChange(committee);
        // Review finding: registering a token id in exodus would price its exits in
        // whatever token the governor names.
        vm.expectRevert(Settlement.InExodusMode.selector);
        secondary1.addToken(9, address(0x70CE), 18, 0);
        vm.stopPrank();
        assertTrue(secondary1.isValidator(validators[0]), "the committee stays");
    }

    function test_verifierChangesWaitTheirNoticePeriod() public {
        address next = address(0x7E21F1E2);
        vm.startPrank(governor);
        vm.expectRevert();
        primary.setVerifier(IVerifier(next));
        primary.proposeChange(abi.encode(uint8(4), next));
        vm.expectRevert();
        primary.setVerifier(IVerifier(next));
        vm.warp(block.timestamp + NOTICE + 1);
        primary.setVerifier(IVerifier(next));
        vm.stopPrank();
        assertEq(address(primary.verifier()), next, "replaced after notice");
    }

    function test_tokenRegistry() public {
        (address token, uint8 decimals, bool registered, uint128 minDeposit) = secondary1.tokens(7);
        assertEq(minDeposit, 0, "no minimum");
        assertEq(token, address(usdc), "local token");
        assertEq(decimals, 6, "decimals");
        assertTrue(registered, "registered");
        vm.startPrank(governor);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenAlreadyRegistered.selector, 7));
        secondary1.addToken(7, address(usdc), 6, 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "token id or decimals"));
        secondary1.addToken(1024, address(usdc), 6, 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InvalidConfig.selector, "token id or decimals"));
        secondary1.addToken(8, address(usdc), 19, 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NativeTokenAlreadyRegistered.selector, 0));
        secondary1.addToken(9, address(0), 18, 0);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ deposits and requests

    function test_nativeDepositQueuesAnExpiringRequest() public {
        vm.prank(dave);
        secondary1.depositNative{value: 3 ether}(address(0xA));
        PriorityRequest memory r = secondary1.priorityRequest(0);
        assertEq(r.opType, 1, "deposit");
        assertEq(r.owner, address(0xA), "owner");
        assertEq(r.amount, 3 ether, "18 decimals map 1:1");
        assertEq(r.expiresAt, block.timestamp + EXPIRY, "expiry");
        assertEq(secondary1.totalPriorityRequests(), 1, "queued");
        assertEq(secondary1.outstanding(0), 3 ether, "held for the L2");

        vm.expectRevert(Settlement.ZeroAmount.selector);
        secondary1.depositNative{value: 0}(dave);
        vm.expectRevert(Settlement.ZeroAddress.selector);
        secondary1.depositNative{value: 1}(address(0));
        Secondary bare = new Secondary(_config(1, 0), 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenNotRegistered.selector, 0));
        bare.depositNative{value: 1}(dave);
    }

    function test_depositsAreCappedBelowTheL2sRange() public {
        uint256 cap = secondary1.MAX_OUTSTANDING();
        vm.deal(dave, cap + 1);
        vm.startPrank(dave);
        secondary1.depositNative{value: cap - 1}(dave);
        vm.expectRevert(abi.encodeWithSelector(Settlement.DepositCapExceeded.selector, 0, cap - 1, 2));
        secondary1.depositNative{value: 2}(dave);
        secondary1.depositNative{value: 1}(dave);
        vm.stopPrank();
        assertEq(secondary1.outstanding(0), cap, "exactly at the cap");
    }

    function test_erc20DepositScalesToL2DecimalsAndCreditsWhatArrived() public {
        vm.startPrank(dave);
        usdc.approve(address(secondary1), type(uint256).max);
        secondary1.depositERC20(7, 5e6, dave);
        assertEq(secondary1.priorityRequest(0).amount, 5 ether, "6 decimals scaled to 18");
        usdc.setFee(100); // 1% burnt in transit
        secondary1.depositERC20(7, 100e6, dave);
        assertEq(secondary1.priorityRequest(1).amount, 99 ether, "credits what the contract received");
        assertEq(usdc.balanceOf(address(secondary1)), 104e6, "held");

        vm.expectRevert(abi.encodeWithSelector(Settlement.NotAnERC20.selector, 0));
        secondary1.depositERC20(0, 1, dave);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenNotRegistered.selector, 8));
        secondary1.depositERC20(8, 1, dave);
        usdc.approve(address(secondary1), 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenTransferFailed.selector, 7));
        secondary1.depositERC20(7, 1e6, dave);
        vm.stopPrank();

        vm.prank(governor);
        secondary1.addToken(9, address(0xC0DE1E55), 18, 0);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenTransferFailed.selector, 9));
        secondary1.depositERC20(9, 1, dave);
    }

    function test_fullExitRequest() public {
        vm.prank(dave);
        secondary1.requestFullExit(42, 7);
        PriorityRequest memory r = secondary1.priorityRequest(0);
        assertEq(r.opType, 4, "full exit");
        assertEq(r.account, 42, "account");
        assertEq(r.owner, dave, "requester");
        vm.expectRevert(abi.encodeWithSelector(Settlement.AccountOutOfRange.selector, 1 << 24));
        secondary1.requestFullExit(1 << 24, 7);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenNotRegistered.selector, 3));
        secondary1.requestFullExit(1, 3);
    }

    // ------------------------------------------------------------ pending balances

    function _payOutOn1(address owner, uint16 token, uint128 l2Amount) internal {
        StoredBlockInfo memory a =
            _commitSecondary(secondary1, _genesisSecondary(), _block(1, bytes32(uint256(1)), Pubdata.withdraw(1, 3, token, l2Amount, owner)), 0);
        _confirmTo(secondary1, 1, bytes32(uint256(1)), a.syncHash);
        secondary1.executeBlocks(_exec(a, Pubdata.withdraw(1, 3, token, l2Amount, owner)));
    }

    function test_erc20WithdrawalPaysLocalUnits() public {
        vm.startPrank(dave);
        usdc.approve(address(secondary1), type(uint256).max);
        secondary1.depositERC20(7, 10e6, dave);
        vm.stopPrank();
        _payOutOn1(address(0xE), 7, 2.5 ether);
        assertEq(secondary1.pendingBalances(address(0xE), 7), 2.5e6, "18 decimals to 6");
        secondary1.withdrawPendingBalance(payable(address(0xE)), 7);
        assertEq(usdc.balanceOf(address(0xE)), 2.5e6, "paid in the local token");
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenNotRegistered.selector, 8));
        secondary1.withdrawPendingBalance(payable(address(0xE)), 8);
    }

    function test_aReenteringRecipientIsPaidOnce() public {
        Reenterer r = new Reenterer();
        r.setTarget(IClaim(address(secondary1)));
        vm.prank(dave);
        secondary1.depositNative{value: 1 ether}(dave);
        _payOutOn1(address(r), 0, 1 ether);
        secondary1.withdrawPendingBalance(payable(address(r)), 0);
        assertEq(r.innerError(), abi.encodeWithSelector(Settlement.Reentered.selector), "the nested claim was refused");
        assertEq(r.received(), 1 ether, "paid once");
        assertEq(secondary1.pendingBalances(address(r), 0), 0, "nothing left");
    }

    // ------------------------------------------------------------ exodus activation

    function test_exodusNeedsAnExpiredRequest() public {
        vm.expectRevert(Settlement.NoExpiredPriorityRequest.selector);
        secondary1.activateExodusMode();
        vm.prank(dave);
        secondary1.depositNative{value: 1 ether}(dave);
        vm.warp(block.timestamp + EXPIRY);
        vm.expectRevert(Settlement.NoExpiredPriorityRequest.selector);
        secondary1.activateExodusMode();
        vm.warp(block.timestamp + 1);
        secondary1.activateExodusMode();
        assertTrue(secondary1.exodusMode(), "exodus");
        vm.expectRevert(Settlement.InExodusMode.selector);
        secondary1.activateExodusMode();
        vm.prank(dave);
        vm.expectRevert(Settlement.InExodusMode.selector);
        secondary1.depositNative{value: 1 ether}(dave);
        vm.expectRevert(Settlement.InExodusMode.selector);
        secondary1.requestFullExit(1, 0);
    }

    // ------------------------------------------------------------ committee

    function test_committeeCanBeReplaced() public {
        address[] memory next = new address[](1);
        next[0] = vm.addr(0xF00D);
        vm.prank(governor);
        secondary1.proposeChange(abi.encode(uint8(2), next, uint256(1)));
        vm.warp(block.timestamp + NOTICE + 1);
        vm.prank(governor);
        secondary1.setCommittee(next, 1);
        assertEq(secondary1.validators().length, 1, "one validator");
        assertTrue(!secondary1.isValidator(validators[0]), "old validator removed");
        bytes32 h = keccak256(abi.encode(bytes32(uint256(1)), EMPTY));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotAValidator.selector, validators[0]));
        secondary1.receiveConfirmation(1, bytes32(uint256(1)), EMPTY, _attest(0, 1, 2, 1, h, 1));
        bytes32 digest = keccak256(
            abi.encodePacked("\x19Ethereum Signed Message:\n32", secondary1.attestationDigest(0, 1, 2, 1, h))
        );
        bytes[] memory sigs = new bytes[](1);
        sigs[0] = _sign(0xF00D, digest);
        secondary1.receiveConfirmation(1, bytes32(uint256(1)), EMPTY, sigs);
        assertEq(secondary1.confirmedBlockNumber(), 1, "the new committee's attestation counts");
    }

    // ------------------------------------------------------------ Poseidon and the verifier

    function test_poseidonRejectsNonFieldInputs() public {
        uint256 q = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
        vm.expectRevert(abi.encodeWithSelector(PoseidonT5.NotAFieldElement.selector, q));
        poseidon.hash(1, [q, 0, 0, 0]);
        vm.expectRevert(abi.encodeWithSelector(PoseidonT5.NotAFieldElement.selector, q));
        poseidon.hash(q, [uint256(0), 0, 0, 0]);
        vm.expectRevert(abi.encodeWithSelector(PoseidonT5.NotAFieldElement.selector, q));
        poseidon.extendCommitment(q, Pubdata.noop());
        vm.expectRevert(abi.encodeWithSelector(PoseidonT5.PubdataNotWholeRecords.selector, 63));
        poseidon.extendCommitment(0, new bytes(63));
        assertEq(poseidon.extendCommitment(5, ""), 5, "no records, no change");
        vm.expectRevert(abi.encodeWithSelector(PoseidonT5.SiblingsNotWholeLevels.selector, 4));
        poseidon.merkleRoot(0, 1, new uint256[](4));
        vm.expectRevert(PoseidonT5.IndexOutsideTree.selector);
        poseidon.merkleRoot(16, 1, new uint256[](6)); // two levels hold 16 leaves
        uint256[] memory bad = new uint256[](3);
        bad[2] = q;
        vm.expectRevert(abi.encodeWithSelector(PoseidonT5.NotAFieldElement.selector, q));
        poseidon.merkleRoot(0, 1, bad);
        vm.expectRevert(abi.encodeWithSelector(PoseidonT5.NotAFieldElement.selector, q));
        poseidon.merkleRoot(0, q, new uint256[](3));
        // one level is one node hash, the leaf in its place among the siblings
        uint256[] memory level = new uint256[](3);
        (level[0], level[1], level[2]) = (7, 8, 9);
        assertEq(poseidon.merkleRoot(2, 5, level), poseidon.hash(TAG_NODE, [uint256(7), 8, 5, 9]), "leaf at position 2");
        assertEq(poseidon.merkleRoot(0, 5, new uint256[](0)), 5, "no levels: the leaf");
        uint256 two = poseidon.extendCommitment(poseidon.extendCommitment(0, Pubdata.noop()), Pubdata.noop());
        assertEq(poseidon.extendCommitment(0, bytes.concat(Pubdata.noop(), Pubdata.noop())), two, "a chain over records");
    }

    /// SPEC E: the verifier names its pinned verifying-key digest in the precompile's input.
    function test_precompileVerifierAsksTheEmbeddedChainsPrecompile() public {
        bytes32 vk = keccak256("verifying key");
        PrecompileVerifier v = new PrecompileVerifier(vk);
        assertEq(v.verifyingKeyDigest(), vk, "pinned at deployment");
        ProofPublicValues memory values = ProofPublicValues(bytes32(uint256(1)), bytes32(uint256(2)), bytes32(uint256(3)), bytes32(uint256(4)), 9);
        bytes memory proof = hex"c0ffee";
        assertTrue(!v.verify(values, proof), "no precompile: invalid");
        bytes memory input = abi.encode(vk, values.oldStateRoot, values.oldCommitment, values.newStateRoot, values.newCommitment, values.steps, proof);
        FakePrecompile fake = new FakePrecompile(keccak256(input));
        vm.etch(v.PRECOMPILE(), address(fake).code);
        assertTrue(v.verify(values, proof), "the precompile's yes");
        values.newStateRoot = bytes32(uint256(33));
        assertTrue(!v.verify(values, proof), "other values: no");
        values.newStateRoot = bytes32(uint256(3));
        assertTrue(!v.verify(values, hex"c0ffef"), "other proof: no");
        assertEq(v.PRECOMPILE(), address(0xF01D), "fixed address");
        // a verifier pinned to another key asks about that key: the precompile says no
        PrecompileVerifier other = new PrecompileVerifier(keccak256("another key"));
        assertTrue(!other.verify(values, proof), "another key's digest: no");
    }
}
