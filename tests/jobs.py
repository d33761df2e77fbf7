"""CI's jobs, and which tests each runs: every collected test in exactly one job.

    lint            make lint, and the fast tests (no Docker)
    e2e-uwsgi       the end-to-end tests on uWSGI, and those naming both backends
    e2e-gunicorn    the end-to-end tests on Gunicorn
    <feature>       an optional feature's tests (FOLDER/tests), when its folder is there
    arm64           the end-to-end smoke set again, on arm64 images (a collection of its own)

A pytest plugin (pyproject.toml loads it): `pytest --job NAME` runs that job's share. Also a
script, standard library only, for the hosted workflow's plan (.github/workflows/ci.yml):
`python3 tests/jobs.py` prints the jobs as its matrix. .ci/run runs them all, or one (--job).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("uwsgi", "gunicorn")


@dataclass(frozen=True)
class Job:
    name: str
    title: str
    arm64: bool = False


@dataclass(frozen=True)
class Feature:
    """An optional feature: a top-level folder with a feature.mk (the Makefile includes it), its
    tests in FOLDER/tests, its title the first line of FOLDER/README.md."""

    name: str
    title: str
    tested: bool


# The feature whose job is the smoke set again on arm64 images (a collection of its own).
ARM64 = "arm64"


def features(root: Path = ROOT) -> tuple[Feature, ...]:
    found = []
    for makefile in sorted(root.glob("*/feature.mk")):
        folder = makefile.parent
        readme = folder / "README.md"
        title = readme.read_text().splitlines()[0].lstrip("# ") if readme.exists() else folder.name
        found.append(Feature(folder.name, title, (folder / "tests").is_dir()))
    return tuple(found)


def jobs(root: Path = ROOT) -> tuple[Job, ...]:
    present = features(root)
    return (
        Job("lint", "make lint, the fast tests"),
        *(Job(f"e2e-{backend}", f"end to end on {backend}") for backend in BACKENDS),
        *(Job(feature.name, feature.title) for feature in present if feature.tested),
        *(Job(ARM64, "the end-to-end smoke set on arm64", arm64=True) for feature in present if feature.name == ARM64),
    )


def job_of(nodeid: str, e2e: bool, root: Path = ROOT) -> str:
    """The one job that runs this test (of the host's own collection; arm64 has its own)."""
    folder = nodeid.split("/", 1)[0]
    if folder in {feature.name for feature in features(root) if feature.tested}:
        return folder
    if not e2e:
        return "lint"
    # A test on one backend runs in that backend's job; one naming both, in the first's.
    params = nodeid.partition("[")[2]
    return next(f"e2e-{backend}" for backend in BACKENDS if backend in params)


def collected(*args: str, root: Path = ROOT) -> list[str]:
    """The test IDs `pytest --collect-only ARGS` lists in `root` (this tree, or a copy of it)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [line for line in result.stdout.splitlines() if "::" in line]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--job", help="run only the tests of this CI job (tests/jobs.py)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (name := config.getoption("job")):
        return
    if name not in {job.name for job in jobs()}:
        raise ValueError(f"--job {name}: no such job (tests/jobs.py)")
    others = [item for item in items if job_of(item.nodeid, item.get_closest_marker("e2e") is not None) != name]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if item not in others]


if __name__ == "__main__":
    # The hosted workflow's matrix: a runner for each job (ARM64_RUNNER: the repository's
    # variable, for forks without GitHub's arm64 runners: docs/testing.md).
    runners = {False: "ubuntu-24.04", True: os.environ.get("ARM64_RUNNER") or "ubuntu-24.04-arm"}
    matrix = [{**asdict(job), "runner": runners[job.arm64]} for job in jobs()]
    json.dump(matrix, sys.stdout)
    print()
