"""Print, as JSON, the RSS and PSS (shared pages split among sharers) of every process in the container."""

import json
import os


def fields(path: str) -> dict[str, str]:
    with open(path) as lines:
        return dict(line.split(":", 1) for line in lines if ":" in line)


rows = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status, rollup = fields(f"/proc/{pid}/status"), fields(f"/proc/{pid}/smaps_rollup")
    except OSError:
        continue
    rows.append(
        {
            "pid": int(pid),
            "ppid": int(status["PPid"]),
            "command": status["Name"].strip(),
            "rss_kib": int(status["VmRSS"].split()[0]),
            "pss_kib": int(rollup["Pss"].split()[0]),
        }
    )
print(json.dumps(rows))
