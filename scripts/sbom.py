"""Write a CycloneDX SBOM of each image: its Debian packages and the Python distributions in its
virtualenv, as the image itself lists them (dpkg-query; importlib.metadata), not as the build
files say they should be. One validated JSON file per image, named after it.

    .venv/bin/python scripts/sbom.py --out test-results/sbom IMAGE...

make sbom runs it on the images make build makes; the end-to-end tests on the images they build.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

SCHEMA = SchemaVersion.V1_6
# What the image lists of itself, one section per inventory. Its Python, if it has one, is the
# virtualenv's: the one that runs the app.
INVENTORY = r"""
. /etc/os-release; echo "os $ID $VERSION_ID"
dpkg-query -W -f 'deb ${Package} ${Version} ${Architecture}\n'
if [ -x /opt/venv/bin/python ]; then
    /opt/venv/bin/python -c 'import importlib.metadata as m
for d in m.distributions(): print("pypi", d.metadata["Name"], d.version)'
fi
"""


def inventory(image: str) -> list[list[str]]:
    """The image's own lines: os ID VERSION, deb NAME VERSION ARCH, pypi NAME VERSION."""
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--read-only", "--entrypoint", "sh", image, "-c", INVENTORY],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise SystemExit(f"sbom: cannot list what {image} holds:\n{result.stderr}")
    return [line.split() for line in result.stdout.splitlines() if line.strip()]


def labels(image: str) -> dict[str, str]:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    found: dict[str, str] = json.loads(result.stdout) or {}
    return found


def bom(image: str) -> Bom:
    lines = inventory(image)
    (os_id, os_version) = next(line[1:] for line in lines if line[0] == "os")
    components = [
        Component(
            name=name,
            version=version,
            purl=PackageURL("deb", os_id, name, version, {"arch": arch, "distro": f"{os_id}-{os_version}"}),
        )
        for _, name, version, arch in (line for line in lines if line[0] == "deb")
    ]
    components += [
        Component(name=name, version=version, purl=PackageURL("pypi", None, normalise(name), version))
        for _, name, version in (line for line in lines if line[0] == "pypi")
    ]
    revision = labels(image).get("org.opencontainers.image.revision") or None
    root = Component(name=image, version=revision, type=ComponentType.CONTAINER)
    result = Bom(components=components)
    result.metadata.component = root
    # Everything is in the image; nothing here knows what needs what.
    result.register_dependency(root, components)
    return result


def normalise(name: str) -> str:
    """A PyPI name as purl spells it (PEP 503: lowercase, runs of -_. as one -)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def write(image: str, out: Path) -> Path:
    text = make_outputter(bom(image), OutputFormat.JSON, SCHEMA).output_as_string(indent=2)
    if error := JsonStrictValidator(SCHEMA).validate_str(text):
        raise SystemExit(f"sbom: the SBOM of {image} is not valid CycloneDX {SCHEMA.to_version()}: {error}")
    path = out / f"{re.sub(r'[^A-Za-z0-9.-]+', '_', image)}.cdx.json"
    path.write_text(text)
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for image in args.images:
        print(f"sbom: {write(image, args.out)} {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
