"""checkov on every Dockerfile of the tree: what it still flags is exactly what docs/hardening.md
accepts, each with its reason. A new finding fails here until it is fixed or accepted there; an
accepted one that no longer fails must leave the list."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.checkov import accepted, failing, installed
from tests.e2e.stack import ROOT

pytestmark = pytest.mark.slow


def test_checkovs_dockerfile_findings_are_the_ones_docs_hardening_accepts(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    # The tracked Dockerfiles alone: not what a virtualenv or a test left in the tree.
    for dockerfile in ROOT.glob("**/Dockerfile"):
        if not any(part.startswith(".") for part in dockerfile.relative_to(ROOT).parts):
            target = tmp_path / dockerfile.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(dockerfile, target)
    found = failing(installed(tmp_path_factory), "dockerfile", tmp_path)
    assert set(found) == accepted(ROOT / "docs" / "hardening.md", "CKV_DOCKER"), found
