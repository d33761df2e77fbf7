"""nginx's rendered configuration passes `nginx -t` in every combination of the optional pieces.

The stacks the other tests run prove some combinations by serving; this covers all of them
cheaply: compose renders nginx's environment as `make up-*` would, and the image's entrypoint
renders the templates before `nginx -t` reads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .stack import TLS_FILES, StackFactory

COMBINATIONS = {
    "plain": {},
    "prefix": {"APP_PREFIX": "/myapp/v2"},
    "limits": {"TRUSTED_PROXIES": "10.0.0.0/8,192.168.1.7,2001:db8::/32", "RATE_LIMIT": "600r/m", "CONN_LIMIT": "8"},
    "tls": {"TLS": "on"},
    "tls-prefix-limits": {"TLS": "on", "APP_PREFIX": "/a", "RATE_LIMIT": "1r/s", "CONN_LIMIT": "1"},
}


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_the_rendered_config_passes_nginx_t(
    new_stack: StackFactory, certs: Path, backend: str, combination: str
) -> None:
    settings = dict(COMBINATIONS[combination])
    files: tuple[Path, ...] = ()
    if settings.get("TLS") == "on":
        files = TLS_FILES
        settings |= {"TLS_CERT": str(certs / "tls.crt"), "TLS_KEY": str(certs / "tls.key")}
    stack = new_stack(*files, start=False, **settings)
    result = stack.compose("run", "--rm", "--no-deps", "nginx", "nginx", "-t", check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test is successful" in result.stderr
