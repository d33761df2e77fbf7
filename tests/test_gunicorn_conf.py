"""gunicorn/gunicorn.conf.py's worker_exit: a worker leaves with the status it was leaving with,
after its exit handlers, without Python's teardown of what the app made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.facts import ROOT, compose_defaults

LEAVING = {
    "sys.exit(0)": 0,
    "sys.exit()": 0,
    "sys.exit(4)": 4,  # Gunicorn's APP_LOAD_ERROR: the master must see it to stop
    "sys.exit('failed')": 1,
    "raise RuntimeError('boom')": 1,
}


@pytest.mark.parametrize(("leaving", "status"), LEAVING.items())
def test_the_worker_leaves_with_its_status_after_its_exit_handlers(leaving: str, status: int, tmp_path: Path) -> None:
    marker = tmp_path / "atexit-ran"
    script = f"""
import atexit, runpy, sys
class Made:
    def __del__(self):
        print("torn down")
made = Made()
config = runpy.run_path({str(ROOT / "gunicorn" / "gunicorn.conf.py")!r})
atexit.register(lambda: open({str(marker)!r}, "w").close())
try:
    {leaving}
finally:
    config["worker_exit"](None, None)
"""
    environ = {**os.environ, **compose_defaults(), "PYTHONPATH": str(ROOT / "runtime")}
    environ["APP_SOCKET"] = str(tmp_path / "app.sock")
    result = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == status, result.stderr
    assert marker.exists()
    assert "torn down" not in result.stdout
