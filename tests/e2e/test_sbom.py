"""The images' SBOMs (scripts/sbom.py, written to test-results/sbom/): what each image really
holds, Debian packages and Python distributions, with the commit it was built from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .stack import ROOT, revision

SERVER_DISTRIBUTION = {"uwsgi": "pyuwsgi", "gunicorn": "gunicorn"}


def components(sbom: dict[str, Any], kind: str) -> dict[str, str]:
    """{name: version} of the SBOM's components of one purl type (deb, pypi)."""
    found = {}
    for component in sbom["components"]:
        match = re.fullmatch(rf"pkg:{kind}/(?:[^/]+/)?([^@]+)@([^?]+)(\?.*)?", component["purl"])
        if match:
            found[match.group(1)] = match.group(2)
    return found


def pinned() -> dict[str, str]:
    """app/requirements.txt's pins, named as purl names them."""
    text = (ROOT / "app" / "requirements.txt").read_text()
    return {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, version in re.findall(r"^([\w.-]+)==(\S+)", text, re.MULTILINE)
    }


def sbom_of(sboms: dict[str, Path], image: str) -> dict[str, Any]:
    (path,) = (path for name, path in sboms.items() if name.split("/")[-1].startswith(f"{image}:"))
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_each_images_sbom_is_what_it_holds_the_apps_exactly_its_pins(sboms: dict[str, Path], backend: str) -> None:
    sbom = sbom_of(sboms, "app")
    assert sbom["bomFormat"] == "CycloneDX"
    # The virtualenv holds the pins and nothing else (pip is removed from it), and the server
    # this backend runs is one of them.
    assert components(sbom, "pypi") == pinned()
    assert SERVER_DISTRIBUTION[backend] in components(sbom, "pypi")
    assert {"python3", "libc6", "base-files"} <= set(components(sbom, "deb"))
    assert sbom["metadata"]["component"]["version"] == revision(ROOT)
    # The other images: their Debian packages, and no Python of their own.
    assert "nginx" in components(sbom_of(sboms, "nginx"), "deb")
    metrics = sbom_of(sboms, "metrics")
    assert {"prometheus", "prometheus-nginx-exporter", "mtail"} <= set(components(metrics, "deb"))
    acme = sbom_of(sboms, "acme")
    assert {"certbot", "python3-certbot"} <= set(components(acme, "deb"))
    # None has a virtualenv (certbot is Debian's, with Debian's Python).
    assert components(sbom_of(sboms, "nginx"), "pypi") == {}
    assert components(metrics, "pypi") == {}
    assert components(acme, "pypi") == {}
