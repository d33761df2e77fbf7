"""runtime/stack_stop.py: how the stop bound tells uWSGI's graceful stop from the instants uWSGI
blocks every signal around a fork."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import stack_stop


@pytest.mark.parametrize(
    ("mask", "handling"),
    [
        ("0000000000000000", False),  # the master's loop
        ("0000000000004000", True),  # in its SIGTERM handler (seen during a stop)
        ("fffffffffffbfeff", False),  # every signal blocked, for an instant around a fork (seen)
        ("0000000000000002", False),  # another handler
    ],
)
def test_the_sigterm_handler_is_told_from_a_fork(tmp_path: Path, mask: str, handling: bool) -> None:
    status = tmp_path / "status"
    status.write_text(f"Name:\tuwsgi\nSigPnd:\t0000000000000000\nSigBlk:\t{mask}\nSigIgn:\t0000000000001000\n")
    assert stack_stop.handling(signal.SIGTERM, status) is handling
