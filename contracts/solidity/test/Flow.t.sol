// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {Secondary} from "../src/Secondary.sol";
import {Settlement} from "../src/Settlement.sol";
import {StoredBlockInfo, CommitBlockInfo, ExecuteBlockInfo} from "../src/Types.sol";

/// DESIGN §1 and §8.1 on the contracts: funds deposited on one chain are withdrawn on
/// another, and only after the block is proven on the primary, every chain's sync hash
/// agrees, the primary has executed it and the confirmation has reached the secondary.
contract FlowTest is Fixture {
    address internal carol = address(0xCA201);
    address internal erin = address(0xE21);

    function test_depositOnOneChainWithdrawOnAnother() public {
        vm.deal(carol, 10 ether);
        vm.deal(erin, 10 ether);
        vm.prank(carol);
        secondary1.depositNative{value: 10 ether}(carol);
        vm.prank(erin);
        secondary2.depositNative{value: 10 ether}(erin);

        // Commit: the primary takes every op, each secondary only its own.
        CommitBlockInfo memory b1 = _block(
            1,
            bytes32(uint256(0x111)),
            bytes.concat(Pubdata.deposit(1, 1, 0, 10 ether, carol), Pubdata.deposit(2, 2, 0, 10 ether, erin))
        );
        CommitBlockInfo memory b2 = _block(
            2,
            bytes32(uint256(0x222)),
            bytes.concat(
                Pubdata.transfer(1, 2, 0, 5 ether),
                Pubdata.withdraw(1, 2, 0, 5 ether, erin),
                Pubdata.withdraw(2, 1, 0, 5 ether, carol)
            )
        );
        (StoredBlockInfo memory p1, bytes32[] memory sync1) = _commitPrimary(_genesisPrimary(), _genesisSync(), b1, 0);
        (StoredBlockInfo memory p2, bytes32[] memory sync2) = _commitPrimary(p1, sync1, b2, 0);
        StoredBlockInfo memory s1a = _commitSecondary(secondary1, _genesisSecondary(), b1, 1);
        StoredBlockInfo memory s1b = _commitSecondary(secondary1, s1a, b2, 0);
        StoredBlockInfo memory s2a = _commitSecondary(secondary2, _genesisSecondary(), b1, 1);
        StoredBlockInfo memory s2b = _commitSecondary(secondary2, s2a, b2, 0);

        // Prove: nothing is confirmed until every touched chain's sync hash agrees.
        _prove(_genesisPrimary(), p2);
        assertEq(primary.totalBlocksConfirmed(), 0, "proven is not confirmed");
        _syncFrom(secondary1, 1, s1a.syncHash);
        _syncFrom(secondary2, 1, s2a.syncHash);
        _syncFrom(secondary1, 2, s1b.syncHash);
        assertEq(primary.totalBlocksConfirmed(), 1, "block 2 waits for chain 2");
        vm.prank(operator);
        // the primary confirmed block 1, but has sent no confirmation yet
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotConfirmed.selector, 1));
        secondary1.executeBlocks(_exec(s1a, _chainOps(b1.pubdata, 1)));
        _syncFrom(secondary2, 2, s2b.syncHash);
        assertEq(primary.totalBlocksConfirmed(), 2, "all agree");
        assertEq(sync2[1], s1b.syncHash, "the primary's view of chain 1 is chain 1's");

        // Execute on the primary first, then the confirmation releases the secondaries.
        // (one proof covered blocks 1 and 2: the primary executes them together, up to
        // the range's end)
        ExecuteBlockInfo[] memory range = new ExecuteBlockInfo[](2);
        range[0] = ExecuteBlockInfo(p1, "");
        range[1] = ExecuteBlockInfo(p2, "");
        primary.executeBlocks(range);
        // the confirmation names the primary's own sync hash for each chain
        assertEq(primary.syncHashAt(1, 2), s1b.syncHash, "chain 1 at block 2");
        assertEq(primary.syncHashAt(2, 1), s2a.syncHash, "chain 2 at block 1");
        _confirmTo(secondary1, 2, p2.stateRoot, primary.syncHashAt(1, 2));
        _confirmTo(secondary2, 2, p2.stateRoot, primary.syncHashAt(2, 2));
        // each secondary's confirmed prefix ends at its block whose sync hash the
        // confirmation names; marked once, it executes block by block, by anyone
        secondary1.markConfirmedPrefix(s1b);
        secondary2.markConfirmedPrefix(s2b);
        secondary1.executeBlocks(_exec(s1a, _chainOps(b1.pubdata, 1)));
        secondary1.executeBlocks(_exec(s1b, _chainOps(b2.pubdata, 1)));
        secondary2.executeBlocks(_exec(s2a, _chainOps(b1.pubdata, 2)));
        secondary2.executeBlocks(_exec(s2b, _chainOps(b2.pubdata, 2)));

        secondary1.withdrawPendingBalance(payable(erin), 0);
        secondary2.withdrawPendingBalance(payable(carol), 0);
        assertEq(erin.balance, 5 ether, "erin's funds from chain 2 paid on chain 1");
        assertEq(carol.balance, 5 ether, "carol's funds from chain 1 paid on chain 2");
        assertEq(secondary1.totalExecutedPriorityRequests(), 1, "chain 1's deposit done");
    }
}
