"""The Pod tests' fixture: the images, in podman's store."""

from __future__ import annotations

import json
import os

import pytest

from kubernetes.tests.pod import available, load_images
from tests.e2e.stack import SETTINGS, compose, once_per_session, unavailable


def podman_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The images the suite built, copied into podman's store once: {Docker's name: podman's name}.
    (An optional feature's Pod tests call this too.)"""
    if reason := available():
        unavailable("podman", reason)
    config = json.loads(compose("fns-e2e", {**os.environ, **SETTINGS}, "config", "--format", "json").stdout)
    names = {service["image"] for service in config["services"].values()}
    loaded: dict[str, str] = once_per_session("pod-images", tmp_path_factory, lambda: load_images(names))
    return loaded


@pytest.fixture(scope="session")
def pod_images(images: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return podman_images(tmp_path_factory)
