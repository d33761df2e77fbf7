"""The sample's notes (app/webapp/notes.py) through the stack with PostgreSQL (postgres/), as a
user runs it with make: a note written on one server is read back on the other after `make
down`, which keeps the database. A fork replaces it with its own; without postgres/ it has
nothing to run on and is not collected: its cases are named after the feature, as those of the
stack's tests that go through a feature are."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack import APP_SETTINGS, BACKENDS, ROOT, Stack, running_stack

POSTGRES = ROOT / "postgres"
if not (POSTGRES / "compose.yaml").exists():
    pytest.skip("the postgres feature is not there (postgres/ deleted)", allow_module_level=True)

pytestmark = [pytest.mark.app, pytest.mark.e2e]


@pytest.fixture
def stack(app_images: None) -> Iterator[Stack]:
    """A stack of the sample, not started: the test starts it with make, as a user does."""
    with running_stack("uwsgi", (POSTGRES / "compose.yaml",), start=False, **APP_SETTINGS) as stack:
        yield stack


def up(stack: Stack, backend: str) -> None:
    result = stack.make(f"up-{backend}")
    assert result.returncode == 0, result.stdout + result.stderr
    stack.find_port()
    assert stack.get("/healthz").json()["server"] == backend


# Written on one server, read on the other: both ways.
PAIRS = [BACKENDS, BACKENDS[::-1]]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"postgres-{first}-{second}" for first, second in PAIRS])
def test_a_note_written_on_one_server_is_read_on_the_other_after_make_down(
    stack: Stack, first: str, second: str
) -> None:
    up(stack, first)
    created = stack.post("/api/notes", json={"text": f"written on {first}"})
    assert created.status_code == 201, created.text
    note = created.json()
    assert stack.get(created.headers["Location"]).json() == note

    down = stack.make("down")
    assert down.returncode == 0, down.stderr
    assert "postgres-data" in stack.volumes()

    up(stack, second)
    assert stack.get(f"/api/notes/{note['id']}").json() == note
    assert note in stack.get("/api/notes").json()


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: f"postgres-{backend}")
def test_a_note_must_have_text(stack: Stack, backend: str) -> None:
    up(stack, backend)
    for body in ({}, {"text": ""}, {"text": 7}, {"text": "x" * 10_001}):
        answer = stack.post("/api/notes", json=body)
        assert answer.status_code == 400, (body, answer.text)
    assert stack.get("/api/notes/999999").status_code == 404
