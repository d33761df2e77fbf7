"""The sample app through its test client: no Docker, seconds. A fork replaces these with its own."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from settings_check import problems
from webapp import create_app
from webapp.views import wsgi_server


@pytest.fixture
def app() -> Flask:
    app = create_app({"TESTING": True})

    @app.get("/api/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    @app.get("/boom")
    def boom_page() -> str:
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def json_of(response: TestResponse) -> Any:
    """The response's JSON body; a response without one fails here."""
    body = response.json
    assert body is not None, response.get_data(as_text=True)
    return body


def test_body_of_exactly_the_limit_is_accepted_when_the_server_terminates_input() -> None:
    # Gunicorn sets wsgi.input_terminated; Werkzeug then raises 413 on any read past the limit,
    # so the app must stop at Content-Length.
    client = create_app({"TESTING": True, "MAX_CONTENT_LENGTH": 1024}).test_client()
    response = client.post("/api/echo", data=b"x" * 1024, environ_base={"wsgi.input_terminated": True})
    assert response.status_code == 200
    assert json_of(response)["bytes"] == 1024


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SERVER_SOFTWARE": "uwsgi/2.0.30"}, "uwsgi"),
        ({"SERVER_SOFTWARE": "gunicorn/27.0.1"}, "gunicorn"),
        ({"SERVER_SOFTWARE": "Werkzeug/3.1.9"}, "werkzeug"),
        ({}, "unknown"),
    ],
)
def test_wsgi_server_is_read_from_what_the_server_sets(environ: dict[str, str], expected: str) -> None:
    assert wsgi_server(environ) == expected


def test_home_redirects_to_the_page_under_the_mount_point(client: FlaskClient) -> None:
    response = client.get("/home", base_url="http://localhost/myapp")
    assert response.status_code == 302
    assert response.headers["Location"] == "/myapp/"


def test_index_links_static_assets(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '/static/css/app.css"' in page
    assert '/static/js/app.js"' in page


def test_whoami_lists_the_names_of_the_headers_it_received(client: FlaskClient) -> None:
    info = json_of(client.get("/api/whoami", headers={"X-Custom": "1"}))
    assert "X-Custom" in info["headers"]
    assert info["headers"] == sorted(info["headers"])


def test_echo_hashes_the_body(client: FlaskClient) -> None:
    body = bytes(range(256)) * 1000
    assert json_of(client.post("/api/echo", data=body)) == {
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def test_unhandled_error_is_a_json_500_without_traceback(client: FlaskClient) -> None:
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert json_of(response)["status"] == 500
    assert "secret internals" not in response.get_data(as_text=True)


def test_unhandled_error_on_a_page_is_an_html_500_without_traceback(client: FlaskClient) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.content_type.startswith("text/html")
    text = response.get_data(as_text=True)
    assert "secret internals" not in text
    assert "Traceback" not in text


def test_debug_mode_shows_the_traceback_and_only_there(app: Flask) -> None:
    app.debug = True
    client = app.test_client()
    api = client.get("/api/boom")
    assert api.status_code == 500
    assert "RuntimeError: secret internals" in json_of(api)["traceback"]
    page = client.get("/boom").get_data(as_text=True)
    assert "RuntimeError: secret internals" in page


def test_404_is_json_under_api_and_html_elsewhere(client: FlaskClient) -> None:
    assert json_of(client.get("/api/nope"))["status"] == 404
    assert client.get("/nope").content_type.startswith("text/html")


def test_the_greeting_setting_is_on_the_page() -> None:
    client = create_app({"TESTING": True, "GREETING": "Hello, shop."}).test_client()
    assert '<p id="greeting">Hello, shop.</p>' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(("value", "fine"), [("Hi.", True), ("", False), ("x" * 201, False), ("<b>", False)])
def test_the_greeting_is_checked_before_the_app_starts(value: str, fine: bool) -> None:
    found = problems({"WEBAPP_GREETING": value})
    assert (found == []) is fine, found


def test_no_route_of_the_sample_holds_a_worker_for_long(app: Flask) -> None:
    """The sample is what a fork starts from and may deploy as it is: no demo route that sleeps or
    streams on request (the stack's tests have their own app for those). Its echo reads at most
    MAX_BODY_SIZE, as fast as nginx hands it over."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - {"boom", "boom_page"}
    assert endpoints == {"main.index", "main.home", "main.whoami", "main.echo", "static"}


def test_with_the_stacks_websockets_the_page_has_a_live_part(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ws/ (flask-sock installed, WEBSOCKET_PATH set) one more route, under WEBSOCKET_PATH:
    the page's live socket, served by the ws service, whose threads, cap and limits bound it
    (ws/README.md); never the app's workers. The page connects to it."""
    pytest.importorskip("flask_sock", reason="ws/ deleted: the sample has no live part")
    monkeypatch.setenv("WEBSOCKET_PATH", "/sockets/")
    live = create_app({"TESTING": True})
    rules = {rule.endpoint: rule.rule for rule in live.url_map.iter_rules()}
    assert rules["live"] == "/sockets/live"
    page = live.test_client().get("/").text
    # Absolute, as Werkzeug builds a WebSocket route's URL: ws:// or wss://, as the client asked.
    assert 'data-url="ws://localhost/sockets/live"' in page
    assert "js/live.js" in page
    monkeypatch.delenv("WEBSOCKET_PATH")
    assert "js/live.js" not in create_app({"TESTING": True}).test_client().get("/").text
