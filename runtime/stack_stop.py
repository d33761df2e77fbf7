"""uWSGI's graceful stop, held to APP_GRACEFUL_TIMEOUT as Gunicorn holds its own (graceful_timeout).

On SIGTERM uWSGI runs gracefully_kill_them_all (uwsgi/uwsgi.ini): each worker finishes its
request, then exits. But that function waits for the workers one by one with a blocking
waitpid() inside the signal handler (uWSGI 2.0.30, and its master branch), so the master's loop,
which enforces reload-mercy and harakiri, is stopped until the slowest request ends, however long:
past Docker's SIGKILL if need be.

So a process uWSGI's master runs beside its workers (`stackctl stop-bound`, an attached daemon:
uwsgi/uwsgi.ini) watches for that handler: while it runs, SIGTERM is among the master's blocked
signals (/proc, SigBlk). From then on the workers get APP_GRACEFUL_TIMEOUT seconds; any still
running is killed, the master's wait returns, and it goes on to stop its daemons, this one and
the metrics server among them, then exits. A request cut that way gets nginx's 502, as on
Gunicorn, within the same bound. The watch is no thread of the master: uWSGI forks its workers
without taking the GIL, and a worker forked while a thread of the master held it waits forever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import NamedTuple

# How often the watch looks; the bound is kept to within this.
POLL_SECONDS = 0.5


def handling(signum: int, status: Path) -> bool:
    """Whether the thread whose status this is runs its handler of `signum`: `signum` blocked, as
    it is for the whole handler, but not SIGINT, which uWSGI blocks with every other signal for an
    instant around each fork of a worker."""
    for line in status.read_text().splitlines():
        if line.startswith("SigBlk:"):
            mask = int(line.split()[1], 16)
            return bool(mask & (1 << (signum - 1))) and not mask & (1 << (signal.SIGINT - 1))
    return False


def stop_began(master: int) -> bool:
    """Whether uWSGI's `master` is in its graceful stop: in its SIGTERM handler, at two looks
    POLL_SECONDS apart (the handler lasts as long as the stop does)."""
    status = Path(f"/proc/{master}/task/{master}/status")
    if not handling(signal.SIGTERM, status):
        return False
    time.sleep(POLL_SECONDS)
    return handling(signal.SIGTERM, status)


class Process(NamedTuple):
    command: str
    state: str  # R, S, D, Z (a zombie: dead, not yet reaped), ...
    parent: int


def process(pid: int | str) -> Process | None:
    """What /proc says of a process; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command, in parentheses, may hold spaces and parentheses of its own.
    fields = stat.rsplit(")", 1)[1].split()
    return Process(stat[stat.find("(") + 1 : stat.rfind(")")], fields[0], int(fields[1]))


def workers(master: int) -> list[int]:
    """The live children of uWSGI's `master` but its daemons (`stackctl ...`): its workers."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        seen = process(entry.name) if entry.name.isdigit() else None
        if seen and seen.parent == master and seen.state != "Z" and seen.command != "stackctl":
            found.append(int(entry.name))
    return found


def watch(grace: float, master: int) -> None:
    while not stop_began(master):
        time.sleep(POLL_SECONDS)
    deadline = time.monotonic() + grace - 2 * POLL_SECONDS
    # Done as soon as the workers are; uWSGI stops its daemons, this one too, once they are.
    while (left := workers(master)) and time.monotonic() < deadline:
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


def under_uwsgi_worker() -> bool:
    """Whether this process is one of uWSGI's workers."""
    try:
        import uwsgi  # the server's own module inside it; pyuwsgi's launcher outside
    except ImportError:
        return False
    worker_id = getattr(uwsgi, "worker_id", None)
    return worker_id is not None and bool(worker_id() > 0)
