"""The hosted workflow (.github/workflows/ci.yml) as docs/testing.md describes it: parallel jobs
planned from the tree, each bounded in time, arm64 on a native runner, and one summary job that
a branch protection rule can require; the jobs' shares of the tests add up to the whole suite,
each test in exactly one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from tests import jobs
from tests.facts import ROOT

WORKFLOW: dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
JOBS: dict[str, Any] = WORKFLOW["jobs"]
# The summary job, which needs every other one.
SUMMARY = "ci"


def planned(**environ: str) -> list[dict[str, Any]]:
    """The test jobs' matrix, as the plan job prints it."""
    (step,) = (step for step in JOBS["plan"]["steps"] if step.get("id") == "plan")
    assert "python3 tests/jobs.py" in step["run"]
    result = subprocess.run(
        [sys.executable, "tests/jobs.py"],
        cwd=ROOT,
        env={**os.environ, "ARM64_RUNNER": "", **environ},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    matrix: list[dict[str, Any]] = json.loads(result.stdout)
    return matrix


def test_every_job_has_a_timeout_of_at_most_30_minutes() -> None:
    for name, job in JOBS.items():
        assert 0 < job["timeout-minutes"] <= 30, name


def test_the_test_jobs_are_the_plans_and_arm64_runs_on_a_native_arm64_runner() -> None:
    test = JOBS["test"]
    assert test["needs"] == "plan"
    assert test["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.jobs) }}"
    assert test["runs-on"] == "${{ matrix.runner }}"
    assert test["strategy"]["fail-fast"] is False
    matrix = planned()
    assert [job["name"] for job in matrix] == [job.name for job in jobs.jobs()]
    runners = {job["name"]: job["runner"] for job in matrix}
    assert runners.pop("arm64") == "ubuntu-24.04-arm"
    assert set(runners.values()) == {"ubuntu-24.04"}
    # A fork without arm64 runners names another in the repository's variable.
    assert {job["name"]: job["runner"] for job in planned(ARM64_RUNNER="ubuntu-24.04")}["arm64"] == "ubuntu-24.04"
    (run,) = (step for step in test["steps"] if "ci/run" in step.get("run", ""))
    assert 'bash .ci/run --no-provision --job "$JOB"' in run["run"]
    assert run["env"]["JOB"] == "${{ matrix.name }}"


def test_the_summary_job_needs_every_other_and_fails_unless_each_succeeded() -> None:
    summary = JOBS[SUMMARY]
    assert set(summary["needs"]) == set(JOBS) - {SUMMARY}
    # It runs whatever happened before it, so a failed or skipped job fails it.
    assert summary["if"] == "${{ always() }}"
    (check,) = (step for step in summary["steps"] if "every job succeeded" in step.get("name", ""))
    for needed in summary["needs"]:
        assert f"${{{{ needs.{needed}.result }}}}" in check["env"].values(), needed
        assert check["run"].count("= success") == len(summary["needs"])
    assert any("check-e2e --jobs" in step.get("run", "") for step in summary["steps"])


def test_the_jobs_shares_cover_the_whole_collection_each_test_exactly_once() -> None:
    """Each collected test is in exactly one job's share (tests/jobs.py), and `pytest --job NAME`
    selects exactly that share (checked on one job: the selection is the same code for all)."""
    names = [job.name for job in jobs.jobs() if not job.arm64]
    with ThreadPoolExecutor() as pool:
        whole, e2e, lint = (pool.submit(jobs.collected, *args) for args in ((), ("-m", "e2e"), ("--job", "lint")))
    end_to_end = set(e2e.result())
    shares: dict[str, list[str]] = {name: [] for name in names}
    for test in whole.result():
        shares[jobs.job_of(test, test in end_to_end)].append(test)
    assert all(shares.values()), {name: len(share) for name, share in shares.items()}
    assert sum(map(len, shares.values())) == len(whole.result())
    assert lint.result() == shares["lint"]


def test_an_advisory_against_a_pinned_dependency_fails_ci() -> None:
    """No advisory service answers here; GitHub's runners reach PyPI's and OSV's: every lock file
    is audited there, and the summary needs it. Renovate opens the fixes (renovate.json)."""
    (audit,) = (step for step in JOBS["advisories"]["steps"] if "pip-audit" in step.get("run", ""))
    assert "git ls-files '*requirements.txt'" in audit["run"]
    assert "--require-hashes" in audit["run"]
    assert "advisories" in JOBS[SUMMARY]["needs"]
    renovate = json.loads((ROOT / "renovate.json").read_text())
    assert renovate["osvVulnerabilityAlerts"] is True
    assert renovate["vulnerabilityAlerts"]["enabled"] is True


def test_what_the_workflow_says_of_lint_is_what_make_lint_runs() -> None:
    """Its comments name the checks make lint runs on it, and only those."""
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    comments = " ".join(line.split("#", 1)[1] for line in text.splitlines() if line.lstrip().startswith("#"))
    lint = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "zizmor" in comments
    for tool in ("actionlint", "zizmor", "check-jsonschema"):
        if tool in comments:
            assert tool in lint, f"the workflow says make lint runs {tool}; it does not"
