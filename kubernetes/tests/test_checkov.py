"""checkov on the manifests as a cluster gets them (each overlay, with the database component):
what it still flags is exactly what kubernetes/README.md accepts, each with its reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from kubernetes.tests.pod import rendered
from tests.checkov import accepted, failing, installed
from tests.facts import ROOT

pytestmark = pytest.mark.slow


def test_checkovs_kubernetes_findings_are_the_ones_the_readme_accepts(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    scanned = tmp_path / "manifests"
    scanned.mkdir()
    for overlay in ("uwsgi", "gunicorn"):
        # The overlay plus every component it leaves to a fork, as a fork's kustomization would.
        kustomization = tmp_path / overlay
        kustomization.mkdir()
        kubernetes = os.path.relpath(ROOT / "kubernetes", kustomization)
        (kustomization / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources: [{kubernetes}/{overlay}]\ncomponents: [{kubernetes}/database]\n"
        )
        documents = rendered(str(kustomization), "--load-restrictor", "LoadRestrictionsNone")
        (scanned / f"{overlay}.yaml").write_text(yaml.safe_dump_all(documents))
    found = failing(installed(tmp_path_factory), "kubernetes", scanned)
    assert set(found) == accepted(ROOT / "kubernetes" / "README.md", "CKV_K8S"), found
