"""The benchmark's code paths in a tiny configuration, so it cannot rot. No timings are asserted."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import itertools
import json
from collections.abc import Iterator

import pytest

from benchmarks import run, stacks, startup, startup_run
from beta_middleware import betas
from beta_middleware._core.header import Rules


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap() -> Iterator[None]:
    """The benchmark collects garbage before every timed stretch (a few hundred times in a quick
    run). In a test process that holds the whole suite's objects each collection takes a tenth
    of a second; frozen, they are left out of the collections, which then see the benchmark's
    own objects only. The benchmark runs the same code either way."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture(scope="module")
def quick_report() -> run.Report:
    """One quick run (about half a minute) for the tests that read a whole report."""
    return run.measure(run.QUICK)


def test_quick_run_measures_every_stack_and_scenario(quick_report: run.Report) -> None:
    report = quick_report
    expected = {(stack.name, scenario.name) for stack in stacks.STACKS for scenario in stacks.SCENARIOS}
    assert {(cell.stack, cell.scenario) for cell in report.cells} == expected
    assert report.skipped == []
    assert set(report.concurrency) == {stack.name for stack in stacks.STACKS if stack.concurrent}
    assert set(report.scope) == {
        "depth 0: ns per enter/exit",
        "depth 0: ratio to ContextVar set/reset",
        "depth 30: ns per enter/exit",
        "depth 30: ratio to ContextVar set/reset",
    }
    assert report.memory["cycles"] == run.QUICK.memory_cycles
    text = run.render(report, run.QUICK)
    for stack, scenario in expected:
        assert f"| {stack} | {scenario} |" in text
    checks = report.checks()
    # one per cell, one more per pass-through cell, one depth check per stack,
    # one concurrency check per stack with concurrent=True (not the SDK ones), one memory check,
    # one outside-the-hosts check per installed HTTP stack, one for install()'s own cost,
    # one for start-up under run
    assert set(report.outside) == {stack.name for stack in stacks.INSTALLED if stack.hosts}
    assert report.install_ms is not None
    outside = len(report.outside) + 1
    assert len(checks) == len(expected) + 2 * len(stacks.STACKS) + len(report.concurrency) + 2 + outside
    assert set(report.startup) == {
        f"{p}: {w}, ms" for p in startup_run.PROGRAMS for w in ("plain", "under run", "gap")
    }
    assert text.endswith(("Budget holds.", "Budget does NOT hold."))


def test_main_prints_the_report_and_exits_by_the_budget(
    quick_report: run.Report, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the measures do is the other tests'; this one is about what main makes of them.
    configs: list[run.Config] = []
    startup_rounds: list[int] = []
    started = startup_report(0.03, 0.2, 0.5)
    assert started.holds()

    def measure(config: run.Config, log: object = None) -> run.Report:
        configs.append(config)
        return quick_report

    def measure_startup(rounds: int) -> startup.StartupReport:
        startup_rounds.append(rounds)
        return started

    monkeypatch.setattr(run, "measure", measure)
    monkeypatch.setattr(startup, "measure", measure_startup)
    status = run.main(["--quick"])
    assert configs == [run.QUICK]
    assert startup_rounds == [1]
    out = capsys.readouterr().out
    assert status == (0 if quick_report.holds() else 1)
    assert ("Budget holds." in out) is quick_report.holds()
    assert "| stack | scenario | package / bare | hand-written / bare | gap (median per round) |" in out
    assert "Start-up budget holds." in out
    started = startup_report(0.04, 0.2, 0.5)  # import over its limit: main fails whatever the rest says
    assert run.main(["--quick"]) == 1
    assert "Start-up budget does NOT hold." in capsys.readouterr().out


@pytest.mark.parametrize("installed", stacks.INSTALLED, ids=lambda s: s.name)
def test_an_installed_stack_beside_its_explicit_integration(installed: stacks.Stack) -> None:
    # `--beside`: the explicit integration takes the hand-written slot, so the gap is
    # installed - explicit; both send what the scenario expects (measure_cell checks it)
    explicit = next(s for s in stacks.STACKS if s.name == run.EXPLICIT_OF[installed.name])
    stack = run.beside(installed)
    scenario = next(s for s in stacks.SCENARIOS if s.name == "2 active + own")
    hand, package = stack.build("hand", scenario), explicit.build("package", scenario)
    try:
        assert type(hand) is type(package)  # the explicit integration's runner, not installed
        assert not isinstance(hand, stacks.InstalledRunner)
    finally:
        hand.close()
        package.close()
    cell = run.measure_cell(stack, scenario, run.QUICK)
    assert cell.package > 0
    assert cell.hand > 0
    table = run.render_beside([cell])
    assert f"| {installed.name} | 2 active + own | {cell.package:.3f} | {cell.hand:.3f} |" in table


def test_main_beside_prints_the_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = [run.Cell("httpx install() beside explicit", "hosts=", 1.05, 1.04, 0.01, False)]
    configs: list[run.Config] = []

    def measure_beside(config: run.Config, log: object = None) -> list[run.Cell]:
        configs.append(config)
        return cells

    monkeypatch.setattr(run, "measure_beside", measure_beside)
    assert run.main(["--quick", "--beside"]) == 0
    assert configs == [run.QUICK]
    assert "| httpx install() | hosts= | 1.050 | 1.040 | +0.010 |" in capsys.readouterr().out


@pytest.mark.parametrize("scenario", stacks.SCENARIOS, ids=lambda s: s.name)
@pytest.mark.parametrize("stack", stacks.STACKS, ids=lambda s: s.name)
def test_package_and_hand_written_injector_send_the_same_header(
    stack: stacks.Stack, scenario: stacks.Scenario
) -> None:
    # The comparison is only fair if both do the same job; measure_cell checks this
    # too, here it is pinned down against the expected values. On an installed stack the
    # variants run side by side with the installation on, as in a cell.
    runners = {variant: stack.build(variant, scenario) for variant in stacks.VARIANTS}
    try:
        with stacks.running(runners), betas(*(name for scope in scenario.scopes for name in scope)):
            for variant in ("package", "bare", "hand", "package"):
                runners[variant].run(2)
                assert runners[variant].sent == (scenario.own if variant == "bare" else scenario.expected)
    finally:
        for runner in runners.values():
            runner.close()


@pytest.mark.parametrize("stack", stacks.INSTALLED, ids=lambda s: s.name)
def test_an_installed_stacks_other_variants_run_the_code_they_run_uninstalled(stack: stacks.Stack) -> None:
    runners = {variant: stack.build(variant, stacks.SCENARIOS[1]) for variant in stacks.VARIANTS}
    classes = {variant: [type(obj) for obj in runner.objects] for variant, runner in runners.items()}
    moved: list[tuple[type, type, dict[str, object], dict[str, object]]] = []
    try:
        with stacks.running(runners):
            assert [type(obj) for obj in runners["package"].objects] == classes["package"]
            for variant in ("bare", "hand"):
                assert classes[variant]
                for obj, before in zip(runners[variant].objects, classes[variant], strict=True):
                    held = {
                        name: value for name, value in vars(type(obj)).items() if not name.startswith("__")
                    }
                    installed = {name: inspect.getattr_static(before, name, None) for name in held}
                    moved.append((type(obj), before, held, installed))
    finally:
        for runner in runners.values():
            runner.close()
    assert moved
    for cls, before, held, installed in moved:
        assert cls.__bases__ == (before,)
        assert held, before  # install() patched something on every class the requests go through
        for name, value in held.items():
            assert value is inspect.getattr_static(before, name, None), (before, name)  # as uninstalled
            assert value is not installed[name], (before, name)  # not what the installation put there


@pytest.mark.parametrize("scenario", stacks.SCENARIOS, ids=lambda s: s.name)
@pytest.mark.parametrize("stack", stacks.STACKS, ids=lambda s: s.name)
def test_package_variant_is_built_with_the_scenarios_settings(
    stack: stacks.Stack, scenario: stacks.Scenario
) -> None:
    # drop_rejected changes no header while nothing is rejected, so the check above
    # cannot see whether it was passed; the integration's settings can.
    runners = {variant: stack.build(variant, scenario) for variant in stacks.VARIANTS}
    for runner in runners.values():
        runner.close()
    assert runners["bare"].integration is None
    assert runners["hand"].integration is None
    integration = runners["package"].integration
    hosts = scenario.hosts if stack.hosts else None
    assert getattr(integration, "rules", None) == Rules(scenario.betas, hosts, scenario.drop_rejected)


def test_scenarios_include_drop_rejected_and_the_sdk_stacks() -> None:
    drop = [s for s in stacks.SCENARIOS if s.drop_rejected]
    assert [s.name for s in drop] == ["drop_rejected"]
    # the "2 active + own" request with the option on: the two cells differ by it alone
    two_active = next(s for s in stacks.SCENARIOS if s.name == "2 active + own")
    assert drop[0] == dataclasses.replace(two_active, name="drop_rejected", drop_rejected=True)
    sdk = [s for s in stacks.STACKS if s.requires == "anthropic"]
    assert [s.name for s in sdk] == [
        "anthropic BetaMiddleware",
        "anthropic async BetaMiddleware",
        "anthropic install()",
    ]
    assert not any(s.hosts for s in sdk)


def test_budget_checks_fail_on_a_gap() -> None:
    cells = [run.Cell("s", stacks.PASS_THROUGH, 1.05, 1.0, 0.05), run.Cell("s", "x", 1.5, 1.0, 0.5)]
    report = run.Report(cells=cells)
    assert [ok for _, ok, _ in report.checks()] == [False, False, False]
    assert not report.holds()
    worst = report.worst_gap()
    assert worst is not None
    assert worst.scenario == "x"
    report = run.Report(cells=[run.Cell("s", stacks.PASS_THROUGH, 1.005, 1.0, 0.005)])
    assert report.holds()
    # the gap is the cell's own figure (the median of per-round gaps), not package - hand
    assert not run.Report(cells=[run.Cell("s", "x", 1.01, 1.0, 0.025)]).holds()


def test_a_chained_stack_idles_against_the_hand_written_middleware() -> None:
    # The SDK runs its middleware chain only once it holds one: any middleware pays it.
    chained = run.Report(cells=[run.Cell("sdk", stacks.PASS_THROUGH, 1.035, 1.03, 0.005, chained=True)])
    assert chained.holds()
    assert "package <= hand + 0.01" in chained.checks()[0][0]
    busy = run.Cell("sdk", stacks.PASS_THROUGH, 1.045, 1.03, 0.015, chained=True)
    assert not run.Report(cells=[busy]).holds()
    assert not run.Report(cells=[run.Cell("plain", stacks.PASS_THROUGH, 1.035, 1.03, 0.005)]).holds()
    assert [s.chained for s in stacks.STACKS] == [s.requires == "anthropic" for s in stacks.STACKS]


def test_the_variants_take_every_place_and_follow_each_other_equally_often() -> None:
    # Turns run the orders one after another, each order repeated within a round.
    places: dict[tuple[str, int], int] = {}
    after: dict[tuple[str, str], int] = {}
    for order in run.ORDERS:
        for place, variant in enumerate(order):
            places[variant, place] = places.get((variant, place), 0) + 1
            before = order[place - 1]  # the turn before, wrapping round within the round
            after[variant, before] = after.get((variant, before), 0) + 1
    assert set(places) == {(v, p) for v in stacks.VARIANTS for p in range(len(stacks.VARIANTS))}
    assert len(set(places.values())) == 1
    assert set(after) == {(v, w) for v in stacks.VARIANTS for w in stacks.VARIANTS if v != w}
    assert len(set(after.values())) == 1


@pytest.mark.parametrize(("scenario", "rounds"), [(stacks.SCENARIOS[0], 24), (stacks.SCENARIOS[1], 6)])
def test_pass_through_cells_take_more_rounds(scenario: stacks.Scenario, rounds: int) -> None:
    # Half the slack of the gap needs four times the rounds for the same confidence.
    made: dict[str, int] = {}

    def build(variant: stacks.Variant, scenario: stacks.Scenario) -> stacks.Runner:
        def request() -> None:
            made[variant] = made.get(variant, 0) + 1

        runner = stacks.Runner(request, lambda: None)
        runner.sent = scenario.own if variant == "bare" else scenario.expected
        return runner

    config = run.Config(rounds=6, pass_through_factor=4, requests=10, chunk=10)
    assert config.rounds_for(scenario) == rounds
    run.measure_cell(stacks.Stack("fake", "fake", build), scenario, config)
    warm_up = 10 // 3
    assert made == dict.fromkeys(stacks.VARIANTS, warm_up + rounds * 10)


def test_startup_measures_every_variant_and_checks_the_budget() -> None:
    report = startup.measure(rounds=1, new_names=10)
    assert set(report.rounds) == set(startup.VARIANTS)
    assert all(len(times) == 1 and times[0] > 0 for times in report.rounds.values())
    assert report.new_name_first_ms > 0
    assert report.new_name_each_ms > 0
    text = startup.render(report)
    for name in startup.VARIANTS:
        assert f"| {name} |" in text
    assert len(report.checks()) == 4
    assert text.endswith(("Start-up budget holds.", "Start-up budget does NOT hold."))


def startup_report(import_s: float, command_s: float, each_ms: float) -> startup.StartupReport:
    """A start-up report with these figures (seconds per process, ms per new name)."""
    rounds = {"python -c pass": [0.02, 0.03, 0.02], "import beta_middleware": [import_s] * 3}
    rounds |= {"check": [command_s] * 3, "known": [command_s] * 3}
    return startup.StartupReport(rounds, new_name_first_ms=5.0, new_name_each_ms=each_ms)


def test_startup_budget_lines() -> None:
    assert startup_report(0.03, 0.2, 0.5).holds()
    assert [ok for _, ok, _ in startup_report(0.04, 0.2, 0.5).checks()] == [False, True, True, True]
    assert [ok for _, ok, _ in startup_report(0.03, 0.4, 0.5).checks()] == [True, False, False, True]
    assert [ok for _, ok, _ in startup_report(0.03, 0.2, 1.5).checks()] == [True, True, True, False]
    assert startup_report(0.04, 0.2, 0.5).over_base("import beta_middleware") == pytest.approx((20.0, 2.0))


def test_main_runs_only_the_startup_part_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    status = run.main(["--startup", "--quick"])
    out = capsys.readouterr().out
    assert ("Start-up budget holds." in out) is (status == 0)
    assert "| stack | scenario |" not in out


@pytest.mark.parametrize(("rounds", "processes", "spread"), [(108, 6, 6), (24, 6, 4), (2, 6, 1), (108, 1, 1)])
def test_the_rounds_are_spread_over_processes_that_each_take_every_order(
    rounds: int, processes: int, spread: int
) -> None:
    shares = run.Config(rounds=rounds, processes=processes).shares()
    assert len(shares) == spread
    assert [first for first, _ in shares] == list(itertools.accumulate([0] + [n for _, n in shares[:-1]]))
    assert sum(n for _, n in shares) == rounds
    assert spread == 1 or all(n >= len(run.ORDERS) for _, n in shares)


def test_a_process_taking_later_rounds_goes_on_with_the_orders() -> None:
    # rounds 6 to 11 of a cell, measured in a process of their own, take the orders a
    # single process would have given them
    seen: list[str] = []

    def build(variant: stacks.Variant, scenario: stacks.Scenario) -> stacks.Runner:
        runner = stacks.Runner(lambda: seen.append(variant), lambda: None)
        runner.sent = scenario.own if variant == "bare" else scenario.expected
        return runner

    config = run.Config(rounds=6, pass_through_factor=1, requests=3, chunk=3)
    scenario = stacks.SCENARIOS[1]
    for first in (0, 6, 7):
        seen.clear()
        run.cell_rounds(stacks.Stack("fake", "fake", build), scenario, config, first)
        turns = seen[3:][::3]  # after the warm-up, one entry per turn (3 requests each)
        orders = [tuple(turns[i : i + 3]) for i in range(0, len(turns), 3)]
        assert orders == [run.ORDERS[(first + i) % len(run.ORDERS)] for i in range(6)]


def test_jobs_spread_over_processes_pool_their_rounds() -> None:
    # Two fresh processes, each measuring every job; the rounds come back pooled in job order.
    config = dataclasses.replace(run.QUICK, rounds=12, processes=2)
    jobs = [
        run.Job("cell", "requests BetaAdapter", "hosts="),
        run.Job("outside", "requests install()"),
        run.Job("beside", "requests install()", "pass-through"),
    ]
    logged: list[str] = []
    pooled = run.measure_jobs(jobs, config, logged.append)
    assert [[len(rounds) for rounds in job] for job in pooled] == [[12, 12], [12], [12, 12]]
    assert all(ratio > 0 for job in pooled for rounds in job for ratio in rounds)
    assert [line.split(" done")[0] for line in logged] == ["  process 1 of 2", "  process 2 of 2"]
    alone = run.measure_jobs(jobs[:1], dataclasses.replace(config, processes=1))  # in this process
    assert [len(rounds) for rounds in alone[0]] == [12, 12]


def test_a_worker_runs_its_jobs_from_the_rounds_it_is_given() -> None:
    spec = {
        "config": {**dataclasses.asdict(run.QUICK), "rounds": 2},
        "first": 4,
        "jobs": [dataclasses.asdict(run.Job("cell", "httpx BetaTransport", "drop_rejected"))],
    }
    logged: list[str] = []
    ((package, hand),) = json.loads(run.worker(json.dumps(spec), logged.append))
    assert len(package) == len(hand) == 2
    assert logged == [f"    cell    {'httpx BetaTransport':28} drop_rejected"]
