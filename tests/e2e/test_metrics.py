"""The app's Prometheus metrics: every worker's requests, counted once, on an internal port only.

Scraped from inside the app container (127.0.0.1:APP_METRICS_PORT): the port is on the app's own
networks, and nothing routes to it from the published one.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.facts import compose_defaults

from .load import figure
from .stack import Stack, StackFactory

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(stack: Stack, service: str = "app") -> Samples:
    """Every sample the metrics port of the app's image serves in `service`, by name and labels."""
    url = f"http://127.0.0.1:{compose_defaults()['APP_METRICS_PORT']}/metrics"
    program = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=10).read().decode())"
    text = stack.exec(service, "python3", "-c", program)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def count(samples: Samples, method: str, route: str, status: str) -> float:
    key = (
        "flask_http_request_duration_seconds_count",
        frozenset({"method": method, "route": route, "status": status}.items()),
    )
    return samples.get(key, 0.0)


# The app's metrics, and nginx's status page under the names nginx's docs and exporters use.
PRIVATE_PATHS = ("/metrics", "/metrics/", "/api/../metrics", "/stub_status", "/nginx_status", "/basic_status")


def assert_not_public(stack: Stack, paths: list[str]) -> None:
    for path in paths:
        response = stack.get(path)
        assert response.status_code == 404, path
        assert "flask_http_request" not in response.text, path
        assert "Active connections" not in response.text, path


def test_metrics_are_never_served_through_nginx(stack: Stack) -> None:
    assert_not_public(stack, list(PRIVATE_PATHS))
    # ...while the app's port serves them to its own networks, and nginx's status socket to
    # whoever shares its volume (the exporter).
    assert ("flask_http_requests_in_progress", frozenset()) in scrape(stack)
    assert "Active connections" in nginx_status(stack)


def test_metrics_are_never_served_through_nginx_under_a_prefix(new_stack: StackFactory) -> None:
    stack = new_stack(APP_PREFIX="/shop")
    assert_not_public(stack, [*PRIVATE_PATHS, *(f"/shop{path}" for path in PRIVATE_PATHS)])


def nginx_status(stack: Stack) -> str:
    """nginx's stub_status, read through its unix socket from inside the nginx container."""
    status_socket = f"{stack.setting('nginx', 'NGINX_STATUS_DIR')}/status.sock"
    return stack.exec("nginx", "curl", "--silent", "--unix-socket", status_socket, "http://status/stub_status")


def test_counts_are_exact_across_recycled_and_killed_workers(new_stack: StackFactory) -> None:
    # Two workers, each recycled every 10 requests; one of them killed half way.
    stack = new_stack(APP_WORKERS="2", APP_MAX_REQUESTS="10", APP_MAX_REQUESTS_JITTER="0")
    pids = stack.whoami(24)
    for _ in range(5):
        assert stack.get("/api/no-such-route").status_code == 404
    for _ in range(3):
        assert stack.post("/api/echo", data=b"counted").status_code == 200
    before = stack.worker_pids()
    fresh = stack.wait_for_replacement(before, gone=stack.kill_worker()) - before
    # Ten more, and on until the replacement has answered one: uWSGI may leave it idle a while.
    later = 0
    while later < 10 or (later < 60 and not fresh & pids):
        pids |= stack.whoami(1)
        later += 1
    # More workers served than ever ran at once: recycled and replaced ones counted too.
    assert len(pids) > 2, pids

    samples = scrape(stack)
    assert count(samples, "GET", "/api/whoami", "200") == 24 + later
    assert count(samples, "GET", "unmatched", "404") == 5
    assert count(samples, "POST", "/api/echo", "200") == 3
    total = ("flask_http_request_total", frozenset({"method": "GET", "status": "200"}.items()))
    assert samples[total] == 24 + later
    assert samples[("flask_http_requests_in_progress", frozenset())] == 0
    # The health checks (every second) are not the app's traffic.
    assert not [key for key in samples if ("route", "/healthz") in key[1]]


def test_a_killed_workers_request_in_flight_is_not_counted_in_flight(new_stack: StackFactory) -> None:
    stack = new_stack(APP_WORKERS="1")
    slow = threading.Thread(target=lambda: stack.get("/api/slow?seconds=5", timeout=30))
    slow.start()
    deadline = time.monotonic() + 10
    while scrape(stack).get(("flask_http_requests_in_progress", frozenset())) != 1:
        assert time.monotonic() < deadline, "the slow request never showed as in flight"
        time.sleep(0.2)
    before = stack.worker_pids()
    killed = stack.kill_worker()
    slow.join(timeout=30)
    stack.wait_for_replacement(before, gone=killed)
    assert scrape(stack)[("flask_http_requests_in_progress", frozenset())] == 0


@pytest.mark.slow
def test_workers_forked_while_the_metrics_are_scraped_all_serve(new_stack: StackFactory) -> None:
    """Under uWSGI the metrics are served by a process of their own beside the master
    (runtime/stack_metrics.py): as a thread of the master the server held the GIL across some fork
    of a worker, which hung for good. Workers replaced under scrapes without pause all serve after."""
    workers, stop = 2, "/tmp/stop-scrapes"
    stack = new_stack(APP_WORKERS=str(workers))
    scrapes: list[str] = []
    scraping = threading.Thread(
        target=lambda: scrapes.append(stack.probe("app", "scrape_load", stop, "150", timeout=180))
    )
    scraping.start()
    kills, deadline = 0, time.monotonic() + 100
    try:
        while kills < 20 and time.monotonic() < deadline:
            before = stack.worker_pids()
            stack.wait_for_replacement(before, gone=stack.kill_worker())
            kills += 1
    finally:
        stack.exec("app", "touch", stop)
        scraping.join(timeout=60)
    assert kills >= 10, f"only {kills} workers replaced under the scrapes"
    assert int(scrapes[0]) > kills, scrapes  # the scrapes ran throughout
    figure(f"[workers forked under scrapes] {stack.backend}: {kills} replaced during {scrapes[0].strip()} scrapes")
    pids = stack.worker_pids()
    # As many 1 s requests at once as there are workers: a hung one leaves its request to the other.
    with ThreadPoolExecutor(workers) as pool:
        answers = list(pool.map(lambda _: stack.get("/api/slow?seconds=1", timeout=20), range(workers)))
    assert {answer.json()["pid"] for answer in answers} == pids, [answer.text for answer in answers]
