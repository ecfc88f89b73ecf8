"""What users configure on the engine keeps working: TLS verification, proxies from the
environment, test doubles and tracing through httpx's public seams.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx
import trustme
from aiohttp import web
from httpx_aiohttp import AiohttpTransport
from opentelemetry.instrumentation.httpx import (
    AsyncOpenTelemetryTransport,
    HTTPXClientInstrumentor,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gupshup_async import ButtonMessage, GupshupClient, RetryPolicy, TransportError
from gupshup_async.sandbox import Sandbox

MESSAGE = ButtonMessage("Table for two at 8pm?", [("yes", "Book it"), ("no", "Not now")])
TO = "+91 98765 43210"
ANSWER = {"messages": [{"id": "gs-tls-1"}], "contacts": [{"wa_id": "919876543210"}]}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@contextlib.asynccontextmanager
async def tls_server(ca: trustme.CA, hostname: str = "localhost") -> AsyncIterator[int]:
    """An HTTPS server on 127.0.0.1 with a certificate for ``hostname`` signed by ``ca``."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(ANSWER)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(context)
    app = web.Application()
    app.router.add_post("/{path:.*}", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def client(url: str, **options: object) -> GupshupClient:
    return GupshupClient(
        "app-1",
        "token-123456",
        base_url=url,
        rate_limit=None,
        retry=RetryPolicy(max_attempts=3, initial_delay=0.0),
        **options,  # type: ignore[arg-type]
    )


ENGINE_ENVIRONMENT = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
ENGINE_ENVIRONMENT += ("SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def no_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENGINE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# TLS ------------------------------------------------------------------------------------------


async def test_an_untrusted_certificate_is_refused_once_and_for_all(ca: trustme.CA) -> None:
    async with tls_server(ca) as port, client(f"https://localhost:{port}") as gupshup:
        with pytest.raises(TransportError, match="certificate") as caught:
            await gupshup.send(TO, MESSAGE)
    assert not caught.value.transient  # retrying cannot make a certificate trusted
    assert caught.value.attempts == 1


async def test_a_certificate_for_another_host_is_refused(ca: trustme.CA) -> None:
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    async with (
        tls_server(ca, hostname="partner.gupshup.test") as port,
        client(f"https://localhost:{port}", verify=trusted) as gupshup,
    ):
        with pytest.raises(TransportError, match="certificate"):
            await gupshup.send(TO, MESSAGE)


async def test_a_trusted_certificate_is_accepted(ca: trustme.CA) -> None:
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    async with tls_server(ca) as port, client(f"https://localhost:{port}", verify=trusted) as g:
        assert (await g.send(TO, MESSAGE)).message_id == "gs-tls-1"


async def test_verify_false_skips_the_check(ca: trustme.CA) -> None:
    async with tls_server(ca) as port, client(f"https://localhost:{port}", verify=False) as g:
        assert (await g.send(TO, MESSAGE)).message_id == "gs-tls-1"


async def test_ssl_cert_file_is_honoured(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    async with tls_server(ca) as port, client(f"https://localhost:{port}") as gupshup:
        assert (await gupshup.send(TO, MESSAGE)).message_id == "gs-tls-1"


# Proxies from the environment -----------------------------------------------------------------


@contextlib.contextmanager
def nothing_listens() -> Iterator[str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening


async def test_a_proxy_from_the_environment_carries_the_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with Sandbox() as proxy:  # an HTTP proxy sees absolute-form requests
        with nothing_listens() as unreachable:
            monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
            async with GupshupClient(
                proxy.app_id, proxy.token, base_url=unreachable, rate_limit=None
            ) as gupshup:
                result = await gupshup.send(TO, MESSAGE)
    assert [p.message_id for p in proxy.account.processed] == [result.message_id]


async def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    async with Sandbox() as proxy:
        with nothing_listens() as unreachable:
            monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            async with client(unreachable) as gupshup:
                with pytest.raises(TransportError) as caught:
                    await gupshup.send(TO, MESSAGE)
    assert not caught.value.ambiguous  # refused: never sent
    assert proxy.account.processed == []


# Test doubles and tracing ---------------------------------------------------------------------


async def test_respx_default_mock_sees_a_client_on_httpx_own_transport() -> None:
    # respx.mock() (and pytest-httpx) patch httpx's own transport: hand the client one.
    with respx.mock(assert_all_called=True) as router:
        router.post(url__regex=r"/v3/message$").respond(200, json=ANSWER)
        async with (
            httpx.AsyncClient() as http,
            client("https://gupshup.test", http_client=http) as g,
        ):
            assert (await g.send(TO, MESSAGE)).message_id == "gs-tls-1"


async def test_respx_mock_using_httpx_sees_the_default_client() -> None:
    with respx.mock(using="httpx", assert_all_called=True) as router:
        router.post(url__regex=r"/v3/message$").respond(200, json=ANSWER)
        async with client("https://gupshup.test") as gupshup:
            assert (await gupshup.send(TO, MESSAGE)).message_id == "gs-tls-1"


def spans_recorder() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_opentelemetry_instrument_client_sees_every_request() -> None:
    provider, exporter = spans_recorder()
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as gupshup:
            HTTPXClientInstrumentor.instrument_client(gupshup.http_client, provider)
            async for outcome in gupshup.send_many([(f"+9170{n:08d}", MESSAGE) for n in range(20)]):
                assert outcome.ok
    spans = exporter.get_finished_spans()
    assert len(spans) == 20
    assert {span.name for span in spans} == {"POST"}


async def test_opentelemetry_transport_wrapper_on_aiohttps_transport() -> None:
    provider, exporter = spans_recorder()
    transport = AsyncOpenTelemetryTransport(AiohttpTransport(), tracer_provider=provider)
    async with Sandbox() as sandbox, httpx.AsyncClient(transport=transport) as http:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, http_client=http
        ) as gupshup:
            await gupshup.send(TO, MESSAGE)
            await gupshup.send(TO, MESSAGE)
    assert len(exporter.get_finished_spans()) == 2
