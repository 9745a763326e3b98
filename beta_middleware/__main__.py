"""Command line: `python -m beta_middleware demo | check | known | run | help | --version`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from ._cli.text import WIDTH, fit

__all__ = ["main", "run"]

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
    "help": "exit status:\n  0  printed\n  2  a usage error",
}
RUN_HELP = """\
run COMMAND with install() applied at interpreter start-up, in that process and in every
Python process it starts. Options override the environment variables
BETA_MIDDLEWARE_BETAS (comma separated), BETA_MIDDLEWARE_HOSTS (comma separated, * for
every host), BETA_MIDDLEWARE_DROP_REJECTED=1, BETA_MIDDLEWARE_THREADS=1,
BETA_MIDDLEWARE_PROCESSES=1 and BETA_MIDDLEWARE_LOG=debug (--verbose)."""
COMMAND_AFTER = "the command goes after --: run [OPTIONS] -- COMMAND [ARG...]"


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its errors wrapped to the command line's width (`invalid choice` lines run long)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, fit(f"{self.prog}: error: {message}") + "\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    # argparse wraps to the terminal's width less 2: never wider than WIDTH, whatever the terminal
    width = min(shutil.get_terminal_size().columns, WIDTH) - 2
    return argparse.RawDescriptionHelpFormatter(prog, width=width)


def _usage(parser: argparse.ArgumentParser, tail: str) -> str:
    """`parser`'s usage: its options as `[--opt NAME...]`, then `tail`, wrapped as argparse does."""
    parts = []
    for action in parser._actions:
        option = action.option_strings[0]
        parts.append(f"[{option}]" if action.nargs == 0 else f"[{option} {action.metavar}...]")
    parts.append(tail)
    indent = " " * (len("usage: ") + len(parser.prog) + 1)
    lines = [parser.prog]
    for part in parts:
        if len("usage: ") + len(lines[-1]) + 1 + len(part) > WIDTH:
            lines.append(indent[len("usage: ") :] + part)
        else:
            lines[-1] += " " + part
    return ("\n" + " " * len("usage: ")).join(lines)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _Parser(
        prog="python -m beta_middleware",
        description=DESCRIPTION,
        epilog=EXIT_STATUS["main"],
        formatter_class=_formatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"beta-middleware {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=description or help,
            epilog=EXIT_STATUS[name],
            formatter_class=_formatter,
        )

    command("demo", "send betas through every installed HTTP stack to a local server")
    check = command("check", "tell whether beta names are valid, invalid or unknown")
    check.add_argument("--strict", action="store_true", help="exit 1 for unknown names too")
    check.add_argument("names", nargs="+", metavar="NAME")
    known = command("known", "list the known beta names with their dates, newest first")
    known.add_argument("--json", action="store_true", help="print JSON")
    run = command("run", "run a program with install() applied: run [OPTIONS] -- COMMAND [ARG...]", RUN_HELP)
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
    run.add_argument(
        "--verbose",
        action="store_true",
        help="print, on stderr, a line per request: what was sent and where each name came from "
        "(the beta_middleware logger at DEBUG; as BETA_MIDDLEWARE_LOG=debug)",
    )
    run.usage = _usage(run, "-- COMMAND [ARG...]")
    help = command("help", "show this help, or a command's: help [COMMAND]")
    help.add_argument("topic", nargs="?", metavar="COMMAND", choices=[*commands.choices])
    subparsers: dict[str, argparse.ArgumentParser] = dict(commands.choices)
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status (`run` returns only on an error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    program: list[str] | None = None
    if argv[:1] == ["run"] and "--" in argv:
        at = argv.index("--")
        argv, program = argv[:at], argv[at + 1 :]
    parser, subparsers = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None or args.command == "help":  # bare, or `help [COMMAND]`
        shown = parser if args.command is None or args.topic is None else subparsers[args.topic]
        shown.print_help(sys.stdout)
        return 0
    if args.command == "run" and program is None and extra and not extra[0].startswith("-"):
        subparsers["run"].error(COMMAND_AFTER)  # `run python app.py`: as with options before it
    if extra:  # the command's own usage, not the top-level one
        subparsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "demo":
        from ._cli.demo import main as demo

        return demo(sys.stdout)
    if args.command == "run":
        if program is None:
            subparsers["run"].error(COMMAND_AFTER)
        from ._cli.run import main as run_command

        return run_command(
            program,
            betas=args.betas,
            hosts=args.hosts,
            drop_rejected=args.drop_rejected,
            threads=args.threads,
            verbose=args.verbose,
            processes=args.processes,
        )
    from ._cli import names

    if args.command == "check":
        return names.check(args.names, args.strict, sys.stdout)
    if args.command == "known":
        return names.known(args.json, sys.stdout)
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
