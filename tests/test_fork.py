"""The fork boundary: a team replaces what is in app/ and nothing else. Checked on a copy of this
repository whose app package is renamed (tests/fork.py); tests/e2e/test_fork.py runs its stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fork import RENAMED, SAMPLE, make_fork


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fork(tmp_path_factory.mktemp("fork"))


def test_nothing_outside_app_names_the_apps_package(fork: Path) -> None:
    """What builds, runs and tests the stack never names the package; prose may, as an example."""
    naming = [
        str(path.relative_to(fork))
        for path in fork.rglob("*")
        if path.is_file() and path.relative_to(fork).parts[0] not in ("app", "docs") and path.suffix != ".md"
        if re.search(rf"\b{SAMPLE}\b", path.read_text(errors="replace"))
    ]
    assert naming == [RENAMED_FORK_HELPER]


# The helper that makes the copy names both, by necessity.
RENAMED_FORK_HELPER = "tests/fork.py"


def test_the_forks_own_tests_and_the_stacks_pass_on_the_renamed_app(fork: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not e2e",
            "app/tests",
            "tests/test_stack_wsgi.py",
        ],
        cwd=fork,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    assert (fork / "app" / RENAMED / "__init__.py").is_file()
