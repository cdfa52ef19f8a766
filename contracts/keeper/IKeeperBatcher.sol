// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IScalingVault} from "../interfaces/IScalingVault.sol";

/// @title IKeeperBatcher
/// @notice Runs the keeper calls of several ScalingVaults (`rebalance`, `iterate`, `ripcord`) in one transaction,
///         each isolated: a call that reverts is reported (event + result) and the others still run.
/// @dev Trust. The batcher must hold KEEPER_ROLE on every vault it rebalances or iterates (the vault checks
///      msg.sender); `ripcord` is open to anyone. Only operators may execute: with KEEPER_ROLE granted to the
///      batcher, an open `execute` would let anyone trade every vault (within the vault's rules, but at a time of
///      their choosing). The owner manages operators and withdraws ripcord rewards, which are paid to the batcher.
///      Sharp edges: a call that runs out of gas is reported as a failure with empty revert data (the batcher keeps
///      1/64 of the gas to continue); the whole transaction still needs enough gas for every call.
interface IKeeperBatcher {
    /// @notice One vault call. `adjustments` is used by REBALANCE only.
    struct Call {
        address vault;
        IScalingVault.Action action;
        IScalingVault.Adjustment[] adjustments;
    }

    /// @notice Outcome of one call: on failure `data` is the vault's revert data (custom error), on success the
    ///         call's return data (ripcord: the reward as uint256; rebalance/iterate: empty).
    struct Result {
        bool ok;
        bytes data;
    }

    event CallSucceeded(address indexed vault, IScalingVault.Action indexed action, bytes data);
    event CallFailed(address indexed vault, IScalingVault.Action indexed action, bytes reason);
    event OperatorSet(address indexed operator, bool allowed);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Swept(address indexed token, address indexed to, uint256 amount);

    error NotOperator(address caller);
    error NotOwner(address caller);
    error ZeroAddress();
    error NoCalls();
    /// @notice `calls[index].action` is NONE.
    error InvalidAction(uint256 index);
    /// @notice With `requireSuccess`, every call failed; `firstReason` is the revert data of the first one.
    error NoCallSucceeded(bytes firstReason);

    /// @notice OPERATOR: run every call in order. Never reverts because of a single vault.
    /// @param requireSuccess revert with NoCallSucceeded when no call succeeds (nothing useful happened, so the
    ///        transaction should not cost its full gas); pass false to read every result in an eth_call.
    function execute(Call[] calldata calls, bool requireSuccess) external returns (Result[] memory results);

    function setOperator(address operator, bool allowed) external;
    function transferOwnership(address newOwner) external;
    /// @notice OWNER: withdraw tokens held by the batcher (ripcord rewards).
    function sweep(address token, address to, uint256 amount) external;

    function owner() external view returns (address);
    function isOperator(address account) external view returns (bool);
}
