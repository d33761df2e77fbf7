"""acme/check.py: automatic certificates' settings, as `stackctl check` runs them (the overlay
mounts the file into the config service)."""

from __future__ import annotations

import pytest

from acme.check import problems
from tests.facts import compose_defaults

# The overlay's settings, with its defaults, and names to certify.
ACME = {
    **{name: value for name, value in compose_defaults("acme/compose.yaml").items() if name.startswith("ACME_")},
    "ACME_DOMAINS": "example.com,www.example.com",
}


def test_the_defaults_with_names_to_certify_pass() -> None:
    assert set(ACME) == {"ACME_DOMAINS", "ACME_EMAIL", "ACME_DIRECTORY"}
    assert ACME["ACME_DIRECTORY"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert problems(ACME) == []
    assert problems({**ACME, "ACME_EMAIL": "ops@example.com"}) == []


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("ACME_DOMAINS", "", "ACME_DOMAINS is not set"),
        ("ACME_DOMAINS", "*.example.com", "'*.example.com' is not a DNS name"),
        ("ACME_DOMAINS", "localhost", "'localhost' is not a DNS name"),
        ("ACME_DOMAINS", "192.0.2.7", "'192.0.2.7' is not a DNS name"),
        ("ACME_DOMAINS", "example.com, www.example.com", "' www.example.com' is not a DNS name"),
        ("ACME_DOMAINS", "-bad.example.com", "'-bad.example.com' is not a DNS name"),
        ("ACME_EMAIL", "ops", "ACME_EMAIL='ops' must be an email address"),
        ("ACME_DIRECTORY", "http://acme.example/dir", "must be an https:// URL"),
    ],
)
def test_a_bad_acme_setting_is_named(name: str, value: str, says: str) -> None:
    found = problems({**ACME, name: value})
    assert len(found) == 1, found
    assert says in found[0]


@pytest.mark.parametrize("names", ["", "example.com,www.example.com", ".example.com", "*.example.com,example.com"])
def test_names_served_that_cover_the_domains_pass(names: str) -> None:
    assert problems({**ACME, "SERVER_NAMES": names}) == []


def test_a_domain_nginx_would_refuse_is_named() -> None:
    """The CA fetches its challenge with the domain as Host: one outside SERVER_NAMES gets 421."""
    found = problems({**ACME, "SERVER_NAMES": "example.com,api.example.com"})
    assert found == [
        "ACME_DOMAINS www.example.com not in SERVER_NAMES='example.com,api.example.com': nginx would refuse the CA"
    ]
