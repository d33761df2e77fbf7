"""The metrics overlay (metrics/compose.yaml), end to end through the real Prometheus: what it
reports is exactly what was sent, per status, across recycled, killed and timed-out workers, and
nothing of it is reachable but Prometheus on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TypeVar

import pytest
import requests

from stackctl import parse_size
from tests.e2e import stack as e2e
from tests.e2e.stack import ROOT, Stack, StackFactory, assert_unprivileged, revision

# Targets are scraped every 5 s (metrics/prometheus.yml): counts settle within a few scrapes.
SETTLE_SECONDS = 30
METRICS_FILES = (ROOT / "metrics" / "compose.yaml",)
OVERLAY_SERVICES = ("nginx-exporter", "mtail", "prometheus")

Vector = dict[str, float]
T = TypeVar("T")


def prometheus(stack: Stack) -> str:
    return f"http://{stack.compose('port', 'prometheus', '9090').stdout.strip()}"


def query(stack: Stack, expression: str, label: str = "") -> Vector:
    """An instant query's result, keyed by one label's value ("" for a single unlabelled value)."""
    response = requests.get(f"{prometheus(stack)}/api/v1/query", params={"query": expression}, timeout=10)
    response.raise_for_status()
    return {result["metric"].get(label, ""): float(result["value"][1]) for result in response.json()["data"]["result"]}


def settled(stack: Stack, expression: str, label: str, expected: Mapping[str, float]) -> Vector:
    """The query's result once it equals `expected`, or the last one after SETTLE_SECONDS."""
    return eventually(lambda: query(stack, expression, label), lambda found: found == expected)


def eventually(get: Callable[[], T], done: Callable[[T], bool]) -> T:
    """What `get` returns once `done` with it, or its last value after SETTLE_SECONDS."""
    return e2e.eventually(get, done, SETTLE_SECONDS, 1)


def targets(stack: Stack) -> dict[str, str]:
    response = requests.get(f"{prometheus(stack)}/api/v1/targets", timeout=10)
    response.raise_for_status()
    return {target["labels"]["job"]: target["health"] for target in response.json()["data"]["activeTargets"]}


@pytest.mark.slow
def test_prometheus_counts_exactly_what_was_sent(new_stack: StackFactory) -> None:
    # Two workers, each recycled every 10 requests; a 64 KiB body limit; a 3 s request limit.
    stack = new_stack(
        *METRICS_FILES,
        APP_WORKERS="2",
        APP_MAX_REQUESTS="10",
        APP_MAX_REQUESTS_JITTER="0",
        APP_TIMEOUT="3",
        MAX_BODY_SIZE="64k",
        PROMETHEUS_PORT="0",
    )
    jobs = eventually(lambda: targets(stack), lambda found: set(found.values()) == {"up"})
    assert jobs == {"app": "up", "nginx": "up", "nginx-status": "up", "prometheus": "up"}

    pids = stack.whoami(20)
    for _ in range(5):
        assert stack.get("/api/no-such-route").status_code == 404
    # At the body limit exactly, the app answers; one byte past it, nginx does.
    limit = parse_size(stack.setting("nginx", "MAX_BODY_SIZE"))
    assert stack.post("/api/echo", data=b"x" * limit).status_code == 200
    assert stack.post("/api/echo", data=b"x" * (limit + 1)).status_code == 413
    # A worker killed between requests...
    before = stack.worker_pids()
    stack.wait_for_replacement(before, gone=stack.kill_worker())
    # ...and one killed by the app server for running past APP_TIMEOUT.
    assert stack.get("/api/slow?seconds=30", timeout=40).status_code == 502
    pids |= stack.whoami(15)
    # More workers served than ever ran at once: recycled and replaced ones counted too.
    assert len(pids) > 2, pids

    # What clients got, from nginx (mtail): every status, the ones nginx made itself included.
    nginx = {"200": 36, "404": 5, "413": 1, "502": 1}
    assert settled(stack, "sum by (status) (nginx_http_responses_total)", "status", nginx) == nginx
    # What the app answered: not the 413 (nginx's) nor the request its worker died in.
    app = {"/api/whoami": 35, "/api/echo": 1, "unmatched": 5}
    counted = "sum by (route) (flask_http_request_duration_seconds_count)"
    assert settled(stack, counted, "route", app) == app
    assert query(stack, "sum(flask_http_requests_in_progress)") == {"": 0}
    assert query(stack, "stack_request_slots") == {"": 2}
    # nginx's own counters, through the exporter: every request above, and its health checks.
    assert query(stack, "nginx_up") == {"": 1}
    handled = eventually(
        lambda: query(stack, "nginx_http_requests_total"), lambda found: at_least(found, sum(nginx.values()))
    )
    assert at_least(handled, sum(nginx.values())), handled
    # The rules are loaded and evaluated. A series' first sample is no increase to rate(), and
    # all of the above may have fallen between two scrapes: the 5xx ratio is measured on what
    # follows, now that Prometheus has seen every status once.
    stack.whoami(3)
    assert stack.get("/api/slow?seconds=30", timeout=40).status_code == 502
    ratio = eventually(lambda: query(stack, "stack:nginx_http_responses_5xx:ratio_rate5m"), has_positive)
    assert 0 < ratio[""] < 1, ratio


def at_least(vector: Vector, count: float) -> bool:
    return vector.get("", 0) >= count


def has_positive(vector: Vector) -> bool:
    return any(value > 0 for value in vector.values())


def test_the_overlay_is_hardened_labelled_and_publishes_only_prometheus_on_127_0_0_1(new_stack: StackFactory) -> None:
    stack = new_stack(*METRICS_FILES, PROMETHEUS_PORT="0")
    for service in OVERLAY_SERVICES:
        assert_unprivileged(stack, service)
    published = {
        service: json.loads(stack.inspect(service, "{{json .NetworkSettings.Ports}}"))
        for service in ("app", *OVERLAY_SERVICES)
    }
    assert all(binding is None for binding in published["app"].values())
    assert all(binding is None for binding in published["nginx-exporter"].values())
    assert all(binding is None for binding in published["mtail"].values())
    assert [binding["HostIp"] for binding in published["prometheus"]["9090/tcp"]] == ["127.0.0.1"]
    # Every image says what it was built from (compose.yaml's OCI labels).
    for service in ("app", "nginx", *OVERLAY_SERVICES):
        labels = json.loads(stack.inspect(service, "{{json .Config.Labels}}"))
        assert labels["org.opencontainers.image.revision"] == revision(ROOT), service
        assert labels["org.opencontainers.image.version"] == stack.env["IMAGE_TAG"], service
    # The exporters and the app's metrics are on the internal metrics network, which nginx is not.
    networks = json.loads(stack.inspect("nginx", "{{json .NetworkSettings.Networks}}"))
    assert not [name for name in networks if name.endswith("_metrics")]


@pytest.mark.slow
def test_prometheus_keeps_its_series_across_make_down_and_up(new_stack: StackFactory, backend: str) -> None:
    stack = new_stack(*METRICS_FILES, PROMETHEUS_PORT="0")
    eventually(lambda: targets(stack), lambda found: set(found.values()) == {"up"})
    stack.whoami(7)
    whoami = 'sum(max_over_time(flask_http_request_duration_seconds_count{route="/api/whoami"}[1h]))'
    assert settled(stack, whoami, "", {"": 7}) == {"": 7}

    down = stack.make("down")
    assert down.returncode == 0, down.stderr
    assert stack.volumes() == {"prometheus-data"}, stack.volumes()
    up = stack.make(f"up-{backend}")
    assert up.returncode == 0, up.stdout + up.stderr

    # The app counts from nothing again; Prometheus still has what it scraped before.
    eventually(lambda: targets(stack), lambda found: set(found.values()) == {"up"})
    assert query(stack, whoami) == {"": 7}
