"""checkov's findings, and the ones a document accepts: the scans of tests/test_checkov.py and
kubernetes/tests/test_checkov.py. checkov runs from a virtualenv of its own (tests/checkov/
requirements.txt), made once per test session by make."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, once_per_session

VENV = ROOT / ".venv-checkov"


def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """checkov's executable, its virtualenv made first if need be (once for every xdist worker)."""
    once_per_session(
        "checkov",
        tmp_path_factory,
        lambda: (
            subprocess.run(
                ["make", "--silent", f"{VENV.name}/.installed"], cwd=ROOT, check=True, capture_output=True, timeout=600
            ).returncode
        ),
    )
    return VENV / "bin" / "checkov"


def failing(checkov: Path, framework: str, directory: Path) -> dict[str, set[str]]:
    """checkov's failed checks on `directory` (offline): {check ID: the resources that fail it}."""
    result = subprocess.run(
        [checkov, "--skip-download", "--quiet", "--compact", "--framework", framework, "-d", directory, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # checkov exits 1 when a check fails, which is what is asked for here.
    assert result.returncode in (0, 1), result.stderr
    reports = json.loads(result.stdout)
    found: dict[str, set[str]] = {}
    for report in reports if isinstance(reports, list) else [reports]:
        assert report.get("summary", {}).get("parsing_errors", 0) == 0, report
        for check in report["results"]["failed_checks"] if "results" in report else []:
            found.setdefault(check["check_id"], set()).add(f"{check['file_path']}: {check['resource']}")
    return found


def accepted(document: Path, prefix: str) -> set[str]:
    """The check IDs a document's table accepts: rows that begin `| CKV_... |`."""
    return set(re.findall(rf"^\| `?({prefix}_\d+)`? \|", document.read_text(), re.MULTILINE))
