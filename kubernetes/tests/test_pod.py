"""The Kubernetes Pod under podman: a bad setting stops it in its init container, and it stops as
a cluster stops it, finishing a request in flight. The black-box tests (test_black_box.py) run
against it too."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from kubernetes.tests.pod import Pod, running_pod
from tests.e2e.stack import StackError


def test_the_pod_finishes_a_request_in_flight_when_it_is_stopped(
    backend: str, pod_images: dict[str, str], tmp_path: Path
) -> None:
    with running_pod(backend, pod_images, tmp_path) as pod:
        answers: list[requests.Response] = []
        request = threading.Thread(target=lambda: answers.append(pod.get("/api/slow?seconds=3", timeout=30)))
        request.start()
        time.sleep(1)
        started = time.monotonic()
        pod.stop(40)
        took = time.monotonic() - started
        request.join(timeout=30)
        assert [answer.status_code for answer in answers] == [200], pod.logs()
        assert answers[0].json()["server"] == backend
        # Both stopped on their own, before podman's deadline: not killed. (podman removes the
        # init container once it has run.)
        states = {name.rsplit("-", 1)[1]: pod.state(name) for name in pod.containers()}
        assert {name: state["ExitCode"] for name, state in states.items()} == {"app": 0, "nginx": 0}
        assert took < 30, f"stopping took {took:.1f} s"


def test_a_bad_setting_stops_the_pod_in_its_init_container_naming_the_variable(
    backend: str, pod_images: dict[str, str], tmp_path: Path
) -> None:
    # Never restarted here, where a cluster would back off and retry: the outcome is the same.
    pod = Pod(backend, pod_images, tmp_path, restart="Never", APP_WORKERS="abc")
    try:
        with pytest.raises(StackError) as failed:
            pod.up()
    finally:
        pod.down()
    message = str(failed.value)
    assert "init container" in message
    assert "exited with code 78" in message
    assert "config: APP_WORKERS='abc' must be auto or a whole number from 1 to 256" in message
    # The servers never started.
    assert f"app: {backend} on" not in message
