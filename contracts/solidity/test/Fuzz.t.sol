// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {TestToken} from "./utils/Mocks.sol";
import {Op, Operations} from "../src/Operations.sol";
import {Settlement} from "../src/Settlement.sol";

/// Exposes the internal pubdata decoder.
contract OperationsHarness {
    function read(bytes calldata pubdata, uint256 index) external pure returns (Op memory) {
        return Operations.read(pubdata, index);
    }
}

/// Properties over random inputs (forge's fuzzer, 256 runs per property).
contract FuzzTest is Fixture {
    OperationsHarness internal harness;

    function setUp() public override {
        super.setUp();
        harness = new OperationsHarness();
    }

    function testFuzz_decodesEveryFieldTheNodeEncodes(
        uint16 chain,
        uint32 account,
        uint32 to,
        uint16 token,
        uint128 amount,
        address owner,
        bytes32 pkh,
        uint32 nonce
    ) public view {
        bytes memory records = bytes.concat(
            Pubdata.deposit(chain, account, token, amount, owner),
            Pubdata.transfer(account, to, token, amount),
            Pubdata.withdraw(chain, account, token, amount, owner),
            Pubdata.fullExit(chain, account, token, amount, owner),
            Pubdata.changePubKey(chain, account, pkh, owner, nonce)
        );
        for (uint256 i = 0; i < 5; i++) {
            Op memory op = harness.read(records, i);
            uint8 kind = [1, 2, 3, 4, 5][i];
            assertEq(op.opType, kind, "type");
            assertEq(op.account, account, "account");
            if (kind == 2) {
                assertEq(op.toAccount, to, "recipient");
                assertEq(op.token, token, "token");
                assertEq(op.amount, amount, "amount");
                continue;
            }
            assertEq(op.chain, chain, "chain");
            assertEq(op.owner, owner, "owner");
            if (kind == 5) {
                assertEq(op.pubkeyHash, pkh, "pubkey hash");
                assertEq(op.nonce, nonce, "nonce");
            } else {
                assertEq(op.token, token, "token");
                assertEq(op.amount, amount, "amount");
            }
        }
    }

    function testFuzz_unknownOpTypesAreRefused(uint8 kind) public {
        vm.assume(kind > 5);
        bytes memory record = Pubdata.noop();
        record[0] = bytes1(kind);
        vm.expectRevert(abi.encodeWithSelector(Operations.UnknownOpType.selector, 0, kind));
        harness.read(record, 0);
    }

    function testFuzz_depositsScaleToL2UnitsWithinTheCap(uint8 decimals, uint256 amount) public {
        decimals = uint8(decimals % 19);
        TestToken token = new TestToken();
        vm.prank(governor);
        secondary1.addToken(3, address(token), decimals, 0);
        amount = amount % (type(uint256).max / 1e18); // mint without overflow
        vm.assume(amount > 0);
        token.mint(address(this), amount);
        token.approve(address(secondary1), amount);
        uint256 l2 = amount * 10 ** (18 - decimals);
        if (l2 > secondary1.MAX_OUTSTANDING()) {
            vm.expectRevert(abi.encodeWithSelector(Settlement.DepositCapExceeded.selector, 3, 0, amount));
            secondary1.depositERC20(3, amount, address(this));
            return;
        }
        secondary1.depositERC20(3, amount, address(this));
        assertEq(secondary1.priorityRequest(0).amount, l2, "scaled to 18 decimals");
        assertEq(secondary1.outstanding(3), l2, "held for the L2");
    }

    function testFuzz_attestationsNeedThresholdDistinctValidators(uint32 blockNumber, bytes32 root, uint8 signers) public {
        vm.assume(blockNumber > 0);
        signers = uint8(signers % 4);
        if (signers < 2) {
            vm.expectRevert(abi.encodeWithSelector(Settlement.NotEnoughSignatures.selector, signers, 2));
        }
        bytes32 h = keccak256(abi.encode(root, EMPTY));
        secondary1.receiveConfirmation(blockNumber, root, EMPTY, _attest(0, 1, 2, blockNumber, h, signers));
        if (signers >= 2) assertEq(secondary1.confirmedBlockNumber(), blockNumber, "accepted");
    }
}
