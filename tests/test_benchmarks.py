"""The benchmark's code paths in a tiny configuration, so it cannot rot. No timings are asserted."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import instructions, run, stacks, startup, startup_run
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
    started = startup_report(0.03, 0.2, 0.05)
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
    started = startup_report(0.04, 0.2, 0.05)  # import over its limit: main fails whatever the rest says
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


def test_a_cell_over_its_limit_by_less_than_its_noise_is_reported_not_failed() -> None:
    within = run.Cell("s", "x", 1.03, 1.005, 0.025, gap_noise=0.006)
    report = run.Report(cells=[within])
    assert report.holds()
    ((_, ok, figures),) = report.checks()
    assert ok
    assert figures == "gap +0.025 ± 0.006 (within its noise)"
    assert not run.Report(cells=[run.Cell("s", "x", 1.03, 1.005, 0.025, gap_noise=0.004)]).holds()
    idle = run.Cell("s", stacks.PASS_THROUGH, 1.012, 1.0, 0.0, package_noise=0.003)
    assert run.Report(cells=[idle]).checks()[0][1:] == (True, "1.012 ± 0.003 (within its noise)")
    assert "| s | pass-through | 1.012 ± 0.003 | 1.000 | +0.000 ± 0.000 |" in run.Report(cells=[idle]).table()


def test_outside_the_hosts_is_held_to_its_limit_beyond_its_noise() -> None:
    report = run.Report(outside={"httpx install()": 1.017}, outside_noise={"httpx install()": 0.01})
    assert report.checks()[0][1:] == (True, "1.017 ± 0.010 (within its noise)")
    assert not run.Report(outside={"httpx install()": 1.017}).holds()


def test_a_medians_noise_comes_from_the_rounds_interquartile_range() -> None:
    assert run.noise([0.01] * 12) == 0.0
    assert run.noise([1.0, 3.0]) == 2.0  # too few rounds for quartiles: their range
    rounds = [0.010, 0.012, 0.008, 0.011, 0.009, 0.010, 0.013, 0.007]
    preempted = [*rounds[:-1], 0.5]  # one round far off moves the noise little
    assert run.noise(preempted) == pytest.approx(run.noise(rounds), rel=0.3)
    assert run.noise(rounds * 4) == pytest.approx(run.noise(rounds) / 2, rel=0.3)  # 1/sqrt(rounds)
    cell = run.pooled_cell(stacks.STACKS[0], stacks.SCENARIOS[1], [1.0 + r for r in rounds], [1.0] * 8)
    assert cell.gap_noise == pytest.approx(run.noise(rounds))


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
    assert len(report.checks()) == 5
    assert text.endswith(("Start-up budget holds.", "Start-up budget does NOT hold."))


def startup_report(
    import_s: float, command_s: float, each_ms: float, first_ms: float = 2.0
) -> startup.StartupReport:
    """A start-up report with these figures (seconds per process, ms per new name)."""
    rounds = {"python -c pass": [0.02, 0.03, 0.02], "import beta_middleware": [import_s] * 3}
    rounds |= {"check": [command_s] * 3, "known": [command_s] * 3}
    return startup.StartupReport(rounds, new_name_first_ms=first_ms, new_name_each_ms=each_ms)


def test_startup_budget_lines() -> None:
    assert startup_report(0.03, 0.2, 0.05).holds()
    assert [ok for _, ok, _ in startup_report(0.04, 0.2, 0.05).checks()] == [False, True, True, True, True]
    assert [ok for _, ok, _ in startup_report(0.03, 0.4, 0.05).checks()] == [True, False, False, True, True]
    assert [ok for _, ok, _ in startup_report(0.03, 0.2, 0.15).checks()] == [True, True, True, True, False]
    assert [ok for _, ok, _ in startup_report(0.03, 0.2, 0.05, 6.0).checks()] == [
        True,
        True,
        True,
        False,
        True,
    ]
    assert startup_report(0.04, 0.2, 0.05).over_base("import beta_middleware") == pytest.approx((20.0, 2.0))


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


# The instruction count (benchmarks/instructions.py): its arithmetic, limits and tables on
# figures given here, its child process run natively, and one small count under valgrind.

MILLION = 1_000_000.0


def counted(
    cells: dict[tuple[str, str], dict[stacks.Variant, list[float]]], layouts: int = 1
) -> instructions.Result:
    """A result holding these counts (instructions per request, one per layout)."""
    plan = instructions.Plan(cells=tuple(cells), layouts=layouts)
    return instructions.Result(plan, dict(cells))


def test_a_count_per_request_is_the_difference_of_two_runs_over_their_difference_in_requests() -> None:
    # start-up, imports and warm-up are in both totals and cancel
    assert instructions.per_request(5_000_000 + 2 * 900, 5_000_000 + 52 * 900, 2, 52) == 900.0
    with pytest.raises(ValueError, match="more requests"):
        instructions.per_request(10, 20, 5, 5)


def test_a_figure_is_the_median_over_the_layouts_and_its_spread() -> None:
    figure = instructions.figure([3.0, 1.0, 2.0, 10.0, 2.5])
    assert (figure.median, figure.spread, figure.values) == (2.5, 9.0, (3.0, 1.0, 2.0, 10.0, 2.5))
    assert instructions.figure([4.0]).spread == 0.0
    with pytest.raises(ValueError, match="no values"):
        instructions.figure([])


def test_figures_are_shares_of_a_bare_request_taken_per_layout() -> None:
    result = counted(
        {
            ("httpx BetaTransport", "1 scope name"): {
                "bare": [MILLION, 2 * MILLION],
                "hand": [1.05 * MILLION, 2.1 * MILLION],
                "package": [1.06 * MILLION, 2.12 * MILLION],
            }
        },
        layouts=2,
    )
    (cell,) = result.cells()
    assert cell.bare.median == 1.5 * MILLION
    assert cell.hand.median == pytest.approx(0.05)
    assert cell.ours.median == pytest.approx(0.01)
    assert cell.ours.spread == pytest.approx(0.0)  # the same share in both layouts
    assert cell.over_explicit is None


@pytest.mark.parametrize(
    ("scenario", "over", "holds"),
    [
        (stacks.PASS_THROUGH, 7_500, True),  # +0.75% over the do-nothing forwarder: the limit
        (stacks.PASS_THROUGH, 7_600, False),
        ("1 scope name", 15_000, True),  # +1.5% over the injector
        ("1 scope name", 15_100, False),
        ("hosts=", 15_000, True),  # over the injector with a host check
        ("outside hosts=", 15_100, False),
    ],
)
def test_the_gate_holds_a_cell_to_its_limit(scenario: str, over: float, holds: bool) -> None:
    bare, hand = MILLION, MILLION + 20_000
    result = counted(
        {("httpx2 BetaTransport", scenario): {"bare": [bare], "hand": [hand], "package": [hand + over]}}
    )
    (check,) = result.checks()
    assert check.holds is holds
    assert result.holds() is holds
    assert check.figure.median == pytest.approx(over / bare)
    reference = (
        "forwarder"
        if scenario == stacks.PASS_THROUGH
        else "host check"
        if "hosts" in scenario
        else "injector"
    )
    assert reference in check.what


def test_the_gate_takes_the_median_over_the_layouts() -> None:
    # one layout far over the limit does not fail a cell whose median holds; the spread shows it
    layouts = [0.001, 0.002, 0.03, 0.0, 0.001]
    result = counted(
        {
            ("requests BetaAdapter", "1 scope name"): {
                "bare": [MILLION] * 5,
                "hand": [MILLION] * 5,
                "package": [MILLION * (1 + share) for share in layouts],
            }
        },
        layouts=5,
    )
    (check,) = result.checks()
    assert check.holds
    assert check.figure.median == pytest.approx(0.001)
    assert check.figure.spread == pytest.approx(0.03)


def test_an_installed_cell_is_held_to_its_explicit_one_whose_bare_and_hand_it_shares() -> None:
    explicit: dict[stacks.Variant, list[float]] = {
        "bare": [MILLION],
        "hand": [MILLION + 10_000],
        "package": [MILLION + 12_000],
    }
    installed: dict[stacks.Variant, list[float]] = {"package": [MILLION + 19_500]}
    result = counted(
        {("httpx install()", "1 scope name"): installed, ("httpx BetaTransport", "1 scope name"): explicit}
    )
    cells = {cell.stack: cell for cell in result.cells()}
    assert cells["httpx install()"].ours.median == pytest.approx(0.0095)  # over the explicit cell's hand
    over = cells["httpx install()"].over_explicit
    assert over is not None
    assert over.median == pytest.approx(0.0075)
    assert [(check.what.split(": ")[1], check.holds) for check in result.checks()] == [
        ("ours over the injector", True),
        ("installed over explicit", True),  # +0.75%: the limit
        ("ours over the injector", True),
    ]
    installed["package"] = [MILLION + 19_600]
    assert not result.holds()


def test_the_tables_show_every_cell_the_summary_and_the_gate() -> None:
    result = counted(
        {
            ("httpx2 BetaTransport", "1 scope name"): {
                "bare": [500_000.0],
                "hand": [520_000.0],
                "package": [522_000.0],
            },
            ("httpx2 BetaTransport", stacks.PASS_THROUGH): {
                "bare": [500_000.0],
                "hand": [501_000.0],
                "package": [500_500.0],
            },
            ("httpx2 install()", stacks.PASS_THROUGH): {"package": [502_000.0]},
        }
    )
    text = instructions.render(result)
    assert "| httpx2 BetaTransport | 1 scope name | 500k | +4.00% | +0.40% | 0.00% | - | - |" in text
    assert "| httpx2 install() | pass-through | 500k | +0.20% | +0.20% | 0.00% | +0.30% | 0.00% |" in text
    assert "| httpx2 BetaTransport | 500k | +4.00% | +0.40% | - | - | -0.10% | +0.20% |" in text
    assert (
        "  ok   httpx2 install(), pass-through: installed over explicit: +0.30% (spread 0.00%) <= +0.75%"
        in text
    )
    assert text.endswith("Gate holds (4 limits).")
    assert json.loads(json.dumps(result.to_json()))["checks"][0]["holds"] is True
    page = instructions.markdown(result, "a machine")
    assert page.startswith(instructions.summary(result))
    assert instructions.table(result) in page
    assert page.endswith("Gate holds (4 limits).\n\nCounted on a machine.")
    result.counts["httpx2 install()", stacks.PASS_THROUGH]["package"] = [505_000.0]
    page = instructions.markdown(result, "a machine")
    assert "Gate does NOT hold: 2 of 4 limits exceeded.\n" in page
    assert "- FAIL httpx2 install(), pass-through: installed over explicit: +0.90%" in page


def test_the_docs_table_is_replaced_between_its_markers(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    begin, end = "<!-- instructions table: begin -->", "<!-- instructions table: end -->"
    page.write_text(f"# Title\n\n{begin}\nold\n{end}\n\nAfter.\n")
    instructions.update_docs(page, "| new |")
    assert page.read_text() == f"# Title\n\n{begin}\n| new |\n{end}\n\nAfter.\n"
    page.write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        instructions.update_docs(page, "| new |")


def test_the_cells_and_the_gates_cells() -> None:
    every = instructions.all_cells()
    assert len(every) == len(set(every))
    # every stack in every counted scenario, but no hosts= cells where the integration takes none
    for stack in stacks.STACKS:
        mine = {scenario for name, scenario in every if name == stack.name}
        hosts = {s.name for s in instructions.SCENARIOS_COUNTED if s.hosts is not None}
        assert mine == {s.name for s in instructions.SCENARIOS_COUNTED} - (set() if stack.hosts else hosts)
    assert set(instructions.GATE_CELLS) <= set(every)
    gated = {stack for stack, _ in instructions.GATE_CELLS}
    assert {"requests", "httpx", "httpx2", "anthropic"} == {
        s.requires for s in stacks.STACKS if s.name in gated
    }
    assert {s.name for s in stacks.INSTALLED if s.name in gated} == {
        "requests install()",
        "httpx install()",
        "httpx2 install()",
        "anthropic install()",
    }
    for name, scenario in instructions.GATE_CELLS:  # installed cells beside their explicit ones
        if name in instructions.EXPLICIT_OF:
            assert (instructions.EXPLICIT_OF[name], scenario) in instructions.GATE_CELLS
    assert instructions.EXPLICIT_OF == run.EXPLICIT_OF


def test_the_counted_child_runs_each_variant_in_processes_of_its_own() -> None:
    # natively (no valgrind): what the counted process does, its records, its header checks
    cells = [
        ("httpx2 BetaTransport", "hosts="),
        ("httpx2 install()", "hosts="),
        ("httpx2 install()", "outside hosts="),
    ]
    plan = instructions.Plan(cells=tuple(cells), layouts=2, short=1, extra=2, warm=2, fork_layouts=True)
    spec = {**dataclasses.asdict(plan), "cells": cells, "layouts": [0, 1]}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--instructions", "--child"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len({r["pid"] for r in records}) == len(records)
    seen = {(r["layout"], r["stack"], r["scenario"], r["variant"], r["requests"]) for r in records}
    want = set()
    for layout in (0, 1):
        for variant in stacks.VARIANTS:  # the explicit cell; its installed one shares bare and hand
            want |= {(layout, "httpx2 BetaTransport", "hosts=", variant, n) for n in (1, 3)}
            want |= {(layout, "httpx2 install()", "outside hosts=", variant, n) for n in (1, 3)}
        want |= {(layout, "httpx2 install()", "hosts=", "package", n) for n in (1, 3)}
    assert seen == want
    assert len(records) == len(want)


def test_a_cell_sending_the_wrong_header_fails_its_count() -> None:
    spec = {
        **dataclasses.asdict(instructions.Plan(cells=(), short=1, extra=1, warm=1)),
        "cells": [["httpx BetaTransport", "1 scope name"]],
        "layouts": [0],
    }
    program = (  # a scenario whose expected header is not what its requests send
        "import json, sys\n"
        "from benchmarks import instructions, stacks\n"
        "stacks.Scenario.expected = property(lambda self: 'nothing-like-it')\n"
        "instructions.child(json.loads(sys.stdin.read()), print)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], input=json.dumps(spec), capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "package in '1 scope name' sent 'ctx-0-2025-01-01', expected 'nothing-like-it'" in done.stderr


def test_without_valgrind_it_says_how_to_install_it_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VALGRIND", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no valgrind on it
    assert instructions.valgrind() is None
    assert run.main(["--instructions", "--gate"]) == 2
    assert "apt-get install valgrind" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="apt-get install valgrind"):
        instructions.count(instructions.Plan(cells=instructions.GATE_CELLS))
    monkeypatch.setenv("VALGRIND", str(tmp_path / "valgrind"))  # named, but not there
    assert instructions.valgrind() is None
    assert instructions.main(["--cell", "httpx BetaTransport", "hosts="]) == 2


def test_the_total_is_read_from_a_cachegrind_log() -> None:
    log = (
        "==4242== Cachegrind, a cache and branch-prediction profiler\n"
        "==4242== Command: python -m benchmarks\n==4242== \n"
        "==4242== I   refs:      1,234,567,890\n"
    )
    assert instructions.read_total(log) == 1_234_567_890
    with pytest.raises(ValueError, match="no instruction total"):
        instructions.read_total("==4242== Command: python\n")


def test_the_counted_processes_environment_fixes_the_hash_seed_and_varies_the_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COVERAGE_PROCESS_CONFIG", "{}")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = instructions.environment(3, "/cache")
    assert env["PYTHONHASHSEED"] == "0"
    assert env["PYTHONPYCACHEPREFIX"] == "/cache"
    assert len(env[instructions.PAD]) == 3 * instructions.PAD_STEP
    assert "COVERAGE_PROCESS_CONFIG" not in env  # a traced process would count the tracer
    assert "PYTHONDONTWRITEBYTECODE" not in env


@pytest.mark.skipif(
    instructions.valgrind() is None, reason="valgrind is not installed (apt-get install valgrind)"
)
def test_a_real_count_under_valgrind() -> None:
    # one cell, one layout, a few requests: the figures of a real count, positive and plausible
    plan = instructions.Plan(
        cells=(("httpx2 BetaTransport", "1 scope name"),), layouts=1, short=1, extra=3, warm=3
    )
    result = instructions.count(plan, jobs=1)
    ((key, variants),) = result.counts.items()
    assert key == ("httpx2 BetaTransport", "1 scope name")
    assert set(variants) == set(stacks.VARIANTS)
    assert all(100_000 < variants[v][0] < 5_000_000 for v in stacks.VARIANTS)  # an httpx2 request: ~0.5M
    (cell,) = result.cells()
    assert 0 < cell.hand.median < 0.2  # the injector's few lines cost something, not a request's worth
