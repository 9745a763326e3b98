"""The overhead benchmark of beta_middleware: run it with `python -m benchmarks` (see docs/performance.md).

`stacks` describes what is measured (one entry per HTTP stack, one per scenario);
`run` measures it - in one process, variants alternating round by round, reporting
medians of per-round ratios - and checks the overhead budget.
"""
