"""The stack's settings, from where they are owned: the compose files. A setting is a
${NAME:-default} there; its default is that one, its meaning the comment lines just above its
first use. Written from them (never by hand):

    .env.example                 the core's settings (compose.yaml, .tls, .dev), with defaults
    docs/configuration.md        the same, as the table between its settings markers
    FOLDER/README.md             an optional feature's (FOLDER/compose.yaml), as the table
                                 between its markers: deleting the folder leaves nothing stale

    python3 scripts/settings.py          write them
    python3 scripts/settings.py --check  exit 1 if one is not what it would write (make lint)

The app's own settings are the app's (app/settings.env), not these.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The core's compose files, in the order a reader meets them; then every feature's overlay.
CORE = ("compose.yaml", "compose.tls.yaml", "compose.dev.yaml")
SETTING = re.compile(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}")
# Settings a compose file uses without a default of its own: Compose's own, and what the
# Dockerfile owns. Their meaning is written here.
OTHERS = {
    "compose.yaml": {
        "COMPOSE_FILE": (
            "compose.yaml",
            "The compose files in use, read by docker compose (and so by make): add an overlay, e.g. "
            "compose.yaml:compose.tls.yaml for HTTPS.",
        ),
        "BASE_IMAGE": (
            "debian:trixie-slim",
            "The Debian 13 base of every image (the Dockerfile's default). Where it cannot be pulled, make "
            "builds an equivalent with debootstrap: docs/offline.md.",
        ),
    },
}
ENV_EXAMPLE = ROOT / ".env.example"
DOCS = ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- settings: written by scripts/settings.py -->", "<!-- /settings -->"


@dataclass
class Setting:
    name: str
    default: str
    meaning: str


def features(root: Path = ROOT) -> list[Path]:
    return sorted(path for path in root.glob("*/compose.yaml") if path.parent.name not in ("app", "tests"))


def settings(path: Path, seen: set[str]) -> list[Setting]:
    """The settings first used in this compose file, in order, each with its meaning."""
    found = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        for name, default in SETTING.findall(line):
            if name in seen:
                continue
            seen.add(name)
            comment: list[str] = []
            for above in reversed(lines[:number]):
                if not above.strip().startswith("#"):
                    break
                comment.insert(0, above.strip().lstrip("#").strip())
            found.append(Setting(name, default, " ".join(comment)))
    for name, (default, meaning) in OTHERS.get(path.name if path.parent == ROOT else "", {}).items():
        if name not in seen:
            seen.add(name)
            found.append(Setting(name, default, meaning))
    return found


def sections(paths: list[Path], root: Path = ROOT) -> list[tuple[str, list[Setting]]]:
    """The settings each file uses first, after what the core's files use."""
    seen: set[str] = set()
    for path in [root / name for name in CORE]:
        settings(path, seen)
    return [(str(path.relative_to(root)), settings(path, set(seen))) for path in paths]


def wrap(text: str, width: int = 97) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def env_example(root: Path = ROOT) -> str:
    out = [
        "# The stack's settings, with their defaults: copy to .env (git ignores it) and change what you",
        "# need; docker compose and make read .env, and variables set in the shell win over it. Written",
        "# by scripts/settings.py from the compose files, where each is used and explained: edit those.",
        "# The app's own settings are in app/settings.env.",
    ]
    for name, found in core_sections(root):
        if not found:
            continue
        out += ["", f"# --- {name} " + "-" * max(3, 91 - len(name))]
        for setting in found:
            out += [f"# {line}" for line in wrap(setting.meaning)]
            out.append(f"{setting.name}={setting.default}")
    return "\n".join(out) + "\n"


def core_sections(root: Path = ROOT) -> list[tuple[str, list[Setting]]]:
    seen: set[str] = set()
    return [(name, settings(root / name, seen)) for name in CORE]


def table(found: list[tuple[str, list[Setting]]]) -> str:
    rows = ["| variable | default | meaning | in |", "| --- | --- | --- | --- |"]
    for name, listed in found:
        for setting in listed:
            default = f"`{setting.default}`" if setting.default else "(empty)"
            rows.append(f"| `{setting.name}` | {default} | {setting.meaning} | `{name}` |")
    return "\n".join(rows)


def with_table(text: str, rows: str) -> str:
    """`text` with `rows` between its markers (unchanged if it has none)."""
    if BEGIN not in text:
        return text
    before, _, rest = text.partition(BEGIN)
    _, _, after = rest.partition(END)
    return f"{before}{BEGIN}\n{rows}\n{END}{after}"


def main(argv: list[str]) -> int:
    wanted = {ENV_EXAMPLE: env_example(), DOCS: with_table(DOCS.read_text(), table(core_sections()))}
    for overlay, found in zip(features(), sections(features()), strict=True):
        readme = overlay.parent / "README.md"
        if readme.exists():
            wanted[readme] = with_table(readme.read_text(), table([found]))
    if argv == ["--check"]:
        stale = [str(path.relative_to(ROOT)) for path, text in wanted.items() if path.read_text() != text]
        if stale:
            print(f"settings: {', '.join(stale)} not as the compose files say: python3 scripts/settings.py")
        return 1 if stale else 0
    for path, text in wanted.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
