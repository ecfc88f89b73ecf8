"""Template definitions: read in Meta's and Gupshup's shapes, fetched and cached, and every
mismatch between a message and its template refused before sending, at its path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gupshup_async import (
    APIError,
    AuthenticationError,
    DocumentHeader,
    GupshupClient,
    ImageHeader,
    ServerError,
    TemplateButtonSpec,
    TemplateCard,
    TemplateCopyCode,
    TemplateDefinition,
    TemplateDefinitions,
    TemplateLocation,
    TemplateMessage,
    TemplateQuickReply,
    TemplateText,
    TemplateUrlButton,
    TransportError,
    ValidationError,
    VideoHeader,
    parse_template,
)
from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TEMPLATES, Sandbox
from gupshup_async.testing import gupshup_mock

DEFINITIONS = TemplateDefinitions.from_json(SANDBOX_TEMPLATES)
SHIPPED = TemplateMessage(
    "order_shipped",
    "en",
    header="A-4411",
    body=["Asha", "A-4411"],
    buttons=[TemplateUrlButton(2, "A-4411")],
)

# What Gupshup's template list holds for one template (its partner documentation's sample,
# trimmed): the body in ``data``; header and buttons inside ``containerMeta``, a JSON string.
GUPSHUP_ENTRY = {
    "appId": "3cb92fbd-0bac-41d7-818e-4e4326d90335",
    "buttonSupported": "QR,URL",
    "category": "UTILITY",
    "containerMeta": json.dumps(
        {
            "appId": "3cb92fbd-0bac-41d7-818e-4e4326d90335",
            "data": "Hi {{1}}, your ticket {{2}} is {{3}}.",
            "header": "Ticket {{1}}",
            "footer": "Reply STOP to opt out",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Thanks"},
                {"type": "URL", "text": "Open", "url": "https://help.example/t/{{1}}"},
            ],
        }
    ),
    "createdOn": 1671619377053,
    "data": "Ticket {{1}}\nHi {{1}}, your ticket {{2}} is {{3}}.\nReply STOP | [Thanks] | [Open]",
    "elementName": "ticket_update",
    "languageCode": "en_US",
    "status": "APPROVED",
    "templateType": "TEXT",
}


def test_gupshup_s_listing_is_read_from_its_container_meta() -> None:
    definition = TemplateDefinition.from_gupshup(GUPSHUP_ENTRY)
    assert (definition.name, definition.language) == ("ticket_update", "en_US")
    assert definition.header == "text"
    assert definition.header_placeholders == ("1",)
    assert definition.body_placeholders == ("1", "2", "3")
    assert definition.buttons == (
        TemplateButtonSpec("quick_reply", "Thanks"),
        TemplateButtonSpec("url", "Open", "https://help.example/t/{{1}}"),
    )
    assert [b.needs_parameter for b in definition.buttons] == [False, True]


def test_both_shapes_write_and_read_back_the_same_definition() -> None:
    for definition in DEFINITIONS:
        assert TemplateDefinition.from_gupshup(definition.to_gupshup()) == definition
        assert TemplateDefinition.from_meta(definition.to_meta()) == definition


def test_a_fitting_message_passes() -> None:
    DEFINITIONS.check(SHIPPED)
    DEFINITIONS.check(
        TemplateMessage(
            "cart_reminder",
            "en",
            header=ImageHeader("https://x.example/cart.png"),
            body={"first_name": "Asha", "discount": "10%"},
            buttons=[TemplateCopyCode(0, "SAVE10")],
        )
    )


@pytest.mark.parametrize(
    ("message", "path", "says"),
    [
        (
            TemplateMessage("order_shiped", "en"),
            "template.name",
            "no template named order_shiped",
        ),
        (
            TemplateMessage("order_shipped", "pt_BR", header="x", body=["a", "b"]),
            "template.language.code",
            "exists in en, not in pt_BR",
        ),
        (
            TemplateMessage("summer_sale", "en", body=["20%"]),
            "template.name",
            "is PAUSED, not APPROVED",
        ),
        (
            TemplateMessage("order_shipped", "en", header="x", body=["Asha"]),
            "template.components[1].parameters",
            "takes 2 parameters ({{1}}, {{2}}), got 1",
        ),
        (
            TemplateMessage("order_shipped", "en", body=["Asha", "A-1"]),
            "template.components",
            "header needs a text parameter",
        ),
        (
            TemplateMessage("appointment_reminder", "en", header="x", body=["a", "b"]),
            "template.components[0]",
            "the template has no header",
        ),
        (
            TemplateMessage(
                "order_shipped",
                "en",
                header=ImageHeader("https://x.example/a.png"),
                body=["a", "b"],
                buttons=[TemplateUrlButton(2, "A-1")],
            ),
            "template.components[0].parameters[0].type",
            "must be text",
        ),
        (
            TemplateMessage(
                "order_shipped",
                "en",
                header="x",
                body=["a", "b"],
                buttons=[TemplateUrlButton(2, "A-1"), TemplateQuickReply(5, "p")],
            ),
            "template.components[3].index",
            "no button 5 (it has 3",
        ),
        (
            TemplateMessage(
                "order_shipped",
                "en",
                header="x",
                body=["a", "b"],
                buttons=[TemplateUrlButton(2, "A-1"), TemplateUrlButton(0, "p")],
            ),
            "template.components[3].sub_type",
            "button 0 is a quick-reply button (Track it), not url",
        ),
        (
            TemplateMessage("order_shipped", "en", header="x", body=["a", "b"]),
            "template.components",
            "button 2, a URL button (See order), needs its URL's suffix",
        ),
        (
            TemplateMessage(
                "cart_reminder",
                "en",
                header=ImageHeader("https://x.example/a.png"),
                body={"first_name": "A", "percent": "10"},
                buttons=[TemplateCopyCode(0, "X")],
            ),
            "template.components[1].parameters[1].parameter_name",
            "no parameter {{percent}}",
        ),
        (
            TemplateMessage(
                "cart_reminder",
                "en",
                header=ImageHeader("https://x.example/a.png"),
                body=["A", "10"],
                buttons=[TemplateCopyCode(0, "X")],
            ),
            "template.components[1].parameters",
            "the template's parameters are named",
        ),
    ],
)
def test_each_mismatch_is_refused_at_its_path(
    message: TemplateMessage, path: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        DEFINITIONS.check(message)
    assert any(p.path == path and says in p.message for p in caught.value.errors), caught.value


def test_a_definitions_file_in_either_shape_loads_and_a_broken_one_says_where(
    tmp_path: Path,
) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(SANDBOX_TEMPLATES))
    gupshup = tmp_path / "gupshup.json"
    gupshup.write_text(json.dumps({"status": "success", "templates": [GUPSHUP_ENTRY]}))
    assert len(TemplateDefinitions.load(meta)) == len(SANDBOX_TEMPLATES)
    assert ("ticket_update", "en_US") in TemplateDefinitions.load(gupshup)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([SANDBOX_TEMPLATES[0], {"components": []}]))
    with pytest.raises(ValueError, match=r"broken.json: template definition 1 cannot be read"):
        TemplateDefinitions.load(broken)
    broken.write_text('{"templates": 3}')
    with pytest.raises(ValueError, match="must be a JSON array"):
        TemplateDefinitions.load(broken)


async def test_a_client_with_definitions_refuses_a_misfit_and_sends_nothing() -> None:
    with gupshup_mock() as gupshup:
        async with GupshupClient(
            "app-1", "token-123456", rate_limit=None, templates=DEFINITIONS
        ) as client:
            with pytest.raises(ValidationError) as caught:
                await client.send("+91 98765 43210", TemplateMessage("order_shipped", "en"))
            await client.send("+91 98765 43210", SHIPPED)
    assert caught.value.path == "template.components"
    assert len(gupshup.requests) == 1


async def test_fetched_templates_are_cached_and_fetched_again_for_a_new_name() -> None:
    async with Sandbox() as sandbox:
        gets: list[str] = []

        async def count(request: httpx.Request) -> None:
            if request.method == "GET":
                gets.append(request.url.path)

        http = httpx.AsyncClient(event_hooks={"request": [count]})
        async with (
            http,
            GupshupClient(
                sandbox.app_id,
                sandbox.token,
                base_url=sandbox.base_url,
                http_client=http,
                templates="fetch",
            ) as client,
        ):
            for n in range(20):
                await client.send(f"+9198765{n:05d}", SHIPPED)
            assert gets == [f"/partner/app/{SANDBOX_APP_ID}/templates"]
            with pytest.raises(ValidationError, match="no template named brand_new"):
                await client.send("+919876543210", TemplateMessage("brand_new", "en"))
            assert len(gets) == 1  # fetched less than a minute ago: not again
            listed = await client.fetch_templates()
        assert ("appointment_reminder", "en") in listed
    assert len(sandbox.account.processed) == 20


async def test_a_refused_template_list_is_a_typed_error() -> None:
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, "wrong-token-0000", base_url=sandbox.base_url
        ) as client:
            with pytest.raises(AuthenticationError):
                await client.fetch_templates()


async def test_the_sandbox_refuses_what_meta_would_with_template_codes() -> None:
    async with Sandbox() as sandbox:
        async with GupshupClient(sandbox.app_id, sandbox.token, base_url=sandbox.base_url) as c:
            with pytest.raises(APIError) as unknown:
                await c.send("+919876543210", TemplateMessage("nope", "en"))
            with pytest.raises(APIError) as count:
                await c.send("+919876543210", TemplateMessage("order_shipped", "en", header="x"))
            await c.send("+919876543210", SHIPPED)
    assert unknown.value.code == 132001
    assert not unknown.value.transient
    assert count.value.code == 132000
    assert [p.template for p in sandbox.account.processed] == ["order_shipped"]


async def test_the_mock_lists_the_templates_a_test_gives_it() -> None:
    with gupshup_mock() as gupshup:
        gupshup.templates = DEFINITIONS
        async with GupshupClient(
            "app-1", "token-123456", rate_limit=None, templates="fetch"
        ) as client:
            await client.send("+91 98765 43210", SHIPPED)
            with pytest.raises(ValidationError, match="takes 2 parameters"):
                await client.send("+91 98765 43210", TemplateMessage("order_shipped", "en"))
    assert [s.message for s in gupshup.sent] == [SHIPPED]


def test_an_authentication_template_takes_its_code_as_a_url_button_parameter() -> None:
    otp = TemplateDefinition.from_meta(
        {
            "name": "login_code",
            "language": "en",
            "category": "AUTHENTICATION",
            "components": [
                {"type": "BODY", "text": "{{1}} is your verification code."},
                {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
            ],
        }
    )
    definitions = TemplateDefinitions([otp])
    code = "482913"
    definitions.check(
        TemplateMessage("login_code", "en", body=[code], buttons=[TemplateUrlButton(0, code)])
    )
    with pytest.raises(ValidationError, match="button 0, a one-time password button, needs"):
        definitions.check(TemplateMessage("login_code", "en", body=[code]))
    with pytest.raises(ValidationError, match="is a one-time password button, not copy_code"):
        definitions.check(
            TemplateMessage("login_code", "en", body=[code], buttons=[TemplateCopyCode(0, code)])
        )


def test_a_named_header_parameter_must_carry_the_header_s_name() -> None:
    named = TemplateDefinition.from_meta(
        {
            "name": "welcome",
            "language": "en",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Welcome, {{first_name}}"},
                {"type": "BODY", "text": "Your points: {{points}}"},
            ],
        }
    )
    definitions = TemplateDefinitions([named])
    body = {"points": "120"}
    definitions.check(
        TemplateMessage("welcome", "en", header=TemplateText("Asha", name="first_name"), body=body)
    )
    with pytest.raises(ValidationError) as caught:
        definitions.check(TemplateMessage("welcome", "en", header="Asha", body=body))
    assert caught.value.path == "template.components[0].parameters[0].parameter_name"


def _listing(body: bytes) -> httpx.AsyncClient:
    """A client whose template list answers ``body``, and whose sends are accepted."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, content=body)
        return httpx.Response(200, json={"messages": [{"id": "gs-1"}]})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_an_unreadable_entry_in_gupshup_s_list_is_left_unchecked_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    odd = {"elementName": "odd_one", "containerMeta": json.dumps({"buttons": "QR,URL"})}
    listing = {"status": "success", "templates": [GUPSHUP_ENTRY, "junk", odd]}
    async with (
        _listing(json.dumps(listing).encode()) as http,
        GupshupClient(
            "app-1", "token-123456", rate_limit=None, http_client=http, templates="fetch"
        ) as client,
    ):
        await client.send("+919876543210", TemplateMessage("odd_one", "en", body=["x"]))
        with pytest.raises(ValidationError, match="takes 3 parameters"):
            await client.send("+919876543210", TemplateMessage("ticket_update", "en_US"))
        assert (await client.fetch_templates()).unreadable == {"odd_one"}
    assert "1 templates of the app's list cannot be read" in caplog.text
    with pytest.raises(ValueError, match="template definition 1 cannot be read"):
        TemplateDefinitions.from_json(listing)  # a file of your own is read strictly


@pytest.mark.parametrize(
    ("body", "error", "says"),
    [
        (b"[" * 100_000, APIError, "cannot be read"),
        (b'{"status": "success", "templates": 7}', APIError, "must be a JSON array"),
        (b" " * (33 * 1024 * 1024), TransportError, "larger than"),
    ],
)
async def test_a_template_list_that_is_not_one_is_a_typed_error(
    body: bytes, error: type[Exception], says: str
) -> None:
    async with (
        _listing(body) as http,
        GupshupClient("app-1", "token-123456", rate_limit=None, http_client=http) as client,
    ):
        with pytest.raises(error, match=says) as caught:
            await client.fetch_templates()
    assert not getattr(caught.value, "ambiguous", False)  # a GET delivered no message


# Any definition, the message that fits it, and the same message one parameter short or over.

KINDS = ("quick_reply", "url", "copy_code", "url-static", "phone_number")
HEADERS = (None, "text", "image", "video", "document", "location")


def _definition(header: str | None, names: list[str], buttons: list[str]) -> TemplateDefinition:
    specs = []
    for kind in buttons:
        if kind == "url":
            specs.append(TemplateButtonSpec("url", "Open", "https://x.example/{{1}}"))
        elif kind == "url-static":
            specs.append(TemplateButtonSpec("url", "Site", "https://x.example/"))
        else:
            specs.append(TemplateButtonSpec(kind, kind))
    return TemplateDefinition(
        "t",
        "en",
        header=header,
        header_placeholders=("1",) if header == "text" else (),
        body_placeholders=tuple(names),
        buttons=tuple(specs),
    )


def _fitting(definition: TemplateDefinition) -> TemplateMessage:
    headers = {
        "text": TemplateText("Asha"),
        "image": ImageHeader("https://x.example/a.png"),
        "video": VideoHeader("https://x.example/a.mp4"),
        "document": DocumentHeader("https://x.example/a.pdf"),
        "location": TemplateLocation(12.9, 77.6),
    }
    header = headers[definition.header] if definition.header is not None else None
    values = [f"value {n}" for n in range(len(definition.body_placeholders))]
    body: Any = (
        dict(zip(definition.body_placeholders, values, strict=True)) if definition.named else values
    )
    buttons: list[Any] = []
    for index, spec in enumerate(definition.buttons):
        if spec.kind == "url" and spec.needs_parameter:
            buttons.append(TemplateUrlButton(index, f"path-{index}"))
        elif spec.kind == "copy_code":
            buttons.append(TemplateCopyCode(index, f"CODE{index}"))
        elif spec.kind == "quick_reply" and index % 2:
            buttons.append(TemplateQuickReply(index, f"payload-{index}"))  # optional: some
    return TemplateMessage("t", "en", header=header, body=body, buttons=buttons)


@given(
    header=st.sampled_from(HEADERS),
    count=st.integers(0, 6),
    named=st.booleans(),
    buttons=st.lists(st.sampled_from(KINDS), max_size=10),
)
def test_the_message_made_for_any_definition_fits_it_and_one_more_or_less_does_not(
    header: str | None, count: int, named: bool, buttons: list[str]
) -> None:
    names = [f"name_{n}" if named else str(n + 1) for n in range(count)]
    definition = _definition(header, names, buttons)
    definitions = TemplateDefinitions([definition])
    message = _fitting(definition)
    assert definitions.problems(message) == []
    # Read back in either shape, the definition still takes the same message.
    assert TemplateDefinition.from_gupshup(definition.to_gupshup()).problems(message) == []
    if named:
        return
    longer = attrs.evolve(message, body=[*message.body, TemplateText("extra")])
    assert [p.message for p in definitions.problems(longer)] == [
        f"the template's body takes {count} parameter{'' if count == 1 else 's'} "
        f"({', '.join(f'{{{{{n}}}}}' for n in names) or 'none'}), got {count + 1}"
    ]
    if count:
        shorter = attrs.evolve(message, body=list(message.body[:-1]))
        [problem] = definitions.problems(shorter)
        # With no body parameter left, the body component is not written: the fault is the
        # components' as a whole.
        where = "template.components" if count == 1 else ".parameters"
        assert problem.path.endswith(where)


def _card(name: str, *, header: Any = None, price: str = "Rs 499") -> TemplateCard:
    return TemplateCard(
        header or ImageHeader(f"https://x.example/{name}.png"),
        body=[name, price],
        buttons=[TemplateQuickReply(0, f"more-{name}"), TemplateUrlButton(1, name)],
    )


SPRING = TemplateMessage(
    "spring_collection", "en", body=["15%"], cards=[_card("fern"), _card("palm"), _card("ivy")]
)


def test_a_carousel_template_is_built_checked_and_read_back() -> None:
    DEFINITIONS.check(SPRING)
    document = SPRING.to_template()
    assert document["components"][1]["type"] == "carousel"
    assert [card["card_index"] for card in document["components"][1]["cards"]] == [0, 1, 2]
    assert parse_template(document) == SPRING
    spring = DEFINITIONS.get("spring_collection", "en")
    assert spring is not None
    assert TemplateDefinition.from_gupshup(spring.to_gupshup()) == spring


@pytest.mark.parametrize(
    ("message", "path", "says"),
    [
        (
            attrs.evolve(SPRING, cards=[_card("fern"), _card("palm")]),
            "template.components[1].cards",
            "the template has 3 cards, got 2",
        ),
        (
            attrs.evolve(SPRING, cards=()),
            "template.components",
            "carousel needs its 3 cards",
        ),
        (
            attrs.evolve(
                SPRING,
                cards=[
                    _card(n, header=VideoHeader(f"https://x.example/{n}.mp4"))
                    for n in ("fern", "palm", "ivy")
                ],
            ),
            "template.components[1].cards[0].components[0].parameters[0].type",
            "must be image",
        ),
        (
            attrs.evolve(
                SPRING,
                cards=[
                    TemplateCard(ImageHeader(f"https://x.example/{n}.png"), body=[n])
                    for n in ("fern", "palm", "ivy")
                ],
            ),
            "template.components[1].cards[2].components[1].parameters",
            "takes 2 parameters",
        ),
        (
            TemplateMessage(
                "order_shipped",
                "en",
                header="x",
                body=["a", "b"],
                buttons=[TemplateUrlButton(2, "A")],
                cards=[_card("fern")],
            ),
            "template.components[2]",
            "the template has no carousel",
        ),
    ],
)
def test_each_carousel_mismatch_is_refused_at_its_path(
    message: TemplateMessage, path: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        DEFINITIONS.check(message)
    assert any(p.path == path and says in p.message for p in caught.value.errors), caught.value


def test_carousel_cards_follow_meta_s_rules_when_made() -> None:
    with pytest.raises(ValidationError) as caught:
        TemplateMessage(
            "spring_collection",
            "en",
            cards=[
                _card("fern"),
                TemplateCard(
                    DocumentHeader("https://x.example/a.pdf"),  # type: ignore[arg-type]
                    buttons=[TemplateQuickReply(2, "x")],
                ),
                *[_card(f"plant{n}") for n in range(9)],
            ],
        )
    paths = {p.path for p in caught.value.errors}
    assert paths == {
        "template.components[0].cards",  # 11 cards
        "template.components[0].cards[1].components[0].parameters[0]",  # not image or video
        "template.components[0].cards[1].components[1].index",  # at most 2 buttons: 0 or 1
        "template.components[0].cards[1]",  # not like card 0
    }


def test_a_gupshup_carousel_listed_without_its_cards_is_left_unchecked() -> None:
    listed = TemplateDefinition.from_gupshup(
        {
            "elementName": "spring_collection",
            "languageCode": "en",
            "templateType": "CAROUSEL",
            "containerMeta": json.dumps({"data": "Spring is here: {{1}} off."}),
        }
    )
    assert listed.cards is None
    TemplateDefinitions([listed]).check(SPRING)


async def test_the_sandbox_takes_a_carousel_template() -> None:
    async with Sandbox() as sandbox:
        async with GupshupClient(sandbox.app_id, sandbox.token, base_url=sandbox.base_url) as c:
            await c.send("+919876543210", SPRING)
            with pytest.raises(APIError) as refused:
                await c.send("+919876543210", attrs.evolve(SPRING, cards=SPRING.cards[:2]))
    assert refused.value.code == 132000
    assert [p.template for p in sandbox.account.processed] == ["spring_collection"]


class _ScriptedList:
    """A template list that answers as told, counting the requests; sends are accepted."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.gets: list[str] = []
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            return httpx.Response(200, json={"messages": [{"id": f"gs-{self.posts}"}]})
        self.gets.append(request.headers["authorization"])
        status = self.answers.pop(0) if self.answers else 200
        if status != 200:
            return httpx.Response(status, json={"status": "error", "message": "try later"})
        listed = [definition.to_gupshup() for definition in DEFINITIONS]
        return httpx.Response(200, json={"status": "success", "templates": listed})


async def test_a_failing_template_list_is_asked_once_a_minute_not_once_per_send() -> None:
    script = _ScriptedList(503)
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    async with (
        http,
        GupshupClient(
            "app-1", "token-123456", rate_limit=None, http_client=http, templates="fetch"
        ) as client,
    ):
        outcomes = [o async for o in client.send_many([("+919876543210", SHIPPED)] * 50)]
    assert len(script.gets) == 1  # not 50 calls on an endpoint allowing 10 a minute
    assert all(isinstance(o.error, ServerError) for o in outcomes)
    assert script.posts == 0  # nothing unchecked went out


async def test_when_the_list_cannot_be_fetched_again_the_last_one_is_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = _ScriptedList(200, 503)
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    async with (
        http,
        GupshupClient(
            "app-1",
            "token-123456",
            rate_limit=None,
            http_client=http,
            templates="fetch",
            templates_max_age=0.0,  # every send wants a fresh list
        ) as client,
    ):
        await client.send("+919876543210", SHIPPED)
        await client.send("+919876543210", SHIPPED)  # the fetch fails: the last list checks
        with pytest.raises(ValidationError, match="takes 2 parameters"):
            await client.send("+919876543210", TemplateMessage("order_shipped", "en"))
    assert len(script.gets) == 2  # the one that failed, then a pause
    assert script.posts == 2
    assert "could not be fetched (ServerError): using the one from" in caplog.text


class _Rotating:
    """A token provider whose token was rotated: the first is refused, refresh gives the new."""

    def __init__(self) -> None:
        self.current = "token-old-0000000"

    async def token(self) -> str:
        return self.current

    async def refresh(self, rejected: str) -> str | None:
        self.current = "token-new-1111111"
        return self.current


async def test_a_401_on_the_template_list_refreshes_the_token_once() -> None:
    script = _ScriptedList(401)
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    async with (
        http,
        GupshupClient("app-1", _Rotating(), rate_limit=None, http_client=http) as client,
    ):
        listed = await client.fetch_templates()
    assert ("order_shipped", "en") in listed
    assert script.gets == ["token-old-0000000", "token-new-1111111"]
