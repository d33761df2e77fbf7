"""Fixtures that run the real stack, one Compose project per backend: a pytest plugin
(pyproject.toml loads it), so the stack's tests, an optional feature's and the app's own (app/tests)
all have them. A test that uses the images (the `images` or `app_images` fixture, or any fixture
built on them) is an end-to-end test, marked e2e (`-m 'not e2e'` leaves them out), as is one
marked so by hand (it reaches a stack some other way)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from xdist.scheduler import LoadScopeScheduling

from tests.fork import prepare_fork
from tests.results import FIGURE

from .load import FIGURES
from .stack import (
    APP_SETTINGS,
    BACKENDS,
    ROOT,
    SETTINGS,
    WORKER,
    Site,
    Stack,
    StackFactory,
    base_image,
    build_images,
    compose,
    feature_overlays,
    once_per_session,
    running_stack,
)

T = TypeVar("T")
# What makes a test end to end: it needs images built.
E2E_FIXTURES = {"images", "app_images"}


# Where the workers leave the groups for the controller's scheduler: in the session's temp dir.
GROUPS = "xdist-groups.json"


class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]  # untyped
    """pytest-xdist's scheduling by scope, the scopes being the groups the workers found (a
    module and its stack's backend): the tests sharing a module's stack run on one worker, every
    other test on any. (xdist's own loadgroup renames node IDs, which pytest 9 no longer allows.)"""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.groups_file = config._tmp_path_factory.getbasetemp() / GROUPS  # type: ignore[attr-defined]
        self.groups: dict[str, str] | None = None
        # In the order collected (the slow ones first: pytest_collection_modifyitems), not by size.
        config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        if self.groups is None:  # read once all workers have collected
            self.groups = json.loads(self.groups_file.read_text()) if self.groups_file.exists() else {}
        return self.groups.get(nodeid, nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> GroupScheduling:
    return GroupScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the end-to-end tests, so `-m 'not e2e'` selects the fast ones; group the tests that
    share a module's stack for the scheduler (on one pytest-xdist worker); run a test marked
    single_backend on the first backend only. Their reports say both, for .ci/check-e2e."""
    elsewhere = []
    groups = {}
    for item in items:
        if ROOT / "app" in item.path.parents:
            item.add_marker(pytest.mark.app)
        if not (item.get_closest_marker("e2e") or E2E_FIXTURES & set(getattr(item, "fixturenames", ()))):
            continue
        item.add_marker(pytest.mark.e2e)
        item.user_properties.append(("e2e", ""))
        if group := module_group(item):
            groups[item.nodeid] = group
        if marker := item.get_closest_marker("single_backend"):
            if params(item) & set(BACKENDS[1:]):
                elsewhere.append(item)
            item.user_properties.append(("single_backend", marker.kwargs["reason"]))
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if item not in elsewhere]
    # The longest first, so that no worker starts one when the others are nearly done; then the
    # tests that share a stack, then the rest (a stable sort: collection order within each).
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1 if item.nodeid in groups else 2)
    if hasattr(config, "workerinput"):  # every worker writes the same: the last rename wins
        shared = config._tmp_path_factory.getbasetemp().parent  # type: ignore[attr-defined]
        written = shared / f"{GROUPS}.{os.getpid()}"
        written.write_text(json.dumps(groups))
        written.replace(shared / GROUPS)


def params(item: pytest.Item) -> set[str]:
    """The test's parameters that are names (a backend, a site)."""
    callspec = getattr(item, "callspec", None)
    return {value for value in callspec.params.values() if isinstance(value, str)} if callspec else set()


def module_group(item: pytest.Item) -> str | None:
    """The module and its module-scoped fixtures' parameters (a backend, a site), for a test that
    uses such a fixture (a stack, a Pod); None for the others, which any worker may run alone."""
    fixtures = item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
    shared = {name for name, definitions in fixtures.items() if definitions[-1].scope == "module"}
    if not shared:
        return None
    params = getattr(item, "callspec", None)
    values = [str(value) for name, value in sorted(params.params.items()) if name in shared] if params else []
    return "-".join([item.path.stem, *values])


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The images, built once for the whole session (every xdist worker's) from the current tree."""
    once_per_session("images", tmp_path_factory, lambda: build_images(base_image()))


@pytest.fixture(scope="session")
def app_images(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The app in app/ (the sample, or a fork's own) built once for the session, without the
    optional features' images: what the contract suite and the app's own tests run."""
    once_per_session("app-images", tmp_path_factory, lambda: build_images(base_image(), overlays=False, **APP_SETTINGS))


@pytest.fixture(scope="module", params=BACKENDS)
def app_stack(request: pytest.FixtureRequest, app_images: None) -> Iterator[Stack]:
    """The app in app/ on one backend, shared by the module's tests that only observe it."""
    with running_stack(request.param, APP_DIR=APP_SETTINGS["APP_DIR"], IMAGE_TAG=APP_SETTINGS["IMAGE_TAG"]) as stack:
        yield stack


@pytest.fixture(scope="session")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fork proof's repository (tests/fork.py), made once for the session's workers."""
    shared = tmp_path_factory.getbasetemp().parent if WORKER else tmp_path_factory.getbasetemp()
    return Path(once_per_session("fork", tmp_path_factory, lambda: prepare_fork(shared / "fork")))


@pytest.fixture(scope="session")
def sboms(images: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The SBOM of each image the suite built (scripts/sbom.py), kept with the test results:
    {image: its CycloneDX JSON file}."""
    written: dict[str, str] = once_per_session("sboms", tmp_path_factory, write_sboms)
    return {image: Path(path) for image, path in written.items()}


def write_sboms() -> dict[str, str]:
    # The production images: not Pebble's, a test server.
    production = feature_overlays(production=True)
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
    return {image: path for path, image in lines}


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


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request: pytest.FixtureRequest, images: None) -> Iterator[Stack]:
    """The stack on one backend, shared by the module's tests that only observe it."""
    with running_stack(request.param) as running:
        yield running


# Where the black-box tests run: the compose stack on each backend; or, with E2E_BASE_URL set, a
# deployment of yours (E2E_BACKEND names its server). The Kubernetes feature runs them against
# its Pod too (kubernetes/tests/test_black_box_on_pods.py).
if os.environ.get("E2E_BASE_URL"):
    SITES: tuple[str, ...] = (f"url-{os.environ.get('E2E_BACKEND', 'uwsgi')}",)
else:
    SITES = tuple(f"compose-{backend}" for backend in BACKENDS)


@pytest.fixture(scope="module", params=SITES)
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    """The stack as a client sees it (a base URL), wherever it runs."""
    kind, backend = str(request.param).split("-")
    if kind == "url":
        yield Site(backend, os.environ["E2E_BASE_URL"].rstrip("/"))
        return
    request.getfixturevalue("images")
    with running_stack(backend) as running:
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

    Stacks a test starts inside a running_stack block get their logs from it. What the test
    measured (load.figure) goes into its properties, which its reports carry (tests/results.py).
    """
    item.user_properties += [(FIGURE, text) for text in FIGURES]
    FIGURES.clear()
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, StackFactory):
                stacks: tuple[object, ...] = tuple(value.stacks)
            else:
                stacks = value if isinstance(value, tuple) else (value,)
            for candidate in stacks:
                if isinstance(candidate, Site) and candidate.log_title:
                    report.sections.append((candidate.log_title, candidate.logs()))
    return report
