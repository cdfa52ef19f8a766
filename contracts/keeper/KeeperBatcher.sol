// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IScalingVault} from "../interfaces/IScalingVault.sol";
import {IKeeperBatcher} from "./IKeeperBatcher.sol";

/// @title KeeperBatcher
/// @notice Keeper calls on many vaults in one transaction, each isolated by try/catch (see IKeeperBatcher).
contract KeeperBatcher is IKeeperBatcher {
    using SafeERC20 for IERC20;

    /// @inheritdoc IKeeperBatcher
    address public owner;
    /// @inheritdoc IKeeperBatcher
    mapping(address account => bool) public isOperator;

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor(address owner_, address[] memory operators) {
        if (owner_ == address(0)) revert ZeroAddress();
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
        for (uint256 i; i < operators.length; ++i) {
            _setOperator(operators[i], true);
        }
    }

    /// @inheritdoc IKeeperBatcher
    function execute(Call[] calldata calls, bool requireSuccess) external returns (Result[] memory results) {
        if (!isOperator[msg.sender]) revert NotOperator(msg.sender);
        uint256 n = calls.length;
        if (n == 0) revert NoCalls();
        results = new Result[](n);
        bool any;
        for (uint256 i; i < n; ++i) {
            Call calldata c = calls[i];
            Result memory r = results[i];
            IScalingVault vault = IScalingVault(c.vault);
            if (c.action == IScalingVault.Action.REBALANCE) {
                try vault.rebalance(c.adjustments) {
                    r.ok = true;
                } catch (bytes memory reason) {
                    r.data = reason;
                }
            } else if (c.action == IScalingVault.Action.ITERATE) {
                try vault.iterate() {
                    r.ok = true;
                } catch (bytes memory reason) {
                    r.data = reason;
                }
            } else if (c.action == IScalingVault.Action.RIPCORD) {
                try vault.ripcord() returns (uint256 reward) {
                    r.ok = true;
                    r.data = abi.encode(reward);
                } catch (bytes memory reason) {
                    r.data = reason;
                }
            } else {
                revert InvalidAction(i);
            }
            if (r.ok) {
                any = true;
                emit CallSucceeded(c.vault, c.action, r.data);
            } else {
                emit CallFailed(c.vault, c.action, r.data);
            }
        }
        if (requireSuccess && !any) revert NoCallSucceeded(results[0].data);
    }

    /// @inheritdoc IKeeperBatcher
    function setOperator(address operator, bool allowed) external onlyOwner {
        _setOperator(operator, allowed);
    }

    /// @inheritdoc IKeeperBatcher
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @inheritdoc IKeeperBatcher
    function sweep(address token, address to, uint256 amount) external onlyOwner {
        if (to == address(0)) revert ZeroAddress();
        IERC20(token).safeTransfer(to, amount);
        emit Swept(token, to, amount);
    }

    function _setOperator(address operator, bool allowed) internal {
        if (operator == address(0)) revert ZeroAddress();
        isOperator[operator] = allowed;
        emit OperatorSet(operator, allowed);
    }
}
