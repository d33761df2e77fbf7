"""Stopping and restarting parts of the stack; each test gets a stack of its own."""

from __future__ import annotations

from .stack import Stack, StackFactory


def test_socket_left_by_a_killed_app_does_not_block_its_restart(own_stack: Stack) -> None:
    stack = own_stack
    stack.compose("kill", "--signal", "SIGKILL", "app")
    # SIGKILL gives the server no chance to clean up: the socket file stays behind.
    assert stack.exec("nginx", "stat", "-L", "-c", "%F", stack.socket).strip() == "socket"

    # The same container started again, over its own stale socket. Waiting for it alone: nginx's
    # healthcheck goes through the app, and may have called nginx unhealthy meanwhile, which would
    # end `up --wait` at once.
    stack.compose(
        "up", "--no-build", "--no-recreate", "--detach", "--wait", "--wait-timeout", "120", "app", timeout=300
    )

    assert stack.wait_for("/healthz", 30).json() == {"status": "ok", "server": stack.backend}


def test_a_bad_setting_stops_up_at_once_naming_the_variable(new_stack: StackFactory) -> None:
    stack = new_stack(start=False, APP_WORKERS="abc", MAX_BODY_SIZE="lots")
    stack.up_fails()
    config = stack.state("config")
    assert (config["Status"], config["ExitCode"]) == ("exited", 78)
    messages = stack.logs("config")
    assert "APP_WORKERS='abc' must be auto or a whole number" in messages
    assert "MAX_BODY_SIZE='lots' must be a size" in messages
    # Nothing else ever ran: no restart loop, no 502s from a half-started stack.
    for service in ("app", "nginx"):
        assert stack.state(service)["Status"] == "created", service


def test_a_graceful_reload_keeps_the_container_and_serves_again(own_stack: Stack) -> None:
    stack = own_stack
    started = stack.state("app")["StartedAt"]
    stack.compose("kill", "--signal", "SIGHUP", "app")
    assert stack.wait_for("/healthz", 30).json() == {"status": "ok", "server": stack.backend}
    state = stack.state("app")
    # pyuwsgi's re-exec once landed outside the virtualenv and took the container down with it.
    assert (state["StartedAt"], state["Running"]) == (started, True)
    assert stack.logged("app", lambda line: "reload" in line.lower())
