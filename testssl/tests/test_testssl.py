"""testssl.sh grades the TLS configuration nginx serves (testssl/README.md): every default
check, from inside the project's network, against a certificate of a CA made for the run."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.load import figure
from tests.e2e.stack import BACKENDS, ROOT, TLS_FILES, Stack, running_stack

TESTSSL_FILES = (*TLS_FILES, ROOT / "testssl" / "compose.testssl.yaml")
# The name the certificate is for, and testssl.sh asks for (connecting to nginx's address).
NAME = "localhost"
# What testssl.sh rates as a problem: a vulnerability or a weakness, whatever its check.
PROBLEMS = ("MEDIUM", "HIGH", "CRITICAL")
# Not the stack's doing but the test CA's: its certificates name no CRL and no OCSP responder
# (a public CA's carry one). Nothing else is let through.
TEST_CA_FINDINGS = {"cert_revocation"}


def make_ca_and_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for NAME signed by it: (CA, certificate, key)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    certificate, key, request = directory / "tls.crt", directory / "tls.key", directory / "tls.csr"
    commands: list[list[str | Path]] = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj", "/CN=grading CA",
         "-keyout", ca_key, "-out", ca],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={NAME}", "-keyout", key, "-out", request],
        # 90 days, as Let's Encrypt's: testssl.sh rates one that expires within 30 as HIGH.
        ["openssl", "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "90",
         "-sha256", "-extfile", "/dev/stdin", "-out", certificate],
    ]  # fmt: skip
    extensions = f"subjectAltName=DNS:{NAME}\nextendedKeyUsage=serverAuth\n"
    for command in commands:
        subprocess.run(command, input=extensions, capture_output=True, text=True, check=True, timeout=60)
    # nginx reads them as its own user.
    for path in (certificate, key, ca):
        path.chmod(0o644)
    return ca, certificate, key


@pytest.fixture(scope="module", params=BACKENDS)
def graded(request: pytest.FixtureRequest, images: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ca, certificate, key = make_ca_and_certificate(tmp_path_factory.mktemp("grading"))
    with running_stack(
        request.param, TESTSSL_FILES, TLS_CERT=str(certificate), TLS_KEY=str(key), TESTSSL_CA=str(ca), HTTPS_PORT="0"
    ) as stack:
        yield stack


@pytest.mark.slow
@pytest.mark.single_backend(
    reason="testssl.sh grades nginx's TLS configuration, which no backend changes (about 50 s a run); "
    "tests/e2e/test_tls.py checks what it grades on both"
)
def test_the_tls_configuration_grades_clean_with_testssl(graded: Stack) -> None:
    stack = graded
    nginx = stack.exec("testssl", "getent", "ahostsv4", "nginx").split()[0]
    started = time.monotonic()
    run = stack.compose(
        "exec", "-T", "testssl", "testssl", "--quiet", "--color", "0", "--warnings", "off",
        "--add-ca", "/srv/ca.pem", "--jsonfile", "/tmp/testssl.json", "--ip", nginx, f"https://{NAME}:8443",
        check=False, timeout=900,
    )  # fmt: skip
    findings = json.loads(stack.exec("testssl", "cat", "/tmp/testssl.json"))
    severities: dict[str, int] = {}
    for finding in findings:
        severities[finding["severity"]] = severities.get(finding["severity"], 0) + 1
    figure(f"[testssl.sh] {stack.backend}: {len(findings)} findings in {time.monotonic() - started:.0f} s, "
           f"by severity {dict(sorted(severities.items()))}")  # fmt: skip
    problems = [
        finding for finding in findings
        if (finding["severity"] in PROBLEMS or "NOT ok" in finding["finding"]) and finding["id"] not in TEST_CA_FINDINGS
    ]  # fmt: skip
    assert problems == [], f"{problems}\n{run.stdout[-4000:]}"
    by_id = {finding["id"]: finding for finding in findings}
    assert by_id["TLS1_3"]["finding"].startswith("offered"), by_id["TLS1_3"]
    assert by_id["TLS1_1"]["finding"] == "not offered", by_id["TLS1_1"]
    assert by_id["cert_chain_of_trust"]["severity"] == "OK", by_id["cert_chain_of_trust"]
    assert by_id["BREACH"]["severity"] == "OK", by_id["BREACH"]
    assert by_id["overall_grade"]["finding"].startswith("A"), by_id["overall_grade"]
