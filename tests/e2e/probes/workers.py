"""The app server's live workers: the children of its master, PID 1.

`workers.py` prints how many the server runs when none is being replaced (APP_WORKERS, as
stackctl works it out), then their PIDs. `workers.py kill [PID]` SIGKILLs one (PID, or the oldest live one)
and prints which. Without a PID one is always killed, even while APP_MAX_REQUESTS recycles them: a
worker may exit on its own between being listed and being signalled (the next one is taken), and
all of them may be gone at once, exited and not yet replaced: uWSGI's master reaps and respawns
only on its next loop, up to a second later. So it looks again until one lives, for a while.
The probe itself, run by `docker exec`, is no child of PID 1 (its parent is outside the container)."""

import os
import signal
import sys
import time

# Far longer than a master takes to replace a worker.
PATIENCE_SECONDS = 15


def live() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read()
        except OSError:
            continue
        command = fields[fields.index("(") + 1 : fields.rindex(")")]
        state, ppid = fields.rsplit(")", 1)[1].split()[:2]
        # Not the daemons uWSGI's master runs beside its workers (stackctl stop-bound, metrics).
        if ppid == "1" and state != "Z" and command != "stackctl":
            found.append(int(pid))
    return sorted(found)


def kill_one() -> int:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        for pid in live():
            try:
                os.kill(pid, signal.SIGKILL)
                return pid
            except ProcessLookupError:
                continue
        time.sleep(0.05)
    sys.exit(f"no live worker to kill in {PATIENCE_SECONDS} s")


if sys.argv[1:2] == ["kill"]:
    if len(sys.argv) > 2:
        os.kill(int(sys.argv[2]), signal.SIGKILL)
        print(sys.argv[2])
    else:
        print(kill_one())
else:
    import stackctl  # the app image's, on its PYTHONPATH

    print(stackctl.workers(os.environ["APP_WORKERS"]), *live(), sep="\n")
