"""What every test session leaves in test-results/: where its time went, and the figures its load
tests measured. A pytest plugin (pyproject.toml loads it), run where the reports arrive: the only
process without pytest-xdist, the controller with it (the workers' reports come there whole).

    test-results/durations.txt   the session's wall time, the 25 slowest tests, the time by module
    test-results/figures.txt     what the load tests measured (tests/e2e/load.py, figure())

Beside a JUnit report named junit-NAME.xml (a CI job's, the arm64 run's), they are
durations-NAME.txt and figures-NAME.txt: one session's do not overwrite another's.

A test's time is its setup, call and teardown: a stack its fixture starts is counted in the
first test that uses it on its worker.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[1] / "test-results"
# The user property a test's measured figures travel in (tests/e2e/conftest.py puts them there).
FIGURE = "figure"
SLOWEST = 25


class Results:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.seconds: dict[str, float] = defaultdict(float)
        self.figures: list[str] = []
        # pytest-xdist: each worker's tests, and when its last one ended (seconds into the run).
        self.workers: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] += report.duration
        if report.when == "teardown" and (node := getattr(report, "node", None)):
            worker = self.workers[node.gateway.id]
            worker[0] += 1
            worker[1] = time.monotonic() - self.started
        # Every phase's report carries the test's properties; its teardown's has them all.
        if report.when == "teardown":
            self.figures += [str(value) for name, value in report.user_properties if name == FIGURE]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
        if not self.seconds:
            return
        RESULTS.mkdir(exist_ok=True)
        report = getattr(config.option, "xmlpath", None)
        suffix = Path(report).stem.removeprefix("junit") if report else ""
        if self.figures:
            terminalreporter.section("figures measured under load")
            for line in self.figures:
                terminalreporter.line(line)
            (RESULTS / f"figures{suffix}.txt").write_text("\n".join(self.figures) + "\n")
        text = self.durations(time.monotonic() - self.started, getattr(config.option, "numprocesses", None))
        (RESULTS / f"durations{suffix}.txt").write_text(text)
        terminalreporter.section(f"where the time went (test-results/durations{suffix}.txt)")
        for line in text.splitlines()[:3]:
            terminalreporter.line(line)

    def durations(self, wall: float, workers: object) -> str:
        tests = {nodeid.split("@", 1)[0]: seconds for nodeid, seconds in self.seconds.items()}
        by_module: dict[str, list[float]] = defaultdict(list)
        for nodeid, seconds in tests.items():
            by_module[nodeid.split("::", 1)[0]].append(seconds)
        total = sum(tests.values())
        lines = [
            f"wall time {wall:.0f} s for {len(tests)} tests; their own times add up to {total:.0f} s "
            f"(x{total / wall if wall else 0:.1f}, pytest-xdist workers: {workers or 'none'})",
            "",
            f"the {SLOWEST} slowest tests (s, setup + call + teardown):",
        ]
        for nodeid, seconds in sorted(tests.items(), key=lambda item: -item[1])[:SLOWEST]:
            lines.append(f"  {seconds:7.1f}  {nodeid}")
        if self.workers:
            lines += ["", "pytest-xdist workers (tests, the last one done at s):"]
            lines += [
                f"  {name}: {count} tests, done at {done:.0f} s" for name, (count, done) in sorted(self.workers.items())
            ]
        lines += ["", "by module (s, tests):"]
        for module, times in sorted(by_module.items(), key=lambda item: -sum(item[1])):
            lines.append(f"  {sum(times):7.1f}  {len(times):4d}  {module}")
        return "\n".join(lines) + "\n"


def pytest_configure(config: pytest.Config) -> None:
    # Not in an xdist worker: its reports go to the controller, which writes the results.
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Results(), "stack-results")
