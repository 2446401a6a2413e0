// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IVerifier, ProofPublicValues} from "../../src/interfaces/IVerifier.sol";

/// A verifier that accepts exactly one proof for exactly the public values it was told.
contract MockVerifier is IVerifier {
    bytes32 public acceptedValues;
    bytes32 public acceptedProof;

    function accept(ProofPublicValues memory values, bytes memory proof) external {
        acceptedValues = keccak256(abi.encode(values));
        acceptedProof = keccak256(proof);
    }

    function verify(ProofPublicValues calldata values, bytes calldata proof) external view returns (bool) {
        return keccak256(abi.encode(values)) == acceptedValues && keccak256(proof) == acceptedProof;
    }
}

/// A minimal ERC-20; `fee` basis points of every transfer are burnt (a fee-taking token).
contract TestToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    uint256 public fee;

    function setFee(uint256 basisPoints) external {
        fee = basisPoints;
    }

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        require(allowance[from][msg.sender] >= amount, "allowance");
        allowance[from][msg.sender] -= amount;
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) private {
        require(balanceOf[from] >= amount, "balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount - amount * fee / 10_000;
    }
}

/// Stands in for the embedded chain's precompile: answers 1 for one input, 0 otherwise.
contract FakePrecompile {
    bytes32 public immutable acceptedInput;

    constructor(bytes32 input) {
        acceptedInput = input;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        return abi.encode(keccak256(input) == acceptedInput ? uint256(1) : uint256(0));
    }
}

/// A recipient whose receive hook tries to claim again (reentrancy), keeping the error.
interface IClaim {
    function withdrawPendingBalance(address payable owner, uint16 tokenId) external;
}

contract Reenterer {
    IClaim public target;
    bytes public innerError;
    uint256 public received;

    function setTarget(IClaim t) external {
        target = t;
    }

    receive() external payable {
        received += msg.value;
        if (innerError.length == 0) {
            try target.withdrawPendingBalance(payable(address(this)), 0) {}
            catch (bytes memory reason) {
                innerError = reason;
            }
        }
    }
}
