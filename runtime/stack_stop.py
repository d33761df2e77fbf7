"""uWSGI's graceful stop, held to APP_GRACEFUL_TIMEOUT as Gunicorn holds its own (graceful_timeout).

On SIGTERM uWSGI runs gracefully_kill_them_all (uwsgi/uwsgi.ini): each worker finishes its
request, then exits. But that function waits for the workers one by one with a blocking
waitpid() inside the signal handler (uWSGI 2.0.30, and its master branch), so the master's loop,
which enforces reload-mercy and harakiri, is stopped until the slowest request ends, however long:
past Docker's SIGKILL if need be.

So a thread of the master watches for that handler: while it runs, SIGTERM is among the master's
blocked signals (/proc, SigBlk), and the GIL is free (the master waits in C). From then on the
workers get APP_GRACEFUL_TIMEOUT seconds; any still running is killed, the master's wait returns,
and it exits. A request cut that way gets nginx's 502, as on Gunicorn, within the same bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

# How often the thread looks; the bound is kept to within this.
POLL_SECONDS = 0.25


def handling(signum: int, status: Path) -> bool:
    """Whether the thread whose status this is runs a handler of `signum` (it is blocked meanwhile)."""
    for line in status.read_text().splitlines():
        if line.startswith("SigBlk:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def children(pid: int) -> list[int]:
    """The live child processes of `pid`: a master's workers."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def watch(grace: float, master: int) -> None:
    status = Path(f"/proc/{master}/task/{master}/status")
    while not handling(signal.SIGTERM, status):
        time.sleep(POLL_SECONDS)
    time.sleep(max(0.0, grace - POLL_SECONDS))
    if left := children(master):
        print(
            f"stack_stop: {len(left)} worker(s) still busy {grace:g} s (APP_GRACEFUL_TIMEOUT) after SIGTERM: "
            f"killed, their requests cut (nginx answers 502)",
            file=sys.stderr,
            flush=True,
        )
        for pid in left:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(pid, signal.SIGKILL)


def bound_uwsgi_stop(environ: Mapping[str, str]) -> None:
    """In uWSGI's master (which imports the app), start the watch; elsewhere, nothing."""
    try:
        import uwsgi  # the server's own module inside it; pyuwsgi's launcher outside
    except ImportError:
        return
    masterpid = getattr(uwsgi, "masterpid", None)
    if masterpid is None or masterpid() != os.getpid():
        return
    grace = float(environ.get("APP_GRACEFUL_TIMEOUT", "25"))
    threading.Thread(target=watch, args=(grace, os.getpid()), name="stop-bound", daemon=True).start()
