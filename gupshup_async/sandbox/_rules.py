"""What the sandbox answers, decided without I/O: from a request to an `Answer`.

It answers as Gupshup's v3 message endpoint does (its partner documentation): 200 with
a message id, 401 for a wrong token, 400 for billing off, unknown app or app not on cloud, a
Meta-style 400 for a message our own validation refuses or a template that does not fit its
definition (132000, 132001), and 429 above the configured rate. On top, seeded faults: 503 or
429 or a dropped connection before processing, a 500 or a dropped connection after processing,
and slow answers. It lists its templates as Gupshup does (``GET /partner/app/{app}/templates``)
and keeps each user's 24-hour window: with ``windows=True``, a free-form message to a user who
has not written in the last 24 hours is accepted and then fails (131047), as on WhatsApp.
"""

from __future__ import annotations

import base64
import collections
import json
import random
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from gupshup_async._media_files import check_upload
from gupshup_async.errors import ValidationError
from gupshup_async.messages import (
    CALLBACK_DATA_MAX,
    FREE_FORM_TYPES,
    normalize_recipient,
    parse_free_form,
    parse_interactive,
    parse_template,
)
from gupshup_async.sandbox._account import (
    SANDBOX_APP_ID,
    SANDBOX_TEMPLATES,
    SANDBOX_TOKEN,
    Account,
    Processed,
)
from gupshup_async.template_definitions import TemplateDefinitions
from gupshup_async.window import WINDOW_SECONDS

__all__ = ["Answer", "Faults", "SandboxRules", "canned"]


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability from 0 to 1, got {value!r}")


@attrs.frozen
class Faults:
    """Probabilities, per request, of each injected fault (they add up to at most 1)."""

    unavailable: float = attrs.field(default=0.0, validator=_probability)  # 503, not processed
    rate_limited: float = attrs.field(default=0.0, validator=_probability)  # 429, not processed
    drop_before: float = attrs.field(default=0.0, validator=_probability)  # closed, not processed
    error_after: float = attrs.field(default=0.0, validator=_probability)  # processed, then 500
    drop_after: float = attrs.field(default=0.0, validator=_probability)  # processed, then closed
    slow: float = attrs.field(default=0.0, validator=_probability)  # processed, answered late
    slow_seconds: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self._cumulative()[-1] > 1.0 + 1e-9:
            raise ValueError("fault probabilities add up to more than 1")

    def _cumulative(self) -> list[float]:
        total, out = 0.0, []
        for p in (
            self.unavailable,
            self.rate_limited,
            self.drop_before,
            self.error_after,
            self.drop_after,
            self.slow,
        ):
            total += p
            out.append(total)
        return out

    @classmethod
    def safe(cls, rate: float) -> Faults:
        """Faults after which nothing was processed: a retry cannot duplicate."""
        return cls(unavailable=rate / 3, rate_limited=rate / 3, drop_before=rate / 3)


FAULT_KINDS = ("unavailable", "rate_limited", "drop_before", "error_after", "drop_after", "slow")


@attrs.frozen
class Answer:
    """What to do with one request: answer ``status`` with ``body`` (after ``delay`` seconds),
    or close the connection without answering (``status`` 0).
    """

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    @property
    def drops_connection(self) -> bool:
        return self.status == 0


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def gupshup_error(message: str) -> bytes:
    return _json({"status": "error", "message": message})


def meta_error(code: int, message: str, details: str) -> bytes:
    return _json(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details},
                "fbtrace_id": "sandbox",
            }
        }
    )


_UNAUTHORIZED = Answer(401, gupshup_error("Authentication Failed"))
_INVALID_APP = Answer(400, gupshup_error("Invalid App Details"))
_BILLING = Answer(400, gupshup_error("Callback Billing must be enabled for this API"))
_NOT_ON_CLOUD = Answer(
    400,
    gupshup_error(
        "The provided app is not of the expected type for this API. "
        "Please ensure that the app is on cloud."
    ),
)
_UNAVAILABLE = Answer(503, gupshup_error("Service Unavailable"))
_SERVER_ERROR = Answer(
    500,
    gupshup_error(
        "Internal server error. Please try again later and If Issue still persist than "
        "contact Gupshup Dev Support"
    ),
)
_DROP = Answer(0)
_NOT_FOUND = Answer(404, gupshup_error("Not Found"))
_FORBIDDEN = Answer(403, gupshup_error("Forbidden Access"))


def canned(status: int, retry_after: float | None = None) -> Answer:
    """Gupshup's own answer for an error ``status`` (400, 401, 403, 404, 429, 500, 503), as
    the sandbox gives it; any other status with a bare error body.
    """
    if status == 429:
        headers = () if retry_after is None else (("Retry-After", f"{retry_after:g}"),)
        return Answer(429, gupshup_error("Too Many Requests"), headers)
    known = {
        400: _INVALID_APP,
        401: _UNAUTHORIZED,
        403: _FORBIDDEN,
        404: _NOT_FOUND,
        500: _SERVER_ERROR,
        503: _UNAVAILABLE,
    }
    return known.get(status, Answer(status, _json({"status": "error"})))


class SandboxRules:
    """The sandbox's behaviour, apart from sockets. ``now`` is passed in, never read."""

    def __init__(
        self,
        *,
        apps: Mapping[str, str] | None = None,
        billing_disabled: frozenset[str] = frozenset(),
        not_on_cloud: frozenset[str] = frozenset(),
        rate: float | None = None,
        retry_after: float | None = None,
        faults: Faults = Faults(),
        seed: int = 0,
        validate: bool = True,
        templates: TemplateDefinitions | None = None,
        windows: bool = False,
        any_app: bool = False,
        check_templates: bool = True,
    ) -> None:
        self.templates = (
            templates if templates is not None else TemplateDefinitions.from_json(SANDBOX_TEMPLATES)
        )
        #: Whether free-form messages need an open 24-hour window (``user_wrote``).
        self.windows = windows
        #: Whether any app id and token are taken (`gupshup_async.testing`'s mock), not only
        #: those of ``apps``.
        self.any_app = any_app
        #: Whether a template message must fit one of ``templates`` (Meta's 132000/132001).
        self.check_templates = check_templates
        self._last_inbound: dict[str, float] = {}
        self.apps = dict(apps) if apps is not None else {SANDBOX_APP_ID: SANDBOX_TOKEN}
        self.billing_disabled = billing_disabled
        self.not_on_cloud = not_on_cloud
        self.rate = rate
        self.retry_after = retry_after
        self.faults = faults
        self._thresholds = faults._cumulative()
        self._random = random.Random(seed)
        self.validate = validate
        self.account = Account()
        self._window: collections.deque[float] = collections.deque()
        self._checked: dict[bytes, Answer | None] = {}
        self._ids = random.Random(f"ids-{seed}")  # apart from the faults' draws

    # One request ------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, now: float
    ) -> Answer:
        answer = self._answer(method, path, headers, body, now)
        self.account.answers[answer.status] += 1
        return answer

    def _answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, now: float
    ) -> Answer:
        if method == "GET" and path == "/sandbox/account":
            return Answer(200, _json(self.account.to_json()))
        if method == "GET" and path.startswith("/sandbox/media/"):
            return self._media_file(path.removeprefix("/sandbox/media/"))
        listing = _templates_of(path) if method == "GET" else None
        if listing is not None:
            return self._template_list(listing, headers)
        event_app = _app_of(path, ("v1", "event"))
        if method == "POST" and event_app is not None:
            return self._event(event_app, headers, body)
        subscribing = _subscription_of(path)
        if subscribing is not None:
            return self._subscription(method, *subscribing, headers, body)
        app_id = _app_of(path)
        if method != "POST" or app_id is None:
            return _NOT_FOUND
        refused = self._app_refused(app_id, headers)
        if refused is not None:
            return refused
        if app_id in self.billing_disabled:
            return _BILLING
        if app_id in self.not_on_cloud:
            return _NOT_ON_CLOUD
        fault = self._draw_fault()
        if fault in ("unavailable", "rate_limited", "drop_before"):
            self.account.faults[fault] += 1
            return {"unavailable": _UNAVAILABLE, "drop_before": _DROP}.get(fault, self._too_many())
        if self._over_rate(now):
            return self._too_many()
        refused, to, message, request = self._check(body)
        if refused is not None:
            return refused
        self._window.append(now)
        accepted = self._process(app_id, to, message, request, now)
        if fault is not None:
            self.account.faults[fault] += 1
        if fault == "error_after":
            return _SERVER_ERROR
        if fault == "drop_after":
            return _DROP
        if fault == "slow":
            return attrs.evolve(accepted, delay=self.faults.slow_seconds)
        return accepted

    def user_wrote(self, to: str, now: float) -> None:
        """``to`` wrote to the business at ``now`` (the clock `answer` is given)."""
        self._last_inbound[normalize_recipient(to)] = now

    def window_open(self, to: str, now: float) -> bool:
        last = self._last_inbound.get(to)
        return last is not None and now - last < WINDOW_SECONDS

    def _app_refused(self, app_id: str, headers: Mapping[str, str]) -> Answer | None:
        if self.any_app:
            return None
        if app_id not in self.apps:
            return _INVALID_APP
        if headers.get("authorization") != self.apps[app_id]:
            return _UNAUTHORIZED
        return None

    def upload(
        self, app_id: str, headers: Mapping[str, str], file_type: object, data: bytes | None
    ) -> Answer:
        """A file posted to the media endpoint (the server reads the multipart form): kept in
        the account, its id answered as Gupshup does (``{"mediaId", "status"}``).
        """
        refused = self._app_refused(app_id, headers)
        if refused is not None:
            return refused
        if data is None:
            return Answer(400, gupshup_error("file is required"))
        try:
            kind = check_upload(file_type, len(data))
        except ValidationError as bad:
            return Answer(400, gupshup_error(str(bad)))
        media_id = self.keep_media(kind, data)
        return Answer(200, _json({"mediaId": media_id, "status": "success"}))

    def set_template_status(self, name: str, language: str, status: str) -> None:
        """A template paused, disabled or approved again: messages naming it are judged so."""
        self.templates = TemplateDefinitions(
            attrs.evolve(d, status=status) if (d.name, d.language) == (name, language) else d
            for d in self.templates
        )

    def marketing_declined(self, to: str, template: str | None, language: str) -> bool:
        """Whether WhatsApp fails this template for this user (131050): a marketing one, to a
        user who stopped marketing messages.
        """
        if template is None or to not in self.account.opted_out:
            return False
        found = self.templates.get(template, language)
        return found is not None and (found.category or "").upper() == "MARKETING"

    def pricing_category(self, template: str | None, language: str | None) -> str:
        """What a message is billed as: its template's category, or ``service`` (a free-form
        message in the window).
        """
        if template is None:
            return "service"
        found = self.templates.get(template, language or "")
        return (found.category or "utility").lower() if found is not None else "utility"

    def keep_media(self, kind: str, data: bytes) -> str:
        """Keep a file (uploaded, or sent by a user) and return its media id."""
        media_id = str(self._ids.getrandbits(52))
        self.account.media[media_id] = (kind, data)
        return media_id

    def _media_file(self, media_id: str) -> Answer:
        found = self.account.media.get(media_id)
        if found is None:
            return Answer(404, gupshup_error("no such media (or it expired)"))
        kind, data = found
        return Answer(200, data, headers=(("Content-Type", kind),))

    def _subscription(
        self,
        method: str,
        app_id: str,
        subscription_id: str | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Answer:
        """Gupshup's subscription API: set (POST, form-encoded), list (GET), remove (DELETE)."""
        refused = self._app_refused(app_id, headers)
        if refused is not None:
            return refused
        subscriptions = self.account.subscriptions
        if method == "GET" and subscription_id is None:
            listed = [_public(s) for s in subscriptions.values()]
            return Answer(200, _json({"status": "success", "subscriptions": listed}))
        if method == "DELETE" and subscription_id is not None:
            if subscriptions.pop(subscription_id, None) is None:
                return Answer(400, gupshup_error("Subscription not found"))
            return Answer(200, _json({"status": "success"}))
        if method != "POST" or subscription_id is not None:
            return _NOT_FOUND
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        url, tag = form.get("url", ""), form.get("tag", "")
        if not url.startswith(("http://", "https://")):
            return Answer(400, gupshup_error("url is invalid"))
        if not tag or any(s["tag"] == tag for s in subscriptions.values()):
            return Answer(400, gupshup_error("tag must be unique for each app"))
        try:
            meta = json.loads(form.get("meta") or "{}")
        except ValueError:
            return Answer(400, gupshup_error("meta must be a JSON object"))
        subscription_id = str(len(subscriptions) + 1 + self._ids.getrandbits(16))
        subscription: dict[str, Any] = {
            "id": subscription_id,
            "url": url,
            "tag": tag,
            "modes": form.get("modes", ""),
            "version": int(form.get("version") or 2),
            "active": True,
            "meta": meta if isinstance(meta, dict) else {},
        }
        subscriptions[subscription_id] = subscription
        return Answer(200, _json({"status": "success", "subscription": _public(subscription)}))

    def _event(self, app_id: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """A read receipt (and typing indicator), as Gupshup's event endpoint takes it."""
        refused = self._app_refused(app_id, headers)
        if refused is not None:
            return refused
        try:
            request = json.loads(body)
            event = request["message"]
            message_id = event["message_id"]
            typing = event.get("typing_indicator")
            well_formed = (
                request.get("type") == "message-event"
                and event.get("messaging_product") == "whatsapp"
                and event.get("status") == "read"
                and isinstance(message_id, str)
                and message_id.strip() != ""
                and (typing is None or typing == {"type": "text"})
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            well_formed = False
        if not well_formed:
            return _invalid("the body is not a message-event marking a message read")
        self.account.read_receipts.append((message_id, typing is not None))
        return Answer(200, _json({"status": "success"}))

    def _template_list(self, app_id: str, headers: Mapping[str, str]) -> Answer:
        refused = self._app_refused(app_id, headers)
        if refused is not None:
            return refused
        listed = [definition.to_gupshup() for definition in self.templates]
        return Answer(200, _json({"status": "success", "templates": listed}))

    def _draw_fault(self) -> str | None:
        if not self._thresholds[-1]:
            return None
        u = self._random.random()
        for kind, threshold in zip(FAULT_KINDS, self._thresholds, strict=True):
            if u < threshold:
                return kind
        return None

    def _over_rate(self, now: float) -> bool:
        if self.rate is None:
            return False
        window = self._window
        while window and now - window[0] >= 1.0:
            window.popleft()
        return len(window) >= self.rate

    def _too_many(self) -> Answer:
        return canned(429, self.retry_after)

    def _check(
        self, body: bytes
    ) -> tuple[Answer | None, str, Mapping[str, Any], Mapping[str, Any]]:
        """Refuse what WhatsApp would; the message's verdict is cached by its JSON."""
        try:
            request = json.loads(body)
            to = normalize_recipient(request["to"] if "to" in request else request["recipient"])
            kind = request.get("type")
            known = kind in ("interactive", "template") or kind in FREE_FORM_TYPES
            message = request[kind if known else "interactive"]
            envelope_ok = (
                request.get("messaging_product") == "whatsapp"
                and request.get("recipient_type", "individual") == "individual"
            )
        except (ValueError, KeyError, TypeError, ValidationError):
            return _invalid("the request body is not a v3 message"), "", {}, {}
        if not envelope_ok:
            return _invalid("messaging_product, recipient_type or type is wrong"), "", {}, {}
        problem = _envelope_problem(request)
        if problem is not None:
            return _invalid(problem), to, message, request
        if self.validate:
            key = body[body.find(b'"type"') :]
            if key not in self._checked:
                if len(self._checked) > 1024:
                    self._checked.clear()
                self._checked[key] = (
                    self._template_verdict(message)
                    if kind == "template"
                    else _free_form_verdict(kind, message)
                    if kind in FREE_FORM_TYPES
                    else _verdict(message)
                )
            refused = self._checked[key]
            if refused is not None:
                return refused, to, message, request
        return None, to, message, request

    def _template_verdict(self, document: object) -> Answer | None:
        try:
            template = parse_template(document)  # type: ignore[arg-type]
        except ValidationError as refused:
            return _invalid(str(refused))
        if not self.check_templates:
            return None
        problems = self.templates.problems(template)
        if not problems:
            return None
        details = "; ".join(str(problem) for problem in problems)
        if problems[0].path in ("template.name", "template.language.code"):
            # A paused or unknown template, or a language it does not exist in.
            return Answer(
                400,
                meta_error(
                    132001, "(#132001) Template name does not exist in the translation", details
                ),
            )
        return Answer(
            400,
            meta_error(
                132000,
                "(#132000) Number of parameters does not match the expected number of params",
                details,
            ),
        )

    def _process(
        self,
        app_id: str,
        to: str,
        message: Mapping[str, Any],
        request: Mapping[str, Any],
        now: float,
    ) -> Answer:
        seq = len(self.account.processed) + 1
        # Gupshup's id is a UUID; Meta's a "wamid." and an opaque base64 string.
        message_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        wamid = "wamid." + base64.b64encode(self._ids.randbytes(24)).decode()
        body = message.get("body") if isinstance(message, Mapping) else None
        text = body.get("text") if isinstance(body, Mapping) else body
        template = request.get("type") == "template"
        interactive = request.get("type", "interactive") == "interactive"
        kind = message.get("type") if interactive else request.get("type")
        outside = self.windows and not template and not self.window_open(to, now)
        context = request.get("context")
        self.account.processed.append(
            Processed(
                seq,
                message_id,
                to,
                str(kind),
                text if isinstance(text, str) else None,
                app_id,
                reply_to=context["message_id"] if isinstance(context, Mapping) else None,
                callback_data=request.get("biz_opaque_callback_data"),
                wamid=wamid,
                template=str(message.get("name")) if template else None,
                language=_language_of(message) if template else None,
                outside_window=outside,
            )
        )
        who = b'"user_id":"%s"' if "recipient" in request else b'"wa_id":"%s"'
        return Answer(
            200,
            b'{"messages":[{"id":"%s"}],"messaging_product":"whatsapp",'
            b'"contacts":[{"input":"%s",%s}]}'
            % (message_id.encode(), to.encode(), who % to.encode()),
        )


def _subscription_of(path: str) -> tuple[str, str | None] | None:
    # /partner/app/{app_id}/subscription[/{id}]
    parts = path.split("?", 1)[0].split("/")
    if parts[1:3] != ["partner", "app"] or len(parts) < 5 or parts[4] != "subscription":
        return None
    if len(parts) == 5:
        return parts[3], None
    return (parts[3], parts[5]) if len(parts) == 6 and parts[5] else None


def _public(subscription: Mapping[str, Any]) -> dict[str, Any]:
    """A subscription as the API shows it: its meta headers (a secret) are not echoed."""
    return {key: value for key, value in subscription.items() if key != "meta"}


def _language_of(template: Mapping[str, Any]) -> str | None:
    language = template.get("language")
    code = language.get("code") if isinstance(language, Mapping) else None
    return code if isinstance(code, str) else None


def _envelope_problem(request: Mapping[str, Any]) -> str | None:
    """What Meta would refuse in the envelope around the message, if anything."""
    data = request.get("biz_opaque_callback_data")
    if data is not None and (not isinstance(data, str) or len(data) > CALLBACK_DATA_MAX):
        return f"biz_opaque_callback_data must be text of at most {CALLBACK_DATA_MAX} characters"
    context = request.get("context")
    if context is not None and not (
        isinstance(context, Mapping) and isinstance(context.get("message_id"), str)
    ):
        return "context must be an object with a message_id"
    return None


def _app_of(path: str, tail: tuple[str, ...] = ("v3", "message")) -> str | None:
    # /partner/app/{app_id}/v3/message, or another endpoint of the app's
    parts = path.split("?", 1)[0].split("/")
    if parts[1:3] == ["partner", "app"] and tuple(parts[4:]) == tail and len(parts) > 4:
        return parts[3] or None
    return None


def _templates_of(path: str) -> str | None:
    # /partner/app/{app_id}/templates
    parts = path.split("?", 1)[0].split("/")
    if len(parts) == 5 and parts[1:3] == ["partner", "app"] and parts[4] == "templates":
        return parts[3] or None
    return None


def _invalid(details: str) -> Answer:
    return Answer(400, meta_error(100, "(#100) Invalid parameter", details))


def _free_form_verdict(kind: str, message: object) -> Answer | None:
    try:
        parse_free_form(kind, message)
    except ValidationError as refused:
        return _invalid(str(refused))
    return None


def _verdict(message: object) -> Answer | None:
    try:
        parse_interactive(message)  # type: ignore[arg-type]
    except ValidationError as refused:
        return _invalid(str(refused))
    return None


# Webhook callbacks (Gupshup's version 3, Meta's envelope) --------------------------------
