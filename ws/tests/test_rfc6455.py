"""RFC 6455 through nginx, on both backends: what a server must do with frames a polite client
sends and with frames no polite client sends, against the tests' app's echo route.

The frames are written here byte by byte (frame() below), so a test can send what no client
library would: unmasked, reserved bits or opcodes, oversized or fragmented control frames, bad
close codes, invalid UTF-8. wsproto, which the server does not see, makes the handshake and reads
the server's frames. Autobahn's case groups covered: 1 (framing), 2 (pings and pongs), 3
(reserved bits), 4 (opcodes), 5 (fragmentation), 6 (UTF-8), 7 (close handling); not 9
(performance: make bench), 12 and 13 (compression: never negotiated here).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Event, Pong, Request, TextMessage

from tests.e2e.stack import BACKENDS, Stack, running_stack
from ws.tests.test_websocket import ECHO, FILES

# Opcodes (RFC 6455, 5.2).
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# Close codes (7.4.1).
NORMAL, NO_STATUS, PROTOCOL_ERROR, INVALID_DATA = 1000, 1005, 1002, 1007


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request: pytest.FixtureRequest, images: None) -> Iterator[Stack]:
    with running_stack(request.param, FILES) as stack:
        yield stack


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, masked: bool = True) -> bytes:
    """One frame as a client sends it (5.2): masked, unless told not to be."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if masked else 0
    if len(payload) < 126:
        head += bytes([mask_bit | len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", len(payload))
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


def close(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason)


class Client:
    """A socket through nginx to the echo route: raw frames out, the server's events in."""

    def __init__(self, stack: Stack) -> None:
        port = int(stack.base_url.rsplit(":", 1)[1])
        self.connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.protocol = WSConnection(ConnectionType.CLIENT)
        # The payloads of the pongs message() passed over.
        self.pongs: list[bytes] = []
        self.connection.sendall(self.protocol.send(Request(host="127.0.0.1", target=ECHO)))
        assert isinstance(self.next(), AcceptConnection)

    def send(self, *frames: bytes) -> None:
        self.connection.sendall(b"".join(frames))

    def next(self) -> Event | None:
        """The server's next event; None once it has closed the connection."""
        while True:
            for event in self.protocol.events():
                return event
            data = self.connection.recv(65536)
            self.protocol.receive_data(data or None)
            if not data:
                return next(iter(self.protocol.events()), None)

    def message(self) -> str | bytes:
        """The next whole message, pongs kept aside; the parts of one the server fragmented joined."""
        text, data = "", b""
        while True:
            event = self.next()
            if isinstance(event, Pong):
                self.pongs.append(event.payload)
                continue
            if isinstance(event, TextMessage):
                text += event.data
            else:
                assert isinstance(event, BytesMessage), event
                data += bytes(event.data)
            if event.message_finished:
                return text if isinstance(event, TextMessage) else data

    def pong(self) -> bytes:
        """The payload of the next pong, one message() passed over or the next event."""
        if self.pongs:
            return self.pongs.pop(0)
        event = self.next()
        assert isinstance(event, Pong), event
        return bytes(event.payload)

    def closed_with(self) -> int:
        """The code of the server's close frame, the events before it skipped."""
        while True:
            event = self.next()
            assert event is not None, "the connection ended without a close frame"
            if isinstance(event, CloseConnection):
                return event.code

    def ended(self) -> bool:
        """Whether the server, once it has sent its close, closes the connection (7.1.1), with
        nothing more on it."""
        return self.connection.recv(65536) == b""

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def client(stack: Stack) -> Iterator[Client]:
    opened = Client(stack)
    try:
        yield opened
    finally:
        opened.close()


# --- 1: framing: every payload length encoding, both data opcodes ------------------------------
@pytest.mark.parametrize("size", [0, 125, 126, 127, 65535, 65536, 200_000])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_a_message_of_any_length_comes_back_whole(client: Client, opcode: int, size: int) -> None:
    payload = bytes(ord("a") + i % 26 for i in range(size))
    client.send(frame(opcode, payload))
    assert client.message() == (payload.decode() if opcode == TEXT else payload)


# --- 2: pings and pongs ---------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 125])
def test_a_ping_gets_a_pong_with_its_payload(client: Client, size: int) -> None:
    payload = os.urandom(size)
    client.send(frame(PING, payload))
    assert client.pong() == payload


def test_an_unsolicited_pong_is_ignored(client: Client) -> None:
    client.send(frame(PONG, b"unasked"), frame(TEXT, b"after"))
    assert client.message() == "after"


# --- 3, 4, 5, 7: what a server must fail the connection for with 1002 (7.1.7) --------------
PROTOCOL_ERRORS = {
    # 5.1: a client's frames are masked.
    "an unmasked frame": frame(TEXT, b"hello", masked=False),
    # 5.2: no extension was negotiated, so no reserved bit may be set.
    "RSV1 set": frame(TEXT, b"hello", rsv=0b100),
    "RSV2 set": frame(TEXT, b"hello", rsv=0b010),
    "RSV3 set": frame(TEXT, b"hello", rsv=0b001),
    "a reserved data opcode": frame(0x3, b"hello"),
    "a reserved control opcode": frame(0xB, b"hello"),
    # 5.5: control frames carry at most 125 bytes and are never fragmented.
    "a ping of 126 bytes": frame(PING, b"x" * 126),
    "a fragmented ping": frame(PING, b"part", fin=False) + frame(CONTINUATION, b"rest"),
    # 5.4: a continuation continues something; a new message waits for the last to end.
    "a continuation with nothing to continue": frame(CONTINUATION, b"orphan"),
    "a new message inside a fragmented one": frame(TEXT, b"one", fin=False) + frame(TEXT, b"two"),
    # 5.5.1, 7.4: a close body is empty or a code, and the code one a peer may send.
    "a close with a one-byte body": frame(CLOSE, b"\x03"),
    "a close with code 999": close(999),
    "a close with code 1004 (reserved)": close(1004),
    "a close with code 1005 (never sent)": close(1005),
    "a close with code 1006 (never sent)": close(1006),
    "a close with code 1015 (never sent)": close(1015),
    "a close with code 5000": close(5000),
}


@pytest.mark.parametrize("frames", PROTOCOL_ERRORS.values(), ids=PROTOCOL_ERRORS.keys())
def test_a_protocol_error_closes_the_socket_with_1002(client: Client, frames: bytes) -> None:
    client.send(frames)
    assert client.closed_with() == PROTOCOL_ERROR


# --- 5: fragmentation -------------------------------------------------------------------------
def test_a_fragmented_message_with_a_ping_between_its_fragments_comes_back_whole(client: Client) -> None:
    client.send(
        frame(TEXT, b"frag", fin=False),
        frame(PING, b"between"),
        frame(CONTINUATION, b"ment", fin=False),
        frame(CONTINUATION, b"ed"),
    )
    # The pong, then the echo, or the other way round: the RFC asks for a pong "as soon as is
    # practical" (5.5.2), which may be after the app's answer.
    assert client.message() == "fragmented"
    assert client.pong() == b"between"


def test_fragments_of_one_byte_come_back_as_one_message(client: Client) -> None:
    text = b"one byte at a time"
    last = len(text) - 1
    client.send(*(frame(TEXT if i == 0 else CONTINUATION, text[i : i + 1], fin=i == last) for i in range(len(text))))
    assert client.message() == text.decode()


# --- 6: UTF-8 ----------------------------------------------------------------------------------
def test_text_split_inside_a_character_across_fragments_comes_back_whole(client: Client) -> None:
    text = "κόσμε ✓".encode()
    client.send(frame(TEXT, text[:3], fin=False), frame(CONTINUATION, text[3:]))
    assert client.message() == "κόσμε ✓"


INVALID_UTF8 = {
    "a lone continuation byte": b"\x80",
    "an overlong encoding": b"\xc0\xaf",
    "a surrogate": b"\xed\xa0\x80",
    "past U+10FFFF": b"\xf4\x90\x80\x80",
    "a truncated character": b"ok \xe2\x9c",
}


@pytest.mark.parametrize("payload", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_in_a_text_message_closes_the_socket_with_1007(client: Client, payload: bytes) -> None:
    client.send(frame(TEXT, payload))
    assert client.closed_with() == INVALID_DATA


def test_invalid_utf8_in_a_close_reason_closes_the_socket_with_1007(client: Client) -> None:
    client.send(close(NORMAL, b"\xff\xfe"))
    assert client.closed_with() == INVALID_DATA


# --- 7: the close handshake ----------------------------------------------------------------
@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
def test_a_close_is_answered_with_a_close_and_the_connection_ends(client: Client, code: int) -> None:
    client.send(close(code, b"bye"))
    # 5.5.1: the server echoes the code it got, then closes the connection (7.1.1).
    assert client.closed_with() == code
    assert client.ended()


def test_an_empty_close_is_answered_and_data_after_it_is_not(client: Client) -> None:
    client.send(frame(CLOSE), frame(TEXT, b"too late"))
    event = client.next()
    # 7.1.5: a close without a code is seen as 1005, and answered without one.
    assert isinstance(event, CloseConnection), event
    assert event.code == NO_STATUS
    assert client.ended()
