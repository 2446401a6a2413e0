// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {TestToken} from "./utils/Mocks.sol";
import {Primary, ExitProof} from "../src/Primary.sol";
import {Secondary} from "../src/Secondary.sol";
import {Settlement, SettlementConfig} from "../src/Settlement.sol";
import {IPoseidon} from "../src/interfaces/IPoseidon.sol";
import {IVerifier} from "../src/interfaces/IVerifier.sol";
import {StoredBlockInfo, CommitBlockInfo, ExecuteBlockInfo} from "../src/Types.sol";

/// The contracts against vectors that Rust generated with manyfold-state and
/// manyfold-types (contracts/tests/generated.rs): the on-chain ops hashes, sync hashes,
/// pubdata commitment, Poseidon, attestation digest and exit proof must equal the node's.
contract VectorsTest is Fixture {
    string internal json;
    TestToken internal erc20;

    function setUp() public override {
        super.setUp();
        json = vm.readFile(string.concat(vm.projectRoot(), "/solidity/test/vectors/block-hashes.json"));
        assertEq(vm.parseJsonUint(json, ".chains"), CHAINS, "the vectors' chain count");
        _deployAtDomains(vm.parseJsonBytes32(json, ".genesisStateRoot"), vm.parseJsonBytes32(json, ".genesisCommitment"));
        erc20 = new TestToken();
        vm.startPrank(governor);
        primary.addToken(1, address(erc20), 18, 0);
        secondary1.addToken(1, address(erc20), 18, 0);
        secondary2.addToken(1, address(erc20), 18, 0);
        vm.stopPrank();
    }

    /// Chain c's EVM chain id and contract address in the vectors: its ChangePubKey
    /// signatures bind both (SPEC C).
    function _evmChainId(uint256 c) internal view returns (uint256) {
        return vm.parseJsonUint(json, string.concat(".chainDomains[", _str(c), "].evmChainId"));
    }

    function _settlementAddress(uint256 c) internal view returns (address) {
        return vm.parseJsonAddress(json, string.concat(".chainDomains[", _str(c), "].settlement"));
    }

    /// Runs `creation` at `target`: its constructor writes `target`'s storage.
    function _deployAt(address target, bytes memory creation) internal returns (address) {
        vm.etch(target, creation);
        (bool ok, bytes memory runtime) = target.call("");
        assertTrue(ok, "constructor");
        vm.etch(target, runtime);
        return target;
    }

    /// The three contracts at the vectors' addresses, each with the native coin as token 0.
    function _deployAtDomains(bytes32 genesisRoot, bytes32 genesisCommitment) internal {
        primary = Primary(
            _deployAt(
                _settlementAddress(0),
                abi.encodePacked(
                    type(Primary).creationCode,
                    abi.encode(_config(0, genesisRoot), CHAINS, address(verifier), address(poseidon), genesisCommitment)
                )
            )
        );
        secondary1 = Secondary(
            _deployAt(_settlementAddress(1), abi.encodePacked(type(Secondary).creationCode, abi.encode(_config(1, genesisRoot), uint16(0))))
        );
        secondary2 = Secondary(
            _deployAt(_settlementAddress(2), abi.encodePacked(type(Secondary).creationCode, abi.encode(_config(2, genesisRoot), uint16(0))))
        );
        vm.startPrank(governor);
        primary.addToken(0, address(0), 18, 0);
        secondary1.addToken(0, address(0), 18, 0);
        secondary2.addToken(0, address(0), 18, 0);
        vm.stopPrank();
    }

    /// What follows runs on chain c's EVM chain.
    function _on(uint256 c) internal {
        vm.chainId(_evmChainId(c));
    }

    function _key(uint256 b, string memory field) internal pure returns (string memory) {
        return string.concat(".blocks[", _str(b), "].", field);
    }

    function _str(uint256 x) internal pure returns (string memory) {
        return vm.toString(x);
    }

    function _settlement(uint256 chain) internal view returns (Secondary) {
        return chain == 1 ? secondary1 : secondary2;
    }

    /// Files the vector's priority requests on their chains, in order.
    /// Files the vector's priority requests on their chains, in order: token 0 is the
    /// native coin, token 1 the ERC-20 registered in setUp.
    function _fileRequests() internal {
        uint256 count = vm.parseJsonUint(json, ".requestCount");
        for (uint256 i = 0; i < count; i++) {
            string memory k = string.concat(".requests[", _str(i), "]");
            uint256 chain = vm.parseJsonUint(json, string.concat(k, ".chain"));
            address owner = vm.parseJsonAddress(json, string.concat(k, ".owner"));
            uint16 token = uint16(vm.parseJsonUint(json, string.concat(k, ".token")));
            Settlement target = chain == 0 ? Settlement(address(primary)) : Settlement(address(_settlement(chain)));
            if (keccak256(bytes(vm.parseJsonString(json, string.concat(k, ".kind")))) == keccak256("deposit")) {
                uint256 amount = vm.parseJsonUint(json, string.concat(k, ".amount"));
                if (token == 0) {
                    vm.deal(owner, amount);
                    vm.prank(owner);
                    target.depositNative{value: amount}(owner);
                } else {
                    erc20.mint(owner, amount);
                    vm.startPrank(owner);
                    erc20.approve(address(target), amount);
                    target.depositERC20(token, amount, owner);
                    vm.stopPrank();
                }
            } else {
                vm.prank(owner);
                target.requestFullExit(uint32(vm.parseJsonUint(json, string.concat(k, ".account"))), token);
            }
        }
    }

    function _blockInfo(uint256 b) internal view returns (CommitBlockInfo memory info) {
        info.blockNumber = uint32(vm.parseJsonUint(json, _key(b, "number")));
        info.timestamp = uint64(vm.parseJsonUint(json, _key(b, "timestamp")));
        info.newStateRoot = vm.parseJsonBytes32(json, _key(b, "newStateRoot"));
        info.pubdata = vm.parseJsonBytes(json, _key(b, "pubdata"));
    }

    function _signatures(uint256 b, uint256 chain) internal view returns (bytes[] memory) {
        return vm.parseJsonBytesArray(json, string.concat(_key(b, "changePubKeySignatures"), "[", _str(chain), "]"));
    }

    function test_poseidonEqualsNovaSnark() public view {
        for (uint256 i = 0; i < 4; i++) {
            string memory k = string.concat(".poseidon[", _str(i), "]");
            bytes32[] memory inputs = vm.parseJsonBytes32Array(json, string.concat(k, ".inputs"));
            uint256 out = poseidon.hash(
                uint256(vm.parseJsonBytes32(json, string.concat(k, ".tag"))),
                [uint256(inputs[0]), uint256(inputs[1]), uint256(inputs[2]), uint256(inputs[3])]
            );
            assertEq(bytes32(out), vm.parseJsonBytes32(json, string.concat(k, ".output")), vm.parseJsonString(json, string.concat(k, ".name")));
        }
    }

    /// The digest binds the receiving contract's EVM chain id and address (issue 9 item
    /// 12): the vector names both; the secondary's code runs there, on that chain.
    function test_attestationDigestEqualsRust() public {
        SettlementConfig memory config = _config(0, 0);
        config.attestationDomain = vm.parseJsonBytes32(json, ".attestation.domain");
        Secondary deployed = new Secondary(config, 1);
        Secondary s = Secondary(vm.parseJsonAddress(json, ".attestation.receiver"));
        vm.etch(address(s), address(deployed).code);
        vm.chainId(vm.parseJsonUint(json, ".attestation.evmChainId"));
        bytes32 digest = s.attestationDigest(
            uint16(vm.parseJsonUint(json, ".attestation.src")),
            uint16(vm.parseJsonUint(json, ".attestation.dst")),
            uint8(vm.parseJsonUint(json, ".attestation.kind")),
            uint32(vm.parseJsonUint(json, ".attestation.blockNumber")),
            vm.parseJsonBytes32(json, ".attestation.hash")
        );
        assertEq(digest, vm.parseJsonBytes32(json, ".attestation.digest"), "attestation digest");
    }

    /// Commits every vector block on the primary and on both secondaries (hand-picked
    /// ones, then random valid ones); every hash the contracts store must be the one Rust
    /// computed, and each secondary's sync hash must match the primary's expectation.
    function test_onChainHashesEqualManyfoldState() public {
        _commitAll();
    }

    /// Every stored block the commits produced: the primary's by block, each secondary's
    /// by its sequence (`secondaryCount[c]` of them).
    struct Committed {
        StoredBlockInfo[] primary;
        StoredBlockInfo[][3] secondary;
        uint256[3] secondaryCount;
    }

    function _commitAll() internal returns (Committed memory done) {
        _fileRequests();
        StoredBlockInfo memory last = _genesisPrimary();
        last.stateRoot = vm.parseJsonBytes32(json, ".genesisStateRoot");
        bytes32[] memory sync = _genesisSync();
        uint256 blockCount = vm.parseJsonUint(json, ".blockCount");
        done.primary = new StoredBlockInfo[](blockCount);
        done.secondary[1] = new StoredBlockInfo[](blockCount);
        done.secondary[2] = new StoredBlockInfo[](blockCount);
        for (uint256 b = 0; b < blockCount; b++) {
            (last, sync) = _commitVectorOnPrimary(b, last, sync);
            done.primary[b] = last;
            // Each secondary commits only its ops, and only blocks that touch it.
            for (uint16 c = 1; c < 3; c++) {
                if (vm.parseJsonBytesArray(json, _key(b, "chainOps"))[c].length == 0) continue;
                StoredBlockInfo memory prev = _genesisSecondary();
                prev.stateRoot = vm.parseJsonBytes32(json, ".genesisStateRoot");
                if (done.secondaryCount[c] > 0) prev = done.secondary[c][done.secondaryCount[c] - 1];
                done.secondary[c][done.secondaryCount[c]++] = _commitVectorOnSecondary(b, c, prev);
            }
        }
    }

    function _commitVectorOnPrimary(uint256 b, StoredBlockInfo memory last, bytes32[] memory sync)
        internal
        returns (StoredBlockInfo memory expected, bytes32[] memory syncHashes)
    {
        CommitBlockInfo memory blk = _blockInfo(b);
        blk.changePubKeySignatures = _signatures(b, 0);
        bytes32[] memory opsHashes = vm.parseJsonBytes32Array(json, _key(b, "opsHashes"));
        syncHashes = vm.parseJsonBytes32Array(json, _key(b, "syncHashes"));
        expected = StoredBlockInfo({
            blockNumber: blk.blockNumber,
            blockSequence: blk.blockNumber,
            priorityOperations: uint64(vm.parseJsonUintArray(json, _key(b, "priorityOps"))[0]),
            timestamp: blk.timestamp,
            stateRoot: blk.newStateRoot,
            opsHash: opsHashes[0],
            syncHash: keccak256(abi.encodePacked(syncHashes)),
            commitment: vm.parseJsonBytes32(json, _key(b, "commitment"))
        });
        _on(0);
        vm.prank(operator);
        primary.commitBlocks(last, sync, _one(blk));
        assertEq(primary.storedBlockHashes(blk.blockNumber), keccak256(abi.encode(expected)), "primary stored block");
        // ... which the node's Rust bookkeeping predicted too
        assertEq(primary.storedBlockHashes(blk.blockNumber), vm.parseJsonBytes32(json, _key(b, "primaryStoredHash")), "rust's prediction");
        for (uint16 c = 1; c < 3; c++) {
            if (opsHashes[c] != EMPTY) {
                assertEq(primary.expectedSyncHash(blk.blockNumber, c), syncHashes[c], "expected sync hash");
            }
        }
    }

    function _commitVectorOnSecondary(uint256 b, uint16 c, StoredBlockInfo memory prev)
        internal
        returns (StoredBlockInfo memory mine)
    {
        CommitBlockInfo memory compressed = _blockInfo(b);
        compressed.pubdata = vm.parseJsonBytesArray(json, _key(b, "chainOps"))[c];
        compressed.changePubKeySignatures = _signatures(b, c);
        bytes32 syncHash = vm.parseJsonBytes32Array(json, _key(b, "syncHashes"))[c];
        mine = StoredBlockInfo({
            blockNumber: compressed.blockNumber,
            blockSequence: prev.blockSequence + 1,
            priorityOperations: uint64(vm.parseJsonUintArray(json, _key(b, "priorityOps"))[c]),
            timestamp: compressed.timestamp,
            stateRoot: compressed.newStateRoot,
            opsHash: vm.parseJsonBytes32Array(json, _key(b, "opsHashes"))[c],
            syncHash: syncHash,
            commitment: 0
        });
        _on(c);
        vm.prank(operator);
        _settlement(c).commitCompressedBlocks(prev, _one(compressed));
        assertEq(_settlement(c).storedBlockHashes(mine.blockSequence), keccak256(abi.encode(mine)), "secondary stored block");
        assertEq(
            _settlement(c).storedBlockHashes(mine.blockSequence),
            vm.parseJsonBytes32(json, string.concat(_key(b, "secondaryStoredHashes"), "[", _str(c - 1), "]")),
            "rust's prediction"
        );
        // The secondary's sync hash reaches the primary and matches.
        _on(0);
        _syncFrom(_settlement(c), compressed.blockNumber, syncHash);
        assertEq(primary.pendingSyncHashes(compressed.blockNumber) & (uint16(1) << c), 0, "sync hash matched");
    }

    /// The commit calls the node's Rust bookkeeping builds (through the alloy bindings)
    /// are accepted as they are, and store what it predicted.
    function test_rustBuiltCommitCallsAreAccepted() public {
        _fileRequests();
        uint256 blockCount = vm.parseJsonUint(json, ".blockCount");
        uint32[3] memory sequence;
        for (uint256 b = 0; b < blockCount; b++) {
            _on(0);
            vm.prank(operator);
            (bool ok, bytes memory err) = address(primary).call(vm.parseJsonBytes(json, _key(b, "primaryCommitCalldata")));
            assertTrue(ok, string(err));
            assertEq(primary.storedBlockHashes(uint32(b + 1)), vm.parseJsonBytes32(json, _key(b, "primaryStoredHash")), "primary");
            bytes[] memory chainOps = vm.parseJsonBytesArray(json, _key(b, "chainOps"));
            for (uint16 c = 1; c < 3; c++) {
                if (chainOps[c].length == 0) continue;
                string memory k = string.concat("[", _str(c - 1), "]");
                _on(c);
                vm.prank(operator);
                (ok, err) = address(_settlement(c)).call(
                    vm.parseJsonBytes(json, string.concat(_key(b, "secondaryCommitCalldata"), k))
                );
                assertTrue(ok, string(err));
                assertEq(
                    _settlement(c).storedBlockHashes(++sequence[c]),
                    vm.parseJsonBytes32(json, string.concat(_key(b, "secondaryStoredHashes"), k)),
                    "secondary"
                );
            }
        }
    }

    /// After proof, agreement and confirmation, executing every block on every chain
    /// makes claimable exactly what the L2 state paid out to each chain.
    function test_executionPaysWhatTheStateWithdrew() public {
        Committed memory done = _commitAll();
        uint256 blockCount = done.primary.length;
        StoredBlockInfo memory last = done.primary[blockCount - 1];
        StoredBlockInfo memory genesis = _genesisPrimary();
        genesis.stateRoot = vm.parseJsonBytes32(json, ".genesisStateRoot");
        _on(0);
        _prove(genesis, last);
        assertEq(primary.totalBlocksConfirmed(), last.blockNumber, "every block confirmed");

        // one proof covered every block: the primary executes them all, up to its end
        ExecuteBlockInfo[] memory range = new ExecuteBlockInfo[](blockCount);
        for (uint256 b = 0; b < blockCount; b++) {
            range[b] = ExecuteBlockInfo(done.primary[b], vm.parseJsonBytesArray(json, _key(b, "chainOps"))[0]);
        }
        primary.executeBlocks(range);
        for (uint16 c = 1; c < 3; c++) {
            bytes32 confirmed = primary.syncHashAt(c, last.blockNumber);
            _on(c);
            _confirmTo(_settlement(c), last.blockNumber, last.stateRoot, confirmed);
            // its whole prefix, whose last sync hash is the confirmed one; anyone may call
            ExecuteBlockInfo[] memory mine = new ExecuteBlockInfo[](done.secondaryCount[c]);
            for (uint256 k = 0; k < done.secondaryCount[c]; k++) {
                StoredBlockInfo memory info = done.secondary[c][k];
                mine[k] = ExecuteBlockInfo(info, vm.parseJsonBytesArray(json, _key(info.blockNumber - 1, "chainOps"))[c]);
            }
            _settlement(c).executeBlocks(mine);
            assertEq(_settlement(c).totalBlocksExecuted(), done.secondaryCount[c], "all of this chain's blocks");
        }

        uint256 count = vm.parseJsonUint(json, ".payoutCount");
        for (uint256 i = 0; i < count; i++) {
            string memory k = string.concat(".payouts[", _str(i), "]");
            uint256 chain = vm.parseJsonUint(json, string.concat(k, ".chain"));
            Settlement target = chain == 0 ? Settlement(address(primary)) : Settlement(address(_settlement(chain)));
            assertEq(
                target.pendingBalances(
                    vm.parseJsonAddress(json, string.concat(k, ".owner")), uint16(vm.parseJsonUint(json, string.concat(k, ".token")))
                ),
                vm.parseJsonUint(json, string.concat(k, ".amount")),
                "claimable equals the state's payout"
            );
        }
    }

    /// The exit proofs manyfold-state produced (one account, two tokens) verify on-chain
    /// against its state root; each pays once.
    function test_exitProofsFromManyfoldStateVerifyAndPayOncePerToken() public {
        bytes32 root = vm.parseJsonBytes32(json, ".exit.stateRoot");
        primary = new Primary(_config(0, root), CHAINS, IVerifier(address(verifier)), IPoseidon(address(poseidon)), 0);
        vm.startPrank(governor);
        primary.addToken(0, address(0), 18, 0);
        primary.addToken(1, address(erc20), 18, 0);
        vm.stopPrank();
        // An expired request puts the primary in exodus mode at genesis.
        primary.depositNative{value: 1 ether}(address(0xD));
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();
        StoredBlockInfo memory genesis = _genesisPrimary();
        genesis.stateRoot = root;

        ExitProof[2] memory proofs = [_exitProof(0), _exitProof(1)];
        uint256 gasBefore = gasleft();
        primary.exit(genesis, proofs[0]);
        log("gas: exodus exit (19 Poseidon hashes)", gasBefore - gasleft());
        primary.exit(genesis, proofs[1]);
        for (uint256 t = 0; t < 2; t++) {
            assertEq(primary.pendingBalances(proofs[t].owner, proofs[t].token), proofs[t].balance, "exit credited");
            vm.expectRevert(abi.encodeWithSelector(Primary.AlreadyExited.selector, proofs[t].account, proofs[t].token));
            primary.exit(genesis, proofs[t]);
        }
        // a proof of another balance than the tree holds fails
        proofs[0].balance += 1;
        primary = new Primary(_config(0, root), CHAINS, IVerifier(address(verifier)), IPoseidon(address(poseidon)), 0);
        vm.prank(governor);
        primary.addToken(0, address(0), 18, 0);
        primary.depositNative{value: 1 ether}(address(0xD));
        vm.warp(block.timestamp + EXPIRY + 1);
        primary.activateExodusMode();
        vm.expectRevert(Primary.InvalidExitProof.selector);
        primary.exit(genesis, proofs[0]);
    }

    function _exitProof(uint256 i) internal view returns (ExitProof memory p) {
        string memory k = string.concat(".exit.proofs[", _str(i), "]");
        p.account = uint32(vm.parseJsonUint(json, string.concat(k, ".account")));
        p.token = uint16(vm.parseJsonUint(json, string.concat(k, ".token")));
        p.balance = uint128(vm.parseJsonUint(json, string.concat(k, ".balance")));
        p.owner = vm.parseJsonAddress(json, string.concat(k, ".owner"));
        p.pubkeyHash = vm.parseJsonBytes32(json, string.concat(k, ".pubkeyHash"));
        p.nonce = uint32(vm.parseJsonUint(json, string.concat(k, ".nonce")));
        bytes32[] memory b = vm.parseJsonBytes32Array(json, string.concat(k, ".balanceSiblings"));
        bytes32[] memory a = vm.parseJsonBytes32Array(json, string.concat(k, ".accountSiblings"));
        for (uint256 j = 0; j < 15; j++) {
            p.balanceSiblings[j] = b[j];
        }
        for (uint256 j = 0; j < 36; j++) {
            p.accountSiblings[j] = a[j];
        }
        p.reservesRoot = vm.parseJsonBytes32(json, string.concat(k, ".reservesRoot"));
        p.accountCount = uint32(vm.parseJsonUint(json, string.concat(k, ".accountCount")));
    }
}
