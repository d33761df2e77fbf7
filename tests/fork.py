"""Copies of this repository as teams make them (docs/fork.md): a fork with an app of its own in
app/, two optional features deleted and a service of its own in compose.override.yaml; and copies
without one optional feature. tests/test_fork.py and tests/e2e/test_fork.py run them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The sample's package: nothing outside app/ may name it.
SAMPLE = "webapp"
# The optional features the fork does without.
REMOVED = ("acme", "metrics")

# The fork's app: another package, no /api/ routes, a dependency of its own (humanize), a setting
# with a rule (SHOP_CURRENCY), a secret from a file (SHOP_API_KEY), a service it calls (worker).
FORK_APP = {
    "app/wsgi.py": '''"""The shop's WSGI entry point."""

from shop import create_app

app = create_app()
''',
    "app/shop/__init__.py": '''"""A shop: its page, its orders, and the status of its worker."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import humanize
from flask import Flask, jsonify, render_template


def api_key() -> str:
    """The shop's secret, from the file SHOP_API_KEY_FILE names (never from the environment)."""
    return Path(os.environ["SHOP_API_KEY_FILE"]).read_text().strip()


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return render_template("index.html", currency=os.environ.get("SHOP_CURRENCY", "EUR"))

    @app.get("/orders/<int:order_id>")
    def order(order_id: int):  # type: ignore[no-untyped-def]
        total = order_id * 1234567
        return jsonify(order=order_id, total=humanize.intcomma(total), currency=os.environ["SHOP_CURRENCY"])

    @app.get("/status")
    def status():  # type: ignore[no-untyped-def]
        with urllib.request.urlopen("http://worker:8000/", timeout=5) as answer:
            worker = json.load(answer)
        return jsonify(worker=worker, key_length=len(api_key()))

    # Order totals as they are asked for, over the stack's WebSockets (ws/).
    try:
        from flask_sock import Sock
    except ImportError:
        return app

    @Sock(app).route("/ws/totals")
    def totals(ws):  # type: ignore[no-untyped-def]
        while True:
            order_id = int(ws.receive())
            ws.send(json.dumps({"order": order_id, "total": humanize.intcomma(order_id * 1234567)}))

    return app
''',
    "app/shop/templates/index.html": """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Shop</title>
<link rel="stylesheet" href="{{ url_for('static', filename='shop.css') }}"></head>
<body><h1>The shop</h1><p>Prices in {{ currency }}.</p></body>
</html>
""",
    "app/shop/static/shop.css": "body { font-family: serif; }\n",
    "app/shop/worker.py": '''"""The shop's worker: a service of its own (compose.override.yaml)."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("", 8000), Status).serve_forever()
''',
    "app/requirements.in": "flask==3.1.3\nhumanize\n",
    "app/settings.env": "# The shop's currency: EUR, USD or GBP.\nSHOP_CURRENCY=${SHOP_CURRENCY:-EUR}\n",
    "app/settings_check.py": '''"""The shop's settings, checked before anything starts."""

from collections.abc import Mapping

from stackctl import one_of, rule_problems, secret_problems


def problems(environ: Mapping[str, str]) -> list[str]:
    return rule_problems({"SHOP_CURRENCY": one_of("EUR", "USD", "GBP")}, environ) + secret_problems(
        ["SHOP_API_KEY"], environ
    )
''',
    "app/tests/test_shop.py": '''"""The shop through its test client."""

from shop import create_app


def test_an_order_total_is_humanized(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHOP_CURRENCY", "USD")
    answer = create_app().test_client().get("/orders/2").get_json()
    assert answer == {"order": 2, "total": "2,469,134", "currency": "USD"}
''',
    "app/tests/test_shop_through_the_stack.py": '''"""The shop through the real stack: page, worker, totals."""

import json

import pytest
from websockets.sync.client import connect

from tests.e2e.stack import APP_SETTINGS, BACKENDS, ROOT, Stack, running_stack


def test_the_shop_serves_its_page_and_reaches_its_worker(app_stack: Stack) -> None:
    assert "Prices in EUR." in app_stack.get("/").text
    assert app_stack.get("/status").json() == {"worker": {"status": "ok"}, "key_length": 12}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_shop_tells_totals_over_a_websocket(backend: str, app_images: None) -> None:
    with (
        running_stack(backend, (ROOT / "ws" / "compose.yaml",), start=True, **APP_SETTINGS) as stack,
        connect(stack.url("/ws/totals").replace("http", "ws", 1), open_timeout=10) as ws,
    ):
        ws.send("2")
        assert json.loads(ws.recv(timeout=10)) == {"order": 2, "total": "2,469,134"}
''',
    # The fork's own compose file: its worker service, and its secret for the app and the check.
    "compose.override.yaml": """services:
  worker:
    image: ${IMAGE_PREFIX:-flask-nginx-stack}/app:${IMAGE_TAG:-latest}
    entrypoint: ["python3", "-m", "shop.worker"]
    init: true
    networks: [backend]
    read_only: true
    cap_drop: [ALL]
  config:
    secrets: [shop_api_key]
    environment:
      SHOP_API_KEY_FILE: /run/secrets/shop_api_key
  app:
    secrets: [shop_api_key]
    environment:
      SHOP_API_KEY_FILE: /run/secrets/shop_api_key
    depends_on: [worker]

secrets:
  shop_api_key:
    file: ./app/secrets/api_key
""",
    "app/secrets/api_key": "not-a-secret\n",
}


def git(copy: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=fork", "-c", "user.email=fork@example.com", *args],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def copy_repository(copy: Path) -> Path:
    """The files git tracks (and new ones it would), and the machine's build CAs, in `copy`."""
    listed = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard")
    for name in listed.splitlines():
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    # The machine's own CA certificates for builds (host/sync-build-ca), which git ignores.
    shutil.copytree(ROOT / "host" / "build-ca", copy / "host" / "build-ca", dirs_exist_ok=True)
    return copy


def without(copy: Path, feature: str) -> Path:
    """A copy of this repository with one optional feature's folder deleted, and nothing else,
    committed (make lint reads what git tracks)."""
    copy_repository(copy)
    shutil.rmtree(copy / feature)
    git(copy, "init", "--quiet")
    git(copy, "add", "--all")
    git(copy, "commit", "--quiet", "--message", f"without {feature}")
    return copy


# A fork's runs: its images tagged apart from this session's, its free ports from a range of its own.
FORK_SESSION = {"E2E_IMAGE_TAG": "fork", "E2E_PORTS_FROM": "27000"}


def run(copy: Path, *command: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """A command in the fork, as its team runs it (none of this session's make or xdist state)."""
    env = {**os.environ, **FORK_SESSION, "MAKEFLAGS": "", "PYTHON": sys.executable}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The command's output; a failure says what it printed."""
    assert result.returncode == 0, f"{result.args}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def prepare_fork(copy: Path) -> str:
    """make_fork, its dependency pinned with the stack's (make requirements), committed, and its
    virtualenv made: its path. The tests that run make in it run at once on different workers,
    and each would otherwise make the same .venv over the other's."""
    make_fork(copy)
    ok(run(copy, "make", "requirements", timeout=600))
    git(copy, "add", "--all")
    git(copy, "commit", "--quiet", "--message", "the fork")
    ok(run(copy, "make", ".venv/.installed", timeout=600))
    return str(copy)


def make_fork(copy: Path) -> Path:
    """The fork, in a git repository of its own whose first commit is the template: app/
    replaced, REMOVED deleted, compose.override.yaml added. Its lock is still the template's."""
    copy_repository(copy)
    git(copy, "init", "--quiet", "--initial-branch=template")
    git(copy, "add", "--all")
    git(copy, "commit", "--quiet", "--message", "the template")
    git(copy, "switch", "--quiet", "--create", "fork")
    lock = (copy / "app" / "requirements.txt").read_text()
    shutil.rmtree(copy / "app")
    for feature in REMOVED:
        shutil.rmtree(copy / feature)
    for name, text in FORK_APP.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text(text)
    (copy / "app" / "requirements.txt").write_text(lock)
    # nginx's and the app's users read the secret from a bind mount (Compose file secrets).
    (copy / "app" / "secrets" / "api_key").chmod(0o644)
    return copy
