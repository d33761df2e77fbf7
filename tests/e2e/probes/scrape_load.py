"""Scrape the app's metrics without pause from 4 threads until STOP_FILE exists or SECONDS have
passed (`scrape_load.py STOP_FILE SECONDS`), and print how many scrapes answered: the metrics
server busy all the time, as a master's thread it would have been holding the GIL whenever the
master forked a worker."""

import contextlib
import os
import sys
import threading
import time
import urllib.request

stop_file, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
url = f"http://127.0.0.1:{os.environ['APP_METRICS_PORT']}/metrics"
answered: list[int] = []


def scrape() -> None:
    while time.monotonic() < deadline and not os.path.exists(stop_file):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2).read()
            answered.append(1)


threads = [threading.Thread(target=scrape) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(answered))
