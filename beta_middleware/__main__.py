"""Command line: `python -m beta_middleware demo`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m beta_middleware", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="send betas through every installed HTTP stack to a local server")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import main as demo

        return demo(sys.stdout)
    raise AssertionError(args.command)  # pragma: no cover - argparse refuses unknown commands


if __name__ == "__main__":
    sys.exit(main())
