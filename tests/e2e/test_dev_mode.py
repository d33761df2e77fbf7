"""Development mode (compose.dev.yaml): edit the source, see the change, no restart."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .stack import BACKENDS, ROOT, SETTINGS, Stack, running_stack

# Added to the app's wsgi.py, the one file every app has.
ADDED_ROUTES = """

@app.get("/api/dev-probe")
def dev_probe():
    return {"version": 2}


@app.get("/api/dev-boom")
def dev_boom():
    raise RuntimeError("raised on purpose in development")
"""


@pytest.fixture(scope="module", params=BACKENDS)
def dev_stack(
    request: pytest.FixtureRequest, images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Path]]:
    """Development mode on a copy of the app's source, which the tests edit (each its own file)."""
    source = tmp_path_factory.mktemp("dev") / "app"
    shutil.copytree(ROOT / SETTINGS["APP_DIR"], source, ignore=shutil.ignore_patterns("__pycache__"))
    with running_stack(request.param, (ROOT / "compose.dev.yaml",), APP_SOURCE=str(source)) as stack:
        yield stack, source


def test_an_edit_is_served_without_a_restart_and_errors_show_their_traceback(dev_stack: tuple[Stack, Path]) -> None:
    stack, source = dev_stack
    started = stack.state("app")["StartedAt"]
    assert stack.get("/api/dev-probe").status_code == 404

    with (source / "wsgi.py").open("a") as entry:
        entry.write(ADDED_ROUTES)

    response = stack.wait_for("/api/dev-probe", 30)
    assert response.status_code == 200, stack.logs("app")[-2000:]
    assert response.json() == {"version": 2}

    # Each worker reloads on its own when it sees the change: one served the new code, the others
    # follow within their reloader's poll.
    deadline = time.monotonic() + 30
    while (boom := stack.get("/api/dev-boom")).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert boom.status_code == 500
    assert "RuntimeError: raised on purpose in development" in boom.json()["traceback"]
    assert stack.state("app")["StartedAt"] == started, "the container was restarted"


def test_static_files_are_served_from_the_source_in_development(dev_stack: tuple[Stack, Path]) -> None:
    stack, source = dev_stack
    static = source / stack.static_dir.relative_to(ROOT / SETTINGS["APP_DIR"])
    (static / "added.txt").write_text("added in development\n")
    css = static / "css" / "app.css"
    css.write_text(css.read_text() + "\n/* edited */\n")
    assert stack.get("/static/css/app.css").text.endswith("/* edited */\n")
    assert stack.get("/static/added.txt").text == "added in development\n"
