"""PostgreSQL (postgres/compose.yaml) through the real stack, on both backends, on the stack's
tests' app, whose master queries the database at import as many apps do (tests/app/wsgi.py):
every worker's sessions are its own, none outlives its worker, an outage is a fast 503 that loses
no accepted write, a failing migration stops `up` while the app serves on, and a backup restores
the rows exactly."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.load import figure
from tests.e2e.stack import BACKENDS, ROOT, Stack, assert_unprivileged, running_stack
from tests.e2e.stack import eventually as poll

FILES = (ROOT / "postgres" / "compose.yaml",)
WORKERS = 3


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, images: None) -> Iterator[Stack]:
    # Workers recycled every 25 requests, so the tests see workers come and go; a short wait for
    # the database, so an outage's 503s come fast.
    with running_stack(
        request.param,
        FILES,
        APP_WORKERS=str(WORKERS),
        APP_MAX_REQUESTS="25",
        APP_MAX_REQUESTS_JITTER="0",
        DATABASE_TIMEOUT="3",
    ) as stack:
        yield stack


def psql(stack: Stack, query: str) -> list[list[str]]:
    """A query's rows, as the database's superuser in its container (as make db-shell)."""
    out = stack.exec("db", "psql", "--dbname=app", "--tuples-only", "--no-align", "--field-separator=|", "-c", query)
    return [line.split("|") for line in out.splitlines() if line]


def holders(stack: Stack) -> dict[int, int]:
    """The app's sessions: backend PID -> PID of the app's process holding it (application_name,
    runtime/stack_database.py), for the one app container."""
    host = stack.inspect("app", "{{.Config.Hostname}}")
    rows = psql(stack, "SELECT pid, application_name FROM pg_stat_activity WHERE usename = 'app'")
    return {int(pid): int(name.rsplit(" ", 1)[1]) for pid, name in rows if name.startswith(f"{host} pid ")}


def session(stack: Stack, marker: str) -> dict[str, object]:
    answer = stack.get(f"/db/session?marker={marker}")
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_every_worker_has_sessions_of_its_own(database: Stack) -> None:
    markers = [uuid.uuid4().hex for _ in range(90)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda marker: session(database, marker), markers))
    # Concurrent requests on every worker: each saw its own query's result...
    assert [answer["marker"] for answer in answers] == markers
    owners: dict[int, set[int]] = defaultdict(set)
    for answer in answers:
        owners[int(str(answer["backend_pid"]))].add(int(str(answer["pid"])))
    # ...through a session no other process used.
    assert {backend: pids for backend, pids in owners.items() if len(pids) > 1} == {}
    workers = {pid for pids in owners.values() for pid in pids}
    assert len(workers) >= 2, f"the requests reached {workers} only"
    # The session the master opened at import is still its own: no worker answered through it.
    master = {backend for backend, pid in holders(database).items() if pid == 1}
    assert len(master) == 1, holders(database)
    assert master.isdisjoint(owners)


def test_recycled_and_killed_workers_leave_no_session_behind(database: Stack) -> None:
    # Every worker recycled at least once (25 requests each), then one killed.
    for number in range(4 * 25):
        session(database, str(number))
    database.wait_for_replacement(before := database.worker_pids(), gone=database.kill_worker(max(before)))
    for number in range(WORKERS * 4):
        session(database, str(number))
    # The sessions of exited workers end with them (the kernel closes a killed one's socket): what
    # is left is the live processes', one each at most (APP_THREADS=1).
    held, live = poll(
        lambda: (holders(database), database.worker_pids() | {1}),
        lambda found: set(found[0].values()) <= found[1],
        15,
        0.5,
    )
    assert set(held.values()) <= live, f"sessions {held} held by processes not among {live}"
    assert len(held) == len(set(held.values())), held


@dataclass
class Write:
    started: float
    seconds: float
    status: int
    row: int | None
    retry_after: str | None


def writing(stack: Stack, tag: str, stop: threading.Event, done: list[Write]) -> None:
    """Writes back to back until `stop` (at most 60 s, 3000 writes)."""
    deadline = time.monotonic() + 60
    with stack.new_session() as client:
        while not stop.is_set() and time.monotonic() < deadline and len(done) < 3000:
            started = time.monotonic()
            answer = client.post(stack.url(f"/db/writes?tag={tag}"), timeout=60)
            row = answer.json()["id"] if answer.status_code == 201 else None
            done.append(
                Write(started, time.monotonic() - started, answer.status_code, row, answer.headers.get("Retry-After"))
            )


def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    """Until `condition` holds, for at most `seconds`: what it waited for is asserted after."""
    poll(condition, bool, seconds, 0.1)


def test_an_outage_is_a_fast_503_and_loses_no_accepted_write(database: Stack) -> None:
    tag, stop, done = uuid.uuid4().hex, threading.Event(), list[Write]()
    writer = threading.Thread(target=writing, args=(database, tag, stop, done))
    writer.start()
    try:
        wait_until(lambda: sum(w.status == 201 for w in done) >= 20, 30)
        database.compose("stop", "db")
        stopped = time.monotonic()
        wait_until(lambda: sum(w.status == 503 for w in done) >= 10, 30)
        # Liveness stays up (nothing restarts the app); readiness says what is missing.
        assert database.get("/healthz").status_code == 200
        assert database.get("/readyz").status_code == 503
        database.compose("start", "db")
        started = time.monotonic()
        wait_until(lambda: any(w.status == 201 and w.started > started for w in done), 60)
        recovered = next(w.started + w.seconds for w in done if w.status == 201 and w.started > started)
        # Steady writes across a restart as well, until the app is ready again.
        database.compose("restart", "db")
        wait_until(lambda: database.get("/readyz").status_code == 200, 60)
    finally:
        stop.set()
        writer.join(timeout=90)
    assert {w.status for w in done} <= {201, 503}, sorted({w.status for w in done})
    unavailable = [w for w in done if w.status == 503]
    assert unavailable
    assert {w.retry_after for w in unavailable} == {"5"}
    # Within DATABASE_TIMEOUT (3 s) and a little: none waits for APP_TIMEOUT.
    assert max(w.seconds for w in done) < 5, max(w.seconds for w in done)
    assert database.get("/readyz").status_code == 200
    kept = database.get(f"/db/writes?tag={tag}").json()["ids"]
    assert sorted(w.row for w in done if w.row is not None) == sorted(kept)
    figure(
        f"[database outage] {database.backend}: {len(done)} writes, {len(kept)} kept (every 201), "
        f"{len(unavailable)} answered 503 in at most {max(w.seconds for w in unavailable):.2f} s; "
        f"served again {recovered - started:.1f} s after the database started ({started - stopped:.1f} s down)"
    )


def test_a_failing_migration_stops_up_and_reload_and_the_app_serves_on(database: Stack) -> None:
    # The migration ran already; forgetting that it did makes it run again, and fail.
    psql(database, "DELETE FROM alembic_version")
    app = database.container("app")
    try:
        up = database.compose(
            "up", "--no-build", "--no-recreate", "--detach", "--wait", "--wait-timeout", "60", check=False
        )
        assert up.returncode != 0, up.stdout
        assert 'service "migrate" didn\'t complete successfully' in up.stderr, up.stderr
        assert 'relation "writes" already exists' in database.logs("migrate")
        # make up-* runs the one-shot services before it replaces anything, as make reload
        # does before the new container takes over: both stop there, saying why.
        make_up = database.make(f"up-{database.backend}")
        assert make_up.returncode != 0, make_up.stdout
        assert 'relation "writes" already exists' in make_up.stderr
        assert database.container("app") == app, make_up.stdout + make_up.stderr
        reload = database.make("reload")
        assert reload.returncode != 0, reload.stdout
        assert 'relation "writes" already exists' in reload.stdout + reload.stderr
        assert database.container("app") == app
        assert database.get("/db/writes?tag=still").status_code == 200
    finally:
        psql(database, "INSERT INTO alembic_version VALUES ('0001')")


@pytest.mark.single_backend(reason="pg_dump and pg_restore run in the db container: no app server is in their path")
def test_a_backup_restores_the_rows_exactly(database: Stack, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    rows = [database.post(f"/db/writes?tag={tag}").json()["id"] for _ in range(3)]
    backup = database.make("db-backup", DB_BACKUP_DIR=str(tmp_path))
    assert backup.returncode == 0, backup.stderr
    (dump,) = tmp_path.glob("app-*.dump")
    assert dump.stat().st_mode & 0o077 == 0, oct(dump.stat().st_mode)
    database.post(f"/db/writes?tag={tag}")
    psql(database, f"DELETE FROM writes WHERE id = {rows[0]}")
    assert database.get(f"/db/writes?tag={tag}").json()["ids"] != rows
    restore = database.make("db-restore", FILE=str(dump))
    assert restore.returncode == 0, restore.stderr
    assert sorted(database.get(f"/db/writes?tag={tag}").json()["ids"]) == rows
    # The app's pooled sessions survive the restore's tables being replaced.
    assert database.post(f"/db/writes?tag={tag}").status_code == 201


def test_the_database_is_hardened_and_off_nginxs_network(database: Stack) -> None:
    assert_unprivileged(database, "db")
    networks = database.inspect("db", "{{range $name, $net := .NetworkSettings.Networks}}{{$name}} {{end}}").split()
    assert networks == [f"{database.project}_backend"]
    # The password reaches the app as a file, never as a variable.
    assert "DATABASE_PASSWORD=" not in database.inspect("app", "{{json .Config.Env}}")
    assert database.setting("app", "DATABASE_PASSWORD_FILE") == "/run/secrets/database-password"
