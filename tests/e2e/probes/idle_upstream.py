"""Two keep-alive connections to Gunicorn's socket, held as nginx holds them.

One is asked again after nginx's longest idle time (its upstream keepalive_timeout, plus a
second), the other after Gunicorn's own keep-alive has passed.
Usage: python3 - SOCKET NGINX_IDLE SERVER_IDLE
"""

import http.client
import socket
import sys
import time

path, nginx_idle, server_idle = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])


def connect() -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("t", timeout=10)
    connection.sock = socket.socket(socket.AF_UNIX)
    connection.sock.connect(path)
    return connection


def ask(connection: http.client.HTTPConnection) -> str:
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return str(response.status)
    except (http.client.RemoteDisconnected, ConnectionError) as error:
        return type(error).__name__


first, second = connect(), connect()
print("fresh", ask(first), ask(second))
time.sleep(nginx_idle + 1)
print("after-nginx-idle", ask(first))
time.sleep(server_idle - nginx_idle + 1)
print("after-server-idle", ask(second))
