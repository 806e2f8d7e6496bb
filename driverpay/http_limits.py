"""A bound on the request head (request line and headers) that ``driverpay serve`` reads.

uvicorn's h11 protocol refuses a head over 16 KiB (``h11_max_incomplete_event_size``), but its
httptools protocol, the faster one ``serve`` uses, has no bound: measured with uvicorn 0.38 and
httptools 0.9, a 10 MB header was read whole and answered 200, and a head that never ends is
buffered as long as the client sends. One client could so hold the server's memory, and every
request would cost parsing megabytes before the API could refuse it.

``BoundedHttpToolsProtocol`` adds h11's bound to httptools: a head over ``MAX_HEAD_BYTES`` is
answered 431 and its connection closed. A complete head is measured as parsed; one still
arriving is refused once more than the bound has been read without its end (so at most one
socket read, 256 KiB, beyond the bound is ever buffered).
"""

from __future__ import annotations

from typing import Any

import orjson
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024  # h11's default in uvicorn: both protocols refuse the same heads
LINGER_S = 1.0  # after refusing an unfinished head, bytes are dropped this long, then closed

_BODY = orjson.dumps(
    {
        "error": "header_too_large",
        "message": f"the request line and headers exceed {MAX_HEAD_BYTES} bytes",
    }
)
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"connection", b"close"),
]
_RAW_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    + b"".join(name + b": " + value + b"\r\n" for name, value in _HEADERS)
    + b"\r\n"
    + _BODY
)


async def head_too_large(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    """The answer to a complete head over the bound, in place of the API (never parsed by it)."""
    await send({"type": "http.response.start", "status": 431, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY, "more_body": False})


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request head of at most ``MAX_HEAD_BYTES``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = 0  # read in the current head; None while in a body
        self._refused = False  # an unfinished head was refused: what follows is dropped

    def data_received(self, data: bytes) -> None:
        """Parse ``data``; refuse a head still unfinished after more than the bound."""
        if self._refused:
            return
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._head_bytes is not None and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_unfinished_head()

    def _refuse_unfinished_head(self) -> None:
        """431, then a lingering close: the client's unread bytes are read and dropped.

        Closing with bytes unread makes the kernel reset the connection, and a reset can
        discard the 431 before the client reads it; so the answer is followed by end-of-file
        and the connection closes ``LINGER_S`` later (or when the client closes it).
        """
        self._refused = True
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never inside another answer
            self.transport.write(_RAW_REFUSAL)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def on_headers_complete(self) -> None:
        """Hand the request to the API, or to ``head_too_large`` if its head is over the bound."""
        self._head_bytes = None
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size <= MAX_HEAD_BYTES:
            super().on_headers_complete()
            return
        api, self.app = self.app, head_too_large
        try:
            super().on_headers_complete()
        finally:
            self.app = api

    def on_message_complete(self) -> None:
        """The request is read: what arrives next is the next request's head."""
        super().on_message_complete()
        self._head_bytes = 0
