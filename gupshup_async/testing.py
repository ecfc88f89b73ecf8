"""Helpers for testing your own code that sends through gupshup-async.

::

    from gupshup_async.testing import gupshup_mock

    async def test_checkout_sends_a_confirmation() -> None:
        with gupshup_mock() as gupshup:
            await checkout(order)                       # your code, using a GupshupClient
        assert gupshup.sent[0].message.body == "Your order is confirmed."

`gupshup_mock` (a context manager, and a pytest fixture of the same name: add
``pytest_plugins = ["gupshup_async.testing"]`` to your ``conftest.py``) answers the v3 message
endpoint like Gupshup (a message id per send), records what was sent with the parsed message
objects, and can be told to fail: ``gupshup.fail(503, 503)`` makes the next two requests answer
503, ``gupshup.fail(httpx.ConnectError("refused"))`` drops one.

It patches nothing. While it is active, every `GupshupClient` (and token provider) that makes
its own HTTP client makes it on the mock's transport, a respx router behind
``httpx.MockTransport``, and retries do not wait. A client given ``http_client=`` uses that
client as given: build it on ``gupshup.transport`` to have the mock answer it. Needs respx and,
for the fixture, pytest with an asyncio plugin (pytest-asyncio or anyio).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from gupshup_async import _engine
from gupshup_async.messages import Message, parse_message
from gupshup_async.sandbox import Answer, SandboxRules, canned
from gupshup_async.template_definitions import TemplateDefinitions

if TYPE_CHECKING:
    import respx

__all__ = ["GupshupMock", "SentMessage", "gupshup_mock", "no_waiting"]

_PATH = re.compile(r"/partner/app/(?P<app_id>[^/]+)/v3/message$")
_TEMPLATES = re.compile(r"/partner/app/(?P<app_id>[^/]+)/templates$")


@attrs.frozen
class SentMessage:
    """One request the mock answered with success."""

    app_id: str
    to: str
    message: Message
    message_id: str
    payload: dict[str, Any] = attrs.field(eq=False, repr=False)


class GupshupMock:
    """What `gupshup_mock` yields: the record of what was sent, and the script of failures.

    It answers through the sandbox's rules (`SandboxRules`, any app id and token taken): a
    message the sandbox would refuse is refused here the same way, and an error answer is the
    sandbox's, which is Gupshup's.
    """

    def __init__(self, router: respx.MockRouter) -> None:
        self.sent: list[SentMessage] = []
        self.requests: list[httpx.Request] = []
        #: The respx router behind the mock: add routes for other endpoints to it.
        self.router = router
        #: The transport that answers as the mock: for an ``httpx.AsyncClient`` of your own.
        self.transport = httpx.MockTransport(router.async_handler)
        #: The sandbox's rules that answer every request.
        self.rules = SandboxRules(
            any_app=True, templates=TemplateDefinitions(), check_templates=False
        )
        self._script: list[int | httpx.Response | Exception] = []
        router.post(url__regex=_PATH.pattern).mock(side_effect=self._answer)
        router.get(url__regex=_TEMPLATES.pattern).mock(side_effect=self._answer)

    @property
    def templates(self) -> TemplateDefinitions:
        """What the template list answers (``GupshupClient.fetch_templates``, ``templates=
        "fetch"``): none until a test sets them. Template messages are not checked against them.
        """
        assert self.rules.templates is not None
        return self.rules.templates

    @templates.setter
    def templates(self, definitions: TemplateDefinitions) -> None:
        self.rules.templates = definitions

    def fail(self, *answers: int | httpx.Response | Exception) -> None:
        """Answer the next requests with these, in order: an HTTP status (with Gupshup's body
        for it), a whole `httpx.Response`, or an exception to raise (``httpx.ReadTimeout``...).
        """
        self._script.extend(answers)

    def to(self, number: str) -> list[SentMessage]:
        """What was sent to ``number`` (as normalised: digits only)."""
        return [sent for sent in self.sent if sent.to == number]

    def _answer(self, request: httpx.Request, app_id: str) -> httpx.Response:
        self.requests.append(request)
        if self._script:
            scripted = self._script.pop(0)
            if isinstance(scripted, Exception):
                raise scripted
            if isinstance(scripted, httpx.Response):
                return scripted
            return _response(canned(scripted), request)
        processed = len(self.rules.account.processed)
        answer = self.rules.answer(
            request.method, request.url.path, request.headers, request.content, time.time()
        )
        if len(self.rules.account.processed) > processed:
            payload = json.loads(request.content)
            self.sent.append(
                SentMessage(
                    app_id=app_id,
                    to=self.rules.account.processed[-1].to,
                    message=parse_message(payload),
                    message_id=self.rules.account.processed[-1].message_id,
                    payload=payload,
                )
            )
        return _response(answer, request)


def _response(answer: Answer, request: httpx.Request) -> httpx.Response:
    if answer.drops_connection:
        raise httpx.RemoteProtocolError("the server closed the connection", request=request)
    headers = [("Content-Type", "application/json"), *answer.headers]
    return httpx.Response(answer.status, content=answer.body, headers=headers)


@contextlib.contextmanager
def no_waiting() -> Iterator[None]:
    """Retries do not wait (their backoff and Retry-After become 0) while this is active."""
    with _engine.overridden(wait=False):
        yield


@contextlib.contextmanager
def gupshup_mock(*, wait: bool = False) -> Iterator[GupshupMock]:
    """Answer Gupshup's v3 message endpoint (any base URL, any app) for the block.

    Requests no route matches are refused, as in any respx router: a test never reaches the
    network by accident. ``wait=True`` keeps the retries' real waits.
    """
    try:
        import respx
    except ImportError:  # pragma: no cover - depends on how it was installed
        raise ImportError("gupshup_mock needs respx: pip install respx") from None
    router = respx.MockRouter(assert_all_called=False)
    mock = GupshupMock(router)
    with _engine.overridden(transport=mock.transport, wait=wait):
        yield mock


try:
    import pytest
except ImportError:  # pragma: no cover
    pass
else:

    @pytest.fixture(name="gupshup_mock")
    def _gupshup_mock_fixture() -> Iterator[GupshupMock]:
        """The `gupshup_mock` context manager as a pytest fixture."""
        with gupshup_mock() as mock:
            yield mock
