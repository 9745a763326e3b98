"""Command line: `python -m beta_middleware demo | check | known | run | --version`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__

DESCRIPTION = (
    "Anthropic API betas (the anthropic-beta header): check names, list them, run a program with them."
)
EXIT_STATUS = {
    "main": "exit status: 0 done, 1 a failure the command reports, 2 a usage error",
    "demo": "exit status:\n  0  every header as expected\n  1  a header differs, or no stack is installed\n"
    "  2  a usage error",
    "check": "exit status:\n  0  every name valid (or unknown, without --strict)\n"
    "  1  a name invalid (or unknown, with --strict)\n  2  a usage error",
    "known": "exit status:\n  0  listed\n  2  a usage error",
    "run": "exit status:\n  the program's own, when it runs\n"
    "  2    a bad name, host or setting (before the program starts), or a usage error\n"
    "  126  the command cannot be run\n  127  the command is not found",
}
RUN_HELP = """\
run COMMAND with install() applied at interpreter start-up, in that process and in every
Python process it starts. Options override the environment variables
BETA_MIDDLEWARE_BETAS (comma separated), BETA_MIDDLEWARE_HOSTS (comma separated, * for
every host), BETA_MIDDLEWARE_DROP_REJECTED=1, BETA_MIDDLEWARE_THREADS=1 and
BETA_MIDDLEWARE_PROCESSES=1."""


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m beta_middleware", description=DESCRIPTION, epilog=EXIT_STATUS["main"]
    )
    parser.add_argument("--version", action="version", version=f"beta-middleware {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=description or help, epilog=EXIT_STATUS[name], formatter_class=raw
        )

    command("demo", "send betas through every installed HTTP stack to a local server")
    check = command("check", "tell whether beta names are valid, invalid or unknown")
    check.add_argument("--strict", action="store_true", help="exit 1 for unknown names too")
    check.add_argument("names", nargs="+", metavar="NAME")
    known = command("known", "list the known beta names with their dates, newest first")
    known.add_argument("--json", action="store_true", help="print JSON")
    run = command("run", "run a program with install() applied: run [OPTIONS] -- COMMAND [ARG...]", RUN_HELP)
    run.usage = (
        "python -m beta_middleware run [-h] [--betas NAME...] [--hosts HOST...] [--drop-rejected] "
        "[--threads] [--processes] -- COMMAND [ARG...]"
    )
    run.add_argument("--betas", nargs="+", action="extend", metavar="NAME", help="beta names always sent")
    run.add_argument(
        "--hosts",
        nargs="+",
        action="extend",
        metavar="HOST",
        help="hosts the HTTP stacks send betas to (default: api.anthropic.com and the host of "
        "ANTHROPIC_BASE_URL; * for every host)",
    )
    run.add_argument("--drop-rejected", action="store_true", help="resend once without a rejected beta")
    run.add_argument("--threads", action="store_true", help="threads and executors carry the betas")
    run.add_argument("--processes", action="store_true", help="process pools' jobs carry the betas")
    return parser, {"demo": commands.choices["demo"], "check": check, "known": known, "run": run}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status (`run` returns only on an error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    program: list[str] | None = None
    if argv[:1] == ["run"] and "--" in argv:
        at = argv.index("--")
        argv, program = argv[:at], argv[at + 1 :]
    parser, subparsers = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the command's own usage, not the top-level one
        subparsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "demo":
        from ._demo import main as demo

        return demo(sys.stdout)
    if args.command == "run":
        if program is None:
            subparsers["run"].error("the command goes after --: run [OPTIONS] -- COMMAND [ARG...]")
        from . import _run

        return _run.main(
            program,
            betas=args.betas,
            hosts=args.hosts,
            drop_rejected=args.drop_rejected,
            threads=args.threads,
            processes=args.processes,
        )
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
