// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture, Pubdata} from "./utils/Fixture.sol";
import {StoredBlockInfo, CommitBlockInfo} from "../src/Types.sol";

/// Gas per op: the marginal cost of one more op of each type in a committed (and
/// executed) block, measured as (cost of a block of 33 ops - cost of a block of 1) / 32.
/// `forge test --match-contract GasTest -vv` prints the figures; docs/benchmarks.md
/// records them. The per-function figures come from `forge test --gas-report`.
contract GasTest is Fixture {
    uint256 internal constant SIGNER = 0x5161;
    uint256 internal constant MANY = 33;

    function _records(uint8 kind, uint256 n) internal view returns (bytes memory pubdata, bytes[] memory sigs) {
        address owner = vm.addr(SIGNER);
        sigs = new bytes[](kind == 5 ? n : 0);
        for (uint32 i = 0; i < n; i++) {
            if (kind == 0) pubdata = bytes.concat(pubdata, Pubdata.noop());
            if (kind == 1) pubdata = bytes.concat(pubdata, Pubdata.deposit(0, i, 0, 1 ether, owner));
            if (kind == 2) pubdata = bytes.concat(pubdata, Pubdata.transfer(i, i + 1, 0, 1 ether));
            if (kind == 3) pubdata = bytes.concat(pubdata, Pubdata.withdraw(0, i, 0, 1 ether, owner));
            if (kind == 4) pubdata = bytes.concat(pubdata, Pubdata.withdraw(1, i, 0, 1 ether, owner));
            if (kind == 5) {
                bytes32 pkh = bytes32(uint256(i + 1));
                pubdata = bytes.concat(pubdata, Pubdata.changePubKey(0, i, pkh, owner, 0));
                bytes32 body = keccak256(abi.encodePacked("manyfold:change-pubkey", block.chainid, address(primary), pkh, uint32(0), i));
                sigs[i] = _sign(SIGNER, keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", body)));
            }
            if (kind == 6) pubdata = bytes.concat(pubdata, Pubdata.fullExit(0, i, 0, 1 ether, owner));
            if (kind == 7) pubdata = bytes.concat(pubdata, Pubdata.deposit(1, i, 0, 1 ether, owner));
        }
    }

    /// Gas of committing one block of `n` ops of `kind` on the primary, from a fresh state.
    function _commitGas(uint8 kind, uint256 n) internal returns (uint256 used) {
        uint256 snapshot = vm.snapshotState();
        address owner = vm.addr(SIGNER);
        vm.deal(owner, 100 ether);
        for (uint32 i = 0; i < n && (kind == 1 || kind == 6); i++) {
            vm.prank(owner);
            if (kind == 1) primary.depositNative{value: 1 ether}(owner);
            else primary.requestFullExit(i, 0);
        }
        (bytes memory pubdata, bytes[] memory sigs) = _records(kind, n);
        CommitBlockInfo memory b = _block(1, bytes32(uint256(7)), pubdata);
        b.changePubKeySignatures = sigs;
        CommitBlockInfo[] memory blocks = _one(b);
        StoredBlockInfo memory g = _genesisPrimary();
        bytes32[] memory s = _genesisSync();
        vm.prank(operator);
        uint256 before = gasleft();
        primary.commitBlocks(g, s, blocks);
        used = before - gasleft();
        vm.revertToState(snapshot);
    }

    /// `n` records of `kind` for secondary 1: 1 deposit, 3 withdrawal, 4 full exit.
    function _secondaryRecords(uint8 kind, uint256 n) internal returns (bytes memory pubdata) {
        address owner = address(0xAB);
        vm.deal(owner, 1000 ether);
        for (uint32 i = 0; i < n; i++) {
            if (kind == 1) {
                vm.prank(owner);
                secondary1.depositNative{value: 1 ether}(owner);
                pubdata = bytes.concat(pubdata, Pubdata.deposit(1, i, 0, 1 ether, owner));
            } else if (kind == 4) {
                vm.prank(owner);
                secondary1.requestFullExit(i, 0);
                pubdata = bytes.concat(pubdata, Pubdata.fullExit(1, i, 0, 0.5 ether, owner));
            } else {
                pubdata = bytes.concat(pubdata, Pubdata.withdraw(1, i, 0, 1 ether, owner));
            }
        }
    }

    /// Gas of committing, then of executing, on a secondary a block of `n` of its ops of `kind`.
    function _secondaryGas(uint8 kind, uint256 n) internal returns (uint256 commit, uint256 execute) {
        uint256 snapshot = vm.snapshotState();
        vm.deal(address(secondary1), 1000 ether); // what the L2 pays out here
        bytes memory pubdata = _secondaryRecords(kind, n);
        CommitBlockInfo memory b = _block(1, bytes32(uint256(7)), pubdata);
        StoredBlockInfo memory info = _expectSecondary(_genesisSecondary(), 1, b, kind == 3 ? 0 : uint64(n));
        CommitBlockInfo[] memory blocks = _one(b);
        StoredBlockInfo memory g = _genesisSecondary();
        vm.prank(operator);
        uint256 before = gasleft();
        secondary1.commitCompressedBlocks(g, blocks);
        commit = before - gasleft();
        _confirmTo(secondary1, 1, info.stateRoot, info.syncHash);
        before = gasleft();
        secondary1.executeBlocks(_exec(info, pubdata));
        execute = before - gasleft();
        vm.revertToState(snapshot);
    }

    /// Gas of executing on the primary a block of `n` of its own ops of `kind` (3, 1 or 6).
    function _executeGas(uint8 kind, uint256 n) internal returns (uint256 used) {
        uint256 snapshot = vm.snapshotState();
        vm.deal(address(this), 1000 ether);
        primary.depositNative{value: 100 ether}(address(this)); // the reserve being paid out
        address owner = vm.addr(SIGNER);
        vm.deal(owner, 100 ether);
        for (uint32 i = 0; i < n && kind != 3; i++) {
            vm.prank(owner);
            if (kind == 1) primary.depositNative{value: 1 ether}(owner);
            else primary.requestFullExit(i, 0);
        }
        (bytes memory pubdata,) = _records(kind, n);
        // (the first request, the reserve, stays unserved: the block's own start after it)
        CommitBlockInfo memory b = _block(1, bytes32(uint256(7)), kind == 3 ? pubdata : bytes.concat(Pubdata.deposit(0, 99, 0, 100 ether, address(this)), pubdata));
        (StoredBlockInfo memory one,) = _commitPrimary(_genesisPrimary(), _genesisSync(), b, kind == 3 ? 0 : uint64(n + 1));
        _prove(_genesisPrimary(), one);
        bytes memory ops = _chainOps(b.pubdata, 0);
        uint256 before = gasleft();
        primary.executeBlocks(_exec(one, ops));
        used = before - gasleft();
        vm.revertToState(snapshot);
    }

    function test_gasPerOp() public {
        string[8] memory names = [
            "commit: Noop",
            "commit: Deposit (own priority queue)",
            "commit: Transfer",
            "commit: Withdraw to the primary",
            "commit: Withdraw to a secondary",
            "commit: ChangePubKey (ecrecover)",
            "commit: FullExit (own priority queue)",
            "commit: Deposit on a secondary"
        ];
        uint256 single = _commitGas(0, 1);
        log("gas: commitBlocks with one Noop", single);
        for (uint8 kind = 0; kind < 8; kind++) {
            uint256 perOp = (_commitGas(kind, MANY) - _commitGas(kind, 1)) / (MANY - 1);
            log(string.concat("gas per op, ", names[kind]), perOp);
            assertTrue(perOp > 0, "an op costs gas");
        }
        string[5] memory secondaryNames = ["", "Deposit", "", "Withdraw", "FullExit"];
        for (uint8 kind = 1; kind < 5; kind++) {
            if (kind == 2) continue;
            (uint256 c1, uint256 e1) = _secondaryGas(kind, 1);
            (uint256 cMany, uint256 eMany) = _secondaryGas(kind, MANY);
            log(string.concat("gas per op, commitCompressedBlocks: ", secondaryNames[kind]), (cMany - c1) / (MANY - 1));
            log(string.concat("gas per op, secondary executeBlocks: ", secondaryNames[kind]), (eMany - e1) / (MANY - 1));
        }
        uint256 g0 = gasleft();
        poseidon.extendCommitment(0, new bytes(64));
        uint256 g1 = gasleft();
        poseidon.extendCommitment(0, new bytes(64 * MANY));
        uint256 g2 = gasleft();
        log("gas per Poseidon permutation (extendCommitment)", ((g1 - g2) - (g0 - g1)) / (MANY - 1));
        log("gas per op, executeBlocks: Withdraw", (_executeGas(3, MANY) - _executeGas(3, 1)) / (MANY - 1));
        log("gas per op, executeBlocks: Deposit", (_executeGas(1, MANY) - _executeGas(1, 1)) / (MANY - 1));
        log("gas per op, executeBlocks: FullExit", (_executeGas(6, MANY) - _executeGas(6, 1)) / (MANY - 1));
        vm.deal(address(this), 1 ether);
        uint256 g3 = gasleft();
        primary.depositNative{value: 1 ether}(address(0xFEE));
        log("gas: depositNative to a fresh owner", g3 - gasleft());
        uint256 g4 = gasleft();
        primary.requestFullExit(7, 0);
        log("gas: requestFullExit", g4 - gasleft());
    }
}
