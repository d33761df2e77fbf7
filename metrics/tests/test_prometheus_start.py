"""metrics/prometheus-start puts APP_METRICS_PORT into a sed script: a port number, or nothing runs."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.facts import ROOT


@pytest.mark.parametrize("port", ["9200/g; s/scrape/x", "9200 ", "", "9x"])
def test_anything_but_a_port_number_is_refused_before_it_reaches_sed(port: str) -> None:
    result = subprocess.run(
        ["sh", ROOT / "metrics" / "prometheus-start", "--check"],
        env={**os.environ, "APP_METRICS_PORT": port},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "APP_METRICS_PORT" in result.stderr
