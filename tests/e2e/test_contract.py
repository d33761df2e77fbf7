"""The app contract: what the stack promises any app in app/ (the sample, or a fork's own), proven
through the real stack on both backends without knowing a single route of the app. A fork keeps
these as its stack-level safety net; what needs a route (a slow request, an exception page) is
proven on the tests' own app by the rest of tests/e2e."""

from __future__ import annotations

import time
import uuid

import pytest

from stackctl import parse_size

from .stack import APP_SETTINGS, Stack, StackFactory, send

pytestmark = pytest.mark.contract
# What every answer carries, whoever made it (nginx/headers.conf).
SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy")


def unknown_path() -> str:
    return f"/no-such-path-{uuid.uuid4().hex}"


def test_healthz_answers_and_names_the_server(app_stack: Stack) -> None:
    response = app_stack.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "server": app_stack.backend}


def test_a_file_of_the_apps_static_folder_comes_from_nginx_with_cache_headers(app_stack: Stack) -> None:
    # The folder Flask reports for the app (the build asked it: stackctl static).
    files = sorted(path for path in app_stack.static_dir.rglob("*") if path.is_file())
    with app_stack.app_paused():
        missing = app_stack.get("/static/no-such-file.txt", timeout=5)
        served = app_stack.get(f"/static/{files[0].relative_to(app_stack.static_dir)}", timeout=5) if files else None
    assert missing.status_code == 404
    if served is None:
        return  # an app without static files: nginx answers 404 for all of /static/, as above
    assert served.status_code == 200
    assert served.content == files[0].read_bytes()
    assert "max-age=" in served.headers["Cache-Control"]
    assert "ETag" in served.headers


def test_an_unknown_path_is_a_404_without_a_traceback(app_stack: Stack) -> None:
    response = app_stack.get(unknown_path())
    assert response.status_code == 404
    assert "Traceback" not in response.text
    assert response.headers["X-Request-ID"]


def test_a_body_over_the_limit_is_nginxs_413_the_app_never_sees(app_stack: Stack) -> None:
    limit = parse_size(app_stack.setting("nginx", "MAX_BODY_SIZE"))
    with app_stack.app_paused():
        response = app_stack.post(unknown_path(), data=b"x" * (limit + 1), timeout=30)
    assert response.status_code == 413
    assert response.headers["X-Request-ID"] in response.text
    assert "nginx" not in response.text.lower()


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        ("GET /healthz HTTP/1.1", 200),
        ("GET /no-such-path HTTP/1.1", 404),
        ("TRACE / HTTP/1.1", 405),
        ("GET /static/../../etc/passwd HTTP/1.1", 400),
        ("GET /static/no-such-file.css HTTP/1.1", 404),
    ],
)
def test_security_headers_on_every_status(app_stack: Stack, request_line: str, status: int) -> None:
    reply = send(app_stack, f"{request_line}\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    assert reply.status == status, reply
    assert not [name for name in SECURITY_HEADERS if name not in reply.headers], reply.headers
    assert "Server" not in reply.headers or "/" not in reply.headers["Server"], reply.headers


def test_the_request_id_is_in_the_apps_log_and_stop_ends_within_the_grace_period(
    new_stack: StackFactory, app_images: None
) -> None:
    # The server's own request lines (APP_ACCESS_LOG=on) carry it, whatever the app logs itself.
    stack = new_stack(APP_ACCESS_LOG="on", APP_DIR=APP_SETTINGS["APP_DIR"], IMAGE_TAG=APP_SETTINGS["IMAGE_TAG"])
    request_id = f"contract-{uuid.uuid4()}"
    assert stack.get(unknown_path(), headers={"X-Request-ID": request_id}).status_code == 404
    assert stack.logged("app", lambda line: f"id={request_id}" in line), stack.logs("app")[-2000:]

    grace = int(stack.setting("app", "APP_GRACEFUL_TIMEOUT"))
    started = time.monotonic()
    stack.compose("stop", "app", timeout=120)
    took = time.monotonic() - started
    state = stack.state("app")
    assert (state["Status"], state["ExitCode"]) == ("exited", 0), state
    assert took < grace, f"docker compose stop took {took:.1f} s"
