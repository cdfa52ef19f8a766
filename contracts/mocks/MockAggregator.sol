// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

/// @title MockAggregator
/// @notice Chainlink-compatible price feed for local chains and tests, with round history.
/// @dev Every `setAnswer*` starts a new round (ids 1, 2, ...) with `startedAt = updatedAt` and
///      `answeredInRound = roundId`. `setAnswerAt` takes any timestamp, including 0 and future ones, to simulate
///      broken feeds; for an L2 sequencer-uptime feed (answer 0 = up, 1 = down) its timestamp is the time the
///      status changed. `setRevert(true)` makes every read revert, like a paused or removed feed.
contract MockAggregator is AggregatorV3Interface {
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
    }

    /// @notice Same message as Chainlink's aggregators for a round that does not exist.
    string internal constant NO_DATA = "No data present";

    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;

    // The latest round is cached so that a read costs three slots instead of four (any uint256 timestamp and
    // int256 answer stay representable for broken-feed tests).
    uint80 public latestRound;
    bool public reverting;
    uint256 internal _latestTimestamp;
    int256 internal _latestAnswer;
    mapping(uint80 roundId => Round) internal _rounds;

    /// @notice Same event as Chainlink's `AggregatorInterface`.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    error MockAggregatorReverted();

    modifier whenNotReverting() {
        if (reverting) revert MockAggregatorReverted();
        _;
    }

    /// @param initialAnswer Answer of round 1, at the deployment block's timestamp.
    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        decimals = decimals_;
        description = description_;
        setAnswer(initialAnswer);
    }

    /// @notice Starts a new round with `answer` at the current block's timestamp.
    function setAnswer(int256 answer) public {
        setAnswerAt(answer, block.timestamp);
    }

    /// @notice Starts a new round with `answer`, `startedAt = updatedAt = timestamp` (any value, even 0 or future).
    function setAnswerAt(int256 answer, uint256 timestamp) public {
        uint80 roundId = latestRound + 1;
        latestRound = roundId;
        _rounds[roundId] = Round({answer: answer, startedAt: timestamp, updatedAt: timestamp});
        _latestTimestamp = timestamp;
        _latestAnswer = answer;
        emit AnswerUpdated(answer, roundId, timestamp);
    }

    /// @notice Makes every read (`decimals` excepted, it is immutable on real feeds too) revert when `value`.
    function setRevert(bool value) external {
        reverting = value;
    }

    function latestRoundData()
        external
        view
        whenNotReverting
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint80 id = latestRound;
        uint256 ts = _latestTimestamp;
        return (id, _latestAnswer, ts, ts, id);
    }

    function getRoundData(uint80 roundId_)
        external
        view
        whenNotReverting
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        if (roundId_ == 0 || roundId_ > latestRound) revert(NO_DATA);
        return _round(roundId_);
    }

    function _round(uint80 roundId) internal view returns (uint80, int256, uint256, uint256, uint80) {
        Round memory r = _rounds[roundId];
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }
}
