"""The sample app's settings (settings.env), checked by `stackctl check` with the stack's own
before anything starts: a bad value stops `up` with its name. A fork replaces it with its own."""

from __future__ import annotations

from collections.abc import Mapping

from stackctl import rule_problems


def greeting(value: str) -> str | None:
    return None if 0 < len(value) <= 200 and "<" not in value else "must be 1 to 200 characters, without <"


RULES = {"WEBAPP_GREETING": greeting}


def problems(environ: Mapping[str, str]) -> list[str]:
    return rule_problems(RULES, environ)
