"""acme/compose.yaml's settings, checked by `stackctl check` with the stack's own before anything
starts (the overlay mounts this file into the config service's /opt/stack/checks/)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from stackctl import serves

# A DNS name as an ACME CA issues for it by HTTP-01: at least two labels, no wildcard (only DNS-01
# proves those), no address.
DNS_NAME = re.compile(r"(?=.{1,253}$)((?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE)


def problems(environ: Mapping[str, str]) -> list[str]:
    """One message per bad setting."""
    found = []
    domains = environ.get("ACME_DOMAINS", "")
    if not domains:
        found.append("ACME_DOMAINS is not set: the names to get a certificate for, comma-separated (acme/compose.yaml)")
    for name in filter(None, domains.split(",")):
        if not DNS_NAME.fullmatch(name) or re.fullmatch(r"[\d.]+", name):
            found.append(f"ACME_DOMAINS: {name!r} is not a DNS name HTTP-01 can prove (no wildcards, no addresses)")
    # The CA fetches each challenge with its domain as Host: a name nginx refuses (421) is never proved.
    names = environ.get("SERVER_NAMES", "")
    if unserved := [name for name in filter(None, domains.split(",")) if not serves(names, name)]:
        found.append(f"ACME_DOMAINS {', '.join(unserved)} not in SERVER_NAMES={names!r}: nginx would refuse the CA")
    email = environ.get("ACME_EMAIL", "")
    if email and not re.fullmatch(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+", email):
        found.append(f"ACME_EMAIL={email!r} must be an email address, or empty")
    if not re.fullmatch(r"https://[^\s/]+(/\S*)?", environ.get("ACME_DIRECTORY", "")):
        found.append(f"ACME_DIRECTORY={environ.get('ACME_DIRECTORY')!r} must be an https:// URL (an ACME directory)")
    return found
