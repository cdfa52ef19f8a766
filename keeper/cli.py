"""`keeper` command line: a thin dispatcher. Each subcommand lives with its package and adds itself through a
`register(subparsers)` function that sets `handler` (a callable taking the parsed args, returning the exit
status); to add a command, append its register function to COMMANDS."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from keeper import commands
from keeper.backtest import cli as backtest_cli

COMMANDS: list[Callable[[Any], None]] = [backtest_cli.register, commands.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keeper", description="scalevault keeper: decide, execute, backtest")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
