"""Development mode (compose.dev.yaml): edit the source, see the change, no restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .stack import APP_PACKAGE, ROOT, Stack, StackFactory

ADDED_ROUTES = """

@bp.get("/api/dev-probe")
def dev_probe() -> Response:
    return jsonify(version=2)


@bp.get("/api/dev-boom")
def dev_boom() -> Response:
    raise RuntimeError("raised on purpose in development")
"""


@pytest.fixture
def dev_stack(new_stack: StackFactory, tmp_path: Path) -> tuple[Stack, Path]:
    """Development mode on a copy of the app's source, which the test edits."""
    source = tmp_path / "app"
    shutil.copytree(ROOT / "app", source, ignore=shutil.ignore_patterns("__pycache__"))
    return new_stack(ROOT / "compose.dev.yaml", APP_SOURCE=str(source)), source


def test_an_edit_is_served_without_a_restart_and_errors_show_their_traceback(dev_stack: tuple[Stack, Path]) -> None:
    stack, source = dev_stack
    started = stack.state("app")["StartedAt"]
    assert stack.get("/api/dev-probe").status_code == 404

    with (source / APP_PACKAGE / "views.py").open("a") as views:
        views.write(ADDED_ROUTES)

    response = stack.wait_for("/api/dev-probe", 30)
    assert response.status_code == 200, stack.logs("app")[-2000:]
    assert response.json() == {"version": 2}

    boom = stack.get("/api/dev-boom")
    assert boom.status_code == 500
    assert "RuntimeError: raised on purpose in development" in boom.json()["traceback"]
    assert stack.state("app")["StartedAt"] == started, "the container was restarted"


def test_static_files_are_served_from_the_source_in_development(dev_stack: tuple[Stack, Path]) -> None:
    stack, source = dev_stack
    css = source / APP_PACKAGE / "static" / "css" / "app.css"
    css.write_text(css.read_text() + "\n/* edited */\n")
    assert stack.get("/static/css/app.css").text.endswith("/* edited */\n")
