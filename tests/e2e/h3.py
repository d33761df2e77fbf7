"""A small HTTP/3 client on aioquic, for nginx's QUIC listener: requests on one QUIC connection,
each answer with the moment every piece of its body arrived (to tell a streamed answer from a
buffered one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    # (monotonic arrival, bytes) for each DATA frame.
    pieces: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.pieces)


class H3Client(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.answers: dict[int, Answer] = {}
        self.waiting: dict[int, asyncio.Future[Answer]] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self.h3.handle_event(event):
            self.h3_event_received(h3_event)

    def h3_event_received(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived) or event.stream_id not in self.answers:
            return
        answer = self.answers[event.stream_id]
        if isinstance(event, HeadersReceived):
            for name, value in event.headers:
                if name == b":status":
                    answer.status = int(value)
                else:
                    answer.headers[name.decode()] = value.decode()
        elif event.data:
            answer.pieces.append((time.monotonic(), event.data))
        if event.stream_ended:
            self.waiting.pop(event.stream_id).set_result(answer)

    async def request(
        self, authority: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        stream = self._quic.get_next_available_stream_id()
        head = [(b":method", method.encode()), (b":scheme", b"https"), (b":authority", authority.encode()),
                (b":path", path.encode()), (b"user-agent", b"aioquic-e2e")]  # fmt: skip
        head += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
        self.answers[stream] = Answer()
        self.waiting[stream] = asyncio.get_running_loop().create_future()
        self.h3.send_headers(stream, head, end_stream=not body)
        if body:
            self.h3.send_data(stream, body, end_stream=True)
        self.transmit()
        return await asyncio.wait_for(self.waiting[stream], timeout=60)


@asynccontextmanager
async def h3_connection(port: int, server_name: str, cafile: Path) -> AsyncIterator[H3Client]:
    """An HTTP/3 connection to 127.0.0.1:`port` (UDP) as a client of `server_name`, which must
    present a certificate for it that chains to `cafile`."""
    # A handshake that gets no answer (UDP not published, QUIC off) fails in seconds, not a minute.
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=server_name, idle_timeout=10)
    configuration.load_verify_locations(str(cafile))
    async with connect("127.0.0.1", port, configuration=configuration, create_protocol=H3Client) as client:
        assert isinstance(client, H3Client)
        yield client
