"""Print the PIDs of the app server's live workers: the children of its master, PID 1."""

import os

for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read()
    except OSError:
        continue
    state, ppid = fields.rsplit(")", 1)[1].split()[:2]
    if ppid == "1" and state != "Z":
        print(pid)
