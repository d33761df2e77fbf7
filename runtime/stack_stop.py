"""uWSGI's graceful stop, held to APP_GRACEFUL_TIMEOUT as Gunicorn holds its own (graceful_timeout).

On SIGTERM uWSGI runs gracefully_kill_them_all (uwsgi/uwsgi.ini): each worker finishes its
request, then exits. But that function waits for the workers one by one with a blocking
waitpid() inside the signal handler (uWSGI 2.0.30, and its master branch), so the master's loop,
which enforces reload-mercy and harakiri, is stopped until the slowest request ends, however long:
past Docker's SIGKILL if need be.

So a process the master starts (`stackctl stop-bound`) watches for that handler: while it runs,
SIGTERM is among the master's blocked signals (/proc, SigBlk). From then on the workers get
APP_GRACEFUL_TIMEOUT seconds; any still running is killed, the master's wait returns, and it
exits. A request cut that way gets nginx's 502, as on Gunicorn, within the same bound. The watch
ends with the workers, since the master exits only once it has no child left. A process, not a
thread of the master: uWSGI forks its workers without taking the GIL, and a worker forked while
a thread of the master held it would wait for it forever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

# How often the watch looks; the bound is kept to within this.
POLL_SECONDS = 0.25


def handling(signum: int, status: Path) -> bool:
    """Whether the thread whose status this is runs its handler of `signum` (blocked meanwhile)."""
    for line in status.read_text().splitlines():
        if line.startswith("SigBlk:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def children(pid: int) -> list[int]:
    """The live child processes of `pid` but this one: a master's workers."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def watch(grace: float, master: int) -> None:
    status = Path(f"/proc/{master}/task/{master}/status")
    while not handling(signal.SIGTERM, status):
        time.sleep(POLL_SECONDS)
    deadline = time.monotonic() + grace - POLL_SECONDS
    # Gone as soon as the workers are: the master exits once it has no child left, this one too.
    while (left := children(master)) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    if left:
        print(
            f"stack_stop: {len(left)} worker(s) still running {grace:g} s (APP_GRACEFUL_TIMEOUT) after SIGTERM: "
            f"killed, their requests cut (nginx answers 502)",
            file=sys.stderr,
            flush=True,
        )
        for pid in left:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(pid, signal.SIGKILL)


def watched(master: int) -> bool:
    """Whether a watch for this master runs already (a graceful reload imports the app again)."""
    wanted = f"stackctl\0stop-bound\0{master}\0".encode()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and wanted in (entry / "cmdline").read_bytes():
                return True
    return False


def bound_uwsgi_stop(environ: Mapping[str, str]) -> None:
    """In uWSGI's master (which imports the app), start the watch; elsewhere, nothing."""
    try:
        import uwsgi  # the server's own module inside it; pyuwsgi's launcher outside
    except ImportError:
        return
    masterpid = getattr(uwsgi, "masterpid", None)
    if masterpid is None or masterpid() != os.getpid() or watched(os.getpid()):
        return
    grace = environ.get("APP_GRACEFUL_TIMEOUT", "25")
    # Reaped by uWSGI's master, whose child it is; it ends with the stop it bounds.
    subprocess.Popen(["stackctl", "stop-bound", str(os.getpid()), grace])
