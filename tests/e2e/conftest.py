"""Fixtures that run the real stack, one Compose project per backend."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from .load import FIGURES
from .stack import BACKENDS, ROOT, Stack, StackFactory, base_image, build_images, running_stack

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/e2e, so `-m 'not e2e'` selects the fast tests."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def images() -> None:
    """Both images, built once for the whole session from the current tree."""
    build_images(base_image())


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development certificate and key (scripts/make-certs) for TLS=on stacks."""
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run([ROOT / "scripts" / "make-certs", directory], check=True, capture_output=True, timeout=60)
    return directory


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn, for a test that starts stacks of its own (new_stack)."""
    return str(request.param)


@pytest.fixture
def new_stack(backend: str, images: None) -> Iterator[StackFactory]:
    """new_stack(*files, start=True, **settings): a stack of the test's own, down after the test."""
    with contextlib.ExitStack() as exits:
        yield StackFactory(backend, exits)


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request: pytest.FixtureRequest, images: None) -> Iterator[Stack]:
    """The stack on one backend, shared by every test that only observes it."""
    with running_stack(request.param) as running:
        yield running


@pytest.fixture(params=BACKENDS)
def own_stack(request: pytest.FixtureRequest, images: None) -> Iterator[Stack]:
    """A stack of the test's own, for tests that stop, kill or restart parts of it."""
    with running_stack(request.param) as running:
        yield running


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach `docker compose logs` of every stack a failed test used to its report.

    Stacks a test starts inside a running_stack block get their logs from it.
    """
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, StackFactory):
                stacks: tuple[object, ...] = tuple(value.stacks)
            else:
                stacks = value if isinstance(value, tuple) else (value,)
            for candidate in stacks:
                if isinstance(candidate, Stack):
                    report.sections.append((f"docker compose logs ({candidate.project})", candidate.logs()))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the load tests measured, after the results (README, Reliability, quotes them)."""
    if not FIGURES:
        return
    terminalreporter.section("figures measured under load")
    for line in FIGURES:
        terminalreporter.line(line)
    results = ROOT / "test-results"
    results.mkdir(exist_ok=True)
    (results / "figures.txt").write_text("\n".join(FIGURES) + "\n")
