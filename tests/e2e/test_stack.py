"""The running stack, driven over HTTP through nginx, on each backend."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid

import pytest

from .stack import MAX_BODY_BYTES, Stack, dockerfile_arg

STATIC_CSS = "/static/css/app.css"


def test_index_is_the_apps_page_with_assets_from_static(stack: Stack) -> None:
    response = stack.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>Flask behind nginx</h1>" in response.text
    assert 'href="/static/css/app.css"' in response.text
    assert 'src="/static/js/app.js"' in response.text


def test_unknown_host_still_reaches_the_app_not_an_nginx_default_page(stack: Stack) -> None:
    response = stack.get("/", headers={"Host": "unknown.example"})
    assert response.status_code == 200
    assert "Welcome to nginx" not in response.text
    assert "<h1>Flask behind nginx</h1>" in response.text


def test_healthz_names_the_server_actually_running(stack: Stack) -> None:
    response = stack.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "server": stack.backend}


def test_whoami_reports_the_request_as_the_app_saw_it(stack: Stack) -> None:
    info = stack.get("/api/whoami").json()
    assert set(info) >= {"remote_addr", "scheme", "host", "script_root", "server", "pid"}
    assert info["server"] == stack.backend
    assert info["scheme"] == "http"
    assert info["host"] == stack.base_url.removeprefix("http://")
    assert info["script_root"] == ""
    assert isinstance(info["pid"], int)


def test_real_client_address_reaches_the_app_and_spoofed_headers_do_not(stack: Stack) -> None:
    probe = uuid.uuid4().hex
    info = stack.get(
        f"/api/whoami?probe={probe}",
        headers={
            "X-Forwarded-For": "203.0.113.66",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "attacker.example",
        },
    ).json()
    assert info["remote_addr"] != "203.0.113.66"
    assert info["scheme"] == "http"
    assert info["host"] == stack.base_url.removeprefix("http://")
    # The address nginx saw (in its access log) is the one the app got.
    logged = [entry for entry in stack.json_messages("nginx") if probe in str(entry.get("uri"))]
    assert logged, "nginx did not log the request"
    assert info["remote_addr"] == logged[-1]["remote_addr"]


def test_static_files_are_served_by_nginx_without_the_app(stack: Stack) -> None:
    expected = (stack.static_dir / "css" / "app.css").read_bytes()
    with stack.app_paused():
        response = stack.get(STATIC_CSS, timeout=5)
        missing = stack.get("/static/css/no-such-file.css", timeout=5)
    assert response.status_code == 200
    assert response.content == expected
    assert response.headers["Content-Type"].startswith("text/css")
    assert "max-age=" in response.headers["Cache-Control"]
    assert "ETag" in response.headers
    assert missing.status_code == 404


def test_static_files_are_gzipped_for_clients_that_accept_it(stack: Stack) -> None:
    js = stack.get("/static/js/app.js", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert js.status_code == 200
    assert js.headers.get("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in js.headers.get("Vary", "")


def test_echo_round_trips_a_multi_mib_body_intact(stack: Stack) -> None:
    body = os.urandom(8 * 1024 * 1024 + 13)
    response = stack.post("/api/echo", data=body)
    assert response.status_code == 200
    assert response.json() == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_a_64_kib_response_arrives_whole(stack: Stack) -> None:
    response = stack.get("/api/bytes?size=65536")
    assert response.status_code == 200
    assert response.content == bytes(range(256)) * 256


def test_body_exactly_at_the_limit_is_accepted(stack: Stack) -> None:
    body = b"x" * MAX_BODY_BYTES
    response = stack.post("/api/echo", data=body)
    assert response.status_code == 200
    assert response.json()["bytes"] == MAX_BODY_BYTES


def test_body_over_the_limit_gets_413_from_nginx_without_the_app(stack: Stack) -> None:
    with stack.app_paused():
        response = stack.post("/api/echo", data=b"x" * (MAX_BODY_BYTES + 1), timeout=10)
    assert response.status_code == 413
    assert any(
        f"client intended to send too large body: {MAX_BODY_BYTES + 1} bytes" in line
        for line in stack.messages("nginx")
    )


def test_stream_arrives_in_pieces_as_they_are_produced(stack: Stack) -> None:
    chunks, interval = 5, 0.4
    arrivals: list[float] = []
    produced: list[float] = []
    with stack.get(f"/api/stream?chunks={chunks}&interval={interval}", stream=True) as response:
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
def test_slow_answers_after_the_requested_time(stack: Stack, seconds: str) -> None:
    response = stack.get(f"/api/slow?seconds={seconds}")
    assert response.status_code == 200
    assert response.json()["slept"] == float(seconds)
    assert response.elapsed.total_seconds() >= float(seconds)


@pytest.mark.parametrize("seconds", ["61", "-1", "abc", "nan", "inf", ""])
def test_slow_rejects_out_of_range_or_non_numeric_values_with_json_400(stack: Stack, seconds: str) -> None:
    response = stack.get(f"/api/slow?seconds={seconds}")
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert "seconds" in response.json()["detail"]


def test_unknown_api_path_is_a_json_404(stack: Stack) -> None:
    response = stack.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["status"] == 404


def test_unknown_page_is_an_html_404(stack: Stack) -> None:
    response = stack.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "404" in response.text
    assert "Traceback" not in response.text


def test_method_not_handled_is_a_json_405(stack: Stack) -> None:
    response = stack.session.delete(stack.url("/api/echo"), timeout=30)
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_socket_is_0660_owned_by_the_app_and_reachable_through_nginx_group(stack: Stack) -> None:
    uid, gid = dockerfile_arg("APP_UID"), dockerfile_arg("APP_GID")
    # The public path is a link to the app container's own socket, in a directory of the app's.
    assert stack.exec("app", "stackctl", "published").endswith(
        f"app-{stack.inspect('app', '{{.Config.Hostname}}')}.sock\n"
    )
    directory = stack.socket.rsplit("/", 1)[0]
    assert stack.exec("nginx", "stat", "-c", "%a %u %g", directory).split() == ["750", uid, gid]
    mode, owner, group, kind = stack.exec("nginx", "stat", "-L", "-c", "%a %u %g %F", stack.socket).split(maxsplit=3)
    assert (mode, owner, group, kind.strip()) == ("660", uid, gid, "socket")
    assert gid in stack.exec("nginx", "id", "-G").split()
    assert stack.exec("nginx", "id", "-u").strip() == dockerfile_arg("NGINX_UID")
    assert stack.exec("app", "id", "-u").strip() == uid


def test_app_listens_on_no_tcp_port_and_publishes_none(stack: Stack) -> None:
    processes, *listeners = stack.probe("app", "tcp_listeners").split()
    assert int(processes) >= 4, "expected the master, two workers and this probe"
    assert listeners == []
    published = json.loads(stack.compose("ps", "--format", "json", "app").stdout or "[]")
    rows = published if isinstance(published, list) else [published]
    assert rows, "app container not listed"
    assert all(not row.get("Publishers") for row in rows)


def test_servers_run_as_pid_1(stack: Stack) -> None:
    app_cmd = stack.exec("app", "cat", "/proc/1/cmdline").replace("\0", " ")
    assert stack.backend in app_cmd
    assert stack.exec("nginx", "cat", "/proc/1/comm").strip() == "nginx"


def test_large_cookie_within_nginx_limits_is_served_not_a_502(stack: Stack) -> None:
    # nginx accepts header lines up to 8 KiB; the app server behind it must take them too
    # (uWSGI's default 4 KiB buffer would drop the request and nginx would answer 502).
    response = stack.get("/api/whoami", headers={"Cookie": "c=" + "x" * 7000})
    assert response.status_code == 200
    assert response.json()["server"] == stack.backend
