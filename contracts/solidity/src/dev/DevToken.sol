// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @title An ERC-20 for devnets and tests
/// @notice For devnets and tests only: never deploy it where its tokens are worth
/// anything. It mints its whole supply at construction, `amountEach` to each of
/// `holders` (a holder named twice gets it twice), and never mints or burns after.
/// Otherwise a plain ERC-20 (EIP-20): transfers and approvals of any amount, zero and
/// self-transfers included; an allowance of `type(uint256).max` is never spent down.
/// Failures revert with the errors below rather than returning false.
contract DevToken {
    /// `account` holds `balance`, less than the `amount` it was asked to move.
    error InsufficientBalance(address account, uint256 balance, uint256 amount);
    /// `spender` may move `allowance` of the owner's tokens, less than `amount`.
    error InsufficientAllowance(address spender, uint256 allowance, uint256 amount);

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    string public name;
    string public symbol;
    uint8 public immutable decimals;
    /// Fixed at construction: the sum of every balance.
    uint256 public totalSupply;
    mapping(address owner => uint256) public balanceOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    constructor(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        address[] memory holders,
        uint256 amountEach
    ) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        // Checked: a supply that overflows reverts the deployment. Every balance is then
        // at most the supply, so no later sum can overflow.
        totalSupply = amountEach * holders.length;
        for (uint256 i = 0; i < holders.length; i++) {
            unchecked {
                balanceOf[holders[i]] += amountEach;
            }
            emit Transfer(address(0), holders[i], amountEach);
        }
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert InsufficientAllowance(msg.sender, allowed, amount);
            unchecked {
                allowance[from][msg.sender] = allowed - amount;
            }
        }
        _move(from, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) private {
        uint256 balance = balanceOf[from];
        if (balance < amount) revert InsufficientBalance(from, balance, amount);
        // Unchecked: `amount <= balance`, and `to`'s balance plus `amount` is at most the
        // supply. Subtract before reading `to`'s balance, so a self-transfer nets zero.
        unchecked {
            balanceOf[from] = balance - amount;
            balanceOf[to] += amount;
        }
        emit Transfer(from, to, amount);
    }
}
