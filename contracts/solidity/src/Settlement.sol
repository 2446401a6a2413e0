// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Op, Operations} from "./Operations.sol";
import {PriorityRequest, StoredBlockInfo, ExecuteBlockInfo, TokenInfo} from "./Types.sol";

/// @notice What every settlement contract is deployed with.
/// @param chainId This chain's L2 chain id (the index the L2 state and pubdata use).
/// @param governor Registers tokens, operators and the committee.
/// @param operator The node's settlement account, allowed to commit, prove, execute and revert.
/// @param priorityExpiry Seconds a priority request may wait before exodus can be triggered.
/// @param attestationDomain Separates this deployment's committee attestations from any other's.
/// @param validators The committee (signers of sync messages), M-of-N with `threshold`.
/// @param genesisStateRoot The L2 state root of block 0.
/// @param governanceDelay Seconds a governance change (committee, operator, verifier,
/// governor) waits between its proposal and its effect; at least `priorityExpiry`, so a
/// user who disagrees can force exodus first.
/// @param priorityFee The fee, in this chain's native coin (wei), of every priority
/// request (deposit or full exit): what serving it costs the operator, so that flooding the
/// queue costs an attacker more than the operator (DESIGN §4, docs/priority-spam.md).
/// @param maxOpenPriorityRequests The most priority requests no committed block has
/// consumed yet; more are refused until the operator serves the queue.
struct SettlementConfig {
    uint16 chainId;
    address governor;
    address operator;
    uint64 priorityExpiry;
    bytes32 attestationDomain;
    address[] validators;
    uint256 threshold;
    bytes32 genesisStateRoot;
    uint64 governanceDelay;
    uint256 priorityFee;
    uint64 maxOpenPriorityRequests;
}

/// @title What the primary and secondary settlement contracts share
/// @notice The priority queue (deposits of the native coin and ERC-20 tokens, full exit
/// requests), the token registry, pending balances, ChangePubKey authorisation, exodus
/// mode with refunds, the committee attestation transport (DESIGN §6), and the stored
/// block bookkeeping of execution and reverts.
abstract contract Settlement {
    /// keccak256(""): the empty ops hash and the genesis sync hash.
    bytes32 internal constant EMPTY = keccak256("");
    /// L2 amounts have 18 decimals.
    uint8 internal constant L2_DECIMALS = 18;
    /// L2 token ids are below 2^10.
    uint256 public constant MAX_TOKENS = 1024;
    /// L2 account ids are below 2^24.
    uint256 public constant MAX_ACCOUNTS = 1 << 24;
    /// The most L2 units of one token this chain may hold for the L2 at once. The L2 state
    /// keeps every balance and reserve below 2^128, and a deposit that would overflow one
    /// could never be processed; with at most 16 chains each capped at 2^124 - 1, no
    /// balance or reserve can reach 2^128.
    uint256 public constant MAX_OUTSTANDING = (1 << 124) - 1;
    /// Attestation kinds: a secondary's sync hash to the primary; the primary's
    /// confirmation to a secondary; the primary's revert, to a secondary.
    uint8 public constant KIND_SYNC_HASH = 1;
    uint8 public constant KIND_CONFIRMATION = 2;
    uint8 public constant KIND_REVERT = 3;
    /// Governance changes, the first word of a change's encoding (see `proposeChange`).
    uint8 internal constant CHANGE_OPERATOR = 1;
    uint8 internal constant CHANGE_COMMITTEE = 2;
    uint8 internal constant CHANGE_GOVERNOR = 3;
    uint8 internal constant CHANGE_VERIFIER = 4;
    /// secp256k1's order halved: signatures with a larger s are malleable copies.
    uint256 internal constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    uint16 public immutable chainId;
    uint64 public immutable priorityExpiry;
    bytes32 public immutable attestationDomain;
    uint64 public immutable governanceDelay;
    uint256 public immutable priorityFee;
    uint64 public immutable maxOpenPriorityRequests;

    address public governor;
    /// Proposed governance changes: keccak256 of the change's encoding => the time after
    /// which it may apply.
    mapping(bytes32 => uint64) public pendingChanges;
    /// Priority fees taken (native coin), not user funds: kept apart from what is paid out.
    uint256 public collectedFees;
    mapping(address => bool) public isOperator;

    mapping(uint16 => TokenInfo) public tokens;
    /// The L2 token id of the native coin, valid once `nativeTokenRegistered`.
    uint16 public nativeTokenId;
    bool public nativeTokenRegistered;

    mapping(uint64 => PriorityRequest) internal requests;
    uint64 public totalPriorityRequests;
    uint64 public totalCommittedPriorityRequests;
    uint64 public totalExecutedPriorityRequests;

    /// Per token, L2 units deposited here minus L2 units paid out here (see MAX_OUTSTANDING).
    mapping(uint16 => uint256) public outstanding;
    /// Claimable amounts in local units, per owner and token.
    mapping(address => mapping(uint16 => uint256)) public pendingBalances;

    /// keccak256(abi.encode(StoredBlockInfo)) by block sequence.
    mapping(uint32 => bytes32) public storedBlockHashes;
    uint32 public totalBlocksCommitted;
    uint32 public totalBlocksExecuted;

    bool public exodusMode;
    /// Whether exodus has paid anything out (an exit or a refund).
    bool public exodusPayoutsStarted;

    address[] internal committee;
    mapping(address => bool) public isValidator;
    uint256 public threshold;

    uint256 private lock = 1;

    event PriorityRequestAdded(
        uint64 indexed serialId,
        uint8 opType,
        address indexed owner,
        uint16 token,
        uint128 amount,
        uint32 account,
        uint64 expiresAt
    );
    event BlockCommit(uint32 indexed blockNumber, uint32 blockSequence, bytes32 stateRoot, bytes32 syncHash);
    event BlockExecuted(uint32 indexed blockNumber, uint32 blockSequence, bytes32 stateRoot);
    event BlocksReverted(uint32 totalBlocksCommitted, uint64 revertId);
    event Withdrawal(address indexed owner, uint16 indexed token, uint256 amount);
    event PendingBalanceCredited(address indexed owner, uint16 indexed token, uint256 amount);
    event ExodusMode();
    event DepositRefunded(uint64 indexed serialId, address indexed owner, uint16 token, uint256 amount);
    event TokenRegistered(uint16 indexed tokenId, address token, uint8 decimals);
    event OperatorSet(address indexed operator, bool allowed);
    event CommitteeSet(address[] validators, uint256 threshold);
    event GovernorSet(address governor);
    event ChangeProposed(bytes32 indexed id, bytes change, uint64 effectiveAfter);
    event ChangeCancelled(bytes32 indexed id);
    event FeesClaimed(address to, uint256 amount);

    error NotGovernor();
    error NotOperator();
    error Reentered();
    error InExodusMode();
    error NotInExodusMode();
    error InvalidConfig(string reason);
    error TokenNotRegistered(uint16 token);
    error TokenAlreadyRegistered(uint16 token);
    error NativeTokenAlreadyRegistered(uint16 existing);
    error NotAnERC20(uint16 token);
    error ZeroAmount();
    error DepositTooSmall(uint16 token, uint256 minimum, uint256 amount);
    error WrongPriorityFee(uint256 fee, uint256 paid);
    error PriorityQueueFull(uint64 open);
    error ChangeNotDue(bytes32 id, uint64 effectiveAfter);
    error NotAfterARangeEnd(uint32 blockNumber);
    error ZeroAddress();
    error AccountOutOfRange(uint32 account);
    error DepositCapExceeded(uint16 token, uint256 outstanding, uint256 deposit);
    error TokenTransferFailed(uint16 token);
    error NothingToWithdraw();
    error NoExpiredPriorityRequest();
    error PriorityQueueExhausted(uint256 opIndex);
    error WrongPriorityOp(uint256 opIndex, uint64 serialId);
    error MissingChangePubKeySignature(uint256 opIndex);
    error UnusedChangePubKeySignatures(uint256 unused);
    error BadChangePubKeySignature(uint256 opIndex);
    error WrongStoredBlock(uint32 blockSequence);
    error NotLatestBlock(uint32 blockSequence, uint32 totalBlocksCommitted);
    error WrongBlockNumber(uint32 expectedAbove, uint32 got);
    error TimestampBackwards(uint64 previous, uint64 got);
    error EmptyBlock(uint32 blockNumber);
    error WrongBlockToExecute(uint32 expectedSequence, uint32 got);
    error NotConfirmed(uint32 blockNumber);
    error OpsHashMismatch(uint32 blockNumber);
    error NotThisChainsOp(uint256 opIndex);
    error CannotRevertExecuted(uint32 blockSequence);
    error NothingToRevert();
    error NotRefundable(uint64 serialId);
    error AlreadyRefunded(uint64 serialId);
    error NotEnoughSignatures(uint256 got, uint256 threshold);
    error SignersNotAscending(uint256 index);
    error NotAValidator(address signer);
    error BadSignature(uint256 index);

    // (the modifiers call functions rather than inline their checks: code size)
    modifier onlyGovernor() {
        _onlyGovernor();
        _;
    }

    modifier onlyOperator() {
        _onlyOperator();
        _;
    }

    modifier nonReentrant() {
        _enter(2);
        _;
        _enter(1);
    }

    modifier notExodus() {
        _notExodus();
        _;
    }

    modifier onlyExodus() {
        if (!exodusMode) revert NotInExodusMode();
        _;
    }

    function _onlyGovernor() private view {
        if (msg.sender != governor) revert NotGovernor();
    }

    function _onlyOperator() private view {
        if (!isOperator[msg.sender]) revert NotOperator();
    }

    /// Takes (2) or releases (1) the reentrancy lock.
    function _enter(uint256 state) private {
        if (state == 2 && lock != 1) revert Reentered();
        lock = state;
    }

    function _notExodus() private view {
        if (exodusMode) revert InExodusMode();
    }

    constructor(SettlementConfig memory config) {
        if (config.governor == address(0)) revert InvalidConfig("governor is zero");
        if (config.operator == address(0)) revert InvalidConfig("operator is zero");
        if (config.chainId >= 16) revert InvalidConfig("chain id is not below 16");
        if (config.priorityExpiry == 0) revert InvalidConfig("priority expiry is zero");
        if (config.governanceDelay < config.priorityExpiry) revert InvalidConfig("governance delay");
        if (config.maxOpenPriorityRequests == 0) revert InvalidConfig("queue bound");
        chainId = config.chainId;
        priorityExpiry = config.priorityExpiry;
        attestationDomain = config.attestationDomain;
        governanceDelay = config.governanceDelay;
        priorityFee = config.priorityFee;
        maxOpenPriorityRequests = config.maxOpenPriorityRequests;
        governor = config.governor;
        isOperator[config.operator] = true;
        _setCommittee(config.validators, config.threshold);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Registers L2 token `tokenId` as `token` (zero: the native coin) with
    /// `decimals`; deposits of less than `minDeposit` local units are refused.
    /// Never in exodus mode: exits are paid by token id, so registering an id then would
    /// price every exit of it in whatever token the governor names.
    function addToken(uint16 tokenId, address token, uint8 decimals, uint128 minDeposit)
        external
        onlyGovernor
        notExodus
    {
        if (tokenId >= MAX_TOKENS || decimals > L2_DECIMALS) revert InvalidConfig("token id or decimals");
        if (tokens[tokenId].registered) revert TokenAlreadyRegistered(tokenId);
        if (token == address(0)) {
            if (nativeTokenRegistered) revert NativeTokenAlreadyRegistered(nativeTokenId);
            nativeTokenRegistered = true;
            nativeTokenId = tokenId;
        }
        tokens[tokenId] = TokenInfo({token: token, decimals: decimals, registered: true, minDeposit: minDeposit});
        emit TokenRegistered(tokenId, token, decimals);
    }

    /// @notice Announces a governance change; it may apply once `governanceDelay` has
    /// passed, never in exodus mode. `change` is the ABI encoding of one of:
    /// `(CHANGE_OPERATOR, address operator, bool allowed)` applied by `setOperator`;
    /// `(CHANGE_COMMITTEE, address[] validators, uint256 threshold)` by `setCommittee`;
    /// `(CHANGE_GOVERNOR, address newGovernor)` by the new governor's `acceptGovernor`;
    /// `(CHANGE_VERIFIER, address verifier)` by the primary's `setVerifier`.
    function proposeChange(bytes calldata change) external onlyGovernor notExodus {
        bytes32 id = keccak256(change);
        uint64 effectiveAfter = uint64(block.timestamp) + governanceDelay;
        pendingChanges[id] = effectiveAfter;
        emit ChangeProposed(id, change, effectiveAfter);
    }

    /// @notice Withdraws a proposed change.
    function cancelChange(bytes32 id) external onlyGovernor {
        delete pendingChanges[id];
        emit ChangeCancelled(id);
    }

    /// Consumes the proposed change `change`: it must have been proposed, its notice
    /// period passed, and the contract must not be in exodus mode.
    function _takeChange(bytes memory change) internal notExodus {
        bytes32 id = keccak256(change);
        uint64 effectiveAfter = pendingChanges[id];
        if (effectiveAfter == 0 || block.timestamp <= effectiveAfter) revert ChangeNotDue(id, effectiveAfter);
        delete pendingChanges[id];
    }

    function setOperator(address operator, bool allowed) external onlyGovernor {
        _takeChange(abi.encode(CHANGE_OPERATOR, operator, allowed));
        isOperator[operator] = allowed;
        emit OperatorSet(operator, allowed);
    }

    /// @notice The second step of the governor's transfer: the proposed governor takes over.
    function acceptGovernor() external {
        _takeChange(abi.encode(CHANGE_GOVERNOR, msg.sender));
        governor = msg.sender;
        emit GovernorSet(msg.sender);
    }

    /// @notice Replaces the committee whose attestations this contract accepts.
    function setCommittee(address[] calldata newValidators, uint256 newThreshold) external onlyGovernor {
        _takeChange(abi.encode(CHANGE_COMMITTEE, newValidators, newThreshold));
        _setCommittee(newValidators, newThreshold);
    }

    /// @notice Sends the priority fees taken so far to `to`.
    function claimFees(address payable to) external onlyGovernor nonReentrant {
        uint256 amount = collectedFees;
        collectedFees = 0;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TokenTransferFailed(0);
        emit FeesClaimed(to, amount);
    }

    function validators() external view returns (address[] memory) {
        return committee;
    }

    function _setCommittee(address[] memory validators_, uint256 newThreshold) internal {
        if (newThreshold == 0 || newThreshold > validators_.length) revert InvalidConfig("threshold out of range");
        for (uint256 i = 0; i < committee.length; i++) {
            isValidator[committee[i]] = false;
        }
        for (uint256 i = 0; i < validators_.length; i++) {
            if (validators_[i] == address(0) || isValidator[validators_[i]]) {
                revert InvalidConfig("validator zero or repeated");
            }
            isValidator[validators_[i]] = true;
        }
        committee = validators_;
        threshold = newThreshold;
        emit CommitteeSet(validators_, newThreshold);
    }

    // ---------------------------------------------------------------- priority queue

    /// @notice Deposits `msg.value - priorityFee` of the native coin for `owner` on L2.
    function depositNative(address owner) external payable nonReentrant notExodus {
        if (!nativeTokenRegistered) revert TokenNotRegistered(nativeTokenId);
        uint256 fee = priorityFee;
        if (msg.value < fee) revert WrongPriorityFee(fee, msg.value);
        collectedFees += fee;
        _deposit(nativeTokenId, msg.value - fee, owner);
    }

    /// @notice Deposits `amount` of ERC-20 token `tokenId` for `owner` (after approval);
    /// `msg.value` is the priority fee. What the contract actually receives is credited,
    /// so fee-taking tokens are safe.
    function depositERC20(uint16 tokenId, uint256 amount, address owner) external payable nonReentrant notExodus {
        _takeFee();
        TokenInfo memory info = _token(tokenId);
        if (info.token == address(0)) revert NotAnERC20(tokenId);
        uint256 before = _balanceOf(info.token);
        _call(tokenId, info.token, abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount));
        _deposit(tokenId, _balanceOf(info.token) - before, owner);
    }

    /// @notice Asks the L2 to pay out the caller's whole balance of `tokenId` in `account`,
    /// to this chain. It is processed even if nothing can be paid (then with amount 0).
    /// `msg.value` is the priority fee. The account must be one the L2 can hold (below
    /// 2^24) and the token registered here, or the L2 could not process the request.
    function requestFullExit(uint32 account, uint16 tokenId) external payable nonReentrant notExodus {
        _takeFee();
        if (account >= MAX_ACCOUNTS) revert AccountOutOfRange(account);
        _token(tokenId);
        _addRequest(Operations.FULL_EXIT, tokenId, account, msg.sender, 0);
    }

    /// @notice The priority request `serialId`.
    function priorityRequest(uint64 serialId) external view returns (PriorityRequest memory) {
        return requests[serialId];
    }

    function _takeFee() internal {
        if (msg.value != priorityFee) revert WrongPriorityFee(priorityFee, msg.value);
        collectedFees += msg.value;
    }

    function _deposit(uint16 tokenId, uint256 localAmount, address owner) internal {
        if (owner == address(0)) revert ZeroAddress();
        if (localAmount == 0) revert ZeroAmount();
        uint256 minimum = tokens[tokenId].minDeposit;
        if (localAmount < minimum) revert DepositTooSmall(tokenId, minimum, localAmount);
        uint256 scale = _scale(tokens[tokenId].decimals);
        uint256 held = outstanding[tokenId];
        if (localAmount > (MAX_OUTSTANDING - held) / scale) revert DepositCapExceeded(tokenId, held, localAmount);
        uint256 l2Amount = localAmount * scale;
        outstanding[tokenId] = held + l2Amount;
        // forge-lint: disable-next-line(unsafe-typecast)
        _addRequest(Operations.DEPOSIT, tokenId, 0, owner, uint128(l2Amount)); // below MAX_OUTSTANDING < 2^124
    }

    function _addRequest(uint8 opType, uint16 tokenId, uint32 account, address owner, uint128 amount) internal {
        uint64 serialId = totalPriorityRequests++;
        uint64 open = serialId - totalCommittedPriorityRequests;
        if (open >= maxOpenPriorityRequests) revert PriorityQueueFull(open);
        uint64 expiresAt = uint64(block.timestamp) + priorityExpiry;
        requests[serialId] = PriorityRequest({
            opType: opType,
            token: tokenId,
            account: account,
            expiresAt: expiresAt,
            owner: owner,
            amount: amount,
            refunded: false
        });
        emit PriorityRequestAdded(serialId, opType, owner, tokenId, amount, account, expiresAt);
    }

    /// Checks a committed priority op against the next request in this chain's queue.
    /// The L2 assigns a deposit's account and a full exit's amount; everything the user
    /// asked for must match.
    function _consumePriorityOp(Op memory op, uint256 opIndex) internal {
        uint64 serialId = totalCommittedPriorityRequests;
        if (serialId >= totalPriorityRequests) revert PriorityQueueExhausted(opIndex);
        PriorityRequest storage r = requests[serialId];
        bool matches = r.opType == op.opType && r.token == op.token && r.owner == op.owner
            && (op.opType == Operations.DEPOSIT ? r.amount == op.amount : r.account == op.account);
        if (!matches) revert WrongPriorityOp(opIndex, serialId);
        totalCommittedPriorityRequests = serialId + 1;
    }

    // ---------------------------------------------------------------- change pubkey

    /// The ChangePubKey message of manyfold_types::ecdsa (SPEC C): EIP-191 of
    /// keccak256("manyfold:change-pubkey" ‖ uint256 block.chainid ‖ address(this) ‖
    /// pubkeyHash ‖ uint32 nonce ‖ uint32 account), signed by the account's address; the
    /// EVM chain id and this contract's address keep it from replaying on another deployment.
    function _checkChangePubKey(Op memory op, bytes calldata signature, uint256 opIndex) internal view {
        bytes32 body = keccak256(
            abi.encodePacked("manyfold:change-pubkey", block.chainid, address(this), op.pubkeyHash, op.nonce, op.account)
        );
        address signer = _recover(_personalDigest(body), signature);
        if (signer == address(0) || signer != op.owner) revert BadChangePubKeySignature(opIndex);
    }

    function _personalDigest(bytes32 body) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", body));
    }

    /// ecrecover of a 65-byte `r ‖ s ‖ v` signature; zero for malformed or malleable ones.
    function _recover(bytes32 digest, bytes calldata signature) internal pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if ((v != 27 && v != 28) || uint256(s) > HALF_ORDER) return address(0);
        return ecrecover(digest, v, r, s);
    }

    // ---------------------------------------------------------------- committee

    /// @notice The digest a validator signs (EIP-191) to attest a message to this contract:
    /// keccak256(abi.encode(domain, uint256 block.chainid, address(this), uint16 srcChainId,
    /// uint16 dstChainId, uint8 kind, uint32 blockNumber, bytes32 hash)). The receiving
    /// contract's EVM chain id and address keep it from replaying on another deployment.
    function attestationDigest(uint16 srcChainId, uint16 dstChainId, uint8 kind, uint32 blockNumber, bytes32 hash)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(attestationDomain, block.chainid, address(this), srcChainId, dstChainId, kind, blockNumber, hash)
        );
    }

    /// Accepts a message only with `threshold` distinct validators' signatures, signers in
    /// ascending address order (which is what makes them distinct).
    function _verifyAttestation(
        uint16 srcChainId,
        uint8 kind,
        uint32 blockNumber,
        bytes32 hash,
        bytes[] calldata signatures
    ) internal view {
        if (signatures.length < threshold) revert NotEnoughSignatures(signatures.length, threshold);
        bytes32 digest = _personalDigest(attestationDigest(srcChainId, chainId, kind, blockNumber, hash));
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; i++) {
            address signer = _recover(digest, signatures[i]);
            if (signer == address(0)) revert BadSignature(i);
            if (signer <= previous) revert SignersNotAscending(i);
            if (!isValidator[signer]) revert NotAValidator(signer);
            previous = signer;
        }
    }

    // ---------------------------------------------------------------- blocks

    function _hash(StoredBlockInfo memory info) internal pure returns (bytes32) {
        return keccak256(abi.encode(info));
    }

    /// Block 0: the genesis state, no ops.
    function _storeGenesis(bytes32 stateRoot, bytes32 syncHash, bytes32 commitment) internal {
        storedBlockHashes[0] = _hash(
            StoredBlockInfo({
                blockNumber: 0,
                blockSequence: 0,
                priorityOperations: 0,
                timestamp: 0,
                stateRoot: stateRoot,
                opsHash: EMPTY,
                syncHash: syncHash,
                commitment: commitment
            })
        );
    }

    function _checkStored(StoredBlockInfo calldata info) internal view {
        if (storedBlockHashes[info.blockSequence] != _hash(info)) revert WrongStoredBlock(info.blockSequence);
    }

    function _checkLatest(StoredBlockInfo calldata info) internal view {
        if (info.blockSequence != totalBlocksCommitted) revert NotLatestBlock(info.blockSequence, totalBlocksCommitted);
        _checkStored(info);
    }

    function _store(StoredBlockInfo memory info) internal {
        storedBlockHashes[info.blockSequence] = _hash(info);
        totalBlocksCommitted = info.blockSequence;
        emit BlockCommit(info.blockNumber, info.blockSequence, info.stateRoot, info.syncHash);
    }

    /// Checks one of this chain's ops while committing: its priority request, or its
    /// ChangePubKey signature (taken from `signatures` at `used`). Returns the
    /// signatures used so far and the priority ops consumed by this op (0 or 1).
    function _checkOwnOp(Op memory op, uint256 opIndex, bytes[] calldata signatures, uint256 used)
        internal
        returns (uint256, uint64)
    {
        if (op.opType == Operations.DEPOSIT || op.opType == Operations.FULL_EXIT) {
            _consumePriorityOp(op, opIndex);
            return (used, 1);
        }
        if (op.opType == Operations.CHANGE_PUBKEY) {
            if (used >= signatures.length) revert MissingChangePubKeySignature(opIndex);
            _checkChangePubKey(op, signatures[used], opIndex);
            return (used + 1, 0);
        }
        return (used, 0);
    }

    /// Whether this contract may execute block `b` of `blocks` (confirmed everywhere).
    function _executable(ExecuteBlockInfo[] calldata blocks, uint256 b) internal virtual returns (bool);

    /// Checks done once per `executeBlocks` call, after its last block (`executed`).
    function _afterExecute(uint32 executed) internal virtual;

    /// @notice Executes the next blocks: their withdrawals and full exits to this chain,
    /// and its refunded deposits, become claimable. `ops` must be exactly this chain's ops
    /// of the block. Anyone may call it, in exodus mode too (DESIGN §1): a confirmed
    /// withdrawal is never stranded because the operator is gone.
    /// Idempotent for work already done: since anyone may execute, a user who executes
    /// first must not make the operator's identical call revert (a sender that stops on a
    /// revert would halt settlement). So the call's leading blocks already executed
    /// (`blockSequence <= totalBlocksExecuted`) are skipped, nothing of them read but their
    /// sequence, and a call of nothing else succeeds and changes nothing (no event, no
    /// `_afterExecute`: there is nothing for it to judge). The blocks after them continue
    /// exactly from `totalBlocksExecuted + 1` with every check, `_afterExecute` included.
    /// Only leading blocks are skipped: every block after the first one executed is checked
    /// as stored, which a secondary's `_executable` relies on when it reads later blocks.
    function executeBlocks(ExecuteBlockInfo[] calldata blocks) external nonReentrant {
        uint32 done = totalBlocksExecuted;
        uint32 executed = done;
        uint64 priorityOps = 0;
        for (uint256 b = 0; b < blocks.length; b++) {
            StoredBlockInfo calldata info = blocks[b].storedBlock;
            if (executed == done && info.blockSequence <= done) continue;
            uint32 sequence = executed + 1;
            if (info.blockSequence != sequence) revert WrongBlockToExecute(sequence, info.blockSequence);
            _checkStored(info);
            if (!_executable(blocks, b)) revert NotConfirmed(info.blockNumber);
            bytes calldata ops = blocks[b].ops;
            uint256 n = Operations.count(ops);
            bytes32 opsHash = EMPTY;
            for (uint256 i = 0; i < n; i++) {
                Op memory op = Operations.read(ops, i);
                if (!Operations.isOnchain(op) || op.chain != chainId) revert NotThisChainsOp(i);
                opsHash = Operations.chainHash(opsHash, Operations.record(ops, i));
                if (op.opType == Operations.WITHDRAW || op.opType == Operations.FULL_EXIT || op.refunded) {
                    _payOut(op.owner, op.token, op.amount);
                }
            }
            if (opsHash != info.opsHash) revert OpsHashMismatch(info.blockNumber);
            priorityOps += info.priorityOperations;
            executed = sequence;
            emit BlockExecuted(info.blockNumber, sequence, info.stateRoot);
        }
        if (executed == done) return;
        totalExecutedPriorityRequests += priorityOps;
        totalBlocksExecuted = executed;
        _afterExecute(executed);
    }

    /// Drops `info`, the latest committed and unexecuted block; its priority requests
    /// return to the queue.
    function _revertBlock(StoredBlockInfo calldata info) internal {
        if (info.blockSequence <= totalBlocksExecuted) revert CannotRevertExecuted(info.blockSequence);
        _checkLatest(info);
        totalCommittedPriorityRequests -= info.priorityOperations;
        delete storedBlockHashes[info.blockSequence];
        totalBlocksCommitted = info.blockSequence - 1;
    }

    // ---------------------------------------------------------------- pending balances

    /// @notice Sends `owner` its claimable balance of `tokenId`, or as much of it as this
    /// contract holds (an exodus shortfall, DESIGN §4); the rest stays claimable.
    function withdrawPendingBalance(address payable owner, uint16 tokenId) external nonReentrant {
        // (an unregistered id reads as the native coin's zero address: refuse it outright)
        address token = _token(tokenId).token;
        uint256 pending = pendingBalances[owner][tokenId];
        uint256 held = token == address(0) ? address(this).balance - collectedFees : _balanceOf(token);
        uint256 amount = pending < held ? pending : held;
        if (amount == 0) revert NothingToWithdraw();
        pendingBalances[owner][tokenId] = pending - amount;
        if (token == address(0)) {
            (bool ok,) = owner.call{value: amount}("");
            if (!ok) revert TokenTransferFailed(tokenId);
        } else {
            _call(tokenId, token, abi.encodeWithSelector(0xa9059cbb, owner, amount));
        }
        emit Withdrawal(owner, tokenId, amount);
    }

    /// Credits `owner` with an L2 amount, in local units. Digits below the local precision
    /// cannot be paid and are dropped (the node refuses withdrawals that have any).
    /// The bookkeeping of `outstanding` stops at zero: exodus exits may pay what other
    /// chains took in (a known shortfall of exits on the primary only, DESIGN §4), and
    /// no later payout or refund may then be frozen by an underflow.
    function _payOut(address owner, uint16 tokenId, uint256 l2Amount) internal {
        if (l2Amount == 0) return;
        _release(tokenId, l2Amount);
        uint256 local = l2Amount / _scale(tokens[tokenId].decimals);
        pendingBalances[owner][tokenId] += local;
        emit PendingBalanceCredited(owner, tokenId, local);
    }

    function _release(uint16 tokenId, uint256 l2Amount) internal {
        uint256 held = outstanding[tokenId];
        outstanding[tokenId] = l2Amount > held ? 0 : held - l2Amount;
    }

    // ---------------------------------------------------------------- exodus

    /// @notice Puts the contract into exodus mode if the oldest request that no executed
    /// block consumed has expired. Anyone may call it.
    function activateExodusMode() external notExodus {
        uint64 oldest = totalExecutedPriorityRequests;
        if (oldest >= totalPriorityRequests || requests[oldest].expiresAt >= block.timestamp) {
            revert NoExpiredPriorityRequest();
        }
        exodusMode = true;
        emit ExodusMode();
    }

    /// The first serial id exodus may refund: requests before it were consumed by blocks
    /// whose effect some chain may already honour.
    function _firstRefundable() internal view virtual returns (uint64);

    /// @notice In exodus mode, makes deposit `serialId` claimable again by its owner,
    /// once, if no block that counts (see `_firstRefundable`) consumed it.
    function refundDeposit(uint64 serialId) external onlyExodus nonReentrant {
        if (serialId < _firstRefundable() || serialId >= totalPriorityRequests) revert NotRefundable(serialId);
        PriorityRequest storage r = requests[serialId];
        if (r.opType != Operations.DEPOSIT) revert NotRefundable(serialId);
        if (r.refunded) revert AlreadyRefunded(serialId);
        r.refunded = true;
        exodusPayoutsStarted = true;
        uint256 local = uint256(r.amount) / _scale(tokens[r.token].decimals);
        _release(r.token, r.amount);
        pendingBalances[r.owner][r.token] += local;
        emit DepositRefunded(serialId, r.owner, r.token, local);
    }

    // ---------------------------------------------------------------- tokens

    function _token(uint16 tokenId) internal view returns (TokenInfo memory info) {
        info = tokens[tokenId];
        if (!info.registered) revert TokenNotRegistered(tokenId);
    }

    function _scale(uint8 decimals) internal pure returns (uint256) {
        return 10 ** (L2_DECIMALS - decimals);
    }

    function _balanceOf(address token) internal view returns (uint256) {
        (bool ok, bytes memory out) = token.staticcall(abi.encodeWithSelector(0x70a08231, address(this)));
        if (!ok || out.length < 32) return 0;
        return abi.decode(out, (uint256));
    }

    /// Calls an ERC-20, accepting tokens that return nothing, refusing ones that return false.
    function _call(uint16 tokenId, address token, bytes memory data) internal {
        (bool ok, bytes memory out) = token.call(data);
        if (!ok || (out.length != 0 && (out.length < 32 || !abi.decode(out, (bool))))) {
            revert TokenTransferFailed(tokenId);
        }
        if (out.length == 0 && token.code.length == 0) revert TokenTransferFailed(tokenId);
    }
}
