"""The black-box tests (tests/e2e/test_black_box.py), every one, against the Kubernetes Deployment
run by podman, on each backend: the same images, as a cluster would run them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubernetes.tests.pod import Pod, running_pod
from tests.e2e.test_black_box import *  # noqa: F403  (the tests, collected here again)


@pytest.fixture(scope="module", params=["pod-uwsgi", "pod-gunicorn"])
def site(
    request: pytest.FixtureRequest, pod_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pod]:
    backend = str(request.param).removeprefix("pod-")
    with running_pod(backend, pod_images, tmp_path_factory.mktemp(f"pod-{backend}")) as pod:
        yield pod
