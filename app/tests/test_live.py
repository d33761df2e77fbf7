"""The sample's live part (app/webapp/live.py) through the stack with WebSockets (ws/), on both
backends: the page links a socket under WEBSOCKET_PATH, which nginx passes to the ws service, and
which answers. A fork replaces it with its own; without ws/ it has nothing to run on and is not
collected."""

from __future__ import annotations

import json
import re

import pytest
from websockets.sync.client import connect

from tests.e2e.stack import APP_SETTINGS, BACKENDS, ROOT, running_stack

WS = ROOT / "ws"
if not (WS / "compose.yaml").exists():
    pytest.skip("the ws feature is not there (ws/ deleted)", allow_module_level=True)

pytestmark = [pytest.mark.app, pytest.mark.e2e]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: f"ws-{backend}")
def test_the_page_links_a_live_socket_that_answers(backend: str, app_images: None) -> None:
    with running_stack(
        backend, (WS / "compose.yaml",), APP_DIR=APP_SETTINGS["APP_DIR"], IMAGE_TAG=APP_SETTINGS["IMAGE_TAG"]
    ) as stack:
        found = re.search(r'<section id="live" data-url="([^"]+)"', stack.get("/").text)
        assert found, "the page has no live part"
        # Built by Flask from what nginx passed on: the address the client used, as a ws:// URL.
        assert found[1] == stack.url("/ws/live").replace("http://", "ws://", 1)
        with connect(found[1], open_timeout=10, close_timeout=5) as ws:
            ws.send("hello")
            answer = json.loads(ws.recv(timeout=10))
        assert answer == {"said": "hello", "sockets": 1, "server": backend}
