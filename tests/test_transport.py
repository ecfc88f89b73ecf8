"""HTTP1Transport and the client's fast lane, against a scripted server on 127.0.0.1.

The server answers each request with the next scripted reply (raw bytes, written as given),
so framing, keep-alive, timeouts and failures are all exercised on real sockets.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
import trustme

import gupshup_async.transport as transport_module
from gupshup_async import (
    AuthenticationError,
    ButtonMessage,
    GupshupClient,
    RetryPolicy,
    TransportError,
)
from gupshup_async.transport import HTTP1Transport

APP = "app-1234"
TOKEN = "sk_live_0123456789abcdef0123456789abcdef"
MESSAGE = ButtonMessage("Table for two at 8pm?", [("yes", "Book it"), ("no", "Not now")])
ACCEPTED = json.dumps({"messages": [{"id": "gs-1"}], "contacts": [{"wa_id": "919876543210"}]})


def reply(status: str, body: bytes | str = b"", *headers: str, length: bool = True) -> bytes:
    content = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status}", *headers]
    if length:
        lines.append(f"Content-Length: {len(content)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + content


OK = reply("202 Accepted", ACCEPTED, "Content-Type: application/json")
CLOSE = b""  # a scripted reply of nothing: close the connection without answering
SILENT = None  # read the request, never answer


class Scripted:
    """A server that reads whole requests and answers each with the next scripted reply."""

    def __init__(self) -> None:
        self.script: list[bytes | float | tuple[bytes, ...] | None] = []
        self.default: bytes | None = OK
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = 0
        self.answering = 0  # requests being answered late, at once
        self.most_answering = 0
        self.close_after_each = False
        self.port = 0
        self.scheme = "http"
        self._server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        self.scheme = "https" if tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.script.pop(0) if self.script else self.default
                if isinstance(answer, float):  # answer late
                    self.answering += 1
                    self.most_answering = max(self.most_answering, self.answering)
                    await asyncio.sleep(answer)
                    self.answering -= 1
                    answer = self.default
                if answer is SILENT:
                    await reader.read()  # until the client gives up and closes
                    return
                if answer == CLOSE:
                    return
                if isinstance(answer, tuple):  # in pieces, a moment apart
                    for piece in answer:
                        writer.write(piece)
                        await writer.drain()
                        await asyncio.sleep(0.01)
                    continue
                writer.write(answer)
                await writer.drain()
                if self.close_after_each:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.closed += 1
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    await scripted.start()
    yield scripted
    await scripted.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=HTTP1Transport()) as client:
        yield client


def gupshup(server: Scripted, **options: Any) -> GupshupClient:
    options.setdefault("rate_limit", None)
    return GupshupClient(APP, TOKEN, base_url=server.url, **options)


# The transport under httpx --------------------------------------------------------------------


async def test_requests_and_answers_go_through_httpx(
    server: Scripted, http: httpx.AsyncClient
) -> None:
    server.script = [reply("200 OK", '{"a": 1}', "Content-Type: application/json", "X-Id: 7")]
    response = await http.post(f"{server.url}/path?q=1", json={"b": 2}, headers={"X-Me": "yes"})
    assert response.status_code == 200
    assert response.json() == {"a": 1}
    assert response.headers["x-id"] == "7"
    assert response.http_version == "HTTP/1.1"
    sent = server.requests[0]
    assert sent.startswith(b"POST /path?q=1 HTTP/1.1\r\n")
    assert b"\r\nX-Me: yes\r\n" in sent
    assert b"\r\nContent-Length: 7\r\n" in sent
    assert sent.endswith(b'\r\n\r\n{"b":2}')


async def test_connections_are_kept_alive(server: Scripted, http: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await http.get(server.url)).status_code == 202
    assert server.connections == 1


async def test_a_connection_the_server_closes_is_not_reused(
    server: Scripted, http: httpx.AsyncClient
) -> None:
    server.close_after_each = True
    for _ in range(3):
        assert (await http.get(server.url)).status_code == 202
        await asyncio.sleep(0.01)  # the close reaches the client
    assert server.connections == 3


async def test_a_connection_closed_since_the_loop_last_looked_is_not_reused(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's FIN is in the socket, not yet seen by the event loop: the socket is asked
    before a connection that sat idle is reused (here: any idle time at all).
    """
    monkeypatch.setattr(transport_module, "_IDLE_CHECK", 0.0)
    server.close_after_each = True
    async with httpx.AsyncClient(transport=HTTP1Transport()) as http:
        for _ in range(3):
            assert (await http.get(server.url)).status_code == 202  # no sleep in between
    assert server.connections == 3


async def test_connection_close_in_the_answer_is_honoured(
    server: Scripted, http: httpx.AsyncClient
) -> None:
    server.default = reply("200 OK", "bye", "Connection: close")
    for _ in range(2):
        assert (await http.get(server.url)).text == "bye"
    assert server.connections == 2


async def test_chunked_answers_with_trailers(server: Scripted, http: httpx.AsyncClient) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n"
    )
    server.script = [chunked, reply("200 OK", "next")]
    assert (await http.get(server.url)).text == "Wikipedia in \r\n\r\nchunks."
    assert (await http.get(server.url)).text == "next"  # the framing left nothing behind
    assert server.connections == 1


async def test_the_answer_to_head_has_no_body(server: Scripted, http: httpx.AsyncClient) -> None:
    server.script = [b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", reply("200 OK", "next")]
    response = await http.head(server.url, timeout=1.0)
    assert (response.status_code, response.content) == (200, b"")
    assert (await http.get(server.url)).text == "next"
    assert server.connections == 1


async def test_a_header_that_would_break_the_request_never_leaves(
    server: Scripted, http: httpx.AsyncClient
) -> None:
    with pytest.raises(httpx.LocalProtocolError) as caught:
        await http.get(server.url, headers={"X-Note": "secret\r\nX-Evil: 1"})
    assert "secret" not in str(caught.value)
    assert server.requests == []


async def test_interim_answers_are_skipped(server: Scripted, http: httpx.AsyncClient) -> None:
    server.script = [b"HTTP/1.1 100 Continue\r\n\r\n" + reply("201 Created", "made")]
    response = await http.post(server.url, content=b"x")
    assert (response.status_code, response.text) == (201, "made")


async def test_an_answer_delimited_by_closing(server: Scripted, http: httpx.AsyncClient) -> None:
    server.script = [reply("200 OK", "until the end", length=False)]
    server.close_after_each = True
    assert (await http.get(server.url)).text == "until the end"


async def test_gzip_answers_are_decoded_by_httpx(server: Scripted, http: httpx.AsyncClient) -> None:
    server.script = [reply("200 OK", gzip.compress(b"small"), "Content-Encoding: gzip")]
    assert (await http.get(server.url)).text == "small"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (CLOSE, httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", httpx.ReadError),
        (b"SMTP ready\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", httpx.RemoteProtocolError),
    ],
)
async def test_broken_answers_are_httpx_errors(
    server: Scripted, http: httpx.AsyncClient, answer: bytes, error: type[Exception]
) -> None:
    server.script = [answer]
    server.close_after_each = True
    with pytest.raises(error):
        await http.get(server.url)
    assert (await http.get(server.url)).status_code == 202  # and the pool recovers


async def test_a_read_timeout(server: Scripted, http: httpx.AsyncClient) -> None:
    server.script = [SILENT]
    with pytest.raises(httpx.ReadTimeout):
        await http.get(server.url, timeout=httpx.Timeout(5.0, read=0.05))
    assert (await http.get(server.url)).status_code == 202


async def test_a_refused_connection() -> None:
    async with httpx.AsyncClient(transport=HTTP1Transport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://127.0.0.1:9/")  # the discard port: nobody listens


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose listener never accepts, its backlog full: connecting there hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


async def test_a_connect_timeout(unanswered_port: int) -> None:
    url = f"http://127.0.0.1:{unanswered_port}/"
    async with httpx.AsyncClient(transport=HTTP1Transport()) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.get(url, timeout=httpx.Timeout(5.0, connect=0.1))
    async with GupshupClient(
        APP,
        TOKEN,
        base_url=url.rstrip("/"),
        rate_limit=None,
        retry=RetryPolicy(max_attempts=1),
        timeout=httpx.Timeout(5.0, connect=0.1),
    ) as client:
        with pytest.raises(TransportError, match="ConnectTimeout") as caught:
            await client.send("+91 98765 43210", MESSAGE)
    assert not caught.value.ambiguous  # nothing left: safe to send again


async def test_a_request_cancelled_while_connecting_frees_its_place(unanswered_port: int) -> None:
    url = f"http://127.0.0.1:{unanswered_port}/"
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(transport=HTTP1Transport(limits=limits)) as http:
        connecting = asyncio.ensure_future(http.get(url))
        await asyncio.sleep(0.05)
        connecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await connecting
        # The place is free again: this one gets as far as connecting, not a pool timeout.
        with pytest.raises(httpx.ConnectTimeout):
            await http.get(url, timeout=httpx.Timeout(5.0, connect=0.1, pool=0.1))


async def test_the_pool_holds_its_size_and_times_out(server: Scripted) -> None:
    limits = httpx.Limits(max_connections=2)
    async with httpx.AsyncClient(transport=HTTP1Transport(limits=limits)) as http:
        answers = await asyncio.gather(*(http.get(server.url) for _ in range(20)))
        assert {a.status_code for a in answers} == {202}
        assert server.connections == 2
        server.script = [SILENT, SILENT]
        stuck = [asyncio.ensure_future(http.get(server.url)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await http.get(server.url, timeout=httpx.Timeout(5.0, pool=0.05))
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
        # Cancelling a request closes its connection and frees its place in the pool.
        assert (await http.get(server.url)).status_code == 202


async def test_a_freed_place_in_the_pool_goes_to_who_waited_for_it(server: Scripted) -> None:
    """Never more connections than the limit, even when a newcomer asks at the very moment a
    place comes free: the place was kept for the request that was waiting.
    """
    server.default = reply("200 OK", "x", "Connection: close")  # every connection used once
    server.script = [0.1, 0.1, 0.1]
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(transport=HTTP1Transport(limits=limits)) as http:
        first = asyncio.ensure_future(http.get(server.url))
        await asyncio.sleep(0.02)
        waiting = asyncio.ensure_future(http.get(server.url))
        await first
        # In the same step as the first request's place came free:
        newcomer = await http.get(server.url)
        assert newcomer.status_code == 200
        assert (await waiting).status_code == 200
    assert server.most_answering == 1


async def test_closing_leaves_no_connection_open(server: Scripted) -> None:
    transport = HTTP1Transport()
    http = httpx.AsyncClient(transport=transport)
    server.script = [0.1]
    late = asyncio.ensure_future(http.get(server.url))  # busy when we close
    await asyncio.sleep(0.02)
    await http.get(server.url)  # idle when we close
    await http.aclose()
    assert (await late).status_code == 202  # a request in flight still gets its answer
    await asyncio.sleep(0.05)
    assert server.closed == server.connections == 2


async def test_a_closed_transport_refuses() -> None:
    transport = HTTP1Transport()
    await transport.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await transport.exchange(("http", "127.0.0.1", 9), b"", {})


@pytest.fixture
async def tls_server() -> AsyncIterator[tuple[Scripted, trustme.CA]]:
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    scripted = Scripted()
    await scripted.start(tls)
    yield scripted, ca
    await scripted.stop()


async def test_https_with_a_trusted_certificate(tls_server: tuple[Scripted, trustme.CA]) -> None:
    server, ca = tls_server
    context = ssl.create_default_context()
    ca.configure_trust(context)
    http = httpx.AsyncClient(transport=HTTP1Transport(verify=context))
    async with http, gupshup(server, http_client=http) as client:
        for _ in range(3):
            assert (await client.send("+91 98765 43210", MESSAGE)).message_id == "gs-1"
    assert server.connections == 1


async def test_https_refuses_an_untrusted_certificate(
    tls_server: tuple[Scripted, trustme.CA],
) -> None:
    server, _ = tls_server
    async with httpx.AsyncClient(transport=HTTP1Transport()) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(server.url)
    async with httpx.AsyncClient(transport=HTTP1Transport(verify=False)) as http:
        assert (await http.get(server.url)).status_code == 202  # when told not to check


async def test_an_answer_arriving_in_pieces(server: Scripted, http: httpx.AsyncClient) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    plain = reply("200 OK", "x" * 100)
    server.script = [
        tuple(chunked[i : i + 7] for i in range(0, len(chunked), 7)),
        (plain[:20], plain[20:60], plain[60:]),
    ]
    assert (await http.get(server.url)).text == "hello"
    assert (await http.get(server.url)).text == "x" * 100
    assert server.connections == 1


async def test_http_1_0_answers(server: Scripted, http: httpx.AsyncClient) -> None:
    server.script = [
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye",
    ]
    assert (await http.get(server.url)).text == "ok"
    assert (await http.get(server.url)).text == "bye"  # same connection: keep-alive said so
    assert (await http.get(server.url)).status_code == 202  # a new one: 1.0 closes by default
    assert server.connections == 2


async def test_bytes_past_the_answer_retire_the_connection(
    server: Scripted, http: httpx.AsyncClient
) -> None:
    server.script = [reply("200 OK", "one") + b"HTTP/1.1 200 OK\r\n"]
    assert (await http.get(server.url)).text == "one"
    assert (await http.get(server.url)).status_code == 202
    assert server.connections == 2


async def test_an_oversized_head_is_refused(server: Scripted, http: httpx.AsyncClient) -> None:
    server.script = [b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"y" * 70_000 + b"\r\n\r\n"]
    with pytest.raises(httpx.RemoteProtocolError, match="too large"):
        await http.get(server.url)


async def test_a_read_timeout_counts_from_each_request(
    server: Scripted, http: httpx.AsyncClient
) -> None:
    """One timer serves a connection's requests: it must follow each request's own deadline."""
    timeout = httpx.Timeout(5.0, read=0.2)
    assert (await http.get(server.url, timeout=timeout)).status_code == 202  # deadline 0.2
    await asyncio.sleep(0.1)
    server.script = [0.15]  # answered at about 0.25: after the first deadline, before its own
    assert (await http.get(server.url, timeout=timeout)).status_code == 202
    server.script = [0.15]
    with pytest.raises(httpx.ReadTimeout):  # a shorter timeout than the timer armed
        await http.get(server.url, timeout=httpx.Timeout(5.0, read=0.05))
    assert server.connections == 1


async def test_a_connection_handed_to_a_request_that_gave_up_goes_to_the_next(
    server: Scripted,
) -> None:
    """Cancelled in the very step its connection was handed over, a request passes it on:
    it neither sends on it nor leaves it stranded, and it does stop.
    """
    to_cancel: list[asyncio.Future[httpx.Response]] = []

    async def cancel_the_quitter(response: httpx.Response) -> None:
        # Runs in the first request's task, right after its connection was handed over.
        while to_cancel:
            to_cancel.pop().cancel()

    limits = httpx.Limits(max_connections=1)
    transport = HTTP1Transport(limits=limits)
    hooks = {"response": [cancel_the_quitter]}
    async with httpx.AsyncClient(transport=transport, event_hooks=hooks) as http:
        server.script = [0.05]
        first = asyncio.ensure_future(http.get(server.url))
        await asyncio.sleep(0.01)
        quitter = asyncio.ensure_future(http.get(server.url))
        await asyncio.sleep(0.01)
        patient = asyncio.ensure_future(http.get(server.url))
        await asyncio.sleep(0.01)
        to_cancel.append(quitter)
        await first
        assert (await patient).status_code == 202
        with pytest.raises(asyncio.CancelledError):
            await quitter
    assert server.connections == 1
    assert len(server.requests) == 2  # the quitter sent nothing


async def test_idle_connections_beyond_the_keepalive_limit_are_closed(server: Scripted) -> None:
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=1)
    async with httpx.AsyncClient(transport=HTTP1Transport(limits=limits)) as http:
        server.script = [0.05] * 4
        await asyncio.gather(*(http.get(server.url) for _ in range(4)))
        await asyncio.sleep(0.05)
        assert server.closed == 3  # one kept idle, three closed
        await http.get(server.url)
    assert server.connections == 4


# The client's fast lane -----------------------------------------------------------------------


async def test_the_fast_lane_writes_the_request_gupshup_expects(server: Scripted) -> None:
    async with gupshup(server) as client:
        result = await client.send("+91 98765 43210", MESSAGE)
    assert result.message_id == "gs-1"
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == f"POST /partner/app/{APP}/v3/message HTTP/1.1".encode()
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    assert headers[b"Host"] == f"127.0.0.1:{server.port}".encode()
    assert headers[b"Authorization"] == TOKEN.encode()
    assert headers[b"Content-Type"] == b"application/json"
    assert int(headers[b"Content-Length"]) == len(body)
    assert json.loads(body)["to"] == "919876543210"


async def test_the_fast_lane_keeps_the_clients_own_headers(server: Scripted) -> None:
    http = httpx.AsyncClient(transport=HTTP1Transport(), headers={"User-Agent": "shop/2.1"})
    async with http, gupshup(server, http_client=http) as client:
        await client.send("+91 98765 43210", MESSAGE)
    assert b"\r\nUser-Agent: shop/2.1\r\n" in server.requests[0]
    assert b"\r\nAccept-Encoding: identity\r\n" in server.requests[0]


async def test_error_answers_on_the_fast_lane(server: Scripted) -> None:
    too_many = reply("429 Too Many Requests", '{"status":"error"}', "Retry-After: 0")
    server.script = [too_many, reply("401 Unauthorized", '{"message":"Authentication Failed"}')]
    async with gupshup(server) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.send("+91 98765 43210", MESSAGE)
    assert caught.value.attempts == 2


async def test_a_gzipped_answer_on_the_fast_lane(server: Scripted) -> None:
    server.script = [
        reply("202 Accepted", gzip.compress(ACCEPTED.encode()), "Content-Encoding: gzip")
    ]
    async with gupshup(server) as client:
        assert (await client.send("+91 98765 43210", MESSAGE)).message_id == "gs-1"


@pytest.mark.parametrize("lane", ["fast", "httpx"])
async def test_an_answer_that_cannot_be_decoded_is_ambiguous(server: Scripted, lane: str) -> None:
    server.script = [reply("202 Accepted", b"not gzip at all", "Content-Encoding: gzip")]
    hooks = {"response": [_nothing]} if lane == "httpx" else {}
    http = httpx.AsyncClient(transport=HTTP1Transport(), event_hooks=hooks)
    policy = RetryPolicy(max_attempts=1)
    async with http, gupshup(server, http_client=http, retry=policy) as client:
        with pytest.raises(TransportError, match="DecodingError") as caught:
            await client.send("+91 98765 43210", MESSAGE)
    assert caught.value.ambiguous


async def _nothing(response: httpx.Response) -> None:
    pass


async def test_no_answer_is_ambiguous_and_a_refusal_is_not(server: Scripted) -> None:
    server.script = [CLOSE]
    async with gupshup(server, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(TransportError) as caught:
            await client.send("+91 98765 43210", MESSAGE)
    assert caught.value.ambiguous
    async with GupshupClient(
        APP,
        TOKEN,
        base_url="http://127.0.0.1:9",
        rate_limit=None,
        retry=RetryPolicy(max_attempts=1),
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.send("+91 98765 43210", MESSAGE)
    assert not caught.value.ambiguous
    assert caught.value.transient


async def test_a_read_timeout_on_the_fast_lane_is_ambiguous(server: Scripted) -> None:
    server.script = [SILENT]
    policy = RetryPolicy(max_attempts=2, initial_delay=0.001)
    async with gupshup(server, retry=policy, timeout=httpx.Timeout(5.0, read=0.05)) as client:
        result = await client.send("+91 98765 43210", MESSAGE)
    assert (result.attempts, result.ambiguous_attempts) == (2, 1)


@pytest.mark.parametrize("token", ["abc\r\nX-Evil: 1", "abc\nx", "tökén"])
async def test_a_token_that_would_break_the_request_never_leaves(
    server: Scripted, token: str
) -> None:
    async with GupshupClient(APP, token, base_url=server.url, rate_limit=None) as client:
        with pytest.raises(TransportError) as caught:
            await client.send("+91 98765 43210", MESSAGE)
    assert not caught.value.transient
    assert token not in str(caught.value)
    assert server.requests == []


async def test_event_hooks_send_through_httpx_and_see_every_request(server: Scripted) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.headers["authorization"])

    http = httpx.AsyncClient(transport=HTTP1Transport(), event_hooks={"request": [hook]})
    async with http, gupshup(server, http_client=http) as client:
        await client.send("+91 98765 43210", MESSAGE)
    assert seen == [TOKEN]
    assert len(server.requests) == 1


async def test_respx_still_intercepts_a_client_on_this_transport(server: Scripted) -> None:
    async with gupshup(server) as client:
        with respx.mock:
            route = respx.post(f"{server.url}/partner/app/{APP}/v3/message").respond(
                200, json={"messages": [{"id": "from-respx"}]}
            )
            result = await client.send("+91 98765 43210", MESSAGE)
        assert route.called
        assert result.message_id == "from-respx"
        assert server.requests == []
        # Once the mock is gone, the fast lane is back.
        assert (await client.send("+91 98765 43210", MESSAGE)).message_id == "gs-1"


async def test_respx_with_the_httpx_mocker_intercepts_too(server: Scripted) -> None:
    async with gupshup(server) as client:
        with respx.mock(using="httpx") as router:
            router.post(f"{server.url}/partner/app/{APP}/v3/message").respond(
                200, json={"messages": [{"id": "from-respx"}]}
            )
            assert (await client.send("+91 98765 43210", MESSAGE)).message_id == "from-respx"
    assert server.requests == []


async def test_a_patched_httpx_transport_sees_the_requests(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What pytest-httpx does: patch httpx.AsyncHTTPTransport.handle_async_request."""
    seen: list[httpx.Request] = []

    async def mocked(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"messages": [{"id": "from-the-patch"}]})

    async with gupshup(server) as client:
        monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", mocked)
        result = await client.send("+91 98765 43210", MESSAGE)
    assert result.message_id == "from-the-patch"
    assert len(seen) == 1
    assert server.requests == []


async def test_tracing_that_wraps_httpx_send_sees_the_requests(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Sentry's and Datadog's integrations do: wrap httpx.AsyncClient.send."""
    traced: list[str] = []
    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> httpx.Response:
        traced.append(str(request.url))
        return await original(self, request, **kw)

    async with gupshup(server) as client:
        monkeypatch.setattr(httpx.AsyncClient, "send", send)
        result = await client.send("+91 98765 43210", MESSAGE)
    assert result.message_id == "gs-1"
    assert traced == [f"{server.url}/partner/app/{APP}/v3/message"]
    assert len(server.requests) == 1


async def test_a_proxy_from_the_environment_is_used(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scripted server plays the proxy: it must receive the request in absolute form."""
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    base = "http://partner.example.test"
    async with GupshupClient(APP, TOKEN, base_url=base, rate_limit=None) as client:
        await client.send("+91 98765 43210", MESSAGE)
    assert server.requests[0].startswith(f"POST {base}/partner/app/{APP}/v3/message ".encode())


async def test_no_proxy_exempts_the_api_host(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would refuse, were it used
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with gupshup(server) as client:
        await client.send("+91 98765 43210", MESSAGE)
    assert server.requests[0].startswith(f"POST /partner/app/{APP}/v3/message ".encode())


async def test_many_concurrent_sends_share_a_few_connections(server: Scripted) -> None:
    async with gupshup(server, max_connections=4) as client:
        results = await asyncio.gather(
            *(client.send("+91 98765 43210", MESSAGE) for _ in range(200))
        )
    assert len(results) == 200
    assert server.connections <= 4


def test_imported_inside_a_mock_the_mock_still_sees_every_request() -> None:
    """A lazy import under an active respx mock must not let sends slip past it."""
    script = """
import asyncio, respx

async def main():
    with respx.mock:
        from gupshup_async import ButtonMessage, GupshupClient  # first import, mocked
        route = respx.post(url__regex=r".*/v3/message$").respond(
            200, json={"messages": [{"id": "from-respx"}]}
        )
        async with GupshupClient("app", "token", base_url="http://127.0.0.1:9") as client:
            result = await client.send("+919876543210", ButtonMessage("Hi", ["A"]))
        assert route.called and result.message_id == "from-respx"

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
