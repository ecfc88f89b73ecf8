"""The HTTP engine under the client, tried as a broken or hostile server would answer.

Every case ends within the configured time as a typed `TransportError` (ambiguous: the
request had reached the server) or an `APIError`, never as a success read from bytes that were
not the answer, never a hang, never unbounded memory or CPU.
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from gupshup_async import ButtonMessage, GupshupClient, RetryPolicy, SendResult, TransportError
from gupshup_async.answers import MAX_ANSWER_BYTES
from gupshup_async.errors import APIError, GupshupError
from tests.raw_server import GOOD, raw_server

MESSAGE = ButtonMessage("Table for two at 8pm?", [("yes", "Book it"), ("no", "Not now")])
TO = "+91 98765 43210"
ONCE = RetryPolicy(max_attempts=1)


def client_for(url: str, **options: object) -> GupshupClient:
    options.setdefault("rate_limit", None)
    options.setdefault("retry", ONCE)
    options.setdefault("timeout", 2.0)
    return GupshupClient("app-1", "token-123456", base_url=url, **options)  # type: ignore[arg-type]


def head(*lines: str) -> bytes:
    return ("HTTP/1.1 200 OK\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n").encode()


FORGED = b'{"messages":[{"id":"forged"}]}'


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(head("Transfer-Encoding: chunked") + b"-6\r\nabcdef\r\n0\r\n\r\n", id="-6"),
        pytest.param(
            head("Transfer-Encoding: chunked") + b"-100000\r\n" + b"x" * 100 + b"\r\n",
            id="negative-over-a-chunk",
        ),
        pytest.param(head("Transfer-Encoding: chunked") + b"0x1e\r\n" + FORGED, id="0x"),
        pytest.param(head("Transfer-Encoding: chunked") + b"+1e\r\n" + FORGED, id="+"),
        pytest.param(head("Transfer-Encoding: chunked") + b"1_e\r\n" + FORGED, id="1_e"),
        pytest.param(head("Content-Length: " + "9" * 5000) + FORGED, id="5000-digit-length"),
        pytest.param(head("Content-Length: 5", "Content-Length: 30") + FORGED, id="two-lengths"),
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", id="not-http"),
        pytest.param(b"\x00\x01\x02\r\n\r\n", id="garbage"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Broken\r\n\r\n", id="header-without-colon"),
        pytest.param(head("X-Long: " + "a" * 100_000) + FORGED, id="100k-header"),
    ],
)
async def test_malformed_answers_are_ambiguous_transport_errors(answer: bytes) -> None:
    async with raw_server(answer) as server, client_for(server.url) as client:
        with pytest.raises(TransportError) as caught:
            await client.send(TO, MESSAGE)
    assert caught.value.ambiguous  # the request reached a server: it may have acted on it
    assert caught.value.attempts == 1


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(head("Transfer-Encoding: xchunked") + b"1e\r\n" + FORGED, id="xchunked"),
        pytest.param(
            head("Transfer-Encoding: chunked", "Transfer-Encoding: identity")
            + b"1e\r\n"
            + FORGED
            + b"\r\n0\r\n\r\n",
            id="two-transfer-encodings",
        ),
    ],
)
async def test_a_body_framed_by_a_coding_we_do_not_speak_is_not_read_as_chunks(
    answer: bytes,
) -> None:
    # Not chunked, so the body runs to the close: "1e\r\n{...}" is no answer of Gupshup's.
    async with raw_server(answer, close_after=True) as server, client_for(server.url) as client:
        with pytest.raises(GupshupError) as caught:
            await client.send(TO, MESSAGE)
    assert caught.value.ambiguous
    assert "forged" not in str(caught.value)


async def test_a_101_is_not_skipped_to_read_a_forged_answer_behind_it() -> None:
    answer = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        + b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(FORGED), FORGED)
    )
    async with raw_server(answer) as server, client_for(server.url) as client:
        with pytest.raises(TransportError, match="101") as caught:
            await client.send(TO, MESSAGE)
    assert caught.value.ambiguous


async def test_connection_close_then_keep_alive_does_not_keep_a_dead_connection() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n"
        + GOOD.split(b"\r\n", 1)[1]
    )
    async with (
        raw_server(answer, close_after=True) as server,
        client_for(server.url) as client,
    ):
        results = [await client.send(TO, MESSAGE) for _ in range(3)]
    assert [r.attempts for r in results] == [1, 1, 1]  # never a request on the closed socket
    assert server.connections == 3


async def test_a_server_that_closes_mid_answer_leaves_the_send_ambiguous() -> None:
    async with (
        raw_server(head("Content-Length: 100") + b'{"mess', close_after=True) as server,
        client_for(server.url) as client,
    ):
        with pytest.raises(TransportError) as caught:
            await client.send(TO, MESSAGE)
    assert caught.value.ambiguous


async def test_a_server_that_hangs_up_without_answering_leaves_the_send_ambiguous() -> None:
    # httpx-aiohttp names this a ConnectTimeout; the request had left all the same.
    async with raw_server(b"", close_after=True) as server, client_for(server.url) as client:
        with pytest.raises(TransportError) as caught:
            await client.send(TO, MESSAGE)
    assert caught.value.ambiguous
    assert caught.value.transient


async def test_an_answer_too_large_to_be_gupshups_is_refused_unread() -> None:
    big = head(f"Content-Length: {10 * MAX_ANSWER_BYTES}") + b"{" * 65536
    async with raw_server(big) as server, client_for(server.url) as client:
        with pytest.raises(TransportError, match="larger than"):
            await client.send(TO, MESSAGE)


async def test_a_large_chunked_answer_is_cut_at_the_limit() -> None:
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    pieces = [(head("Transfer-Encoding: chunked"), 0.0)] + [(chunk, 0.0)] * 40
    async with raw_server(pieces) as server, client_for(server.url) as client:
        with pytest.raises(TransportError, match="larger than"):
            await client.send(TO, MESSAGE)


async def test_a_trickle_ends_at_the_attempt_timeout_without_stalling_the_loop() -> None:
    # One byte every 10 ms never trips a read timeout; the attempt's deadline ends it.
    pieces = [(head("Transfer-Encoding: chunked"), 0.0)] + [(b"1\r\nx\r\n", 0.01)] * 100_000
    loop = asyncio.get_running_loop()
    stalls: list[float] = []

    async def watch() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            stalls.append(loop.time() - before - 0.005)

    watcher = asyncio.create_task(watch())
    async with (
        raw_server(pieces) as server,
        client_for(server.url, attempt_timeout=1.0) as client,
    ):
        start = loop.time()
        cpu = time.process_time()
        with pytest.raises(TransportError, match="attempt_timeout") as caught:
            await client.send(TO, MESSAGE)
        took, cpu_used = loop.time() - start, time.process_time() - cpu
    watcher.cancel()
    assert caught.value.ambiguous
    # Generous bounds for a busy machine, still far from the bug (a trickle read forever, a
    # byte-at-a-time parser spinning for minutes and holding the loop).
    assert 1.0 <= took < 30.0
    assert cpu_used < took  # the engine waited; it did not spin
    assert max(stalls) < 1.0


async def test_a_server_that_never_answers_ends_at_the_read_timeout() -> None:
    async with raw_server([(b"", 60.0)]) as server, client_for(server.url, timeout=0.3) as client:
        start = time.monotonic()
        with pytest.raises(TransportError, match=r"(?i)timeout") as caught:
            await client.send(TO, MESSAGE)
    assert time.monotonic() - start < 30.0  # ended by the 0.3 s read timeout, not 60 s
    assert caught.value.ambiguous


async def test_keep_alive_survives_many_open_files() -> None:
    # More than 1,024 descriptors open: a select()-based liveness check would fail here.
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 4096)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    files = [socket.socket() for _ in range(min(1100, wanted - 200))]
    try:
        async with raw_server(GOOD) as server, client_for(server.url) as client:
            results = [await client.send(TO, MESSAGE) for _ in range(5)]
            await asyncio.sleep(0.05)  # idle connections are reused after a pause too
            results.append(await client.send(TO, MESSAGE))
    finally:
        for file in files:
            file.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert all(isinstance(r, SendResult) and r.attempts == 1 for r in results)
    assert server.connections == 1


async def test_connection_refused_is_not_ambiguous() -> None:
    async with raw_server(GOOD) as server:
        url = server.url
    async with client_for(url) as client:  # nothing listens there any more
        with pytest.raises(TransportError) as caught:
            await client.send(TO, MESSAGE)
    assert not caught.value.ambiguous
    assert caught.value.transient


async def test_an_error_status_from_a_broken_server_is_still_an_api_error() -> None:
    answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\n<html"
    async with raw_server(answer) as server, client_for(server.url) as client:
        with pytest.raises(APIError) as caught:
            await client.send(TO, MESSAGE)
    assert caught.value.status_code == 503


def test_a_client_used_from_a_second_event_loop_refuses_at_once() -> None:
    # Two asyncio.run calls, or a module-level client under per-test event loops.
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        server_context = raw_server(GOOD)
        server = first.run_until_complete(server_context.__aenter__())
        client = client_for(server.url)
        result = first.run_until_complete(client.send(TO, MESSAGE))
        assert result.message_id == "gs-raw-1"
        with pytest.raises(RuntimeError, match="one GupshupClient per event loop"):
            second.run_until_complete(asyncio.wait_for(client.send(TO, MESSAGE), 5.0))
        assert server.requests == 1
        first.run_until_complete(client.aclose())
        first.run_until_complete(server_context.__aexit__(None, None, None))
    finally:
        first.close()
        second.close()


async def test_a_non_ascii_token_is_refused_with_a_clear_error_that_hides_it() -> None:
    async with raw_server(GOOD) as server:
        client = GupshupClient(
            "app-1", "tökén-0123456789", base_url=server.url, rate_limit=None, retry=ONCE
        )
        async with client:
            with pytest.raises(TransportError, match="not ASCII") as caught:
                await client.send(TO, MESSAGE)
    assert not caught.value.transient
    assert "tökén" not in str(caught.value)
    assert server.requests == 0


async def test_every_request_goes_through_the_borrowed_clients_public_api() -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    async with raw_server(GOOD) as server:
        http = httpx.AsyncClient(event_hooks={"request": [record]}, headers={"X-Trace": "a"})
        async with http, client_for(server.url, http_client=http) as client:
            await client.send(TO, MESSAGE)
            http.headers["X-Trace"] = "b"  # changed after the first send: seen by the next
            await client.send(TO, MESSAGE)
    assert [r.headers["X-Trace"] for r in seen] == ["a", "b"]
    assert all(r.headers["Authorization"] == "token-123456" for r in seen)
