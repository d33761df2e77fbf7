"""Behind a load balancer (TRUSTED_PROXIES), and per-client limits keyed on the real client (RATE_LIMIT, CONN_LIMIT).

The test client reaches nginx through Docker's port proxy, from the project network's gateway: a
private address, trusted here as a load balancer would be. A request from inside the nginx
container (127.0.0.1) plays a client that is not a trusted proxy. Each test names its own made-up
client addresses (documentation ranges), so the per-client limits of one never touch another.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import requests

from .stack import Stack, stack_fixture

PRIVATE_RANGES = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
RATE, BURST, CONNECTIONS = 5, 5, 2


balanced = stack_fixture(
    TRUSTED_PROXIES=PRIVATE_RANGES,
    RATE_LIMIT=f"{RATE}r/s",
    RATE_LIMIT_BURST=str(BURST),
    CONN_LIMIT=str(CONNECTIONS),
    APP_ACCESS_LOG="on",
)


def whoami(stack: Stack, forwarded_for: str, **headers: str) -> dict[str, object]:
    response = stack.get("/api/whoami", headers={"X-Forwarded-For": forwarded_for, **headers})
    assert response.status_code == 200, response.text
    return dict(response.json(), hsts=response.headers.get("Strict-Transport-Security"))


def test_a_trusted_proxy_names_the_client_and_its_scheme(balanced: Stack) -> None:
    probe = uuid.uuid4().hex
    seen = whoami(balanced, "203.0.113.7", **{"X-Forwarded-Proto": "https", "X-Request-ID": f"lb-{probe}"})
    assert (seen["remote_addr"], seen["scheme"]) == ("203.0.113.7", "https")
    assert str(seen["url"]).startswith("https://")
    # HSTS follows the scheme the client used, here at the load balancer.
    assert seen["hsts"] == "max-age=63072000"
    logged = balanced.logged_json("nginx", lambda entry: entry.get("request_id") == f"lb-{probe}")
    assert [entry["remote_addr"] for entry in logged] == ["203.0.113.7"]


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        # The client put an address of its own first: only what the trusted proxy appended counts.
        ("198.51.100.1, 203.0.113.8", "203.0.113.8"),
        # A second trusted proxy (a private address) in the chain is skipped.
        ("203.0.113.9, 10.1.2.3", "203.0.113.9"),
        ("198.51.100.2, 203.0.113.10, 172.16.5.5, 192.168.7.7", "203.0.113.10"),
        ("2001:db8::5", "2001:db8::5"),
    ],
)
def test_the_client_is_the_last_address_no_trusted_proxy_added(
    balanced: Stack, forwarded_for: str, client: str
) -> None:
    assert whoami(balanced, forwarded_for)["remote_addr"] == client


def test_a_forwarded_for_that_is_not_an_address_leaves_the_peer(balanced: Stack) -> None:
    seen = whoami(balanced, "not-an-address", **{"X-Forwarded-Proto": "gopher"})
    assert seen["remote_addr"] != "not-an-address"
    assert seen["scheme"] == "http"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_name_the_client(balanced: Stack) -> None:
    """From 127.0.0.1 (not in TRUSTED_PROXIES) the same headers change nothing."""
    output = balanced.exec(
        "nginx",
        "curl",
        "--silent",
        "--header",
        "X-Forwarded-For: 203.0.113.66",
        "--header",
        "X-Forwarded-Proto: https",
        "http://127.0.0.1:8080/api/whoami",
    )
    seen = json.loads(output)
    assert (seen["remote_addr"], seen["scheme"]) == ("127.0.0.1", "http")


def test_a_client_over_the_rate_gets_429_and_others_do_not(balanced: Stack) -> None:
    marker = uuid.uuid4().hex
    started = time.monotonic()
    statuses = []
    limited = None
    for _ in range(30):
        response = balanced.get(f"/api/whoami?{marker}", headers={"X-Forwarded-For": "203.0.113.20"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            limited = response
    elapsed = time.monotonic() - started
    served = statuses.count(200)
    assert set(statuses) == {200, 429}, statuses
    # The burst, one more, and what the rate allows meanwhile (plus one for rounding).
    assert BURST < served <= BURST + 2 + RATE * elapsed, (statuses, elapsed)
    assert limited is not None
    page = limited.json()
    assert (page["status"], page["error"]) == (429, "Too Many Requests")
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["X-Request-ID"] == page["request_id"]
    # nginx answered the 429s: the app saw exactly the requests that were served.
    assert len(balanced.logged("app", lambda line: marker in line, at_least=served)) == served
    # Another client is not held back, and static files are not limited.
    assert balanced.get("/api/whoami", headers={"X-Forwarded-For": "203.0.113.21"}).status_code == 200
    for _ in range(3 * BURST):
        static = balanced.get("/static/css/app.css", headers={"X-Forwarded-For": "203.0.113.20"})
        assert static.status_code == 200


def test_a_client_over_its_connections_gets_429_and_others_do_not(balanced: Stack) -> None:
    results: list[int] = []

    def slow() -> None:
        with requests.Session() as session:
            response = session.get(
                balanced.url("/api/slow?seconds=2"), headers={"X-Forwarded-For": "203.0.113.30"}, timeout=30
            )
            results.append(response.status_code)

    threads = [threading.Thread(target=slow) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    time.sleep(1)  # both are in the app now, each sleeping 2 s
    with requests.Session() as session:
        over = session.get(balanced.url("/"), headers={"X-Forwarded-For": "203.0.113.30"}, timeout=10)
        other = session.get(balanced.url("/"), headers={"X-Forwarded-For": "203.0.113.31"}, timeout=10)
    for thread in threads:
        thread.join(timeout=30)
    assert over.status_code == 429, over.text
    assert "<h1>429 Too Many Requests</h1>" in over.text
    assert other.status_code == 200
    assert results == [200] * CONNECTIONS


def test_a_client_cannot_pass_for_nginxs_own_healthcheck(balanced: Stack) -> None:
    """The healthcheck's exemption (no log line, no limit) is the container's own connection's:
    a trusted proxy's client naming 127.0.0.1 and its user agent gets neither."""
    marker = uuid.uuid4().hex
    disguise = {"X-Forwarded-For": "127.0.0.1", "User-Agent": "stack-healthcheck"}
    statuses = [balanced.get(f"/healthz?{marker}", headers=disguise).status_code for _ in range(3 * BURST)]
    assert 429 in statuses, statuses
    assert balanced.logged("nginx", lambda line: marker in line), "the disguised requests were not logged"
