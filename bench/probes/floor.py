"""Print, as JSON, the CPU time one request costs with no server at all: the floor.

Runs inside the app image, with its environment. Calls the WSGI app the servers load
(stack_wsgi:app) in a loop, with the environ nginx's request would give it, and measures this
process's CPU time (user + system). A server's CPU per request divided by this is what the
server itself costs. argv[1]: the path; argv[2]: how many timed calls.
"""

import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable

from werkzeug.test import EnvironBuilder

# The app counts its requests as it does in a worker, into files of this probe's own: the
# server's are not to be touched.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp()
import stack_wsgi

path, calls = sys.argv[1], int(sys.argv[2])
# What nginx adds to wrk's request (nginx/templates: X-Forwarded-*, X-Request-ID).
headers = {
    "X-Forwarded-For": "172.18.0.2",
    "X-Forwarded-Proto": "http",
    "X-Forwarded-Host": "nginx:8080",
    "X-Request-ID": "0123456789abcdef0123456789abcdef",
}
template = EnvironBuilder(path=path, base_url="http://nginx:8080", headers=list(headers.items())).get_environ()
statuses: set[str] = set()


def start_response(
    status: str, response_headers: list[tuple[str, str]], exc_info: object = None
) -> Callable[[bytes], object]:
    statuses.add(status)
    return lambda data: None


def once() -> None:
    environ = dict(template)
    environ["wsgi.input"] = io.BytesIO()
    body = stack_wsgi.app(environ, start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


for _ in range(calls // 10):  # warm up: imports, caches, the allocator
    once()
started = time.process_time()
for _ in range(calls):
    once()
cpu = time.process_time() - started
print(json.dumps({"cpu_us_per_request": round(cpu / calls * 1e6, 1), "calls": calls, "statuses": sorted(statuses)}))
