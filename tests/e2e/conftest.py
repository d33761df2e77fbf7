"""Fixtures that run the real stack, one Compose project per backend."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from . import pod
from .load import FIGURES
from .pod import Pod, running_pod
from .stack import (
    ACME_OVERLAY,
    BACKENDS,
    METRICS_FILES,
    PLATFORM,
    ROOT,
    SETTINGS,
    Site,
    Stack,
    StackFactory,
    base_image,
    build_images,
    compose,
    running_stack,
)

HERE = Path(__file__).parent
T = TypeVar("T")


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
def sboms(images: None) -> dict[str, Path]:
    """The SBOM of each image the suite built (scripts/sbom.py), kept with the test results:
    {image: its CycloneDX JSON file}."""
    # The production images: not Pebble's, a test server.
    production = (*METRICS_FILES, ROOT / ACME_OVERLAY)
    config = compose("fns-e2e", {**os.environ, **SETTINGS}, "config", "--images", files=production)
    names = sorted(set(config.stdout.split()))
    out = ROOT / "test-results" / "sbom"
    result = subprocess.run(
        [sys.executable, ROOT / "scripts" / "sbom.py", "--out", out, *names],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = (line.removeprefix("sbom: ").rsplit(" ", 1) for line in result.stdout.splitlines())
    return {image: Path(path) for path, image in lines}


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


@contextlib.contextmanager
def once_per_backend(start: Callable[[str], contextlib.AbstractContextManager[T]]) -> Iterator[Callable[[str], T]]:
    """get(backend): what `start(backend)` yields, started on first use, all stopped at the end."""
    with contextlib.ExitStack() as exits:
        started: dict[str, T] = {}

        def get(backend: str) -> T:
            if backend not in started:
                started[backend] = exits.enter_context(start(backend))
            return started[backend]

        yield get


@pytest.fixture(scope="session")
def compose_stacks(images: None) -> Iterator[Callable[[str], Stack]]:
    """compose_stacks(backend): the compose stack on that backend, started once per session."""
    with once_per_backend(running_stack) as get:
        yield get


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request: pytest.FixtureRequest, compose_stacks: Callable[[str], Stack]) -> Stack:
    """The stack on one backend, shared by every test that only observes it."""
    return compose_stacks(request.param)


@pytest.fixture(scope="session")
def pod_images(images: None) -> dict[str, str]:
    """The images the suite built, copied into podman's store: {Docker's name: podman's name}."""
    if reason := pod.available():
        pytest.skip(reason)
    config = json.loads(compose("fns-e2e", {**os.environ, **SETTINGS}, "config", "--format", "json").stdout)
    return pod.load_images({service["image"] for service in config["services"].values()})


@pytest.fixture(scope="module")
def pods(pod_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Pod]]:
    """pods(backend): the Kubernetes Deployment under podman on that backend, once per module (the
    Pods go when the black-box tests are done, before the load tests)."""
    with once_per_backend(
        lambda backend: running_pod(backend, pod_images, tmp_path_factory.mktemp(f"pod-{backend}"))
    ) as get:
        yield get


# Where the black-box tests run: the compose stack and the Kubernetes Pod, on each backend; or,
# with E2E_BASE_URL set, a deployment of yours (E2E_BACKEND names its server).
if os.environ.get("E2E_BASE_URL"):
    SITES: tuple[str, ...] = (f"url-{os.environ.get('E2E_BACKEND', 'uwsgi')}",)
else:
    # Under another platform's emulation (E2E_PLATFORM), the compose stack only.
    kinds = ("compose",) if PLATFORM else ("compose", "pod")
    SITES = tuple(f"{kind}-{backend}" for kind in kinds for backend in BACKENDS)


@pytest.fixture(scope="module", params=SITES)
def site(request: pytest.FixtureRequest) -> Site:
    """The stack as a client sees it (a base URL), wherever it runs."""
    kind, backend = str(request.param).split("-")
    if kind == "url":
        return Site(backend, os.environ["E2E_BASE_URL"].rstrip("/"))
    getter: Callable[[str], Site] = request.getfixturevalue(f"{kind}_stacks" if kind == "compose" else "pods")
    return getter(backend)


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
                elif isinstance(candidate, Pod):
                    report.sections.append((f"podman logs ({candidate.pod})", candidate.logs()))
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
