from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Callable

import pytest

import beta_middleware
from beta_middleware import known_betas
from beta_middleware.__main__ import main
from beta_middleware._core import known as _known


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    status = main(argv)
    return status, capsys.readouterr().out.splitlines()


def test_check_valid_names(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(capsys, "check", "files-api-2025-04-14", "context-1m-2025-08-07")
    assert status == 0
    assert lines == [
        "valid    files-api-2025-04-14 (published 2025-04-14)",
        "valid    context-1m-2025-08-07 (published 2025-08-07)",
    ]


def test_check_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(capsys, "check", "files-api-2025-04-41", "brand-new-feature-2030-01-01")
    assert status == 0  # unknown is not wrong: new betas appear all the time
    assert lines == [
        "unknown  files-api-2025-04-41: did you mean 'files-api-2025-04-14'?",
        "unknown  brand-new-feature-2030-01-01: not in the known list; it may be newer",
    ]


def test_check_strict_fails_on_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "--strict", "files-api-2025-04-14")[0] == 0
    assert run(capsys, "check", "--strict", "files-api-2025-04-14", "brand-new-feature-2030-01-01")[0] == 1


def test_check_invalid_names(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(capsys, "check", "files-api-2025-04-14", "a,b", "", "x\r\ny")
    assert status == 1
    assert lines == [
        "valid    files-api-2025-04-14 (published 2025-04-14)",
        "invalid  'a,b': a comma would split it into two names: give them as separate names, 'a' and 'b'",
        "invalid  '': it is empty",
        "invalid  'x\\r\\ny': it contains a line break",  # shown with repr, never raw
    ]


def test_check_does_not_warn(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_known, "_checked", set())
    assert run(capsys, "check", "files-api-2025-04-42")[0] == 0  # the verdict is printed instead


def test_check_needs_a_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["check"])
    assert exit.value.code == 2
    assert "NAME" in capsys.readouterr().err


def test_known_lists_newest_first(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(capsys, "known")
    assert status == 0
    assert len(lines) == len(known_betas())
    pairs = [line.split() for line in lines]
    assert {name for _, name in pairs} == known_betas()
    dates = [date for date, _ in pairs]
    assert dates == sorted(dates, reverse=True)
    assert ["2025-04-14", "files-api-2025-04-14"] in pairs


def test_known_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(capsys, "known", "--json")
    assert status == 0
    data = json.loads("\n".join(lines))
    assert data["updated"] == _known.bundled()[0]
    assert {entry["name"] for entry in data["betas"]} == known_betas()
    dates = [entry["date"] for entry in data["betas"]]
    assert dates == sorted(dates, reverse=True)
    assert {"name": "files-api-2025-04-14", "date": "2025-04-14"} in data["betas"]


def test_undated_names_come_last(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    dates = {"undated-beta": None, "old-2024-01-01": "2024-01-01", "new-2025-01-01": "2025-01-01"}
    monkeypatch.setattr("beta_middleware._cli.names.known_dates", lambda: dates)
    assert run(capsys, "known")[1] == [
        "2025-01-01  new-2025-01-01",
        "2024-01-01  old-2024-01-01",
        "(no date)   undated-beta",
    ]


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "beta_middleware", "check", "--strict", "files-api-2025-04-41"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == "unknown  files-api-2025-04-41: did you mean 'files-api-2025-04-14'?\n"
    assert done.stderr == ""


def test_a_reader_that_stops_early_ends_it_quietly() -> None:
    # `known | head -1`: the pipe is closed before the output is written
    with subprocess.Popen(
        [sys.executable, "-m", "beta_middleware", "known"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 1
    assert stderr == b""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"beta-middleware {beta_middleware.__version__}\n"


@pytest.mark.parametrize("command", [[], ["demo"], ["check"], ["known"], ["run"], ["help"]])
def test_help_is_plain_text_and_says_the_exit_status(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main([*command, "--help"])
    assert exit.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m beta_middleware {' '.join(command)}".rstrip())
    assert "`" not in text  # no markdown in a terminal
    assert "exit status:" in text
    assert re.search(r"\b2\b.*usage error", text)


def test_run_help_names_its_exit_codes_and_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for item in (
        "126",
        "127",
        "the program's own",
        "BETA_MIDDLEWARE_BETAS",
        "BETA_MIDDLEWARE_THREADS=1",
        "BETA_MIDDLEWARE_PROCESSES=1",
        "--processes",
        "--",
    ):
        assert item in text


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["check", "--bogus", "a-1"], "usage: python -m beta_middleware check "),
        (["known", "--bogus"], "usage: python -m beta_middleware known "),
        (["demo", "extra"], "usage: python -m beta_middleware demo "),
        (["run", "--bogus", "--", "true"], "usage: python -m beta_middleware run "),
    ],
)
def test_a_bad_option_prints_that_commands_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str], usage: str
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage)
    assert "--bogus" in err or "extra" in err


def test_check_takes_names_after_a_double_dash(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(capsys, "check", "--", "--not-an-option")
    assert status == 0
    assert lines == ["unknown  --not-an-option: not in the known list; it may be newer"]


def test_check_suggests_the_known_name_a_name_lacks_its_date_for(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(capsys, "check", "files-api", "context-1m", "files_api_2025_04_14", "files-api-2025")
    assert status == 0
    assert lines == [
        "unknown  files-api: did you mean 'files-api-2025-04-14'?",
        "unknown  context-1m: did you mean 'context-1m-2025-08-07'?",
        "unknown  files_api_2025_04_14: did you mean 'files-api-2025-04-14'?",
        "unknown  files-api-2025: did you mean 'files-api-2025-04-14'?",
    ]


def test_check_says_what_to_write_instead_of_a_refused_name(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(
        capsys, "check", "files-api-2025-04-14 ", "files-api-2025-04-14,context-1m-2025-08-07"
    )
    assert status == 1
    assert lines == [
        "invalid  'files-api-2025-04-14 ': it ends with a space; write 'files-api-2025-04-14'",
        "invalid  'files-api-2025-04-14,context-1m-2025-08-07': a comma would split it into two names: give",
        "         them as separate names, 'files-api-2025-04-14' and 'context-1m-2025-08-07'",
    ]


@pytest.mark.parametrize("argv", [[], ["help"]])
def test_bare_and_help_print_the_help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr()
    assert out.out.startswith("usage: python -m beta_middleware [-h] [-V] COMMAND ...")
    for command in ("demo", "check", "known", "run", "help"):
        assert re.search(rf"^    {command} ", out.out, re.MULTILINE), command
    assert out.err == ""


def test_help_of_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["help", "run"]) == 0
    shown = capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert shown == capsys.readouterr().out


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_dash_v_prints_the_version(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    with pytest.raises(SystemExit) as exit:
        main([flag])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"beta-middleware {beta_middleware.__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "python", "app.py"],
        ["run", "--betas", "files-api-2025-04-14", "python", "app.py"],
        ["run", "--threads", "python"],
    ],
)
def test_run_without_a_double_dash_says_where_the_command_goes(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m beta_middleware run ")
    assert err.endswith(
        "python -m beta_middleware run: error: the command goes after --: run [OPTIONS] -- COMMAND [ARG...]\n"
    )


# Every path of every command that prints an error, a warning or help: no line over 100 columns,
# on a terminal as wide as can be (argparse wraps to the terminal's width).
PRINTED = [
    [],
    ["help"],
    ["help", "run"],
    ["help", "no-such-command"],
    ["no-such-command"],
    ["--no-such-option"],
    ["-V"],
    *([command, "--help"] for command in ("demo", "check", "known", "run", "help")),
    ["demo", "extra"],
    ["demo", "--no-such-option"],
    ["check"],
    ["check", "--no-such-option", "a-1"],
    ["check", "files-api", "interleaved-thinking", "user-profiles-billing", "files_api_2025_04_14"],
    [
        "check",
        "interleaved-thinking-2025-05-14,context-management-2025-06-27",
        " fine-grained-tool-streaming ",
    ],
    ["check", "a b", "caf\u00e9-2025-01-01", "x\r\ny", "", 'quote"'],
    ["known", "--no-such-option"],
    ["known", "extra"],
    ["run"],
    ["run", "--"],
    ["run", "--betas"],
    ["run", "python", "app.py"],
    ["run", "--no-such-option", "--", "true"],
    ["run", "--betas", "interleaved-thinking-2025-05-14 token-efficient-tools-2025-02-19", "--", "true"],
    ["run", "--betas", "interleaved-thinking", "--", "no-such-command-beta-middleware"],
    ["run", "--betas", "interleaved-thinking-2025-05-41", "--", "no-such-command-beta-middleware"],
    ["run", "--hosts", "https://api.anthropic.com/v1/messages", "--", "true"],
    ["run", "--", "no-such-command-beta-middleware-with-a-long-name-that-goes-on-and-on"],
    ["run", "--", "/etc/passwd"],
]


@pytest.mark.parametrize("argv", PRINTED, ids=" ".join)
def test_every_line_the_command_line_prints_fits_100_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setattr(_known, "_checked", set())
    monkeypatch.setattr("os.execve", lambda *args: pytest.fail(f"ran {args}"))  # none of these may run
    with contextlib.suppress(SystemExit):
        main(argv)
    out = capsys.readouterr()
    printed = (out.out + out.err).splitlines()
    assert printed, argv
    assert [line for line in printed if len(line) > 100] == []


def test_the_wrapping_keeps_a_long_word_whole() -> None:
    from beta_middleware._cli.text import fit

    word = "x" * 150
    assert fit(f"a {word} b") == f"a\n  {word}\n  b"
    assert fit("") == ""


def test_the_demos_lines_fit(command_line: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    done = command_line("demo")  # the docs' console check runs the same command: run once, shared
    assert done.returncode == 0, done.stderr
    assert [line for line in (done.stdout + done.stderr).splitlines() if len(line) > 100] == []
