"""Command line: `python -m beta_middleware demo | check [--strict] NAME... | known [--json]`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m beta_middleware", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="send betas through every installed HTTP stack to a local server")
    check = commands.add_parser("check", help="tell whether beta names are valid, invalid or unknown")
    check.add_argument("--strict", action="store_true", help="exit 1 for unknown names too")
    check.add_argument("names", nargs="+", metavar="NAME")
    known = commands.add_parser("known", help="list the known beta names with their dates, newest first")
    known.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import main as demo

        return demo(sys.stdout)
    from . import _cli

    if args.command == "check":
        return _cli.check(args.names, args.strict, sys.stdout)
    if args.command == "known":
        return _cli.known(args.json, sys.stdout)
    raise AssertionError(args.command)  # pragma: no cover - argparse refuses unknown commands


def run() -> int:
    """`main()` for a process of its own: a reader that stops early (`| head`) ends it quietly."""
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe shows here, not at shutdown
    except BrokenPipeError:
        # As the Python docs advise for SIGPIPE: point stdout at devnull, so that the
        # flush at shutdown does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":
    sys.exit(run())
