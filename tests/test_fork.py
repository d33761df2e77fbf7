"""The fork boundary, without Docker: nothing outside app/ names the sample's package; every
optional feature is one folder, deleted with nothing else to edit; the fork proof (tests/fork.py:
an app of its own, two features deleted, a service of its own) changed nothing outside app/ but
its own compose file, passes make lint, and merges the template's later changes with no conflict.
It runs end to end in tests/e2e/test_fork.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import jobs
from tests.fork import REMOVED, ROOT, SAMPLE, git, ok, run, without


def test_nothing_outside_app_names_the_samples_package() -> None:
    """What builds, runs and tests the stack never names the package; prose may, as an example."""
    naming = [
        name
        for name in git(ROOT, "ls-files").splitlines()
        if name.split("/", 1)[0] not in ("app", "docs") and not name.endswith(".md")
        if re.search(rf"\b{SAMPLE}\b", (ROOT / name).read_text(errors="replace"))
    ]
    # The helper that makes a fork names it, by necessity.
    assert naming == ["tests/fork.py"]


@pytest.mark.slow
@pytest.mark.parametrize("feature", [feature.name for feature in jobs.features()])
def test_an_optional_feature_is_deleted_with_its_folder_alone(feature: str, tmp_path: Path) -> None:
    copy = without(tmp_path / "copy", feature)
    lint = subprocess.run(
        ["make", "lint", f"VENV={ROOT / '.venv'}", f"PYTHON={sys.executable}"],
        cwd=copy,
        env={**os.environ, "MAKEFLAGS": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
    # Every test of the tree is still collected but the feature's own, and the cases named after
    # it (of the tests that go through the features present); its CI job is gone.
    everything, left = jobs.collected(), jobs.collected(root=copy)
    assert set(left) <= set(everything)
    gone = set(everything) - set(left)
    assert {test for test in gone if not test.startswith(f"{feature}/") and f"[{feature}" not in test} == set()
    assert feature not in {job.name for job in jobs.jobs(copy)}


# Files of the template's a fork carries unchanged.
TEMPLATE_FILES = (
    "compose.yaml",
    "Makefile",
    ".env.example",
    "README.md",
    "nginx/nginx.conf",
    "nginx/templates/http.conf.template",
    "uwsgi/uwsgi.ini",
    "gunicorn/gunicorn.conf.py",
)


def test_the_fork_changed_nothing_outside_app_but_its_own_compose_file(fork: Path) -> None:
    changed = git(fork, "diff", "--name-only", "template", "fork").split()
    outside = {name for name in changed if name.split("/", 1)[0] not in ("app", *REMOVED)}
    assert outside == {"compose.override.yaml"}
    assert "humanize==" in (fork / "app" / "requirements.txt").read_text()


@pytest.mark.slow
def test_the_fork_passes_make_lint(fork: Path) -> None:
    ok(run(fork, "make", "lint", timeout=900))


def test_a_later_change_to_the_templates_own_files_merges_into_the_fork(fork: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--branch", "template", str(fork), str(clone)], check=True, timeout=120)
    for name in TEMPLATE_FILES:
        with (clone / name).open("a") as file:
            file.write("\n# A later change of the template's.\n")
    git(clone, "commit", "--quiet", "--all", "--message", "the template, later")
    git(clone, "fetch", "--quiet", "origin", "fork")
    git(clone, "switch", "--quiet", "--create", "fork", "FETCH_HEAD")
    merged = subprocess.run(
        ["git", "-c", "user.name=fork", "-c", "user.email=fork@example.com", "merge", "--no-edit", "template"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert (clone / "app" / "shop" / "__init__.py").exists()
    assert (clone / "compose.yaml").read_text().endswith("# A later change of the template's.\n")
