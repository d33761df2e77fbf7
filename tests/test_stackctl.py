"""The app container's runtime (runtime/stackctl.py): the settings check the `config` service runs
before anything starts, and the facts the servers run with."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

import stackctl
from stackctl import RULES, UWSGI_PACKET_MAX, main, parse_size, problems, uwsgi_packet_bound, workers
from tests.e2e.stack import feature_overlays
from tests.facts import ROOT, compose_defaults

# The documented defaults, from their owner (compose.yaml), in the order the check lists them.
DEFAULTS = {name: compose_defaults()[name] for name in RULES}


# What compose.yaml passes the config service besides the settings (x-stop-grace-period).
FACTS = {"STOP_GRACE_PERIOD": "30s"}


def test_the_documented_defaults_pass() -> None:
    assert problems({**DEFAULTS, **FACTS}) == []


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
        ("APP_MAX_REQUESTS", "-5"),
        ("APP_PIDS_LIMIT", "8"),
        ("CLIENT_TIMEOUT", "0s"),
        ("CLIENT_TIMEOUT", "10x"),
        ("CLIENT_TIMEOUT", "2h"),
        ("REQUEST_HEAD_BUFFER", "16384"),
        ("REQUEST_HEADERS_MAX", "5000"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "10.0.0.1/8"),
        ("TRUSTED_PROXIES", "lb.example"),
        ("SERVER_NAMES", "example.com;evil"),
        ("SERVER_NAMES", "exa mple.com"),
        ("SERVER_NAMES", "example.com:8080"),
        ("SERVER_NAMES", "*"),
        ("RATE_LIMIT", "10"),
        ("RATE_LIMIT", "10r/h"),
        ("RATE_LIMIT", "0r/s"),
        ("CONN_LIMIT", "0"),
        ("RATE_LIMIT_BURST", "0"),
    ],
)
def test_a_bad_value_is_named_with_what_is_allowed(name: str, value: str) -> None:
    found = problems({**DEFAULTS, **FACTS, name: value})
    assert len(found) == 1
    assert found[0].startswith(f"{name}={value!r} must be ")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_WORKERS", "8"),
        ("STATIC_MAX_AGE", "off"),
        ("MAX_BODY_SIZE", "1g"),
        ("APP_PREFIX", "/myapp/v2"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.7, 2001:db8::/32"),
        ("RATE_LIMIT", "600r/m"),
        ("CONN_LIMIT", "20"),
        ("SERVER_NAMES", "example.com, www.Example.com,*.example.org,.example.net,192.0.2.7"),
    ],
)
def test_other_good_values_pass(name: str, value: str) -> None:
    assert problems({**DEFAULTS, **FACTS, name: value}) == []


def test_a_missing_setting_is_named() -> None:
    environ = {**DEFAULTS, **FACTS}
    del environ["APP_THREADS"]
    assert problems(environ) == ["APP_THREADS is not set"]


@pytest.fixture(autouse=True)
def no_app_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's checks alone: the app's own (whichever app is in app/) is not these tests'."""
    monkeypatch.setattr(stackctl, "APP_CHECK", "no_such_settings_check")


def test_main_prints_one_line_per_problem_and_exits_ex_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {**DEFAULTS, **FACTS, "APP_WORKERS": "abc", "MAX_BODY_SIZE": "lots"}.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 78
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("=")[0] for line in lines] == ["config: APP_WORKERS", "config: MAX_BODY_SIZE"]


def test_main_prints_the_effective_settings_when_all_is_well(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {**DEFAULTS, **FACTS}.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 0
    assert capsys.readouterr().out.strip() == "config: " + " ".join(f"{k}={v}" for k, v in DEFAULTS.items())


@pytest.mark.parametrize(
    "overlay", ["compose.tls.yaml", "compose.dev.yaml", *(str(path.relative_to(ROOT)) for path in feature_overlays())]
)
def test_the_overlays_defaults_are_compose_yamls(overlay: str) -> None:
    """An overlay that names a setting of compose.yaml again gives it the same default."""
    owner, repeated = compose_defaults(), compose_defaults(overlay)
    assert {name: owner[name] for name in repeated if name in owner} == {
        name: value for name, value in repeated.items() if name in owner
    }


def test_workers_and_threads_must_fit_in_the_pids_limit() -> None:
    found = problems({**DEFAULTS, **FACTS, "APP_WORKERS": "16", "APP_THREADS": "16", "APP_PIDS_LIMIT": "256"})
    assert found == ["APP_PIDS_LIMIT=256 is too low for 16 workers x 16 threads (needs at least 296)"]
    assert problems({**DEFAULTS, **FACTS, "APP_WORKERS": "16", "APP_THREADS": "16", "APP_PIDS_LIMIT": "296"}) == []


def test_auto_workers_is_twice_the_cpus_plus_one_at_most_17(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert workers("auto") == 5
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert workers("auto") == 17
    assert workers("3") == 3


def test_request_head_limits_must_fit_a_uwsgi_packet() -> None:
    """nginx refuses (500) to build a uwsgi packet over 64 KiB: its limits must keep below it."""
    assert uwsgi_packet_bound(8192, 4, 100) <= UWSGI_PACKET_MAX
    found = problems({**DEFAULTS, **FACTS, "REQUEST_HEAD_BUFFERS": "6"})
    assert len(found) == 1
    assert found[0].startswith("REQUEST_HEAD_BUFFER=8192, REQUEST_HEAD_BUFFERS=6 and REQUEST_HEADERS_MAX=100 ")
    assert problems({**DEFAULTS, **FACTS, "REQUEST_HEAD_BUFFER": "4096", "REQUEST_HEAD_BUFFERS": "8"}) == []


def test_the_graceful_timeout_must_end_before_the_stop_grace_period() -> None:
    """compose.yaml owns the grace period (x-stop-grace-period) and passes it to the check."""
    compose = (Path(__file__).resolve().parents[1] / "compose.yaml").read_text()
    grace = re.search(r"x-stop-grace-period: &stop-grace-period (\S+)", compose)
    assert grace is not None
    assert grace.group(1) == FACTS["STOP_GRACE_PERIOD"]
    assert problems({**DEFAULTS, **FACTS, "APP_GRACEFUL_TIMEOUT": "29"}) == []
    assert problems({**DEFAULTS, "STOP_GRACE_PERIOD": "1m", "APP_GRACEFUL_TIMEOUT": "59"}) == []
    assert problems({**DEFAULTS, "STOP_GRACE_PERIOD": "soon"}) == [
        "STOP_GRACE_PERIOD='soon' must be a time like 30s (compose.yaml)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"), [("10m", 10 * 1024**2), ("512k", 512 * 1024), ("1G", 1024**3), ("1048576", 1048576)]
)
def test_parse_size_reads_nginx_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "", "10mb", "-1m", "1.5m", " 2M "])
def test_parse_size_rejects_what_the_check_refuses(text: str) -> None:
    assert stackctl.size(text) is not None
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_each_container_listens_on_its_own_socket_beside_the_public_one() -> None:
    environ = {"APP_SOCKET": "/run/app/app.sock"}
    assert stackctl.own_socket(environ) == Path(f"/run/app/app-{socket.gethostname()}.sock")
    # Another server of the same host (one Pod's containers share its hostname): another name.
    environ = {"APP_SOCKET": "/run/app/ws.sock"}
    assert stackctl.own_socket(environ) == Path(f"/run/app/ws-{socket.gethostname()}.sock")


def test_uwsgi_gets_what_its_ini_file_cannot_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    command = stackctl.serve_command({**DEFAULTS, "APP_SOCKET": "/run/app/app.sock"})
    options = dict(zip(command[3::2], command[4::2], strict=False))
    assert command[:3] == ["uwsgi", "--ini", "/etc/stack/uwsgi.ini"]
    assert options["--socket"] == str(stackctl.own_socket({"APP_SOCKET": "/run/app/app.sock"}))
    assert options["--processes"] == "5"
    assert options["--max-vars"] == "164"
    assert options["--max-requests-delta"] == "200"  # 1000 of jitter over 5 workers
    assert options["--listen"] == "1024"
    assert command[-2:] == ["--module", "stack_wsgi:app"]
    assert "--disable-logging" in command


def test_under_a_prefix_uwsgi_mounts_the_app_there() -> None:
    command = stackctl.serve_command({**DEFAULTS, "APP_PREFIX": "/myapp", "APP_RELOAD": "on"})
    assert command[-5:] == ["--py-autoreload", "1", "--mount", "/myapp=stack_wsgi:app", "--manage-script-name"]


def test_an_unknown_server_is_refused() -> None:
    with pytest.raises(SystemExit, match="APP_SERVER must be uwsgi or gunicorn, not 'waitress'"):
        stackctl.serve_command({**DEFAULTS, "APP_SERVER": "waitress"})


@pytest.fixture
def socket_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("APP_SOCKET", str(tmp_path / "app.sock"))
    monkeypatch.setattr(stackctl, "PUBLISHED_MARK", tmp_path / "published")
    return tmp_path


def test_a_container_publishes_its_socket_once_unless_asked_again(socket_dir: Path) -> None:
    public = socket_dir / "app.sock"
    public.symlink_to("app-another-container.sock")
    assert stackctl.publish() is True
    assert os.readlink(public) == stackctl.own_socket().name
    # A reload or a recycled worker later: the socket may belong to a newer container by then.
    public.unlink()
    public.symlink_to("app-newer-container.sock")
    assert stackctl.publish() is False
    assert os.readlink(public) == "app-newer-container.sock"
    # scripts/rollout giving it back after a failed replacement.
    assert stackctl.publish(again=True) is True
    assert os.readlink(public) == stackctl.own_socket().name
    assert [path.name for path in socket_dir.iterdir() if path.name.endswith(".tmp")] == []


def test_a_container_is_not_healthy_before_it_publishes_its_socket(socket_dir: Path) -> None:
    # Answering on its own socket is not enough: nginx connects through the public path.
    environ = {"APP_SERVER": "gunicorn", "APP_SOCKET": str(socket_dir / "app.sock")}
    assert stackctl.health(environ) == "its socket is not published yet"
    stackctl.publish()
    with pytest.raises(FileNotFoundError):  # published, so it asks the server, which is not there
        stackctl.health(environ)


def test_the_listen_queue_is_read_as_ss_reads_it(socket_dir: Path) -> None:
    path = stackctl.own_socket()
    assert stackctl.queued_connections(path) is None
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen(8)
        assert stackctl.queued_connections(path) == 0
        clients = [socket.socket(socket.AF_UNIX) for _ in range(3)]
        try:
            for client in clients:
                client.connect(str(path))
            assert stackctl.queued_connections(path) == 3
            server.accept()[0].close()
            assert stackctl.queued_connections(path) == 2
            while stackctl.queued_connections(path):
                server.accept()[0].close()
            assert stackctl.drain(1.0) == 0
        finally:
            for client in clients:
                client.close()


def test_check_runs_an_optional_features_checks_and_the_apps_own_naming_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    features, app = tmp_path / "checks", tmp_path / "app"
    features.mkdir()
    app.mkdir()
    (features / "feature.py").write_text("def problems(environ):\n    return ['FEATURE_X is wrong']\n")
    (app / "my_settings_check.py").write_text(
        "from stackctl import rule_problems, secret_problems, one_of\n"
        "def problems(environ):\n"
        "    return rule_problems({'SHOP_CURRENCY': one_of('EUR')}, environ) + secret_problems(['KEY'], environ)\n"
    )
    monkeypatch.syspath_prepend(str(app))
    monkeypatch.setattr(stackctl, "CHECKS_DIR", features)
    monkeypatch.setattr(stackctl, "APP_CHECK", "my_settings_check")
    for name, value in {**DEFAULTS, **FACTS, "SHOP_CURRENCY": "YEN", "KEY": "in the environment"}.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 78
    assert capsys.readouterr().err.splitlines() == [
        "config: FEATURE_X is wrong (feature)",
        "config: SHOP_CURRENCY='YEN' must be EUR (my_settings_check)",
        "config: KEY must come from a file: set KEY_FILE to its path, not KEY (my_settings_check)",
    ]


def test_a_secret_comes_from_a_readable_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    assert stackctl.secret_problems(["KEY"], {}) == ["KEY_FILE is not set: the path of the file that holds KEY"]
    assert stackctl.secret_problems(["KEY"], {"KEY_FILE": str(secret)}) == [
        f"KEY_FILE={str(secret)!r} is not a readable file with KEY in it"
    ]
    secret.write_text("s3cret\n")
    assert stackctl.secret_problems(["KEY"], {"KEY_FILE": str(secret)}) == []


@pytest.mark.parametrize(
    ("bind", "refused"), [("127.0.0.1", False), ("::1", False), ("0.0.0.0", True), ("192.0.2.7", True)]
)
def test_development_mode_is_refused_on_any_address_but_loopback(bind: str, refused: bool) -> None:
    found = problems({**DEFAULTS, **FACTS, "FLASK_DEBUG": "1", "HTTP_BIND": bind})
    assert bool(found) is refused, found
    assert problems({**DEFAULTS, **FACTS, "HTTP_BIND": "0.0.0.0"}) == []


def test_the_database_budget_counts_every_connection_the_app_may_hold() -> None:
    database = {**DEFAULTS, **FACTS, "DATABASE_URL": "postgresql+psycopg://app@/app?host=/run/postgresql"}
    # 8 workers and the master, 2 threads each, twice during make reload, and the migrations' 2: 38.
    assert problems({**database, "APP_WORKERS": "8", "APP_THREADS": "2", "DATABASE_MAX_CONNECTIONS": "38"}) == []
    assert problems({**database, "APP_WORKERS": "8", "APP_THREADS": "2", "DATABASE_MAX_CONNECTIONS": "37"}) == [
        "DATABASE_MAX_CONNECTIONS=37 is below the 38 connections the app may hold (8 workers and the master x 2 "
        "threads, twice during make reload, the migration job and DATABASE_OTHER_CONNECTIONS): lower APP_WORKERS "
        "or APP_THREADS, or raise the database's limit"
    ]
    assert problems({**database, "APP_WORKERS": "8", "APP_THREADS": "2", "DATABASE_OTHER_CONNECTIONS": "60"})
    # Without a database, nothing to count.
    assert (
        problems({**DEFAULTS, **FACTS, "APP_WORKERS": "200", "DATABASE_MAX_CONNECTIONS": "1", "APP_PIDS_LIMIT": "1000"})
        == []
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", None),
        ("postgresql+psycopg://app@/app?host=/run/postgresql", None),
        ("postgresql+psycopg://app@db.example.com:5432/app", None),
        (
            "postgresql+psycopg://app:s3cret@db.example.com/app",
            "must not hold the password: put it in a file and set DATABASE_PASSWORD_FILE",
        ),
        ("db.example.com/app", "must be empty or a URL like postgresql+psycopg://app@/app?host=/run/postgresql"),
    ],
)
def test_the_database_url_holds_no_password(url: str, problem: str | None) -> None:
    found = problems({**DEFAULTS, **FACTS, "DATABASE_URL": url})
    assert found == ([f"DATABASE_URL={url!r} {problem}"] if problem else [])


def test_the_database_password_comes_from_a_file_and_its_wait_from_below_app_timeout(tmp_path: Path) -> None:
    database = {**DEFAULTS, **FACTS, "DATABASE_URL": "postgresql+psycopg://app@/app?host=/run/postgresql"}
    assert problems({**database, "DATABASE_PASSWORD": "s3cret"}) == [
        "DATABASE_PASSWORD must come from a file: set DATABASE_PASSWORD_FILE to its path, not DATABASE_PASSWORD"
    ]
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    assert problems({**database, "DATABASE_PASSWORD_FILE": str(secret)}) == []
    assert problems({**database, "DATABASE_TIMEOUT": "30"}) == [
        "DATABASE_TIMEOUT=30 must be below APP_TIMEOUT=30, so a database out of reach is a 503, not a worker "
        "killed for a stuck request"
    ]


@pytest.mark.parametrize(
    ("names", "host", "served"),
    [
        ("", "anything.example", True),
        ("example.com", "EXAMPLE.com", True),
        ("example.com", "www.example.com", False),
        ("*.example.com", "www.example.com", True),
        ("*.example.com", "example.com", False),
        (".example.com", "example.com", True),
        (".example.com", "a.b.example.com", True),
        (".example.com", "badexample.com", False),
        ("a.test, b.test", "b.test", True),
    ],
)
def test_serves_matches_names_as_nginx_does(names: str, host: str, served: bool) -> None:
    assert stackctl.serves(names, host) is served
