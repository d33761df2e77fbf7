"""The compose stack from inside: its logs, its containers, the app paused (what a client sees
is in test_black_box.py, which runs against every site)."""

from __future__ import annotations

import json
import uuid

from tests.facts import compose_defaults, dockerfile

from .stack import MAX_BODY_BYTES, Stack, StackFactory

STATIC_CSS = "/static/css/app.css"


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
    logged = stack.logged_json("nginx", lambda entry: probe in str(entry.get("uri")))
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


def test_body_over_the_limit_gets_413_from_nginx_without_the_app(stack: Stack) -> None:
    with stack.app_paused():
        response = stack.post("/api/echo", data=b"x" * (MAX_BODY_BYTES + 1), timeout=10)
    assert response.status_code == 413
    assert any(
        f"client intended to send too large body: {MAX_BODY_BYTES + 1} bytes" in line
        for line in stack.messages("nginx")
    )


def test_socket_is_0660_owned_by_the_app_and_reachable_through_nginx_group(stack: Stack) -> None:
    uid, gid = dockerfile("APP_UID"), dockerfile("APP_GID")
    # The public path is a link to the app container's own socket, in a directory of the app's.
    assert stack.exec("app", "stackctl", "published").endswith(
        f"app-{stack.inspect('app', '{{.Config.Hostname}}')}.sock\n"
    )
    directory = stack.socket.rsplit("/", 1)[0]
    assert stack.exec("nginx", "stat", "-c", "%a %u %g", directory).split() == ["750", uid, gid]
    mode, owner, group, kind = stack.exec("nginx", "stat", "-L", "-c", "%a %u %g %F", stack.socket).split(maxsplit=3)
    assert (mode, owner, group, kind.strip()) == ("660", uid, gid, "socket")
    assert gid in stack.exec("nginx", "id", "-G").split()
    assert stack.exec("nginx", "id", "-u").strip() == dockerfile("NGINX_UID")
    assert stack.exec("app", "id", "-u").strip() == uid


def test_app_listens_on_no_tcp_port_but_its_metrics_one_and_publishes_none(stack: Stack) -> None:
    processes, *listeners = stack.probe("app", "tcp_listeners").split()
    assert int(processes) >= 4, "expected the master, two workers and this probe"
    # nginx reaches the app over the unix socket only; Prometheus scrapes the metrics port.
    assert listeners == [compose_defaults()["APP_METRICS_PORT"]]
    published = json.loads(stack.compose("ps", "--format", "json", "app").stdout or "[]")
    rows = published if isinstance(published, list) else [published]
    assert rows, "app container not listed"
    assert all(not row.get("Publishers") for row in rows)


def test_with_metrics_off_the_app_listens_on_no_tcp_port(new_stack: StackFactory) -> None:
    stack = new_stack(APP_METRICS="off")
    _, *listeners = stack.probe("app", "tcp_listeners").split()
    assert listeners == []


def test_servers_run_as_pid_1(stack: Stack) -> None:
    app_cmd = stack.exec("app", "cat", "/proc/1/cmdline").replace("\0", " ")
    assert stack.backend in app_cmd
    assert stack.exec("nginx", "cat", "/proc/1/comm").strip() == "nginx"


def test_the_app_is_imported_once_in_the_master_and_the_workers_fork_from_it(stack: Stack) -> None:
    # Flask's imports load MarkupSafe's C extension: mapped in the master (PID 1), the app was
    # imported there, and every worker, recycled ones too, starts with it instead of importing
    # it again (uWSGI's default; Gunicorn's preload_app). Gunicorn's reloader (APP_RELOAD=on)
    # is the exception: there the master maps none of it.
    master_maps = stack.exec("app", "cat", "/proc/1/maps")
    assert "markupsafe" in master_maps
