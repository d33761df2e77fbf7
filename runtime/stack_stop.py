"""uWSGI's graceful stop, held to APP_GRACEFUL_TIMEOUT as Gunicorn holds its own (graceful_timeout).

On SIGTERM uWSGI runs gracefully_kill_them_all (uwsgi/uwsgi.ini): each worker finishes its
request, then exits. But that function waits for the workers one by one with a blocking
waitpid() inside the signal handler (uWSGI 2.0.30, and its master branch), so the master's loop,
which enforces reload-mercy and harakiri, is stopped until the slowest request ends, however long:
past Docker's SIGKILL if need be.

So a process the master starts (`stackctl stop-bound`, a companion: below) watches for that
handler: while it runs, SIGTERM is among the master's blocked signals (/proc, SigBlk). From then
on the workers get APP_GRACEFUL_TIMEOUT seconds; any still running is killed, the master's wait
returns, and it exits. A request cut that way gets nginx's 502, as on Gunicorn, within the same
bound. The master exits only once it has no child left: the watch ends with the workers, and
ends any other companion (the metrics server) when the stop begins.
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


def children(pid: int) -> tuple[list[int], list[int]]:
    """The live child processes of `pid`, but this one: (workers, companions: `stackctl ...`)."""
    workers: list[int] = []
    companions: list[int] = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        command, fields = stat[stat.find("(") + 1 : stat.rfind(")")], stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z" and int(entry.name) != os.getpid():
            (companions if command == "stackctl" else workers).append(int(entry.name))
    return workers, companions


def watch(grace: float, master: int) -> None:
    while not stop_began(master):
        time.sleep(POLL_SECONDS)
    deadline = time.monotonic() + grace - 2 * POLL_SECONDS
    # The other companions end now (the master waits for every child), killed: they hold nothing
    # to finish, and may have inherited SIGTERM ignored. The workers get the grace.
    for pid in children(master)[1]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Gone as soon as the workers are: the master exits once it has no child left, this one too.
    while (left := children(master)[0]) and time.monotonic() < deadline:
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


def companion(*args: str) -> None:
    """Start `stackctl ARGS` beside the server's master, unless it runs already (a graceful
    reload imports the app again). A process of its own, not a thread of the master: uWSGI forks
    its workers without taking the GIL, and a worker forked while a thread of the master held it
    waits for it forever. The master reaps it; it ends with what it serves."""
    wanted = "\0".join(("stackctl", *args, "")).encode()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and wanted in (entry / "cmdline").read_bytes():
                return
    subprocess.Popen(["stackctl", *args])


def under_uwsgi() -> bool:
    """Whether this process is uWSGI's master."""
    try:
        import uwsgi  # the server's own module inside it; pyuwsgi's launcher outside
    except ImportError:
        return False
    masterpid = getattr(uwsgi, "masterpid", None)
    return masterpid is not None and bool(masterpid() == os.getpid())


def bound_uwsgi_stop(environ: Mapping[str, str]) -> None:
    """In uWSGI's master (which imports the app), start the watch; elsewhere, nothing."""
    if under_uwsgi():
        companion("stop-bound", str(os.getpid()), environ.get("APP_GRACEFUL_TIMEOUT", "25"))
