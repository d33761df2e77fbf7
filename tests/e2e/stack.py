"""Drive one Compose project of the real stack: up, requests, logs, down."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.client
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("uwsgi", "gunicorn")
# E2E_PLATFORM=linux/arm64 (make test-arm64): images built for that platform and run under
# emulation (arm64/provision), tagged apart from the host's own.
PLATFORM = os.environ.get("E2E_PLATFORM", "")
# The stack's documented defaults, pinned here so a developer's .env cannot change what the
# tests expect (compose runs with --env-file /dev/null).
SETTINGS = {
    "HTTP_BIND": "127.0.0.1",
    "HTTP_PORT": "0",  # any free port: never collides with a stack already on 8080
    "MAX_BODY_SIZE": "10m",
    # E2E_IMAGE_TAG: another session's images beside these (the fork proof's, in a copy).
    "IMAGE_TAG": os.environ.get("E2E_IMAGE_TAG", "e2e") + (f"-{PLATFORM.rsplit('/', 1)[-1]}" if PLATFORM else ""),
    # The stack's tests run their own app (tests/app), built in place of app/.
    "APP_DIR": "tests/app",
    # Under emulation a healthcheck's Python can take longer than the default 3 s to start, and
    # the app longer than a minute to import itself, with the session's other stacks starting and
    # checking themselves too (CI saw a uWSGI app ready after 71 s, marked unhealthy at 60).
    **({"HEALTHCHECK_TIMEOUT": "15", "HEALTHCHECK_START_PERIOD": "300"} if PLATFORM else {}),
}
MAX_BODY_BYTES = 10 * 1024 * 1024
T = TypeVar("T")


# pytest-xdist's name for this process ("gw0", "gw1", ...), or "" without it.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
# free_port's ranges: one per worker, below the kernel's ephemeral ports (32768 and up), where
# Docker's port 0 and every client's own port come from. E2E_PORTS_FROM: another session's
# ranges beside these (the fork proof's).
PORTS_FROM, PORTS_PER_WORKER = int(os.environ.get("E2E_PORTS_FROM", "20000")), 500
_handed_out = itertools.count()


def free_port() -> int:
    """A port free on 127.0.0.1 (TCP and UDP: HTTP/3) for a server that must know its published
    port: from this worker's own range, so no other worker, nor Docker, can take it meanwhile."""
    first = PORTS_FROM + int(WORKER.removeprefix("gw") or 0) * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = first + next(_handed_out) % PORTS_PER_WORKER
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise StackError(f"no free port from {first} to {first + PORTS_PER_WORKER - 1}")


def eventually(get: Callable[[], T], done: Callable[[T], bool], seconds: float, interval: float) -> T:
    """What `get` returns once `done` with it, or its last value after `seconds`, asked every
    `interval` seconds."""
    deadline = time.monotonic() + seconds
    while not done(found := get()) and time.monotonic() < deadline:
        time.sleep(interval)
    return found


def once_per_session(name: str, tmp_path_factory: pytest.TempPathFactory, work: Callable[[], T]) -> T:
    """What `work` returns (JSON), done by one process for the whole test session: under
    pytest-xdist the first worker to ask does it while the others wait, then they read it."""
    if not WORKER:
        return work()
    shared = tmp_path_factory.getbasetemp().parent  # the session's, above each worker's own
    done = shared / f"{name}.json"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            done.write_text(json.dumps(work()))
        result: T = json.loads(done.read_text())
        return result


# The HTTPS overlay (compose.tls.yaml, with a certificate of yours).
TLS_FILES = (ROOT / "compose.tls.yaml",)


def feature_overlays(root: Path = ROOT, *, production: bool = False) -> tuple[Path, ...]:
    """The optional features' compose files that are there: each feature folder's overlay
    (FOLDER/compose.yaml), and unless `production`, what its tests add (FOLDER/compose.*.yaml:
    Pebble, a test CA)."""
    found = sorted(root.glob("*/compose.yaml")) + ([] if production else sorted(root.glob("*/compose.*.yaml")))
    return tuple(path for path in found if path.parent.name not in ("app", "tests"))


# The app in app/ (the sample, or a fork's own), as the contract suite runs it: its images
# tagged apart from the tests' app's.
APP_SETTINGS = {"APP_DIR": "app", "IMAGE_TAG": f"{SETTINGS['IMAGE_TAG']}-app"}


@functools.cache
def app_static_dir(app_dir: str = SETTINGS["APP_DIR"]) -> Path:
    """The app's static folder as Flask reports it: what the build copies for nginx to serve."""
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi; print(wsgi.app.static_folder)"],
        cwd=ROOT / app_dir,
        # As in the app image: the app, and the stack's runtime it may import (stack_database).
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / app_dir), str(ROOT / "runtime")])},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(result.stdout.strip())


def broken_app(directory: Path) -> Path:
    """A compose overlay whose app cannot import: app/wsgi.py replaced by one importing a module
    that does not exist, as a bad release would."""
    entry = directory / "broken_wsgi.py"
    entry.write_text("import no_such_module  # noqa: F401\n")
    overlay = directory / "broken.yaml"
    overlay.write_text(f"services:\n  app:\n    volumes:\n      - {entry}:/srv/app/wsgi.py:ro\n")
    return overlay


# Tools a make target exists for (make k8s-test: podman): missing, they fail its tests, where
# make test, run locally, skips them with the install hint (CI's gate refuses any skip).
REQUIRED = set(filter(None, os.environ.get("E2E_REQUIRED", "").split(",")))


def unavailable(tool: str, reason: str) -> NoReturn:
    """Skip the test for want of `tool`, or fail it if the run requires the tool."""
    if tool in REQUIRED:
        pytest.fail(f"{reason} (E2E_REQUIRED={tool})", pytrace=False)
    pytest.skip(reason)


# What to do when Docker has no address pool left for a stack's networks.
ADDRESS_POOLS_HINT = " Docker ran out of address pools for networks: sudo host/docker-address-pools, restart dockerd"


class StackError(RuntimeError):
    """The stack did not come up; the message carries its logs."""


def base_image() -> str:
    """The base image to build from: BASE_IMAGE, or what host/base-image provides."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    command = [str(ROOT / "host" / "base-image"), *([PLATFORM] if PLATFORM else [])]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if result.returncode:
        raise StackError(f"host/base-image failed:\n{result.stderr}")
    return result.stdout.strip()


def compose(
    project: str,
    env: dict[str, str],
    *args: str,
    check: bool = True,
    timeout: float = 300,
    files: tuple[Path, ...] = (),
    root: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run `docker compose` on the repository's compose.yaml (plus `files`), ignoring any .env.

    `root` is this repository, or a copy of it (the fork test)."""
    if PLATFORM:
        env = {**env, "DOCKER_DEFAULT_PLATFORM": PLATFORM}
    command = ["docker", "compose", "--env-file", os.devnull, "--project-name", project]
    for file in (root / "compose.yaml", *files):
        command += ["--file", str(file)]
    command += args
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise subprocess.CalledProcessError(result.returncode, command, result.stdout, result.stderr)
    return result


def build_images(base: str, root: Path = ROOT, /, *, overlays: bool = True, **settings: str) -> None:
    """Build the images, the optional features' too unless `overlays` is false, once per test
    session (and once for the fork test's copy).

    Under one fixed project name: compose labels images with the project that built them, so
    building under every stack's unique name would make a new image each time and leave the
    previous one dangling.
    """
    env = {**os.environ, **SETTINGS, **settings, "BASE_IMAGE": base, "IMAGE_REVISION": revision(root)}
    project = f"fns-e2e-{settings.get('IMAGE_TAG', 'e2e')}"
    # The features' secret files, as make makes them before it builds or starts anything.
    subprocess.run(["make", "--silent", "secrets"], cwd=root, check=True, timeout=60)
    # Under another platform's emulation, the core images only: the smoke set needs no more.
    files = app_overlay(root, {**SETTINGS, **settings}) + (feature_overlays(root) if overlays and not PLATFORM else ())
    with tempfile.TemporaryDirectory() as directory:
        files += build_cache(project, env, files, root, Path(directory))
        result = compose(project, env, "build", check=False, timeout=1800, files=files, root=root)
    if result.returncode:
        raise StackError(f"`docker compose build` failed:\n{result.stdout}\n{result.stderr}")


def build_cache(
    project: str, env: dict[str, str], files: tuple[Path, ...], root: Path, directory: Path
) -> tuple[Path, ...]:
    """With E2E_BUILD_CACHE=TYPE (the hosted workflow: gha), an overlay that keeps every built
    image's layers in that BuildKit cache between runs, one scope per image; () without."""
    if not (kind := os.environ.get("E2E_BUILD_CACHE")):
        return ()
    config = json.loads(compose(project, env, "config", "--format", "json", files=files, root=root).stdout)
    services = {
        name: {
            "build": {"cache_from": [f"type={kind},scope={scope}"], "cache_to": [f"type={kind},scope={scope},mode=max"]}
        }
        for name, service in config["services"].items()
        if "build" in service and (scope := service["image"].rsplit("/", 1)[-1].split(":")[0])
    }
    overlay = directory / "build-cache.yaml"
    overlay.write_text(json.dumps({"services": services}))
    return (overlay,)


def revision(root: Path) -> str:
    """The commit the images are built from, as make labels them (compose.yaml)."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
    return result.stdout.strip()


class Site:
    """The stack as a client sees it: a base URL on one backend, and nothing else. The black-box
    tests take one (the `site` fixture): a compose stack, the Kubernetes Pod under podman, or a
    real deployment (E2E_BASE_URL)."""

    # What a failed test's report calls this site's logs (none: a deployment of yours).
    log_title = ""

    def __init__(self, backend: str, base_url: str = "") -> None:
        self.backend = backend
        self.base_url = base_url
        self.session = self.new_session()

    def new_session(self) -> requests.Session:
        """A client session for this site (the load's threads have one each)."""
        return requests.Session()

    def wait_for(self, path: str, seconds: float) -> requests.Response:
        """Poll `path` until it answers 200 or `seconds` pass; the last response either way."""
        return eventually(lambda: self.get(path), lambda response: response.status_code == 200, seconds, 0.5)

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.get(self.url(path), **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.post(self.url(path), **kwargs)  # type: ignore[arg-type]

    def logs(self) -> str:
        return ""


def app_overlay(root: Path, settings: dict[str, str]) -> tuple[Path, ...]:
    """The app's own compose file (compose.override.yaml: its services, its secrets), for a stack
    of the app in app/, where it has one; the stack's tests' own app has none."""
    override = root / "compose.override.yaml"
    return (override,) if settings.get("APP_DIR") == "app" and override.exists() else ()


class Stack(Site):
    """One running stack under its own Compose project name, from images already built."""

    def __init__(self, backend: str, files: tuple[Path, ...] = (), root: Path = ROOT, /, **settings: str) -> None:
        super().__init__(backend)
        self.files = app_overlay(root, {**SETTINGS, **settings}) + files
        self.root = root
        self.project = f"fns-e2e-{backend}-{uuid.uuid4().hex[:8]}"
        self.log_title = f"docker compose logs ({self.project})"
        self.env = {**os.environ, **SETTINGS, **settings, "APP_SERVER": backend}

    def compose(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return compose(self.project, self.env, *args, check=check, timeout=timeout, files=self.files, root=self.root)

    def up(self) -> None:
        result = self.compose("up", "--no-build", "--detach", "--wait", "--wait-timeout", "180", check=False)
        if result.returncode:
            hint = ADDRESS_POOLS_HINT if "non-overlapping IPv4 address pool" in result.stderr else ""
            raise StackError(f"`docker compose up` failed for {self.project}:{hint}\n{result.stderr}\n{self.logs()}")
        self.find_port()

    def find_port(self) -> None:
        """The base URL from nginx's published port (any free one: it changes with each `up`)."""
        address = self.compose("port", "nginx", "8080").stdout.strip()
        self.base_url = f"http://127.0.0.1:{address.rsplit(':', 1)[1]}"

    def make(self, target: str, *files: Path, **settings: str) -> subprocess.CompletedProcess[str]:
        """`make TARGET` on this stack, as a user runs it: its compose files (and `files`) in
        COMPOSE_FILE, its settings and these; under its project name, ignoring any .env. After
        `make up-*`, find_port()."""
        compose = f"docker compose --env-file {os.devnull} --project-name {self.project}"
        compose_file = os.pathsep.join(map(str, (self.root / "compose.yaml", *self.files, *files)))
        env = {**self.env, **settings, "COMPOSE_FILE": compose_file}
        return subprocess.run(
            ["make", target, f"DOCKER_COMPOSE={compose}"],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def up_fails(self) -> subprocess.CompletedProcess[str]:
        """Run `up` as make up-* does, which must fail here; the result says why."""
        result = self.compose("up", "--no-build", "--detach", "--wait", "--wait-timeout", "60", check=False)
        assert result.returncode != 0, f"`docker compose up` succeeded for {self.project}"
        return result

    def down(self) -> None:
        """Remove everything of the stack's. Killed first: a test that needs a graceful stop
        makes one itself, and a teardown need not wait for one (a second a stack)."""
        self.session.close()
        self.compose("kill", check=False, timeout=120)
        self.compose("down", "--volumes", "--remove-orphans", check=False, timeout=120)

    def logs(self, *services: str) -> str:
        result = self.compose("logs", "--no-color", "--timestamps", *services, check=False, timeout=60)
        return result.stdout + result.stderr

    def exec(self, service: str, *command: str, timeout: float = 60) -> str:
        return self.compose("exec", "-T", service, *command, timeout=timeout).stdout

    def volumes(self) -> set[str]:
        """The names of this project's volumes that exist, without the project's prefix."""
        listed = subprocess.run(
            ["docker", "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={self.project}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return {name.removeprefix(f"{self.project}_") for name in listed.stdout.split()}

    def container(self, service: str) -> str:
        return self.compose("ps", "--all", "--quiet", service).stdout.strip()

    def messages(self, service: str) -> list[str]:
        """The service's log lines as it wrote them: no compose prefix, no timestamps."""
        result = subprocess.run(
            ["docker", "logs", self.container(service)], capture_output=True, text=True, check=True, timeout=30
        )
        return (result.stdout + result.stderr).splitlines()

    def json_messages(self, service: str) -> list[dict[str, object]]:
        """The service's log lines that are JSON objects, parsed."""
        return [json.loads(line) for line in self.messages(service) if line.startswith("{")]

    def logged(self, service: str, wanted: Callable[[str], bool], at_least: int = 1) -> list[str]:
        """The service's log lines that `wanted` accepts, once there are `at_least` (or 5 s passed).

        nginx writes its access log up to a second after the request (buffer, flush:
        nginx/templates/app.conf.template), so a test looking for a line must wait for it.
        """
        lines = functools.partial(self.messages, service)
        return eventually(lambda: list(filter(wanted, lines())), lambda found: len(found) >= at_least, 5, 0.2)

    def logged_json(
        self, service: str, wanted: Callable[[dict[str, Any]], bool], at_least: int = 1
    ) -> list[dict[str, Any]]:
        """As logged(), for the JSON lines, parsed."""
        lines = self.logged(service, lambda line: line.startswith("{") and wanted(json.loads(line)), at_least)
        return [json.loads(line) for line in lines]

    def state(self, service: str) -> dict[str, object]:
        """The container's State as `docker inspect` reports it (Status, ExitCode, ...)."""
        state: dict[str, object] = json.loads(self.inspect(service, "{{json .State}}"))
        return state

    def probe(self, service: str, name: str, *args: str, timeout: float = 60) -> str:
        """Run tests/e2e/probes/NAME.py with the service's python3 (the app image's), and its output."""
        program = (Path(__file__).parent / "probes" / f"{name}.py").read_text()
        return self.exec(service, "python3", "-c", program, *args, timeout=timeout)

    def worker_pids(self, seconds: float = 15) -> set[int]:
        """PIDs of the app server's live workers (the children of its master, PID 1), once they are
        as many as it runs (APP_WORKERS): a worker exited and not yet replaced (APP_MAX_REQUESTS
        recycles them) is waited for, never counted out."""

        def live() -> list[int]:
            """How many workers there should be, then each live one's PID."""
            return [int(line) for line in self.probe("app", "workers").split()]

        expected, *pids = eventually(live, lambda found: len(found) - 1 == found[0], seconds, 0.2)
        assert len(pids) == expected, f"{expected} workers expected, {sorted(pids)} live"
        return set(pids)

    def whoami(self, count: int) -> set[int]:
        """Send /api/whoami `count` times, each answered 200; the PIDs of the workers that answered."""
        pids = set()
        for _ in range(count):
            answer = self.get("/api/whoami")
            assert answer.status_code == 200, answer.text
            pids.add(int(answer.json()["pid"]))
        return pids

    def kill_worker(self, pid: int | None = None) -> int:
        """SIGKILL a worker (`pid`, or the oldest live one), as the kernel's OOM killer would; its PID.

        Without `pid`, one is surely killed even while APP_MAX_REQUESTS recycles workers."""
        return int(self.probe("app", "workers", "kill", *([str(pid)] if pid else [])))

    def wait_for_replacement(self, before: set[int], gone: int | None = None, seconds: float = 15) -> set[int]:
        """The worker PIDs once all of them run again without `gone` (or without any one of
        `before`). Others of `before` may have been recycled meanwhile: that is not waited for."""

        def done(pids: set[int]) -> bool:
            return gone not in pids if gone else pids != before

        replaced = eventually(lambda: self.worker_pids(seconds), done, seconds, 0.2)
        assert done(replaced), f"{sorted(before)} -> {sorted(replaced)}, {gone=}"
        return replaced

    def host_pid(self, service: str) -> int:
        """The host's PID of the service's PID 1, to signal it as the kernel would, not as Docker."""
        return int(self.inspect(service, "{{.State.Pid}}"))

    @functools.cached_property
    def socket(self) -> str:
        """Where nginx connects: a link to the app container's own socket (stackctl publish)."""
        return self.setting("nginx", "APP_SOCKET")

    @functools.cached_property
    def static_dir(self) -> Path:
        """The app's static folder in this repository, as the build found it (stackctl static)."""
        return self.root / self.env["APP_DIR"] / self.exec("nginx", "cat", "/srv/static.source").strip()

    def setting(self, service: str, name: str) -> str:
        """An environment variable as the service's container has it (the tests derive limits from these)."""
        entries: list[str] = json.loads(self.inspect(service, "{{json .Config.Env}}"))
        # An entry without "=" is a variable compose passes only when set (OTEL_*): unset here.
        return dict(entry.split("=", 1) for entry in entries if "=" in entry)[name]

    def inspect(self, service: str, template: str) -> str:
        result = subprocess.run(
            ["docker", "inspect", "--format", template, self.container(service)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return result.stdout.strip()

    @contextlib.contextmanager
    def app_paused(self) -> Iterator[None]:
        """Freeze the app container: whatever still answers meanwhile was answered by nginx alone.

        runc's cgroup v1 freezer gives up ("unable to freeze") when a process is joining the
        cgroup as it freezes, which the healthcheck's exec does every second: the pause is
        asked again then, a few times, as the freeze itself would have waited."""
        for _ in range(10):
            paused = self.compose("pause", "app", check=False)
            if paused.returncode == 0 or "unable to freeze" not in paused.stderr:
                break
            time.sleep(0.3)
        if paused.returncode:
            raise StackError(f"`docker compose pause app` failed for {self.project}: {paused.stderr}")
        try:
            yield
        finally:
            self.compose("unpause", "app")


def assert_unprivileged(stack: Stack, service: str) -> dict[str, str]:
    """The service's container runs as compose.yaml's hardening says: read-only root, no
    capability (in any set), no privilege gain, memory and task limits, a UID and GID of the
    stack's own (10000 and up). Its /proc/1/status, for further checks."""
    config = json.loads(stack.inspect(service, "{{json .HostConfig}}"))
    assert config["ReadonlyRootfs"] is True, service
    assert config["CapDrop"] == ["ALL"], service
    assert not config["CapAdd"], service
    assert any(option.startswith("no-new-privileges") for option in config["SecurityOpt"]), service
    assert config["Memory"] > 0, service
    assert config["PidsLimit"] > 0, service
    assert not config["Privileged"], service
    text = stack.exec(service, "cat", "/proc/1/status")
    status = {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}
    assert all(int(uid) >= 10000 for uid in status["Uid"].split()), (service, status["Uid"])
    assert all(int(gid) >= 10000 for gid in status["Gid"].split()), (service, status["Gid"])
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capabilities], 16) == 0, (service, capabilities, status[capabilities])
    assert status["NoNewPrivs"] == "1", service
    return status


class StackFactory:
    """Starts stacks for one test on its backend (the new_stack fixture); all go down after it."""

    def __init__(self, backend: str, exits: contextlib.ExitStack) -> None:
        self.backend = backend
        self.exits = exits
        self.stacks: list[Stack] = []

    def __call__(self, *files: Path, start: bool = True, **settings: str) -> Stack:
        stack = self.exits.enter_context(running_stack(self.backend, files, start=start, **settings))
        self.stacks.append(stack)
        return stack


def stack_fixture(*files: Path, **settings: str) -> Any:
    """A module-scoped fixture: a stack with these settings, once per backend, shared by the module's tests."""

    @pytest.fixture(scope="module", params=BACKENDS)
    def fixture(request: pytest.FixtureRequest, images: None) -> Iterator[Stack]:
        with running_stack(request.param, files, start=True, **settings) as stack:
            yield stack

    return fixture


@contextlib.contextmanager
def running_stack(
    backend: str, files: tuple[Path, ...] = (), root: Path = ROOT, /, *, start: bool = True, **settings: str
) -> Iterator[Stack]:
    """A stack, up unless `start` is false, always taken down with its volumes.

    A failure inside the block carries the stack's `docker compose logs`: by the time pytest
    reports it, the stack is gone.
    """
    stack = Stack(backend, files, root, **settings)
    try:
        if start:
            stack.up()
        yield stack
    except Exception as error:
        if not isinstance(error, StackError):  # up() already put the logs in its message
            error.add_note(f"--- docker compose logs ({stack.project}) ---\n{stack.logs()}")
        raise
    finally:
        stack.down()


@dataclass
class Reply:
    status: int  # 0: the connection closed without an answer
    headers: dict[str, str]
    body: str
    # Every header line as sent, repeats included (`headers` keeps the last of each name).
    header_list: list[tuple[str, str]] = field(default_factory=list)


def chunked(body: bytes, size: int) -> bytes:
    """`body` in the chunked transfer coding, in chunks of `size` bytes."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def send(stack: Stack, request: bytes, port: int | None = None) -> Reply:
    """Send raw bytes, read the response to the first request in them (interim 100s skipped).
    To the stack's HTTP port, or `port`, in plain text either way.

    Read as http.client reads one: to its length, its last chunk, or nginx closing the
    connection; never waiting on a connection nginx keeps open for the next request.
    """
    port = port or int(stack.base_url.rsplit(":", 1)[1])
    method = request.split(b" ", 1)[0].decode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection, method=method)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Reply(0, {}, "")  # closed without an answer
        try:
            body = response.read()
        except http.client.IncompleteRead as cut:
            body = cut.partial
    assert response.version == 11, f"not an HTTP/1.1 response: {response.status} {response.reason}"
    lines = response.getheaders()
    return Reply(response.status, dict(lines), body.decode("utf-8", "replace"), lines)


if __name__ == "__main__":
    # The images a test session would build, built now: `make test-arm64-images`, which CI runs
    # while the rest of the suite runs (emulated builds are long and mostly one core's work).
    build_images(base_image())
