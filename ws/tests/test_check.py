"""ws/check.py: the WebSocket settings, as `stackctl check` runs them (the overlay mounts
the file into the config service)."""

from __future__ import annotations

import pytest

from tests.facts import compose_defaults
from ws.check import problems

WEBSOCKET = {
    name: value for name, value in compose_defaults("ws/compose.yaml").items() if name.startswith("WEBSOCKET_")
}


def test_the_defaults_pass() -> None:
    assert problems(WEBSOCKET) == []
    assert problems({**WEBSOCKET, "APP_PIDS_LIMIT": compose_defaults()["APP_PIDS_LIMIT"]}) == []


@pytest.mark.parametrize("value", ["*", "https://app.example.com", "http://localhost:8080, https://[::1]:8443"])
def test_origins_listed_or_any_pass(value: str) -> None:
    assert problems({**WEBSOCKET, "WEBSOCKET_ORIGINS": value}) == []


@pytest.mark.parametrize(
    ("changed", "says"),
    [
        ({"WEBSOCKET_PATH": "/"}, "WEBSOCKET_PATH='/' must be a path like /ws/"),
        ({"WEBSOCKET_PATH": "/ws"}, "WEBSOCKET_PATH='/ws' must be a path like /ws/"),
        ({"WEBSOCKET_PATH": "/w s/"}, "must be a path like /ws/"),
        ({"WEBSOCKET_MAX_MESSAGE": "lots"}, "WEBSOCKET_MAX_MESSAGE='lots'"),
        ({"WEBSOCKET_THREADS": "0"}, "WEBSOCKET_THREADS='0' must be a whole number"),
        ({"WEBSOCKET_PING_INTERVAL": "60", "WEBSOCKET_IDLE_TIMEOUT": "60"}, "must be below WEBSOCKET_IDLE_TIMEOUT=60"),
        ({"WEBSOCKET_ORIGINS": "app.example.com"}, "'app.example.com' is not one"),
        ({"WEBSOCKET_ORIGINS": "https://app.example.com/"}, "'https://app.example.com/' is not one"),
        ({"WEBSOCKET_ORIGINS": "https://App.example.com"}, "is not one"),
        ({"WEBSOCKET_ORIGINS": "https://a.example.com,*"}, "'*' is not one"),
        (
            {"WEBSOCKET_THREADS": "200", "APP_PIDS_LIMIT": "256"},
            "APP_PIDS_LIMIT=256 is too low for the ws service's WEBSOCKET_WORKERS=2 x WEBSOCKET_THREADS=200 "
            "(needs at least 812)",
        ),
    ],
)
def test_a_bad_setting_is_named(changed: dict[str, str], says: str) -> None:
    found = problems({**WEBSOCKET, **changed})
    assert len(found) == 1, found
    assert says in found[0]
