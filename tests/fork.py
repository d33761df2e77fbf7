"""A copy of this repository as a team forking it would make it: the sample app's package
renamed, following README's fork steps (only app/ changes)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE, RENAMED = "webapp", "shop"


def make_fork(copy: Path) -> Path:
    """Copy the tracked files into `copy`, rename the package in app/ alone, return `copy`."""
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for name in tracked.stdout.splitlines():
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    # The machine's own CA certificates for builds (host/sync-build-ca), which git ignores.
    shutil.copytree(ROOT / "host" / "build-ca", copy / "host" / "build-ca", dirs_exist_ok=True)
    (copy / "app" / SAMPLE).rename(copy / "app" / RENAMED)
    for path in (copy / "app").rglob("*.py"):
        path.write_text(re.sub(rf"\b{SAMPLE}\b", RENAMED, path.read_text()))
    return copy
