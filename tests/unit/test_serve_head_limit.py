"""``driverpay serve`` reads a request head (request line and headers) of at most 16 KiB.

httptools alone reads a head of any size; a huge one is refused with 431 before the API parses
it, whether it arrives whole or never ends. The server reads from a database that is not there:
none of these answers needs one (``/openapi.json`` is static).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import httpx
import pytest

from driverpay.http_limits import MAX_HEAD_BYTES
from tests.serving import free_port, serve_process

TOKEN = "head-limit-test-token-" + "x" * 32
NORMAL_HEADER = "a" * 8_000  # e.g. a large cookie: well under the bound
JUST_OVER = "a" * (MAX_HEAD_BYTES + 1)
ONE_MEGABYTE = b"a" * 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``driverpay serve`` (httptools, as shipped) on a free loopback port; stopped by PID.

    Its database is not there: any answer from ``/openapi.json`` means it listens.
    """
    env = {
        "DRIVERPAY_API_TOKEN": TOKEN,
        "DRIVERPAY_PG_READ_DSN": f"postgresql://driverpay_reader@127.0.0.1:{free_port()}/none",
    }
    log_dir = tmp_path_factory.mktemp("serve")
    with serve_process(log_dir, env, "/openapi.json", lambda _: True) as listening:
        yield listening


def raw_answer(port: int, request: bytes) -> bytes:
    """Everything the server sends back to ``request`` before it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)  # refused mid-send: the answer is still there to read
        answer = b""
        with contextlib.suppress(TimeoutError):  # still open after 10 s: what came is the answer
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


def test_a_request_with_a_large_but_normal_header_is_served(server: tuple[str, int]) -> None:
    base, _ = server
    response = httpx.get(f"{base}/openapi.json", headers={"X-Big": NORMAL_HEADER}, timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize("value", [JUST_OVER, ONE_MEGABYTE.decode()], ids=["16KiB+1", "1MB"])
def test_a_head_over_16_kib_is_refused_with_431(server: tuple[str, int], value: str) -> None:
    base, _ = server
    response = httpx.get(f"{base}/openapi.json", headers={"X-Big": value}, timeout=10)
    assert response.status_code == 431
    assert response.json()["error"] == "header_too_large"


def test_a_huge_path_is_refused_with_431_before_the_api_parses_it(
    server: tuple[str, int],
) -> None:
    _, port = server
    answer = raw_answer(
        port, b"GET /v1/drivers/" + ONE_MEGABYTE + b"/pay HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_head_that_never_ends_is_refused_and_its_connection_closed(
    server: tuple[str, int],
) -> None:
    """No blank line ever comes: the server must not keep reading (and buffering) it."""
    _, port = server
    answer = raw_answer(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + ONE_MEGABYTE)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"error":"header_too_large"' in answer
