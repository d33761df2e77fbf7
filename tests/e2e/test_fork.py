"""A fork's stack (tests/fork.py: the sample package renamed, only app/ changed) builds and serves
its app, static files included, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fork import RENAMED, make_fork

from .stack import base_image, build_images, running_stack

# Its own images, from the fork's copy.
pytestmark = pytest.mark.e2e

TAG = "fork"


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = make_fork(tmp_path_factory.mktemp("fork"))
    build_images(base_image(), copy, APP_DIR="app", IMAGE_TAG=TAG)
    return copy


def test_a_forks_stack_serves_its_renamed_app_and_static_files(fork: Path, backend: str) -> None:
    with running_stack(backend, (), fork, APP_DIR="app", IMAGE_TAG=TAG) as stack:
        assert stack.get("/").status_code == 200
        assert stack.get("/healthz").json() == {"status": "ok", "server": backend}
        assert stack.get("/api/whoami").json()["server"] == backend
        assert stack.static_dir == fork / "app" / RENAMED / "static"
        css = stack.get("/static/css/app.css")
        assert css.status_code == 200
        assert css.content == (stack.static_dir / "css" / "app.css").read_bytes()
