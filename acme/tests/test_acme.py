"""Automatic certificates (acme/compose.yaml), from Pebble, Let's Encrypt's ACME test server
(acme/compose.pebble.yaml), on the project's own network: issued from nothing by HTTP-01 through
nginx, served with the chain Pebble signed, renewed under load without a failed request, and a
failing challenge leaving plain HTTP serving."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.e2e.h3 import Answer, h3_connection
from tests.e2e.load import figure, steady_load
from tests.e2e.stack import (
    BACKENDS,
    ROOT,
    Site,
    Stack,
    StackFactory,
    assert_unprivileged,
    free_port,
    revision,
    running_stack,
)
from tests.e2e.stack import eventually as poll

ACME_FILES = (ROOT / "acme" / "compose.yaml", ROOT / "acme" / "compose.pebble.yaml")
# The name certified: Pebble's DNS answers every name with nginx's address (acme/pebble-start).
DOMAIN = "stack.test"
# The names served: the one certified, as make acme-* sets them, and 127.0.0.1, where the tests
# reach nginx too. Pebble's challenges ask for DOMAIN.
SERVED = f"{DOMAIN},127.0.0.1"


class CertifiedSite(Site):
    """The stack over HTTPS as a client of DOMAIN sees it: connected to 127.0.0.1 (the published
    port), sending DOMAIN as the TLS server name, and checking the certificate for DOMAIN
    against Pebble's root only."""

    def __init__(self, backend: str, port: int, root: Path) -> None:
        self.port = port
        self.root = root
        self.unanswered: list[str] = []
        super().__init__(backend, f"https://127.0.0.1:{port}")

    def new_session(self) -> requests.Session:
        session = KeepAliveSession(self.unanswered)
        session.mount("https://", NamedHost(DOMAIN))
        session.verify = str(self.root)
        # Or REQUESTS_CA_BUNDLE, where set, would replace the root (requests' environment wins).
        session.trust_env = False
        return session


class KeepAliveSession(requests.Session):
    """A client as browsers are: a request on a kept-alive connection that the server closed
    without answering is sent again, once, on a new one (RFC 9112, 9.3.1: the server never read
    it). nginx's graceful reload closes its idle connections, and one may race a request. Each
    such request is noted in `unanswered`, and any other error is the caller's."""

    def __init__(self, unanswered: list[str]) -> None:
        super().__init__()
        self.unanswered = unanswered

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().request(*args, **kwargs)
        except requests.ConnectionError as error:
            if not closed_unanswered(error):
                raise
            self.unanswered.append(repr(error))
            return super().request(*args, **kwargs)


def closed_unanswered(error: BaseException) -> bool:
    """Whether the connection ended before any byte of a response (http.client's words for it)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, http.client.RemoteDisconnected):
            return True
        causes = [arg for arg in seen.args if isinstance(arg, BaseException)]
        seen = causes[0] if causes else seen.__cause__ or seen.__context__
    return False


class NamedHost(HTTPAdapter):
    """Connects where the URL says, but as a client of `name`: SNI and the certificate check."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(server_hostname=self.name, assert_hostname=self.name)
        super().init_poolmanager(*args, **kwargs)


# Pebble's management API: the root it made up at start, and signs every chain with.
ROOTS = "https://pebble:15000/roots/0"
# Where the fixture puts it for the clients that run in Pebble's container.
ROOT_IN_PEBBLE = "/tmp/root.pem"


def pebble_root(stack: Stack, directory: Path) -> Path:
    """Pebble's root, in a file of `directory`."""
    pem = stack.exec("pebble", "curl", "--fail", "--silent", "--cacert", "/srv/pebble-ca/pebble.crt", ROOTS)
    assert pem.startswith("-----BEGIN CERTIFICATE-----"), pem
    path = directory / f"pebble-root-{stack.project}.pem"
    path.write_text(pem)
    return path


def served_certificate(port: int, root: Path) -> dict[str, Any]:
    """The certificate nginx serves for DOMAIN on `port`, verified against Pebble's root alone:
    the handshake fails unless nginx sends the intermediate with it."""
    context = ssl.create_default_context(cafile=str(root))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
    ):
        return tls.getpeercert()  # type: ignore[return-value]


def eventually(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Until `condition` holds, asked every half second; failing with `what` after `seconds`."""
    assert poll(condition, bool, seconds, 0.5), what


def handed_over(stack: Stack) -> int:
    """How many certificates the acme service has handed to nginx so far."""
    return sum("handed to nginx" in line for line in stack.messages("acme"))


@pytest.fixture(scope="module", params=BACKENDS)
def certified(
    request: pytest.FixtureRequest, images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, CertifiedSite]]:
    # A fixed free port, not 0: nginx's redirect names the port clients use.
    port = free_port()
    with running_stack(
        request.param, ACME_FILES, ACME_DOMAINS=DOMAIN, SERVER_NAMES=SERVED, HTTPS_PORT=str(port)
    ) as stack:
        eventually(lambda: handed_over(stack) >= 1, 60, "the acme service never handed nginx a certificate")
        eventually(lambda: stack.logged("nginx", lambda line: "reloaded, serving HTTPS" in line), 30, "no reload")
        root = pebble_root(stack, tmp_path_factory.mktemp("pebble"))
        # For the clients in Pebble's container (curl).
        stack.exec("pebble", "sh", "-c", f"curl -fsS --cacert /srv/pebble-ca/pebble.crt {ROOTS} > {ROOT_IN_PEBBLE}")
        yield stack, CertifiedSite(request.param, port, root)


def test_a_certificate_is_issued_from_nothing_and_served_with_its_chain(
    certified: tuple[Stack, CertifiedSite],
) -> None:
    stack, https = certified
    port = https.port
    served = served_certificate(port, https.root)
    assert ("DNS", DOMAIN) in served["subjectAltName"]
    # Issued by Pebble's intermediate, which nginx sends along (certbot's fullchain).
    issuer = dict(field[0] for field in served["issuer"])
    assert "Pebble Intermediate" in issuer["commonName"], issuer
    response = https.get("/api/whoami")
    assert response.status_code == 200
    assert response.json()["scheme"] == "https"
    assert response.json()["server"] == stack.backend
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert https.get("/static/css/app.css").status_code == 200
    # Plain HTTP now moves to HTTPS, on the published port.
    moved = stack.get("/api/whoami", allow_redirects=False)
    assert (moved.status_code, moved.headers["Location"]) == (301, f"https://127.0.0.1:{port}/api/whoami")


def test_certbot_runs_unprivileged_sharing_two_volumes_nginx_only_reads(certified: tuple[Stack, CertifiedSite]) -> None:
    stack, _ = certified
    status = assert_unprivileged(stack, "acme")
    assert {int(uid) for uid in status["Uid"].split()} == {10004}, status["Uid"]
    assert not json.loads(stack.inspect("acme", "{{json .HostConfig}}"))["PortBindings"]
    labels = json.loads(stack.inspect("acme", "{{json .Config.Labels}}"))
    assert labels["org.opencontainers.image.revision"] == revision(ROOT)

    def volumes(service: str) -> dict[str, bool]:
        """{volume name: writable} of the service's mounts; no container has a host socket."""
        mounts = json.loads(stack.inspect(service, "{{json .Mounts}}"))
        assert not [mount for mount in mounts if mount["Source"].endswith(".sock")], mounts
        return {mount["Name"]: mount["RW"] for mount in mounts if mount["Type"] == "volume"}

    nginx, acme = volumes("nginx"), volumes("acme")
    shared = sorted(name.rsplit("_", 1)[1] for name in set(nginx) & set(acme))
    assert shared == ["acme-webroot", "tls"]
    assert not [name for name in set(nginx) & set(acme) if nginx[name]], nginx
    assert all(acme[name] for name in set(nginx) & set(acme)), acme
    for service in ("app", "pebble"):
        volumes(service)


def test_challenges_are_answered_by_nginx_on_plain_http_from_the_webroot(
    certified: tuple[Stack, CertifiedSite],
) -> None:
    stack, _ = certified
    # What certbot does for each challenge: a file in the webroot it shares with nginx.
    webroot = stack.setting("acme", "ACME_WEBROOT")
    token = f"token-{stack.project}"
    challenges = f"{webroot}/.well-known/acme-challenge"
    stack.exec("acme", "sh", "-c", f"mkdir -p {challenges} && echo key > {challenges}/{token}")
    try:
        answer = stack.get(f"/.well-known/acme-challenge/{token}", allow_redirects=False)
        assert (answer.status_code, answer.text) == (200, "key\n")
        assert answer.headers["Content-Type"].startswith("text/plain")
        # An unknown token: nginx's 404 (the stack's page), neither redirected nor the app's.
        missing = stack.get("/.well-known/acme-challenge/unknown", allow_redirects=False)
        assert missing.status_code == 404
        assert "<h1>404 Not Found</h1>" in missing.text
        assert not [line for line in stack.messages("app") if "acme-challenge" in line]
        # nginx only reads what certbot writes.
        refused = stack.compose("exec", "-T", "nginx", "touch", f"{webroot}/.well-known/x", check=False)
        assert refused.returncode != 0
    finally:
        stack.exec("acme", "rm", "-rf", f"{webroot}/.well-known")


def test_a_renewal_under_load_fails_no_request(certified: tuple[Stack, CertifiedSite]) -> None:
    stack, https = certified
    port = https.port
    before = served_certificate(port, https.root)["serialNumber"]
    clients = 4
    with steady_load(https, clients=clients, max_seconds=60) as load:
        assert load.wait_until(lambda load: len(load.outcomes) >= 100, 30)
        renewed = time.monotonic()
        said = stack.exec("acme", "acme", "renew")
        eventually(lambda: served_certificate(port, https.root)["serialNumber"] != before, 30, "not renewed")
        served = time.monotonic()
        # Requests on connections opened before the reload, and on new ones after it.
        assert load.wait_until(lambda load: load.successes_after(served) > 200, 30)
    figure(f"[acme renewal] {stack.backend}: {load.summary()}; the new certificate served "
           f"{served - renewed:.1f} s after `acme renew` began; {len(https.unanswered)} request(s) "
           f"sent again after nginx closed an idle kept-alive connection")  # fmt: skip
    assert "handed to nginx" in said
    assert load.failures == [], load.failures[:5]
    # The reload closes each client's idle connection at most once.
    assert len(https.unanswered) <= clients, https.unanswered
    assert load.successes_after(renewed) > 200


def point_pebbles_dns_at(stack: Stack, address: str) -> None:
    """Make Pebble's DNS answer every name with `address` (pebble-challtestsrv's management API,
    inside Pebble's container only)."""
    data = json.dumps({"ip": address})
    stack.exec("pebble", "curl", "--fail", "--silent", "--data", data, "http://127.0.0.1:8055/set-default-ipv4")


def test_a_failed_renewal_leaves_the_certificate_serving(certified: tuple[Stack, CertifiedSite]) -> None:
    stack, https = certified
    port = https.port
    serial = served_certificate(port, https.root)["serialNumber"]
    generation = stack.exec("nginx", "readlink", "/etc/nginx/tls/current")
    # The name no longer points here: the CA's challenge request goes where nothing answers.
    point_pebbles_dns_at(stack, "127.0.0.1")
    try:
        renewal = stack.compose("exec", "-T", "acme", "acme", "renew", check=False, timeout=120)
    finally:
        point_pebbles_dns_at(stack, nginx_address(stack))
    said = renewal.stdout + renewal.stderr
    assert renewal.returncode == 1, said
    assert "acme: ERROR: no certificate for stack.test" in said
    assert "nginx goes on serving the certificate it has" in said
    # Nothing handed over, so nothing to reload: the same certificate, still served.
    assert stack.exec("nginx", "readlink", "/etc/nginx/tls/current") == generation
    assert served_certificate(port, https.root)["serialNumber"] == serial
    assert https.get("/api/whoami").status_code == 200


def switch_generation(stack: Stack, generation: str) -> None:
    """Point TLS_DIR/current at `generation`, as acme/acme does: one rename."""
    command = f"cd /etc/nginx/tls && ln -sfn {generation} current.new && mv -T current.new current"
    stack.exec("acme", "sh", "-c", command)


def test_a_certificate_nginx_refuses_is_logged_and_the_last_one_serves_on(
    certified: tuple[Stack, CertifiedSite],
) -> None:
    stack, https = certified
    port = https.port
    serial = served_certificate(port, https.root)["serialNumber"]
    good = stack.exec("nginx", "readlink", "/etc/nginx/tls/current").strip()
    reloads = len(stack.logged("nginx", lambda line: "reloaded, serving HTTPS" in line))
    # A generation whose key is not a key: what a truncated copy would leave.
    broken = f"broken.{stack.project}"
    stack.exec("acme", "sh", "-c", f"cd /etc/nginx/tls && mkdir -m 0750 {broken} && cp current/tls.crt {broken}/ "
               f"&& echo 'not a key' > {broken}/tls.key && chmod 0640 {broken}/*")  # fmt: skip
    switch_generation(stack, broken)

    def refused() -> list[str]:
        return [line for line in stack.messages("nginx") if f"new certificate /etc/nginx/tls/{broken} refused" in line]

    try:
        # nginx looks every 5 s (nginx/docker-entrypoint.sh).
        eventually(refused, 30, "nginx never said it refused the broken certificate")
        assert refused()[0].startswith("nginx: ERROR:"), refused()
        assert served_certificate(port, https.root)["serialNumber"] == serial
        assert https.get("/api/whoami").status_code == 200
        # The config nginx runs is the one on disk again: its healthcheck goes on passing.
        assert stack.exec("nginx", "healthcheck") == ""
    finally:
        switch_generation(stack, good)
        stack.exec("acme", "rm", "-rf", f"/etc/nginx/tls/{broken}")
    eventually(
        lambda: len(stack.logged("nginx", lambda line: "reloaded, serving HTTPS" in line)) > reloads,
        30,
        "nginx never went back to the good certificate",
    )


def test_a_failing_challenge_leaves_the_stack_serving_plain_http(new_stack: StackFactory) -> None:
    # Pebble's DNS sends the challenge where nothing answers, as a name not pointing here would.
    port = free_port()
    stack = new_stack(
        *ACME_FILES, ACME_DOMAINS=DOMAIN, SERVER_NAMES=SERVED, HTTPS_PORT=str(port), PEBBLE_RESOLVES_TO="127.0.0.1"
    )
    eventually(
        lambda: stack.logged("acme", lambda line: "acme: ERROR: no certificate for stack.test" in line),
        90,
        "the acme service never said it failed",
    )
    [said] = stack.logged("acme", lambda line: "acme: ERROR:" in line)
    assert "nginx goes on serving plain HTTP only" in said
    assert stack.logged("acme", lambda line: "connection refused" in line)
    response = stack.get("/api/whoami", allow_redirects=False)
    assert response.status_code == 200
    assert response.json()["scheme"] == "http"
    # No HTTPS: Docker's port proxy takes the connection, and nobody behind it speaks TLS.
    anything = ssl.create_default_context()
    anything.check_hostname, anything.verify_mode = False, ssl.CERT_NONE
    with (
        pytest.raises((ssl.SSLError, ConnectionError)),
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
    ):
        anything.wrap_socket(raw, server_hostname=DOMAIN)
    assert stack.state("nginx")["Health"]["Status"] == "healthy"  # type: ignore[index]


def nginx_address(stack: Stack) -> str:
    """nginx's address on the project's network, as Pebble's container resolves it."""
    return stack.exec("pebble", "getent", "ahostsv4", "nginx").split()[0]


def test_http2_answers_advertise_http3_on_the_published_port(certified: tuple[Stack, CertifiedSite]) -> None:
    stack, https = certified
    port = https.port
    head = stack.exec(
        "pebble", "curl", "--silent", "--show-error", "--http2", "--output", "/dev/null", "--dump-header", "-",
        "--resolve", f"{DOMAIN}:8443:{nginx_address(stack)}", "--cacert", ROOT_IN_PEBBLE,
        f"https://{DOMAIN}:8443/api/whoami",
    )  # fmt: skip
    lines = head.splitlines()
    assert lines[0].startswith("HTTP/2 200"), head
    assert f'alt-svc: h3=":{port}"; ma=86400' in lines, head
    # Plain HTTP advertises nothing.
    assert "Alt-Svc" not in stack.get("/api/whoami", allow_redirects=False).headers


def test_http3_serves_a_page_a_static_file_an_upload_and_a_stream(certified: tuple[Stack, CertifiedSite]) -> None:
    stack, https = certified
    port = https.port
    upload = os.urandom(256 * 1024)
    octets = {"content-type": "application/octet-stream"}

    async def requests_over_h3() -> dict[str, Answer]:
        async with h3_connection(port, DOMAIN, https.root) as client:
            authority = f"{DOMAIN}:{port}"
            return {
                "page": await client.request(authority, "GET", "/"),
                "static": await client.request(authority, "GET", "/static/css/app.css"),
                "echo": await client.request(authority, "POST", "/api/echo", upload, octets),
                "stream": await client.request(authority, "GET", "/api/stream?chunks=5&interval=0.3"),
                "whoami": await client.request(authority, "GET", "/api/whoami"),
            }

    answers = asyncio.run(requests_over_h3())
    assert {name: answer.status for name, answer in answers.items()} == dict.fromkeys(answers, 200)
    assert answers["page"].headers["content-type"].startswith("text/html")
    assert answers["static"].body == (stack.static_dir / "css" / "app.css").read_bytes()
    assert json.loads(answers["echo"].body) == {"bytes": len(upload), "sha256": hashlib.sha256(upload).hexdigest()}
    whoami = json.loads(answers["whoami"].body)
    assert (whoami["server"], whoami["scheme"]) == (stack.backend, "https")
    # Links the app builds name the port the client used, as over HTTP/1.1 and HTTP/2.
    assert whoami["url"] == f"https://{DOMAIN}:{port}/api/whoami"
    # Streamed: five lines, the last a good second after the first, as the app produced them.
    stream = answers["stream"]
    assert len(stream.body.splitlines()) == 5, stream.body
    assert stream.pieces[-1][0] - stream.pieces[0][0] > 0.9, [moment for moment, _ in stream.pieces]
    # HTTP/3 answers advertise HTTP/3 too: a client that arrived by it keeps it.
    assert answers["whoami"].headers["alt-svc"] == f'h3=":{port}"; ma=86400'


@pytest.mark.slow
def test_make_down_keeps_the_certificate_and_certbots_account_and_a_renewal_then_succeeds(
    new_stack: StackFactory, backend: str, tmp_path: Path
) -> None:
    port = free_port()
    stack = new_stack(*ACME_FILES, ACME_DOMAINS=DOMAIN, SERVER_NAMES=SERVED, HTTPS_PORT=str(port))
    eventually(lambda: handed_over(stack) >= 1, 60, "the acme service never handed nginx a certificate")
    eventually(lambda: stack.logged("nginx", lambda line: "reloaded, serving HTTPS" in line), 30, "no reload")
    first_root = pebble_root(stack, tmp_path)
    serial = served_certificate(port, first_root)["serialNumber"]
    lineage = stack.exec("acme", "cat", "/etc/letsencrypt/renewal/stack.conf")

    down = stack.make("down")
    assert down.returncode == 0, down.stderr
    # The data stays; what was made at start (sockets, challenges, Pebble's certificate) goes.
    assert stack.volumes() == {"tls", "acme-state"}, stack.volumes()
    up = stack.make(f"up-{backend}")
    assert up.returncode == 0, up.stdout + up.stderr
    stack.find_port()

    # The same certificate, served from the start, and no request to the CA for a new one.
    assert served_certificate(port, first_root)["serialNumber"] == serial
    assert stack.exec("acme", "cat", "/etc/letsencrypt/renewal/stack.conf") == lineage
    eventually(lambda: stack.logged("acme", lambda line: "not yet due for renewal" in line), 60, "certbot never ran")
    assert handed_over(stack) == 0
    # Pebble started afresh and knows no account: the renewal registers a new one, and succeeds.
    renewed = stack.compose("exec", "-T", "acme", "acme", "renew", check=False, timeout=180)
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    assert "registering a new one" in renewed.stdout
    second_root = pebble_root(stack, tmp_path)

    def renewed_is_served() -> bool:
        try:  # the old certificate does not chain to the new Pebble's root
            return bool(served_certificate(port, second_root)["serialNumber"] != serial)
        except ssl.SSLCertVerificationError:
            return False

    eventually(renewed_is_served, 30, "the renewed certificate is not served")
