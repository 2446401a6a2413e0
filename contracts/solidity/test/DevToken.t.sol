// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";
import {DevToken} from "../src/dev/DevToken.sol";
import {Settlement} from "../src/Settlement.sol";

/// The devnet ERC-20: its supply minted at construction, transfers, allowances, every
/// failure, and a deposit of it into a secondary.
contract DevTokenTest is Fixture {
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA401);
    DevToken internal token;

    function setUp() public override {
        super.setUp();
        token = new DevToken("Dev USD", "DUSD", 6, _holders(alice, bob), 1_000e6);
    }

    function _holders(address a, address b) internal pure returns (address[] memory holders) {
        holders = new address[](2);
        holders[0] = a;
        holders[1] = b;
    }

    function _assertTransferLog(Vm.Log memory entry, address from, address to, uint256 value) internal view {
        assertEq(entry.emitter, address(token), "Transfer emitter");
        assertEq(entry.topics.length, 3, "Transfer topics");
        assertEq(entry.topics[0], DevToken.Transfer.selector, "Transfer event");
        assertEq(entry.topics[1], bytes32(uint256(uint160(from))), "Transfer from");
        assertEq(entry.topics[2], bytes32(uint256(uint160(to))), "Transfer to");
        assertEq(entry.data, abi.encode(value), "Transfer value");
    }

    // ------------------------------------------------------------ construction

    function test_constructorMintsToEachHolder() public {
        vm.recordLogs();
        address[] memory holders = new address[](3);
        (holders[0], holders[1], holders[2]) = (alice, bob, alice);
        token = new DevToken("Dev Ether", "DETH", 18, holders, 5 ether);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(keccak256(bytes(token.name())), keccak256("Dev Ether"), "name");
        assertEq(keccak256(bytes(token.symbol())), keccak256("DETH"), "symbol");
        assertEq(token.decimals(), 18, "decimals");
        assertEq(token.totalSupply(), 15 ether, "supply: amountEach per holder named");
        assertEq(token.balanceOf(alice), 10 ether, "a holder named twice is minted twice");
        assertEq(token.balanceOf(bob), 5 ether, "bob");
        assertEq(token.balanceOf(carol), 0, "carol");
        assertEq(logs.length, 3, "one Transfer per holder");
        for (uint256 i = 0; i < 3; i++) {
            _assertTransferLog(logs[i], address(0), holders[i], 5 ether);
        }
    }

    function test_constructorWithNoHoldersMintsNothing() public {
        token = new DevToken("Empty", "NIL", 0, new address[](0), 1 ether);
        assertEq(token.totalSupply(), 0, "supply");
        assertEq(token.decimals(), 0, "decimals");
    }

    function test_constructorRefusesASupplyOverflow() public {
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        new DevToken("Too much", "MAX", 18, _holders(alice, bob), type(uint256).max);
        // One holder of the whole range is fine.
        address[] memory one = new address[](1);
        one[0] = alice;
        token = new DevToken("All", "MAX", 18, one, type(uint256).max);
        assertEq(token.balanceOf(alice), type(uint256).max, "whole range");
    }

    // ------------------------------------------------------------ transfer

    function test_transferMovesTokensAndLogs() public {
        vm.recordLogs();
        vm.prank(alice);
        assertTrue(token.transfer(carol, 250e6), "returns true");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one log");
        _assertTransferLog(logs[0], alice, carol, 250e6);
        assertEq(token.balanceOf(alice), 750e6, "alice");
        assertEq(token.balanceOf(carol), 250e6, "carol");
        assertEq(token.totalSupply(), 2_000e6, "supply unchanged");

        vm.startPrank(carol);
        assertTrue(token.transfer(carol, 250e6), "self-transfer");
        assertEq(token.balanceOf(carol), 250e6, "a self-transfer nets zero");
        assertTrue(token.transfer(bob, 0), "zero transfer");
        assertTrue(token.transfer(bob, 250e6), "whole balance");
        vm.stopPrank();
        assertEq(token.balanceOf(carol), 0, "carol emptied");
        assertEq(token.balanceOf(bob), 1_250e6, "bob");
    }

    function test_transferRefusesMoreThanTheBalance() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientBalance.selector, alice, 1_000e6, 1_000e6 + 1));
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(bob, 1_000e6 + 1);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientBalance.selector, carol, 0, 1));
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(bob, 1);
        assertEq(token.balanceOf(alice), 1_000e6, "nothing moved");
    }

    // ------------------------------------------------------------ allowances

    function test_approveAndTransferFromSpendTheAllowance() public {
        vm.recordLogs();
        vm.prank(alice);
        assertTrue(token.approve(carol, 300e6), "approve returns true");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one log");
        assertEq(logs[0].topics[0], DevToken.Approval.selector, "Approval event");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(alice))), "Approval owner");
        assertEq(logs[0].topics[2], bytes32(uint256(uint160(carol))), "Approval spender");
        assertEq(logs[0].data, abi.encode(uint256(300e6)), "Approval value");
        assertEq(token.allowance(alice, carol), 300e6, "allowance");

        vm.recordLogs();
        vm.prank(carol);
        assertTrue(token.transferFrom(alice, bob, 100e6), "transferFrom returns true");
        logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one log");
        _assertTransferLog(logs[0], alice, bob, 100e6);
        assertEq(token.allowance(alice, carol), 200e6, "allowance spent");
        assertEq(token.balanceOf(alice), 900e6, "alice");
        assertEq(token.balanceOf(bob), 1_100e6, "bob");
        assertEq(token.balanceOf(carol), 0, "the spender holds nothing");

        vm.prank(carol);
        assertTrue(token.transferFrom(alice, carol, 200e6), "the rest");
        assertEq(token.allowance(alice, carol), 0, "allowance used up");
        assertEq(token.balanceOf(carol), 200e6, "carol");

        vm.prank(alice);
        token.approve(carol, 7);
        vm.prank(alice);
        token.approve(carol, 3);
        assertEq(token.allowance(alice, carol), 3, "approve replaces, never adds");
    }

    function test_anUnlimitedAllowanceIsNeverSpent() public {
        vm.prank(alice);
        token.approve(carol, type(uint256).max);
        vm.prank(carol);
        assertTrue(token.transferFrom(alice, bob, 400e6), "unlimited");
        assertEq(token.allowance(alice, carol), type(uint256).max, "still unlimited");
        assertEq(token.balanceOf(bob), 1_400e6, "bob");
    }

    function test_transferFromRefusesBeyondTheAllowanceOrTheBalance() public {
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientAllowance.selector, carol, 0, 1));
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, carol, 1);

        vm.prank(alice);
        token.approve(carol, 50e6);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientAllowance.selector, carol, 50e6, 50e6 + 1));
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, carol, 50e6 + 1);

        // An owner spending its own tokens through transferFrom needs an allowance too.
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientAllowance.selector, alice, 0, 1));
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, 1);

        vm.prank(bob);
        token.approve(carol, type(uint256).max);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientBalance.selector, bob, 1_000e6, 2_000e6));
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(bob, carol, 2_000e6);

        vm.prank(alice);
        token.approve(carol, 5_000e6);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientBalance.selector, alice, 1_000e6, 2_000e6));
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, carol, 2_000e6);
        assertEq(token.allowance(alice, carol), 5_000e6, "a failed transfer spends no allowance");
        assertEq(token.balanceOf(alice), 1_000e6, "nothing moved");
    }

    // ------------------------------------------------------------ with the settlement contracts

    function test_depositsIntoASecondaryAsAnERC20() public {
        uint8 decimals = token.decimals(); // read before the prank, which the next call takes
        vm.prank(governor);
        secondary1.addToken(7, address(token), decimals, 0);
        vm.startPrank(alice);
        token.approve(address(secondary1), 10e6);
        secondary1.depositERC20(7, 10e6, alice);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TokenTransferFailed.selector, 7));
        secondary1.depositERC20(7, 1, alice);
        vm.stopPrank();
        assertEq(secondary1.priorityRequest(0).amount, 10 ether, "6 decimals scaled to 18");
        assertEq(token.balanceOf(address(secondary1)), 10e6, "held");
        assertEq(token.balanceOf(alice), 990e6, "alice");
    }

    /// The gas the constructor's execution takes (the creation transaction adds its
    /// intrinsic cost and the calldata), printed with `-vv`.
    function test_creationGas() public {
        address[] memory holders = new address[](4);
        (holders[0], holders[1], holders[2], holders[3]) = (alice, bob, carol, address(0xDA7E));
        uint256 before = gasleft();
        new DevToken("Dev USD", "DUSD", 6, holders, 1_000_000e6);
        log("DevToken creation, 4 holders (execution only)", before - gasleft());
        before = gasleft();
        new DevToken("Dev USD", "DUSD", 6, new address[](0), 0);
        log("DevToken creation, no holders (execution only)", before - gasleft());
    }
}
