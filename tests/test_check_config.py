"""The settings validator that the `config` service runs before anything starts."""

from __future__ import annotations

import pytest

from check_config import RULES, main, problems

DEFAULTS = {
    "APP_SERVER": "uwsgi",
    "APP_WORKERS": "auto",
    "APP_THREADS": "4",
    "APP_BACKLOG": "1024",
    "APP_TIMEOUT": "75",
    "APP_GRACEFUL_TIMEOUT": "25",
    "APP_KEEPALIVE": "20",
    "MAX_BODY_SIZE": "10m",
    "STATIC_MAX_AGE": "1h",
    "LOG_FORMAT": "json",
    "APP_ACCESS_LOG": "off",
    "APP_PREFIX": "",
    "APP_RELOAD": "off",
    "TLS": "off",
}


def test_the_documented_defaults_pass() -> None:
    assert set(DEFAULTS) == set(RULES)
    assert problems(DEFAULTS) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_SERVER", "waitress"),
        ("APP_WORKERS", "abc"),
        ("APP_WORKERS", "0"),
        ("APP_THREADS", "-1"),
        ("APP_BACKLOG", "8"),
        ("APP_TIMEOUT", "1.5"),
        ("APP_GRACEFUL_TIMEOUT", "30"),
        ("APP_KEEPALIVE", "15"),
        ("MAX_BODY_SIZE", "lots"),
        ("MAX_BODY_SIZE", "10 MB"),
        ("STATIC_MAX_AGE", "forever"),
        ("LOG_FORMAT", "xml"),
        ("APP_ACCESS_LOG", "yes"),
        ("APP_PREFIX", "/myapp/"),
        ("APP_PREFIX", "myapp"),
        ("APP_PREFIX", "/my app"),
        ("APP_PREFIX", "/a;b"),
        ("APP_WORKERS", ""),
    ],
)
def test_a_bad_value_is_named_with_what_is_allowed(name: str, value: str) -> None:
    found = problems({**DEFAULTS, name: value})
    assert len(found) == 1
    assert found[0].startswith(f"{name}={value!r} must be ")


@pytest.mark.parametrize(
    ("name", "value"),
    [("APP_WORKERS", "8"), ("STATIC_MAX_AGE", "off"), ("MAX_BODY_SIZE", "1g"), ("APP_PREFIX", "/myapp/v2")],
)
def test_other_good_values_pass(name: str, value: str) -> None:
    assert problems({**DEFAULTS, name: value}) == []


def test_a_missing_setting_is_named() -> None:
    environ = dict(DEFAULTS)
    del environ["APP_THREADS"]
    assert problems(environ) == ["APP_THREADS is not set"]


def test_main_prints_one_line_per_problem_and_exits_ex_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {**DEFAULTS, "APP_WORKERS": "abc", "MAX_BODY_SIZE": "lots"}.items():
        monkeypatch.setenv(name, value)
    assert main() == 78
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("=")[0] for line in lines] == ["config: APP_WORKERS", "config: MAX_BODY_SIZE"]


def test_main_prints_the_effective_settings_when_all_is_well(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in DEFAULTS.items():
        monkeypatch.setenv(name, value)
    assert main() == 0
    assert capsys.readouterr().out.strip() == "config: " + " ".join(f"{k}={v}" for k, v in DEFAULTS.items())
