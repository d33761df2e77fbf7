"""What a fork inherits for its upkeep (docs/updates.md): Renovate's config finds what it must
bump where it is, every requirements file can be re-pinned as `make requirements` pins it, and
the workflows' actions are pinned by commit."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

from tests.facts import ROOT, dockerfile

RENOVATE = json.loads((ROOT / "renovate.json").read_text())


def tracked(pattern: str) -> list[str]:
    result = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.split()


def python_regex(renovate_pattern: str) -> re.Pattern[str]:
    """A Renovate pattern (JavaScript: /.../ around file patterns, (?<name>) groups) for Python."""
    return re.compile(renovate_pattern.strip("/").replace("(?<", "(?P<"))


def test_the_base_image_rule_finds_the_dockerfiles_default() -> None:
    (manager,) = RENOVATE["customManagers"]
    files = [
        path
        for path in tracked("*Dockerfile")
        if any(python_regex(p).search(path) for p in manager["managerFilePatterns"])
    ]
    found = [
        match.groupdict()
        for path in files
        for pattern in manager["matchStrings"]
        for match in python_regex(pattern).finditer((ROOT / path).read_text())
    ]
    name, tag = dockerfile("BASE_IMAGE").split(":")
    assert found == [{"depName": name, "currentValue": tag}]


def test_every_requirements_file_is_re_pinned_as_make_requirements_pins_it() -> None:
    patterns = [python_regex(pattern) for pattern in RENOVATE["pip-compile"]["managerFilePatterns"]]
    makefile = (ROOT / "Makefile").read_text()
    # Every option but --quiet, which only changes what pip-compile prints.
    command = makefile[makefile.index("pip-compile --") :].split("requirements.in")[0]
    options = set(re.findall(r"--[a-z-]+", command)) - {"--quiet"}
    assert "--generate-hashes" in options
    files = tracked("*requirements.txt")
    assert sorted(files) == [
        "app/requirements.txt",
        "bench/requirements.txt",
        "tests/checkov/requirements.txt",
        "tests/requirements.txt",
    ]
    for path in files:
        assert any(pattern.search(path) for pattern in patterns), path
        # Renovate re-runs the command the header names: the Makefile's options, all of them.
        (command,) = re.findall(r"^#\s+(pip-compile .*)$", (ROOT / path).read_text(), re.MULTILINE)
        assert options <= set(re.findall(r"--[a-z-]+", command)), (path, command)


def test_workflow_actions_are_pinned_by_commit_with_their_version() -> None:
    uses = [
        line.split("uses:", 1)[1].strip()
        for path in tracked(".github/workflows/*.yml")
        for line in (ROOT / path).read_text().splitlines()
        if "uses:" in line
    ]
    assert uses
    for use in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}  # v\d+(\.\d+)*", use), use


def test_every_test_file_is_collected_by_make_test() -> None:
    """pyproject's testpaths (globs: an optional feature's tests come and go with its folder)
    reach every test file git tracks."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    reached = [folder for pattern in config["testpaths"] for folder in ROOT.glob(pattern)]
    for path in tracked("*test_*.py"):
        assert any(folder in (ROOT / path).parents for folder in reached), f"make test never runs {path}"
