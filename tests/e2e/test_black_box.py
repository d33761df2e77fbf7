"""The stack as a client sees it: over HTTP, through nginx, and nothing else. These run against
every `site`: the compose stack and the Kubernetes Pod (podman) on each backend, or a deployment
of yours with E2E_BASE_URL set (kubernetes/README.md)."""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid

import pytest

from .stack import MAX_BODY_BYTES, Site, app_static_dir

# The `site` fixture builds the images only for the sites that need them.
pytestmark = pytest.mark.e2e

STATIC_CSS = "/static/css/app.css"
GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.smoke
def test_index_is_the_apps_page_with_assets_from_static(site: Site) -> None:
    response = site.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>Flask behind nginx</h1>" in response.text
    assert 'href="/static/css/app.css"' in response.text
    assert 'src="/static/js/app.js"' in response.text


def test_unknown_host_still_reaches_the_app_not_an_nginx_default_page(site: Site) -> None:
    response = site.get("/", headers={"Host": "unknown.example"})
    assert response.status_code == 200
    assert "Welcome to nginx" not in response.text
    assert "<h1>Flask behind nginx</h1>" in response.text


@pytest.mark.smoke
def test_healthz_names_the_server_actually_running(site: Site) -> None:
    response = site.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "server": site.backend}


@pytest.mark.smoke
def test_whoami_reports_the_request_as_the_app_saw_it(site: Site) -> None:
    info = site.get("/api/whoami").json()
    assert set(info) >= {"remote_addr", "scheme", "host", "script_root", "server", "pid"}
    assert info["server"] == site.backend
    scheme, host = site.base_url.split("://", 1)
    assert info["scheme"] == scheme
    assert info["host"] == host
    assert info["script_root"] == ""
    assert isinstance(info["pid"], int)


def test_static_files_are_gzipped_for_clients_that_accept_it(site: Site) -> None:
    js = site.get("/static/js/app.js", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert js.status_code == 200
    assert js.headers.get("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in js.headers.get("Vary", "")


@pytest.mark.smoke
def test_echo_round_trips_a_multi_mib_body_intact(site: Site) -> None:
    body = os.urandom(8 * 1024 * 1024 + 13)
    response = site.post("/api/echo", data=body)
    assert response.status_code == 200
    assert response.json() == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_a_64_kib_response_arrives_whole(site: Site) -> None:
    response = site.get("/api/bytes?size=65536")
    assert response.status_code == 200
    assert response.content == bytes(range(256)) * 256


def test_body_exactly_at_the_limit_is_accepted(site: Site) -> None:
    body = b"x" * MAX_BODY_BYTES
    response = site.post("/api/echo", data=body)
    assert response.status_code == 200
    assert response.json()["bytes"] == MAX_BODY_BYTES


def test_stream_arrives_in_pieces_as_they_are_produced(site: Site) -> None:
    chunks, interval = 5, 0.4
    arrivals: list[float] = []
    produced: list[float] = []
    with site.get(f"/api/stream?chunks={chunks}&interval={interval}", stream=True) as response:
        assert response.status_code == 200
        assert response.headers.get("Transfer-Encoding") == "chunked"
        for line in response.iter_lines(chunk_size=1):
            arrivals.append(time.time())
            index, stamp = line.decode().split()
            assert int(index) == len(produced)
            produced.append(float(stamp))
    assert len(produced) == chunks
    # The first line was in the client's hands before the app had even produced the last one.
    assert arrivals[0] < produced[-1]


@pytest.mark.parametrize("seconds", ["0", "0.2"])
def test_slow_answers_after_the_requested_time(site: Site, seconds: str) -> None:
    response = site.get(f"/api/slow?seconds={seconds}")
    assert response.status_code == 200
    assert response.json()["slept"] == float(seconds)
    assert response.elapsed.total_seconds() >= float(seconds)


@pytest.mark.parametrize("seconds", ["61", "-1", "abc", "nan", "inf", ""])
def test_slow_rejects_out_of_range_or_non_numeric_values_with_json_400(site: Site, seconds: str) -> None:
    response = site.get(f"/api/slow?seconds={seconds}")
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert "seconds" in response.json()["detail"]


def test_unknown_api_path_is_a_json_404(site: Site) -> None:
    response = site.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["status"] == 404


def test_unknown_page_is_an_html_404(site: Site) -> None:
    response = site.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "404" in response.text
    assert "Traceback" not in response.text


def test_method_not_handled_is_a_json_405(site: Site) -> None:
    response = site.session.delete(site.url("/api/echo"), timeout=30)
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_large_cookie_within_nginx_limits_is_served_not_a_502(site: Site) -> None:
    # nginx accepts header lines up to 8 KiB; the app server behind it must take them too
    # (uWSGI's default 4 KiB buffer would drop the request and nginx would answer 502).
    response = site.get("/api/whoami", headers={"Cookie": "c=" + "x" * 7000})
    assert response.status_code == 200
    assert response.json()["server"] == site.backend


def test_every_response_carries_a_generated_request_id(site: Site) -> None:
    for path in ("/", "/api/whoami", "/static/css/app.css", "/static/missing.css", "/api/no-such-thing"):
        response = site.get(path)
        assert GENERATED.match(response.headers.get("X-Request-ID", "")), path
    first, second = (site.get("/healthz").headers["X-Request-ID"] for _ in range(2))
    assert first != second


def test_a_well_formed_client_id_is_kept_and_reaches_the_app(site: Site) -> None:
    trace = f"client-{uuid.uuid4()}"
    response = site.get("/api/whoami", headers={"X-Request-ID": trace})
    assert response.headers["X-Request-ID"] == trace
    assert response.json()["request_id"] == trace


@pytest.mark.parametrize("bad", ["short", "has spaces in it", "x" * 129, "semi;colon-0001", 'quote"0001'])
def test_anything_else_is_replaced_before_the_app_sees_it(site: Site, bad: str) -> None:
    response = site.get("/api/whoami", headers={"X-Request-ID": bad})
    assert GENERATED.match(response.headers["X-Request-ID"])
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


# A W3C traceparent (version 00) and the trace ID in it.
TRACEPARENT = re.compile(r"^00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")


def test_a_valid_traceparent_and_its_tracestate_reach_the_app_unchanged(site: Site) -> None:
    traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    info = site.get("/api/whoami", headers={"traceparent": traceparent, "tracestate": "vendor=a1,other=b2"}).json()
    assert (info["traceparent"], info["tracestate"]) == (traceparent, "vendor=a1,other=b2")


def test_without_a_traceparent_nginx_starts_a_trace_with_the_request_id_as_trace_id(site: Site) -> None:
    response = site.get("/api/whoami")
    started = TRACEPARENT.match(response.json()["traceparent"])
    assert started is not None
    assert started.group(1) == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "bad",
    [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace ID
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent ID
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # uppercase
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # the forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-00",  # fields a 00 has not
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # a trace ID one digit short
        "not a traceparent",
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace_and_its_tracestate_is_dropped(site: Site, bad: str) -> None:
    response = site.get("/api/whoami", headers={"traceparent": bad, "tracestate": "vendor=a1"})
    info = response.json()
    started = TRACEPARENT.match(info["traceparent"])
    assert started is not None
    assert started.group(1) == response.headers["X-Request-ID"]
    assert info["tracestate"] is None


@pytest.mark.smoke
def test_static_files_come_from_nginx_with_caching_headers(site: Site) -> None:
    response = site.get(STATIC_CSS)
    assert response.status_code == 200
    assert response.content == (app_static_dir() / "css" / "app.css").read_bytes()
    assert response.headers["Content-Type"].startswith("text/css")
    assert "max-age=" in response.headers["Cache-Control"]
    assert site.get("/static/css/no-such-file.css").status_code == 404


@pytest.mark.smoke
def test_a_body_over_the_limit_gets_the_stacks_413(site: Site) -> None:
    response = site.post("/api/echo", data=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert GENERATED.match(response.json()["request_id"])
