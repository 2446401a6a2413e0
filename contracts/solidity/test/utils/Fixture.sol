// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {TestBase} from "./Vm.sol";
import {MockVerifier} from "./Mocks.sol";
import {Primary} from "../../src/Primary.sol";
import {Secondary} from "../../src/Secondary.sol";
import {Settlement, SettlementConfig} from "../../src/Settlement.sol";
import {PoseidonT5} from "../../src/PoseidonT5.sol";
import {IPoseidon} from "../../src/interfaces/IPoseidon.sol";
import {IVerifier, ProofPublicValues} from "../../src/interfaces/IVerifier.sol";
import {StoredBlockInfo, CommitBlockInfo, ExecuteBlockInfo} from "../../src/Types.sol";

/// Builds 64-byte pubdata records the way manyfold_types::pubdata encodes them.
library Pubdata {
    function pad(bytes memory packed) internal pure returns (bytes memory) {
        return bytes.concat(packed, new bytes(64 - packed.length));
    }

    function deposit(uint16 chain, uint32 account, uint16 token, uint128 amount, address owner)
        internal
        pure
        returns (bytes memory)
    {
        return pad(abi.encodePacked(uint8(1), chain, account, token, amount, owner));
    }

    /// A deposit the L2 could not credit (SPEC A): account 0, refunded flag 1.
    function refundedDeposit(uint16 chain, uint16 token, uint128 amount, address owner)
        internal
        pure
        returns (bytes memory)
    {
        return pad(abi.encodePacked(uint8(1), chain, uint32(0), token, amount, owner, uint8(1)));
    }

    function transfer(uint32 from, uint32 to, uint16 token, uint128 amount) internal pure returns (bytes memory) {
        return pad(abi.encodePacked(uint8(2), from, to, token, amount));
    }

    function withdraw(uint16 chain, uint32 account, uint16 token, uint128 amount, address owner)
        internal
        pure
        returns (bytes memory)
    {
        return pad(abi.encodePacked(uint8(3), chain, account, token, amount, owner));
    }

    function fullExit(uint16 chain, uint32 account, uint16 token, uint128 amount, address owner)
        internal
        pure
        returns (bytes memory)
    {
        return pad(abi.encodePacked(uint8(4), chain, account, token, amount, owner));
    }

    function changePubKey(uint16 chain, uint32 account, bytes32 pubkeyHash, address owner, uint32 nonce)
        internal
        pure
        returns (bytes memory)
    {
        return pad(abi.encodePacked(uint8(5), chain, account, pubkeyHash, owner, nonce));
    }

    function noop() internal pure returns (bytes memory) {
        return new bytes(64);
    }
}

/// Three chains: the primary (chain 0) and secondaries 1 and 2, one 2-of-3 committee,
/// a mock verifier, the real Poseidon contract, the native coin as token 0.
abstract contract Fixture is TestBase {
    uint16 internal constant CHAINS = 3;
    uint64 internal constant EXPIRY = 3 days;
    uint64 internal constant NOTICE = 4 days;
    uint64 internal constant MAX_OPEN = 1000;
    bytes32 internal constant DOMAIN = keccak256("manyfold:test");
    bytes32 internal constant EMPTY = keccak256("");
    bytes32 internal constant GENESIS_ROOT = bytes32(uint256(0x1234));

    address internal governor = address(0x60);
    address internal operator = address(0x0B);
    uint256[] internal validatorKeys;
    address[] internal validators;

    PoseidonT5 internal poseidon;
    MockVerifier internal verifier;
    Primary internal primary;
    Secondary internal secondary1;
    Secondary internal secondary2;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        validatorKeys.push(0xA11CE);
        validatorKeys.push(0xB0B);
        validatorKeys.push(0xCA401);
        // ascending addresses, as signatures must be
        for (uint256 i = 0; i < 3; i++) {
            for (uint256 j = i + 1; j < 3; j++) {
                if (vm.addr(validatorKeys[j]) < vm.addr(validatorKeys[i])) {
                    (validatorKeys[i], validatorKeys[j]) = (validatorKeys[j], validatorKeys[i]);
                }
            }
        }
        for (uint256 i = 0; i < 3; i++) {
            validators.push(vm.addr(validatorKeys[i]));
        }
        poseidon = new PoseidonT5();
        verifier = new MockVerifier();
        _deploy(GENESIS_ROOT, 0);
    }

    /// The three settlement contracts from a genesis, each with the native coin as token 0.
    function _deploy(bytes32 genesisRoot, bytes32 genesisCommitment) internal {
        primary = new Primary(
            _config(0, genesisRoot), CHAINS, IVerifier(address(verifier)), IPoseidon(address(poseidon)), genesisCommitment
        );
        secondary1 = new Secondary(_config(1, genesisRoot), 0);
        secondary2 = new Secondary(_config(2, genesisRoot), 0);
        vm.startPrank(governor);
        primary.addToken(0, address(0), 18, 0);
        secondary1.addToken(0, address(0), 18, 0);
        secondary2.addToken(0, address(0), 18, 0);
        vm.stopPrank();
    }

    function _config(uint16 chainId, bytes32 genesisRoot) internal view returns (SettlementConfig memory) {
        return SettlementConfig({
            chainId: chainId,
            governor: governor,
            operator: operator,
            priorityExpiry: EXPIRY,
            attestationDomain: DOMAIN,
            validators: validators,
            threshold: 2,
            genesisStateRoot: genesisRoot,
            governanceDelay: NOTICE,
            priorityFee: 0,
            maxOpenPriorityRequests: MAX_OPEN
        });
    }

    // ------------------------------------------------------------ stored blocks

    function _genesisPrimary() internal pure returns (StoredBlockInfo memory) {
        bytes32[] memory sync = _genesisSync();
        return StoredBlockInfo(0, 0, 0, 0, GENESIS_ROOT, EMPTY, keccak256(abi.encodePacked(sync)), 0);
    }

    function _genesisSecondary() internal pure returns (StoredBlockInfo memory) {
        return StoredBlockInfo(0, 0, 0, 0, GENESIS_ROOT, EMPTY, EMPTY, 0);
    }

    function _genesisSync() internal pure returns (bytes32[] memory sync) {
        sync = new bytes32[](CHAINS);
        for (uint256 c = 0; c < CHAINS; c++) {
            sync[c] = EMPTY;
        }
    }

    function _block(uint32 number, bytes32 root, bytes memory pubdata) internal view returns (CommitBlockInfo memory b) {
        b.blockNumber = number;
        b.timestamp = uint64(block.timestamp);
        b.newStateRoot = root;
        b.pubdata = pubdata;
        b.changePubKeySignatures = new bytes[](0);
    }

    function _one(CommitBlockInfo memory b) internal pure returns (CommitBlockInfo[] memory blocks) {
        blocks = new CommitBlockInfo[](1);
        blocks[0] = b;
    }

    function _record(bytes memory pubdata, uint256 i) internal pure returns (bytes memory r) {
        r = new bytes(64);
        for (uint256 k = 0; k < 64; k++) {
            r[k] = pubdata[i * 64 + k];
        }
    }

    /// The test's own model of DESIGN §2: chain c's ops hash of a block.
    function _opsHash(bytes memory pubdata, uint16 chain) internal pure returns (bytes32 h) {
        bytes memory ops = _chainOps(pubdata, chain);
        h = EMPTY;
        for (uint256 i = 0; i < ops.length / 64; i++) {
            h = keccak256(abi.encodePacked(h, _record(ops, i)));
        }
    }

    /// This chain's records of a block, in order.
    function _chainOps(bytes memory pubdata, uint16 chain) internal pure returns (bytes memory ops) {
        for (uint256 i = 0; i < pubdata.length / 64; i++) {
            uint8 t = uint8(pubdata[i * 64]);
            if (t == 0 || t == 2) continue;
            uint16 c = (uint16(uint8(pubdata[i * 64 + 1])) << 8) | uint16(uint8(pubdata[i * 64 + 2]));
            if (c == chain) ops = bytes.concat(ops, _record(pubdata, i));
        }
    }

    /// What the primary should store after committing `b` on top of `prev`.
    function _expectPrimary(StoredBlockInfo memory prev, bytes32[] memory sync, CommitBlockInfo memory b, uint64 priorityOps)
        internal
        view
        returns (StoredBlockInfo memory info, bytes32[] memory next)
    {
        next = new bytes32[](CHAINS);
        for (uint16 c = 0; c < CHAINS; c++) {
            bytes32 h = _opsHash(b.pubdata, c);
            next[c] = h == EMPTY ? sync[c] : keccak256(abi.encodePacked(sync[c], b.blockNumber, b.newStateRoot, h));
        }
        info = StoredBlockInfo({
            blockNumber: b.blockNumber,
            blockSequence: b.blockNumber,
            priorityOperations: priorityOps,
            timestamp: b.timestamp,
            stateRoot: b.newStateRoot,
            opsHash: _opsHash(b.pubdata, 0),
            syncHash: keccak256(abi.encodePacked(next)),
            commitment: bytes32(poseidon.extendCommitment(uint256(prev.commitment), b.pubdata))
        });
    }

    /// What a secondary should store after committing its ops of `b` on top of `prev`.
    function _expectSecondary(StoredBlockInfo memory prev, uint16 chain, CommitBlockInfo memory b, uint64 priorityOps)
        internal
        pure
        returns (StoredBlockInfo memory info)
    {
        bytes32 h = _opsHash(b.pubdata, chain);
        info = StoredBlockInfo({
            blockNumber: b.blockNumber,
            blockSequence: prev.blockSequence + 1,
            priorityOperations: priorityOps,
            timestamp: b.timestamp,
            stateRoot: b.newStateRoot,
            opsHash: h,
            syncHash: keccak256(abi.encodePacked(prev.syncHash, b.blockNumber, b.newStateRoot, h)),
            commitment: 0
        });
    }

    /// `b` as a secondary receives it: only `chain`'s ops.
    function _compressed(CommitBlockInfo memory b, uint16 chain) internal pure returns (CommitBlockInfo memory c) {
        c.blockNumber = b.blockNumber;
        c.timestamp = b.timestamp;
        c.newStateRoot = b.newStateRoot;
        c.pubdata = _chainOps(b.pubdata, chain);
        c.changePubKeySignatures = new bytes[](0);
    }

    function _commitPrimary(StoredBlockInfo memory prev, bytes32[] memory sync, CommitBlockInfo memory b, uint64 priorityOps)
        internal
        returns (StoredBlockInfo memory info, bytes32[] memory next)
    {
        (info, next) = _expectPrimary(prev, sync, b, priorityOps);
        vm.prank(operator);
        primary.commitBlocks(prev, sync, _one(b));
        assertEq(primary.storedBlockHashes(b.blockNumber), keccak256(abi.encode(info)), "stored block");
    }

    function _commitSecondary(Secondary s, StoredBlockInfo memory prev, CommitBlockInfo memory b, uint64 priorityOps)
        internal
        returns (StoredBlockInfo memory info)
    {
        uint16 chain = _chainOf(s);
        CommitBlockInfo memory c = _compressed(b, chain);
        info = _expectSecondary(prev, chain, c, priorityOps);
        vm.prank(operator);
        s.commitCompressedBlocks(prev, _one(c));
        assertEq(s.storedBlockHashes(info.blockSequence), keccak256(abi.encode(info)), "stored secondary block");
    }

    function _prove(StoredBlockInfo memory from, StoredBlockInfo memory to) internal {
        ProofPublicValues memory values = ProofPublicValues(from.stateRoot, from.commitment, to.stateRoot, to.commitment, 1);
        bytes memory proof = abi.encodePacked("proof", to.blockNumber);
        verifier.accept(values, proof);
        vm.prank(operator);
        primary.proveBlocks(from, to, 1, proof);
    }

    // ------------------------------------------------------------ attestations

    /// The contract of chain `dst`: the receiver an attestation's digest names.
    function _receiver(uint16 dst) internal view returns (address) {
        return dst == 0 ? address(primary) : dst == 1 ? address(secondary1) : address(secondary2);
    }

    /// The test's own model of the attestation digest (issue 9 item 12: it binds the
    /// receiving contract's EVM chain id and address).
    function _digest(address receiver, uint16 src, uint16 dst, uint8 kind, uint32 number, bytes32 hash)
        internal
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(DOMAIN, block.chainid, receiver, src, dst, kind, number, hash));
    }

    function _attest(uint16 src, uint16 dst, uint8 kind, uint32 number, bytes32 hash, uint256 signers)
        internal
        view
        returns (bytes[] memory sigs)
    {
        return _attestTo(_receiver(dst), src, dst, kind, number, hash, signers);
    }

    function _attestTo(address receiver, uint16 src, uint16 dst, uint8 kind, uint32 number, bytes32 hash, uint256 signers)
        internal
        view
        returns (bytes[] memory sigs)
    {
        bytes32 digest = _digest(receiver, src, dst, kind, number, hash);
        bytes32 signed = keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", digest));
        sigs = new bytes[](signers);
        for (uint256 i = 0; i < signers; i++) {
            sigs[i] = _sign(validatorKeys[i], signed);
        }
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// The chain id of one of the fixture's secondaries, without a call (a call would
    /// take the place of the call a preceding expectRevert is about).
    function _chainOf(Secondary s) internal view returns (uint16) {
        return address(s) == address(secondary1) ? 1 : 2;
    }

    /// A secondary's sync hash attested to the primary, read once it had applied
    /// `reverts` of the primary's reverts.
    function _syncFromAt(Secondary s, uint32 number, bytes32 syncHash, uint64 reverts) internal {
        uint16 c = _chainOf(s);
        bytes32 h = keccak256(abi.encode(syncHash, reverts));
        primary.receiveSyncHash(c, number, syncHash, _attest(c, 0, 1, number, h, 2));
    }

    function _syncFrom(Secondary s, uint32 number, bytes32 syncHash) internal {
        _syncFromAt(s, number, syncHash, 0);
    }

    /// The primary's confirmation of block `number` to `s`: its state root and the
    /// primary's sync hash for that chain at `number`.
    function _confirmTo(Secondary s, uint32 number, bytes32 root, bytes32 syncHash) internal {
        bytes32 h = keccak256(abi.encode(root, syncHash));
        s.receiveConfirmation(number, root, syncHash, _attest(0, _chainOf(s), 2, number, h, 2));
    }

    /// The primary's revert `revertId` (to height `primaryBlock`) attested to `s`.
    function _revertOn(
        Secondary s,
        StoredBlockInfo[] memory blocks,
        StoredBlockInfo memory newLatest,
        uint64 revertId,
        uint32 primaryBlock,
        bytes32 syncHash
    ) internal {
        bytes32 h = keccak256(abi.encode(revertId, syncHash));
        bytes[] memory sigs = _attest(0, _chainOf(s), 3, primaryBlock, h, 2);
        s.revertBlocks(blocks, newLatest, revertId, primaryBlock, syncHash, sigs);
    }

    function _copy(StoredBlockInfo memory info) internal pure returns (StoredBlockInfo memory) {
        return abi.decode(abi.encode(info), (StoredBlockInfo));
    }

    function _exec(StoredBlockInfo memory info, bytes memory ops) internal pure returns (ExecuteBlockInfo[] memory e) {
        e = new ExecuteBlockInfo[](1);
        e[0] = ExecuteBlockInfo(info, ops);
    }

    function _revertList(StoredBlockInfo memory info) internal pure returns (StoredBlockInfo[] memory list) {
        list = new StoredBlockInfo[](1);
        list[0] = info;
    }
}
