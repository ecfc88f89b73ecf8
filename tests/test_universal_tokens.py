"""Universal App Tokens: minted with the universal token, renewed before they expire (a clock
the test moves), one mint however many sends ask at once, once more after a 401; never shown.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import respx

from gupshup_async import AuthenticationError, ButtonMessage, GupshupClient, UniversalAppToken

BASE = "https://partner.example.test"
APP = "app-uat"
UT = "eyJ-universal-token-secret-0123456789"
MINT = f"{BASE}/partner/app/{APP}/token"
SEND = f"{BASE}/partner/app/{APP}/v3/message"
MESSAGE = ButtonMessage("Still coming tonight?", [("yes", "Yes")])

pytestmark = pytest.mark.virtual_time


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


def minted(tokens: list[str]) -> object:
    def answer(request: httpx.Request) -> httpx.Response:
        tokens.append(f"uat-{len(tokens) + 1}")
        return httpx.Response(200, json={"status": "success", "token": {"token": tokens[-1]}})

    return answer


async def test_one_mint_for_a_hundred_sends_then_renewed_before_expiry() -> None:
    clock, tokens, used = Clock(), [], []

    def send(request: httpx.Request) -> httpx.Response:
        used.append(request.headers["Authorization"])
        return httpx.Response(200, json={"messages": [{"id": f"gs-{len(used)}"}]})

    provider = UniversalAppToken(APP, UT, base_url=BASE, lifetime=3600, clock=clock)
    with respx.mock(using="httpx") as mock:
        mint = mock.post(MINT).mock(side_effect=minted(tokens))
        mock.post(SEND).mock(side_effect=send)
        async with GupshupClient(APP, provider, base_url=BASE, rate_limit=None) as client:
            await asyncio.gather(*(client.send(f"+9170000{n:05d}", MESSAGE) for n in range(100)))
            assert mint.call_count == 1  # a hundred sends at once, one mint
            assert set(used) == {"uat-1"}
            assert mint.calls[0].request.headers["Authorization"] == f"Bearer {UT}"
            form = dict(httpx.QueryParams(mint.calls[0].request.content.decode()))
            assert int(form["expiry"]) == int((clock.now + 3600) * 1000)  # 1 hour, as asked
            clock.now += 3600 - 600 - 1  # just before the renewal point: still the same
            await client.send("+917000099999", MESSAGE)
            assert mint.call_count == 1
            clock.now += 2  # within renew_before of the expiry: renewed before it expires
            await asyncio.gather(*(client.send(f"+9171000{n:05d}", MESSAGE) for n in range(100)))
    assert mint.call_count == 2
    assert used[-1] == "uat-2"
    names = [dict(httpx.QueryParams(c.request.content.decode()))["name"] for c in mint.calls]
    assert len(set(names)) == 2  # unique among the active tokens


async def test_a_401_mints_once_more_and_the_send_goes(caplog: pytest.LogCaptureFixture) -> None:
    tokens: list[str] = []
    provider = UniversalAppToken(APP, UT, base_url=BASE, clock=Clock())
    with respx.mock(using="httpx") as mock:
        mint = mock.post(MINT).mock(side_effect=minted(tokens))
        send = mock.post(SEND).mock(
            side_effect=[
                httpx.Response(401, json={"status": "error", "message": "Token expired"}),
                httpx.Response(200, json={"messages": [{"id": "gs-1"}]}),
            ]
        )
        with caplog.at_level(logging.DEBUG):
            async with GupshupClient(APP, provider, base_url=BASE, rate_limit=None) as client:
                result = await client.send("+917000000001", MESSAGE)
    assert result.message_id == "gs-1"
    assert mint.call_count == 2
    assert [c.request.headers["Authorization"] for c in send.calls] == ["uat-1", "uat-2"]
    assert UT not in caplog.text
    assert "uat-1" not in caplog.text
    assert UT not in repr(provider)


async def test_a_refused_mint_is_an_authentication_error_without_the_token() -> None:
    provider = UniversalAppToken(APP, UT, base_url=BASE, clock=Clock())
    with respx.mock(using="httpx") as mock:
        mock.post(MINT).mock(
            return_value=httpx.Response(401, json={"status": "error", "message": f"bad {UT}"})
        )
        async with GupshupClient(APP, provider, base_url=BASE, rate_limit=None) as client:
            with pytest.raises(AuthenticationError) as refused:
                await client.send("+917000000001", MESSAGE)
    assert UT not in str(refused.value)


@pytest.mark.parametrize(
    ("options", "says"),
    [({"lifetime": 60}, "lifetime"), ({"renew_before": 90000}, "renew_before")],
)
def test_bad_options_are_refused(options: dict[str, float], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        UniversalAppToken(APP, UT, **options)  # type: ignore[arg-type]
