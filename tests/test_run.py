"""`python -m beta_middleware run`: the program keeps its process, streams, status and signals."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from beta_middleware._cli import run as run_command
from beta_middleware._install import startup as _run
from beta_middleware._install.startup import BOOTSTRAP, Settings, settings

from .server import Server

PY = sys.executable
VARS = (_run.BETAS, _run.HOSTS, _run.DROP_REJECTED, _run.THREADS, _run.PROCESSES, _run.LOG, "PYTHONPATH")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


def run(
    *args: str, env: dict[str, str] | None = None, input: bytes | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [PY, "-m", "beta_middleware", "run", *args],
        capture_output=True,
        input=input,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


NO_NAMES = (
    b"beta_middleware run: no beta names given (--betas NAME... or BETA_MIDDLEWARE_BETAS): requests carry\n"
    b"  only what the program's own betas(...) scopes add\n"
)
"""What `run` says when nothing gives it a name (the program runs all the same)."""


def script(tmp_path: Path, code: str, name: str = "app.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return str(path)


# -- what passes through -------------------------------------------------------------------


@pytest.mark.parametrize("status", [0, 1, 3, 255])
def test_the_exit_status_is_the_programs(status: int) -> None:
    done = run("--", PY, "-c", f"raise SystemExit({status})")
    assert done.returncode == status
    assert done.stderr == NO_NAMES


def test_streams_pass_through_byte_for_byte() -> None:
    data = bytes(range(256)) * 64
    code = "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d[::-1]); sys.stderr.write('e')"
    done = run("--betas", "context-1m-2025-08-07", "--", PY, "-c", code, input=data)
    assert done.returncode == 0
    assert done.stdout == data[::-1]
    assert done.stderr == b"e"


def test_any_command_runs_not_only_python() -> None:
    done = run(
        "--", "sh", "-c", 'printf "%s|%s" "$BETA_MIDDLEWARE_BETAS" "$1"; exit 4', "sh", "arg with space"
    )
    assert (done.returncode, done.stdout) == (4, b"|arg with space")


def test_the_program_takes_over_the_process() -> None:
    with subprocess.Popen(
        [PY, "-m", "beta_middleware", "run", "--", PY, "-c", "import os; print(os.getpid())"],
        stdout=subprocess.PIPE,
    ) as proc:
        out, _ = proc.communicate(timeout=180)
    assert int(out) == proc.pid  # replaced by exec: no parent in between to forward anything


WAIT_FOR_SIGNAL = """
import signal, sys, time
def handler(signum, frame):
    print("got", signal.Signals(signum).name, flush=True)
    sys.exit(42)
signal.signal(signal.SIGTERM, handler)
print("ready", flush=True)
for _ in range(600):
    time.sleep(0.1)
"""


# A command started in the background by a shell without job control inherits SIGINT
# ignored, and so would plain Python: this execs the command with SIGINT as a terminal
# leaves it (in the same process, so the signal is sent to the command itself).
FROM_A_TERMINAL = "; ".join(
    [
        "import os, signal, sys",
        "signal.signal(signal.SIGINT, signal.SIG_DFL)",
        "os.execv(sys.argv[1], sys.argv[1:])",
    ]
)


@pytest.mark.parametrize(
    ("signum", "code", "status", "out"),
    [
        (signal.SIGTERM, WAIT_FOR_SIGNAL, 42, b"ready\ngot SIGTERM\n"),  # the program's handler
        (signal.SIGINT, WAIT_FOR_SIGNAL, -signal.SIGINT, b"ready\n"),  # KeyboardInterrupt, as plain Python
        (
            signal.SIGTERM,
            "import time; print('ready', flush=True); time.sleep(60)",
            -signal.SIGTERM,
            b"ready\n",
        ),
    ],
)
def test_signals_reach_the_program(signum: int, code: str, status: int, out: bytes) -> None:
    run = [PY, "-m", "beta_middleware", "run", "--betas", "context-1m-2025-08-07", "--", PY, "-c", code]
    with subprocess.Popen(
        [PY, "-c", FROM_A_TERMINAL, *run], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signum)
        rest, err = proc.communicate(timeout=180)
    assert proc.returncode == status
    assert b"ready\n" + rest == out
    assert (b"KeyboardInterrupt" in err) == (signum == signal.SIGINT)


# -- the start-up hook ---------------------------------------------------------------------


SHOW = """
import json, os, sys
print(json.dumps({
    "hook": any(getattr(f, "__module__", "") == "sitecustomize" for f in sys.meta_path)
        or "beta_middleware" in sys.modules,
    "betas": os.environ.get("BETA_MIDDLEWARE_BETAS"),
    "path": os.environ.get("PYTHONPATH", "").split(os.pathsep),
}))
"""


def test_every_python_process_it_starts_runs_the_hook(tmp_path: Path) -> None:
    child = script(tmp_path, SHOW, "child.py")
    parent = script(
        tmp_path,
        f"""
        import subprocess, sys
        subprocess.run([sys.executable, {child!r}], check=True)  # a grandchild, same environment
        """,
        "parent.py",
    )
    done = run("--betas", "context-1m-2025-08-07", "--", PY, parent, env={"PYTHONPATH": "/x:/y"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == (
        f'{{"hook": true, "betas": "context-1m-2025-08-07", "path": ["{BOOTSTRAP}", "/x", "/y"]}}'
    )


def test_run_inside_run_puts_the_hook_on_the_path_once() -> None:
    inner = [PY, "-m", "beta_middleware", "run", "--", PY, "-c", "import os; print(os.environ['PYTHONPATH'])"]
    done = run("--", *inner, env={"PYTHONPATH": "/x"})
    assert done.stdout.decode().strip() == os.pathsep.join([BOOTSTRAP, "/x"])


def test_a_program_that_loads_no_stack_does_not_load_the_package() -> None:
    code = (
        "import sys, json, email, urllib.request; a = 'beta_middleware' in sys.modules; "
        "import requests; print(a, 'beta_middleware' in sys.modules)"
    )
    done = run("--", PY, "-c", code)
    assert done.stdout == b"False True\n"


def test_the_users_sitecustomize_still_runs(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os\nSEEN = True\n"
        f"if os.environ['PYTHONPATH'].startswith({BOOTSTRAP!r}):  # not in the process of `run` itself\n"
        "    print('user sitecustomize', __name__)\n"
    )
    code = "import sys; print(sys.modules['sitecustomize'].SEEN, sys.modules['sitecustomize'].__file__)"
    done = run("--", PY, "-c", code, env={"PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"user sitecustomize sitecustomize\nTrue {site / 'sitecustomize.py'}\n"


def test_an_error_in_the_users_sitecustomize_is_reported_as_python_does(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("raise RuntimeError('broken site')\n")
    code = "import sys, requests; print('beta_middleware' in sys.modules)"
    plain = subprocess.run(
        [PY, "-c", code], capture_output=True, env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=180
    )
    done = hooked(code, {"PYTHONPATH": os.pathsep.join([BOOTSTRAP, str(tmp_path)])})
    assert (plain.stdout, done.stdout) == (b"False\n", b"True\n")  # the hook is set before theirs runs
    assert b"RuntimeError: broken site" in plain.stderr
    assert done.stderr == plain.stderr


def test_settings_from_the_environment_alone() -> None:
    env = {_run.BETAS: "context-1m-2025-08-07, files-api-2025-04-14", _run.THREADS: "1"}
    code = "import os; print(os.environ['BETA_MIDDLEWARE_BETAS'], os.environ['BETA_MIDDLEWARE_THREADS'])"
    done = run("--", PY, "-c", code, env=env)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == b"context-1m-2025-08-07, files-api-2025-04-14 1\n"


def test_options_override_the_environment() -> None:
    env = {_run.BETAS: "files-api-2025-04-14", _run.HOSTS: "a.example"}
    names = ("BETAS", "HOSTS", "DROP_REJECTED", "THREADS", "PROCESSES")
    code = f"import os; print(*(os.environ.get('BETA_MIDDLEWARE_' + v) for v in {names!r}))"
    done = run("--betas", "a-1", "b-2,c-3", "--hosts", "b.example", "--", PY, "-c", code, env=env)
    assert done.stdout == b"a-1,b-2,c-3 b.example None None None\n"
    done = run("--drop-rejected", "--threads", "--processes", "--betas", "a-1", "--", PY, "-c", code, env=env)
    assert done.stdout == b"a-1 a.example 1 1 1\n"


# -- bad values: exit 2 before the program starts --------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--betas", "a b"], {}, "--betas: invalid beta name 'a b': it contains a space"),
        ([], {_run.BETAS: "ok-1,caf\u00e9"}, f"{_run.BETAS}: invalid beta name 'caf\u00e9'"),
        (["--hosts", "https://api.example.com"], {}, "--hosts: invalid host 'https://api.example.com'"),
        (
            [],
            {_run.HOSTS: "ok.example,api.example.com/v1"},
            f"{_run.HOSTS}: invalid host 'api.example.com/v1'",
        ),
        ([], {_run.DROP_REJECTED: "maybe"}, f"{_run.DROP_REJECTED}='maybe': expected 1 (on) or 0 (off)"),
        ([], {_run.THREADS: "2"}, f"{_run.THREADS}='2': expected 1 (on) or 0 (off)"),
    ],
)
def test_bad_values_exit_2_before_the_program_runs(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    marker = tmp_path / "ran"
    done = run(*args, "--", PY, "-c", f"open({str(marker)!r}, 'w')", env=env)
    assert done.returncode == 2
    assert message in done.stderr.decode()
    assert done.stderr.decode().startswith("beta_middleware run: ")
    assert done.stdout == b""
    assert not marker.exists()


def test_an_unknown_name_warns_once_and_runs() -> None:
    done = run("--betas", "files-api-2025-04-41", "--", PY, "-c", "import requests; print('ran')")
    assert done.returncode == 0
    assert done.stdout == b"ran\n"
    assert done.stderr.decode() == (
        "beta_middleware run: warning: unknown beta name 'files-api-2025-04-41': did you mean\n"
        "  'files-api-2025-04-14'?\n"
    )


def test_a_missing_command_exits_127() -> None:
    done = run("--", "no-such-command-beta-middleware", "x")
    assert done.returncode == 127
    assert (
        done.stderr
        == NO_NAMES + b"beta_middleware run: command not found: 'no-such-command-beta-middleware'\n"
    )


def test_a_file_that_cannot_run_exits_126(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program\n")
    assert run("--", str(plain)).returncode == 126
    plain.chmod(0o755)  # executable, but no valid format: exec itself refuses it
    done = run("--", str(plain))
    assert done.returncode in (126, 0)  # some systems run a file without #! with /bin/sh


def test_no_command_is_a_usage_error() -> None:
    done = run("--betas", "a-1", "--")
    assert done.returncode == 2
    assert b"no command after --" in done.stderr
    done = run("--betas", "a-1", PY)
    assert done.returncode == 2
    assert done.stderr.startswith(b"usage: python -m beta_middleware run ")
    assert b"the command goes after --" in done.stderr


# -- the hook on its own, when `run` did not check -----------------------------------------


def hooked(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """A plain Python with the hook on its path, as a container might set it up by hand."""
    return subprocess.run(
        [PY, "-c", code], capture_output=True, env={**os.environ, "PYTHONPATH": BOOTSTRAP, **env}, timeout=180
    )


def test_the_hook_with_bad_values_says_so_and_the_program_runs() -> None:
    done = hooked("import requests; print('ran')", {_run.BETAS: "ok-1,a b"})
    assert done.returncode == 0
    assert done.stdout == b"ran\n"
    assert done.stderr.decode() == (
        f"beta_middleware run: InvalidBetaError: {_run.BETAS}: invalid beta name 'a b': it contains a space; "
        "this process runs without the installation\n"
    )


def test_the_hook_in_a_python_without_the_package(tmp_path: Path) -> None:
    # a sitecustomize of the user's that hides beta_middleware stands in for another Python
    (tmp_path / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import sys
            class Hide:
                @staticmethod
                def find_spec(name, path=None, target=None):
                    if name.split(".")[0] == "beta_middleware":
                        raise ImportError("no beta_middleware here")
            sys.meta_path.insert(0, Hide)
            """
        )
    )
    done = hooked(
        "import requests; print('ran')", {"PYTHONPATH": os.pathsep.join([BOOTSTRAP, str(tmp_path)])}
    )
    assert done.returncode == 0
    assert done.stdout == b"ran\n"
    assert done.stderr.decode() == (
        f"beta_middleware run: {PY} cannot import beta_middleware (ImportError: no beta_middleware here); "
        "this process runs without betas\n"
    )


def test_a_stack_that_fails_to_import_leaves_the_hook_waiting(tmp_path: Path) -> None:
    (tmp_path / "httpx.py").write_text("raise RuntimeError('broken httpx')\n")
    code = (
        "import sys\ntry:\n    import httpx\nexcept RuntimeError:\n    pass\n"
        "print('beta_middleware' in sys.modules)\nimport requests\nprint('beta_middleware' in sys.modules)"
    )
    done = hooked(code, {"PYTHONPATH": os.pathsep.join([BOOTSTRAP, str(tmp_path)])})
    assert done.stdout == b"False\nTrue\n", done.stderr


def test_a_stack_that_is_not_installed_leaves_the_hook_waiting() -> None:
    code = (
        "import sys\nsaved = sys.path[:]\nsys.path[:] = [p for p in sys.path if 'site-packages' not in p]\n"
        "try:\n    import httpx\nexcept ImportError:\n    print('no httpx')\n"
        "sys.path[:] = saved\nprint('beta_middleware' in sys.modules)\nimport requests\n"
        "print('beta_middleware' in sys.modules)"
    )
    assert hooked(code, {}).stdout == b"no httpx\nFalse\nTrue\n"


# -- settings ------------------------------------------------------------------------------


def test_settings_read_the_environment() -> None:
    assert settings({}) == Settings()
    assert settings({_run.BETAS: " a-1, ,b-2,a-1 ", _run.HOSTS: "*"}) == Settings(("a-1", "b-2"), None)
    assert settings(
        {_run.HOSTS: "API.example.com,*.x.example", _run.DROP_REJECTED: "TRUE", _run.THREADS: "0"}
    ) == (Settings((), ("API.example.com", "*.x.example"), True, False))
    for off in ("", "0", "false", "no", "off"):
        assert settings({_run.THREADS: off}).threads is False
    for on in ("1", "true", "yes", "on", " On "):
        assert settings({_run.THREADS: on}).threads is True
    assert settings({_run.PROCESSES: "1"}) == Settings(processes=True)
    assert settings({_run.PROCESSES: "off"}).processes is False


def test_install_gets_the_default_hosts_unless_told() -> None:
    assert Settings(("a-1",)).install_kwargs() == {
        "betas": ("a-1",),
        "drop_rejected": False,
        "threads": False,
        "processes": False,
    }
    assert Settings(hosts=None).install_kwargs()["hosts"] is None
    assert Settings(hosts=("a.example",), threads=True, processes=True).install_kwargs() == {
        "betas": (),
        "hosts": ("a.example",),
        "drop_rejected": False,
        "threads": True,
        "processes": True,
    }


def test_main_returns_on_errors_without_running_anything() -> None:
    err = io.StringIO()
    assert run_command.main([], err=err) == 2
    assert (
        run_command.main(["no-such-command-beta-middleware"], environ={"PATH": "/nonexistent"}, err=err)
        == 127
    )
    assert run_command.main(["x"], betas=["a b"], err=err) == 2
    assert err.getvalue().splitlines() == [
        "beta_middleware run: no command after --: give one, e.g. -- python app.py",
        *NO_NAMES.decode().splitlines(),
        "beta_middleware run: command not found: 'no-such-command-beta-middleware'",
        "beta_middleware run: --betas: invalid beta name 'a b': it contains a space",
    ]


# -- requests of the program carry the betas (tests/server.py echoes what it received) ---------


REQUESTS = """
import json, sys, threading, httpx, requests
from beta_middleware import betas
url = sys.argv[1] + "/echo"
seen = [httpx.get(url).json()["anthropic-beta"], requests.get(url).json()["anthropic-beta"]]
with betas("files-api-2025-04-14"):
    seen.append(httpx.get(url, headers={"anthropic-beta": "own-1"}).json()["anthropic-beta"])
    box = []
    worker = threading.Thread(target=lambda: box.append(requests.get(url).json()["anthropic-beta"]))
    worker.start()
    worker.join()
    seen += box
print(json.dumps(seen))
"""


def test_the_programs_requests_carry_the_betas(server: Server, tmp_path: Path) -> None:
    program = script(tmp_path, REQUESTS)
    done = run(
        "--betas", "context-1m-2025-08-07", "--threads", "--hosts", "127.0.0.1", "--", PY, program, server.url
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert json.loads(done.stdout) == [
        "context-1m-2025-08-07",
        "context-1m-2025-08-07",
        "own-1,context-1m-2025-08-07,files-api-2025-04-14",
        "context-1m-2025-08-07,files-api-2025-04-14",  # --threads: the thread got the scope
    ]


POOL = """
import json, multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
from beta_middleware import betas

def send(url):
    import httpx
    return httpx.get(url).json()["anthropic-beta"]

if __name__ == "__main__":
    url = sys.argv[1] + "/echo"
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(sys.argv[2])) as pool:
        with betas("files-api-2025-04-14"):
            seen = [pool.submit(send, url).result(60)]
        seen.append(pool.submit(send, url).result(60))
    print(json.dumps(seen))
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_a_pools_jobs_send_their_submitters_betas(
    server: Server, tmp_path: Path, method: str
) -> None:
    # The worker is another Python process: under spawn it is installed by the start-up hook.
    program = script(tmp_path, POOL)
    betas = ("--betas", "context-1m-2025-08-07", "--hosts", "127.0.0.1")
    done = run(*betas, "--processes", "--", PY, program, server.url, method)
    assert (done.returncode, done.stderr) == (0, b"")
    assert json.loads(done.stdout) == ["context-1m-2025-08-07,files-api-2025-04-14", "context-1m-2025-08-07"]
    done = run(*betas, "--", PY, program, server.url, method, env={_run.PROCESSES: "1"})
    assert json.loads(done.stdout) == ["context-1m-2025-08-07,files-api-2025-04-14", "context-1m-2025-08-07"]


def test_a_grandchild_process_sends_them_too_and_the_default_hosts_hold(
    server: Server, tmp_path: Path
) -> None:
    child = script(
        tmp_path, "import sys, httpx; print(httpx.get(sys.argv[1]).json()['anthropic-beta'])", "c.py"
    )
    parent = script(
        tmp_path,
        f"""
        import subprocess, sys
        for url in sys.argv[1:]:
            subprocess.run([sys.executable, {child!r}, url], check=True)
        """,
        "p.py",
    )
    # the default hosts: api.anthropic.com and the host of ANTHROPIC_BASE_URL, not others
    env = {"ANTHROPIC_BASE_URL": server.url_for("/")}
    other = server.url_for("/echo", host="localhost")
    done = run("--betas", "context-1m-2025-08-07", "--", PY, parent, server.url_for("/echo"), other, env=env)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout.decode().splitlines() == ["context-1m-2025-08-07", "None"]


def test_a_program_that_installs_itself_joins_the_installation(server: Server, tmp_path: Path) -> None:
    program = script(
        tmp_path,
        """
        import sys, httpx, beta_middleware
        installation = beta_middleware.install(betas="files-api-2025-04-14", hosts=["127.0.0.1"])
        print(installation)
        print(httpx.get(sys.argv[1]).json()["anthropic-beta"])
        try:
            beta_middleware.install(betas="other-2025-01-01")
        except ValueError as exc:
            print(exc)
        """,
    )
    done = run("--betas", "context-1m-2025-08-07", "--threads", "--", PY, program, server.url_for("/echo"))
    assert (done.returncode, done.stderr) == (0, b"")
    shown, sent, refused = done.stdout.decode().splitlines()
    assert shown == (
        "Installation(betas=['context-1m-2025-08-07', 'files-api-2025-04-14'], "
        "hosts=['api.anthropic.com', '127.0.0.1'], drop_rejected=False, threads=True, processes=False)"
    )
    assert sent == "context-1m-2025-08-07,files-api-2025-04-14"
    assert (
        "made at start-up from the BETA_MIDDLEWARE_* variables (as python -m beta_middleware run sets them) "
        f"and joined by install() at {program}:3; refusing to install"
    ) in refused


# -- the DEBUG lines: run --verbose, BETA_MIDDLEWARE_LOG=debug --------------------------------

LOGS = """
import io, logging, sys
logging.getLogger("beta_middleware").debug("sent %s", "files-api-2025-04-14")
logging.getLogger("beta_middleware.httpx").debug("a line of a module of the package")
logging.getLogger("beta_middleware").info("an INFO line")
logging.getLogger("other").warning("another logger's record: not ours to show")
swapped, sys.stderr = sys.stderr, io.StringIO()  # a test runner capturing stderr, say
logging.getLogger("beta_middleware").debug("to the stderr of the moment")
captured, sys.stderr = sys.stderr.getvalue(), swapped
print(repr(captured), "beta_middleware" in sys.modules)
"""
SHOWN = (
    b"beta_middleware DEBUG: sent files-api-2025-04-14\n"
    b"beta_middleware.httpx DEBUG: a line of a module of the package\n"
    b"beta_middleware INFO: an INFO line\n"
    b"another logger's record: not ours to show\n"  # logging's last resort, as without run
)


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--verbose"], {}), ([], {_run.LOG: "debug"}), ([], {_run.LOG: " DEBUG "})],
)
def test_verbose_shows_the_packages_debug_lines_on_stderr(args: list[str], env: dict[str, str]) -> None:
    done = run(*args, "--betas", "files-api-2025-04-14", "--", PY, "-c", LOGS, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == SHOWN
    # from start-up on, before the program loads the package or any stack
    assert done.stdout == b"'beta_middleware DEBUG: to the stderr of the moment\\n' False\n"


def test_verbose_reaches_every_python_process_it_starts() -> None:
    code = "import logging; logging.getLogger('beta_middleware').debug('in the child')"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {code!r}], check=True)"
    done = run("--verbose", "--betas", "files-api-2025-04-14", "--", PY, "-c", parent)
    assert done.stderr == b"beta_middleware DEBUG: in the child\n"


@pytest.mark.parametrize("off", ["", "0", "off", "no", "false"])
def test_without_verbose_nothing_of_ours_is_shown(off: str) -> None:
    done = run("--betas", "files-api-2025-04-14", "--", PY, "-c", LOGS, env={_run.LOG: off})
    assert done.stderr == b"another logger's record: not ours to show\n"
    assert done.stdout == b"'' False\n"


def test_a_bad_log_setting_exits_2_under_run_and_is_told_without(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = run("--", PY, "-c", f"open({str(marker)!r}, 'w')", env={_run.LOG: "verbose"})
    assert done.returncode == 2
    assert done.stderr == b"beta_middleware run: BETA_MIDDLEWARE_LOG='verbose': expected debug (or 0: off)\n"
    assert not marker.exists()
    done = hooked(LOGS, {_run.LOG: "verbose"})
    assert done.returncode == 0
    assert done.stderr == (
        b"beta_middleware run: BETA_MIDDLEWARE_LOG='verbose': expected debug (or 0: off); no log lines\n"
        b"another logger's record: not ours to show\n"
    )


def test_the_hook_and_run_read_the_log_setting_alike() -> None:
    for value in ("debug", "DEBUG", " Debug ", "", "0", "off", "OFF", "no", "false"):
        shown = b"beta_middleware DEBUG" in hooked(LOGS, {_run.LOG: value}).stderr
        assert (_run.log_level({_run.LOG: value}) == "debug") == shown, value
    for value in ("1", "info", "yes", "true", "verbose"):
        with pytest.raises(ValueError, match="expected debug"):
            _run.log_level({_run.LOG: value})
        assert b"expected debug" in hooked("pass", {_run.LOG: value}).stderr, value


def test_with_nothing_configured_run_says_so_and_runs_the_program() -> None:
    done = run("--threads", "--", PY, "-c", "print('ran')")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"ran\n", NO_NAMES)
    done = run("--", PY, "-c", "print('ran')", env={_run.BETAS: "files-api-2025-04-14"})
    assert (done.returncode, done.stdout, done.stderr) == (0, b"ran\n", b"")
