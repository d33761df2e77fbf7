"""scripts/env-set (make acme-*): one line per setting in .env, each value written as given."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.facts import ROOT


def env_set(env: Path, *pairs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROOT / "scripts" / "env-set", "--file", str(env), *pairs], capture_output=True, text=True, timeout=30
    )


def test_a_value_is_written_literally_on_one_line(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("#ACME_EMAIL=old\nOTHER=1\n")
    assert env_set(env, r"ACME_EMAIL=a\nHTTP_BIND=0.0.0.0", "ACME_DOMAINS=example.com").returncode == 0
    assert env.read_text().splitlines() == [r"ACME_EMAIL=a\nHTTP_BIND=0.0.0.0", "OTHER=1", "ACME_DOMAINS=example.com"]


def test_a_value_with_a_line_break_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("OTHER=1\n")
    for value in ("a\nHTTP_BIND=0.0.0.0", "a\rHTTP_BIND=0.0.0.0"):
        refused = env_set(env, f"ACME_EMAIL={value}")
        assert refused.returncode == 64
        assert "line break" in refused.stderr
    assert env.read_text() == "OTHER=1\n"
