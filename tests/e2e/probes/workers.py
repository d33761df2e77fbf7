"""The app server's live workers: the children of its master, PID 1.

`workers.py` prints their PIDs. `workers.py kill [PID]` SIGKILLs one (PID, or the oldest live one)
and prints which: without a PID, a worker recycled by APP_MAX_REQUESTS may exit on its own between
being listed and being signalled, so the next live one is taken then, and one is always killed."""

import os
import signal
import sys


def live() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read()
        except OSError:
            continue
        state, ppid = fields.rsplit(")", 1)[1].split()[:2]
        if ppid == "1" and state != "Z":
            found.append(int(pid))
    return sorted(found)


def kill_one() -> int:
    for _ in range(100):
        for pid in live():
            try:
                os.kill(pid, signal.SIGKILL)
                return pid
            except ProcessLookupError:
                continue
    sys.exit("no live worker to kill")


if sys.argv[1:2] == ["kill"]:
    if len(sys.argv) > 2:
        os.kill(int(sys.argv[2]), signal.SIGKILL)
        print(sys.argv[2])
    else:
        print(kill_one())
else:
    print(*live(), sep="\n")
