"""The fork proof (tests/fork.py: a team's own app in app/, two optional features deleted, a
service of its own in compose.override.yaml, and no other edit) passes the app contract suite,
the end-to-end smoke set and its own tests, on both backends, with images and ports of its own.
tests/test_fork.py checks the rest of it without Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fork import ok, run

pytestmark = pytest.mark.e2e
# What the fork runs of the suite: the contract suite, the smoke set and the app's own tests.
SELECTION = "contract or smoke or app"


@pytest.mark.slow
@pytest.mark.parametrize("backends", ["uwsgi-gunicorn"])
def test_the_contract_the_smoke_set_and_its_own_tests_pass_on_both_backends(fork: Path, backends: str) -> None:
    report = fork / "test-results" / "junit-fork.xml"
    ok(run(fork, "make", "test", "TEST_WORKERS=3", f"PYTEST_ARGS=-m '{SELECTION}' --junitxml={report}"))
    listed = ok(run(fork, ".venv/bin/pytest", "--collect-only", "-q", "-m", f"({SELECTION}) and e2e"))
    count = sum("::" in line for line in listed.splitlines())
    # Every one of them ran, and passed, on both backends.
    assert "ran and passed on both backends" in ok(run(fork, "python3", ".ci/check-e2e", str(report), str(count)))
    assert count > 30, count
