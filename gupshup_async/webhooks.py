"""Inbound webhook events: replies to our buttons and lists, flow answers, locations, other
messages, delivery statuses, and what WhatsApp says of users (a number or user id changed, a
marketing preference) and templates; in Gupshup's version 3 (Meta's envelope) or Gupshup's
own format (version 2, with its billing events). Pure: no I/O.

`parse_events` never raises on a new or unknown event shape (it becomes an `UnknownEvent`
keeping the raw payload); only a body that is not a webhook envelope at all raises
`WebhookError`. Every event has a stable ``identity``: Gupshup retries a callback that was not
acknowledged within 10 seconds, so the same event can arrive twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import attrs

from gupshup_async.errors import WebhookError

__all__ = [
    "FROM_USER",
    "MAX_BODY",
    "MAX_DEPTH",
    "BillingEvent",
    "ButtonReply",
    "CallPermissionReply",
    "ConnectivityCheck",
    "ContactsShared",
    "ErrorNotice",
    "Event",
    "FlowReply",
    "InboundMessage",
    "ListReply",
    "LocationReply",
    "MediaReceived",
    "OrderReceived",
    "ReactionReceived",
    "StatusUpdate",
    "SystemNotice",
    "TemplateButtonReply",
    "TemplateUpdate",
    "UnknownEvent",
    "UnsupportedReceived",
    "UserEvent",
    "UserIdChange",
    "UserPreference",
    "parse_events",
]

#: The largest callback body read: Gupshup's are a few KiB.
MAX_BODY = 1024 * 1024
#: The deepest nesting accepted: Meta's envelope nests about ten levels.
MAX_DEPTH = 64
# A timestamp above this is in milliseconds (seconds reach it in the year 5138).
_MILLISECONDS = 100_000_000_000


@attrs.frozen
class _Inbound:
    """What every inbound message carries. ``timestamp`` is in seconds, whatever unit it came
    in; ``sender`` is the user's WhatsApp id (also in ``phone``) or, for a user known only by
    it, their business-scoped user id; ``user_id`` is that id whenever the message carries it.
    """

    sender: str
    message_id: str
    timestamp: int | None
    context_id: str | None  # Meta's id (wamid) of our message this answers
    user_id: str | None = attrs.field(default=None, kw_only=True)
    #: The user's phone number (WhatsApp id) when the message carries it: a user with a
    #: username may come by user id alone.
    phone: str | None = attrs.field(default=None, kw_only=True)
    #: Their parent business-scoped user id (``US.ENT.…``), for businesses enrolled in them.
    parent_user_id: str | None = attrs.field(default=None, kw_only=True)
    #: The key of the campaign item this answers: filled in by a `Receiver` whose delivery
    #: store knows the message (through ``context_id``; for a template's quick reply that came
    #: without one, the latest message sent to the user).
    item: str | None = attrs.field(default=None, kw_only=True)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("message", self.message_id)


@attrs.frozen
class ButtonReply(_Inbound):
    """A tap on one of our reply buttons: ``id`` is the button's id."""

    id: str = ""
    title: str = ""
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class ListReply(_Inbound):
    """A row picked from one of our lists: ``id`` is the row's id."""

    id: str = ""
    title: str = ""
    description: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class FlowReply(_Inbound):
    """The answer to a flow or an address message: ``response`` is ``response_json`` decoded."""

    name: str | None = None
    body: str | None = None
    response: dict[str, Any] = attrs.field(factory=dict, hash=False)
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class LocationReply(_Inbound):
    """A location the user shared (the answer to a location request)."""

    latitude: float = 0.0
    longitude: float = 0.0
    name: str | None = None
    address: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class TemplateButtonReply(_Inbound):
    """A tap on a template's quick-reply button: ``payload`` is the button's payload."""

    payload: str = ""
    text: str = ""
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class CallPermissionReply(_Inbound):
    """The user's answer to a call permission request; ``expires`` in seconds, if given."""

    accepted: bool = False
    expires: int | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class OrderReceived(_Inbound):
    """An order the user placed from a catalog or product message."""

    catalog_id: str | None = None
    text: str | None = None
    items: list[dict[str, Any]] = attrs.field(factory=list, hash=False)
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class ContactsShared(_Inbound):
    """Contact cards the user shared (also how a number asked for with
    `RequestContactInfoMessage` arrives).
    """

    contacts: list[dict[str, Any]] = attrs.field(factory=list, hash=False)
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class MediaReceived(_Inbound):
    """An image, video, audio (``voice``: a voice note), document or sticker (``animated``)
    the user sent: ``kind`` says which. ``media_id`` is Meta's id of the file, ``url`` the link
    Gupshup adds to fetch it (it expires), ``mime_type``, ``sha256``, ``caption`` and
    ``filename`` as they came.
    """

    kind: str = ""
    media_id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    url: str | None = None
    voice: bool = False
    animated: bool = False
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class ReactionReceived(_Inbound):
    """The user reacted to a message (``reacted_to``, Meta's id) with ``emoji``; an empty
    ``emoji`` takes their reaction back.
    """

    reacted_to: str | None = None
    emoji: str = ""
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def removed(self) -> bool:
        return not self.emoji


@attrs.frozen
class UnsupportedReceived(_Inbound):
    """A message WhatsApp could not pass on (a type the Cloud API does not support): its
    error ``code`` (131051) and ``title``.
    """

    code: int | None = None
    title: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class InboundMessage(_Inbound):
    """Any other message from a user: ``type`` says which (``text``, ``image``, ...)."""

    type: str = ""
    text: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class StatusUpdate:
    """What became of a message we sent: sent, delivered, read, failed, enqueued (or newer)."""

    message_id: str
    status: str
    recipient: str | None
    timestamp: int | None
    gs_id: str | None = None
    error_code: int | None = None
    error_title: str | None = None
    #: The send's ``callback_data`` (Meta's ``biz_opaque_callback_data``), echoed back.
    callback_data: str | None = None
    #: The recipient's business-scoped user id (``recipient_user_id``), when given; a status
    #: addressed by it alone has it in ``recipient`` too.
    user_id: str | None = attrs.field(default=None, kw_only=True)
    #: The recipient's phone number: ``recipient_id``, or the change's ``contacts`` entry for
    #: ``user_id`` when the status names the user id only.
    phone: str | None = attrs.field(default=None, kw_only=True)
    #: The recipient's parent business-scoped user id (``recipient_parent_user_id``).
    parent_user_id: str | None = attrs.field(default=None, kw_only=True)
    #: What the message costs, from the status's ``pricing``: its category (``marketing``,
    #: ``utility``, ``authentication``, ``service``...), whether it is billable, the pricing
    #: model; and the ``conversation`` it opened or belongs to.
    pricing_category: str | None = attrs.field(default=None, kw_only=True)
    billable: bool | None = attrs.field(default=None, kw_only=True)
    pricing_model: str | None = attrs.field(default=None, kw_only=True)
    conversation_id: str | None = attrs.field(default=None, kw_only=True)
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("status", self.message_id, self.status)


@attrs.frozen
class ConnectivityCheck:
    """Gupshup checking that the callback URL answers."""

    raw: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("connectivity-check", json.dumps(self.raw, sort_keys=True, default=str))


@attrs.frozen
class ErrorNotice:
    """An error Meta reports about the account or the webhook itself, not one message."""

    code: int | None
    title: str | None
    raw: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("error", json.dumps(self.raw, sort_keys=True, default=str))


@attrs.frozen
class SystemNotice:
    """A change WhatsApp reports about a user, in a ``system`` message: ``kind`` is
    ``user_changed_number`` (``new_wa_id``: their new number's WhatsApp id; a new number
    also brings a new user id) or ``user_changed_user_id`` (``new_user_id``; no number).
    ``previous_user_id`` and ``previous_parent_user_id`` name the ids that changed, and
    ``new_parent_user_id`` the new parent id. Not a message from the user: it opens no 24-hour
    window.
    """

    sender: str
    message_id: str
    timestamp: int | None
    kind: str
    body: str | None = None
    new_wa_id: str | None = None
    new_user_id: str | None = None
    user_id: str | None = attrs.field(default=None, kw_only=True)
    previous_user_id: str | None = attrs.field(default=None, kw_only=True)
    new_parent_user_id: str | None = attrs.field(default=None, kw_only=True)
    previous_parent_user_id: str | None = attrs.field(default=None, kw_only=True)
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("message", self.message_id)


@attrs.frozen
class UserPreference:
    """A user stopped (``value == "stop"``) or resumed marketing messages (``category``
    ``marketing_messages``): Meta's ``user_preferences`` webhook.
    """

    wa_id: str
    category: str
    value: str
    timestamp: int | None
    detail: str | None = None
    user_id: str | None = attrs.field(default=None, kw_only=True)
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def stopped(self) -> bool:
        return self.value == "stop"

    @property
    def identity(self) -> tuple[str, ...]:
        return ("preference", self.wa_id, self.category, self.value, str(self.timestamp))


@attrs.frozen
class TemplateUpdate:
    """A template's status, quality or category changed (Meta's
    ``message_template_status_update``, ``message_template_quality_update`` and
    ``template_category_update``): ``field`` says which; ``name``, ``language``,
    ``template_id``; ``status`` (``APPROVED``, ``PAUSED``, ``DISABLED``, ``REJECTED``...) and
    ``reason``, or ``previous`` and ``new`` (a quality score or a category).
    """

    field: str
    name: str | None
    language: str | None
    template_id: str | None
    status: str | None = None
    reason: str | None = None
    previous: str | None = None
    new: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("template", json.dumps(self.raw, sort_keys=True, default=str))


@attrs.frozen
class UserIdChange:
    """A user's business-scoped user id changed (Meta's ``user_id_update``):
    ``previous_user_id`` became ``new_user_id`` (and the parent ids likewise); ``wa_id`` is
    their phone number when it may be shared.
    """

    previous_user_id: str | None
    new_user_id: str | None
    timestamp: int | None
    wa_id: str | None = None
    previous_parent_user_id: str | None = None
    new_parent_user_id: str | None = None
    detail: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("user-id", str(self.previous_user_id), str(self.new_user_id), str(self.timestamp))


@attrs.frozen
class BillingEvent:
    """What a message cost, in Gupshup's own format (its ``billing-event``): the message
    (``message_id``, Meta's or Gupshup's id, and ``gs_id``) to ``recipient``; its pricing
    ``category`` (``marketing``, ``utility``, ``authentication``, ``service``...), whether it is
    ``billable``, the pricing ``model`` (``PMP``, or ``CBP`` with a ``conversation_id``).
    """

    message_id: str
    gs_id: str | None
    recipient: str | None
    category: str | None
    billable: bool | None
    model: str | None
    timestamp: int | None
    conversation_id: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("billing", self.message_id, str(self.gs_id))


@attrs.frozen
class UserEvent:
    """A user event in Gupshup's own format (``user-event``): ``kind`` is ``opted-in``,
    ``opted-out`` (Gupshup's opt-in list, not Meta's marketing preference) or
    ``sandbox-start``; ``phone`` is the user's number.
    """

    phone: str
    kind: str
    timestamp: int | None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("user-event", self.phone, self.kind, str(self.timestamp))


@attrs.frozen
class UnknownEvent:
    """A shape this version does not know; ``raw`` keeps it whole."""

    field: str | None
    raw: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("unknown", json.dumps(self.raw, sort_keys=True, default=str))


Event = (
    ButtonReply
    | TemplateButtonReply
    | CallPermissionReply
    | OrderReceived
    | ContactsShared
    | ErrorNotice
    | ListReply
    | FlowReply
    | LocationReply
    | MediaReceived
    | ReactionReceived
    | UnsupportedReceived
    | InboundMessage
    | StatusUpdate
    | SystemNotice
    | UserPreference
    | UserIdChange
    | TemplateUpdate
    | BillingEvent
    | UserEvent
    | ConnectivityCheck
    | UnknownEvent
)


#: An event that is a message from a user: each opens, or keeps open, their 24-hour window.
FromUser = (
    ButtonReply
    | TemplateButtonReply
    | CallPermissionReply
    | OrderReceived
    | ContactsShared
    | ListReply
    | FlowReply
    | LocationReply
    | MediaReceived
    | ReactionReceived
    | UnsupportedReceived
    | InboundMessage
)
FROM_USER: tuple[type[FromUser], ...] = (
    ButtonReply,
    TemplateButtonReply,
    CallPermissionReply,
    OrderReceived,
    ContactsShared,
    ListReply,
    FlowReply,
    LocationReply,
    MediaReceived,
    ReactionReceived,
    UnsupportedReceived,
    InboundMessage,
)


def parse_events(body: bytes | str | Mapping[str, Any]) -> list[Event]:
    """The events in one webhook call, in the order they appear.

    Raises `WebhookError` for a body over `MAX_BODY` bytes, nested deeper than `MAX_DEPTH`,
    not JSON, or not a webhook envelope; any other shape becomes events, never an exception.
    """
    envelope: Any = body
    if isinstance(body, (bytes, str)):
        if len(body) > MAX_BODY:
            raise WebhookError(f"the webhook body is larger than {MAX_BODY} bytes")
        try:
            envelope = json.loads(body)
        except RecursionError:
            raise WebhookError(f"the webhook body is nested deeper than {MAX_DEPTH}") from None
        except ValueError as bad:
            raise WebhookError(f"the webhook body is not JSON: {bad}") from None
    if _deeper_than(envelope, MAX_DEPTH):
        raise WebhookError(f"the webhook body is nested deeper than {MAX_DEPTH}")
    if not isinstance(envelope, Mapping):
        raise WebhookError("the webhook body is not a JSON object")
    if "entry" not in envelope and isinstance(envelope.get("type"), str) and "payload" in envelope:
        return [_gupshup_event(envelope)]
    if envelope.get("field") == "platform-event" or "entry" not in envelope:
        if isinstance(envelope.get("value"), Mapping):
            return list(_change(envelope))
        raise WebhookError("the webhook body has no 'entry' list: not a webhook envelope")
    entries = envelope["entry"]
    if not isinstance(entries, list):
        raise WebhookError("the webhook body's 'entry' is not a list")
    events: list[Event] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        if not isinstance(changes, list):
            events.append(UnknownEvent(None, _as_dict(entry)))
            continue
        for change in changes:
            events.extend(_change(change))
    return events


def _change(change: Any) -> Iterator[Event]:
    if not isinstance(change, Mapping) or not isinstance(change.get("value"), Mapping):
        yield UnknownEvent(None, _as_dict(change))
        return
    field, value = change.get("field"), change["value"]
    if field == "platform-event" and value.get("type") == "connectivity-check":
        yield ConnectivityCheck(_as_dict(value))
        return
    if field in _TEMPLATE_FIELDS:
        yield _template_update(str(field), value)
        return
    contacts = _contacts(value.get("contacts"))
    if field == "user_preferences":
        preferences = _list(value.get("user_preferences"))
        for preference in preferences:
            yield _preference(preference, contacts)
        if not preferences:
            yield UnknownEvent(field, _as_dict(change))
        return
    if field == "user_id_update":
        changes = _list(value.get("user_id_update"))
        for changed in changes:
            yield _user_id_change(changed)
        if not changes:
            yield UnknownEvent(field, _as_dict(change))
        return
    if field != "messages":
        yield UnknownEvent(_text(field), _as_dict(change))
        return
    found = False
    for status in _list(value.get("statuses")):
        found = True
        yield _status(status, contacts)
    for message in _list(value.get("messages")):
        found = True
        yield _message(message, contacts)
    for error in _list(value.get("errors")):
        found = True
        yield _error(error)
    if not found:
        yield UnknownEvent(field, _as_dict(change))


_TEMPLATE_FIELDS = (
    "message_template_status_update",
    "message_template_quality_update",
    "template_category_update",
)


def _template_update(field: str, value: Mapping[str, Any]) -> Event:
    previous = value.get("previous_quality_score", value.get("previous_category"))
    new = value.get("new_quality_score", value.get("new_category"))
    return TemplateUpdate(
        field,
        _text(value.get("message_template_name")),
        _text(value.get("message_template_language")),
        _text(value.get("message_template_id"))
        or _text(str(value.get("message_template_id") or "")),
        status=_text(value.get("event")),
        reason=_text(value.get("reason")),
        previous=_text(previous),
        new=_text(new),
        raw=_as_dict(value),
    )


def _id(value: Any) -> str | None:
    """An id Meta writes as a number or as a string."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return str(value) or None


def _preference(preference: Any, contacts: Mapping[str, _Contact]) -> Event:
    if not isinstance(preference, Mapping) or not _text(preference.get("wa_id")):
        return UnknownEvent("user_preferences", _as_dict(preference))
    wa_id = str(preference["wa_id"])
    return UserPreference(
        wa_id,
        _text(preference.get("category")) or "unknown",
        _text(preference.get("value")) or "unknown",
        _seconds(preference.get("timestamp")),
        _text(preference.get("detail")),
        user_id=_text(preference.get("user_id")) or contacts.get(wa_id, _NOBODY).user_id,
        raw=_as_dict(preference),
    )


def _user_id_change(changed: Any) -> Event:
    if not isinstance(changed, Mapping):
        return UnknownEvent("user_id_update", _as_dict(changed))
    user_id, parent = changed.get("user_id"), changed.get("parent_user_id")
    user_id = user_id if isinstance(user_id, Mapping) else {}
    parent = parent if isinstance(parent, Mapping) else {}
    previous, new = _text(user_id.get("previous")), _text(user_id.get("current"))
    if previous is None and new is None:
        return UnknownEvent("user_id_update", _as_dict(changed))
    return UserIdChange(
        previous,
        new,
        _seconds(changed.get("timestamp")),
        _text(changed.get("wa_id")),
        _text(parent.get("previous")),
        _text(parent.get("current")),
        _text(changed.get("detail")),
        raw=_as_dict(changed),
    )


class _Contact(NamedTuple):
    """A user as the change's ``contacts`` entry names them."""

    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None


_NOBODY = _Contact(None, None, None)


def _contacts(contacts: Any) -> dict[str, _Contact]:
    """Each entry of the change's ``contacts``, by each id it names (wa_id, user id)."""
    found: dict[str, _Contact] = {}
    for contact in _list(contacts):
        if isinstance(contact, Mapping):
            named = _Contact(
                _text(contact.get("wa_id")),
                _text(contact.get("user_id")),
                _text(contact.get("parent_user_id")),
            )
            for key in (named.user_id, named.wa_id):
                if key:
                    found[key] = named
    return found


def _error(error: Any) -> Event:
    if not isinstance(error, Mapping):
        return UnknownEvent("messages", _as_dict(error))
    title = _text(error.get("title")) or _text(error.get("message"))
    return ErrorNotice(_int(error.get("code")), title, _as_dict(error))


def _status(status: Any, contacts: Mapping[str, _Contact]) -> Event:
    if not isinstance(status, Mapping) or not _text(status.get("id")):
        return UnknownEvent("messages", _as_dict(status))
    code, title = _int(status.get("code")), _text(status.get("reason"))
    errors = _list(status.get("errors"))
    if errors and isinstance(errors[0], Mapping):
        first = errors[0]
        code = code if code is not None else _int(first.get("code"))
        title = title or _text(first.get("title")) or _text(first.get("message"))
    pricing = status.get("pricing")
    pricing = pricing if isinstance(pricing, Mapping) else {}
    conversation = status.get("conversation")
    conversation = conversation if isinstance(conversation, Mapping) else {}
    billable = pricing.get("billable")
    user_id = _text(status.get("recipient_user_id"))
    phone = _text(status.get("recipient_id"))
    known = contacts.get(user_id or phone or "", _NOBODY)
    return StatusUpdate(
        message_id=str(status["id"]),
        status=_text(status.get("status")) or "unknown",
        recipient=phone or user_id,
        user_id=user_id,
        phone=phone or known.wa_id,
        parent_user_id=_text(status.get("recipient_parent_user_id")) or known.parent_user_id,
        pricing_category=_text(pricing.get("category")),
        billable=billable if isinstance(billable, bool) else None,
        pricing_model=_text(pricing.get("pricing_model")),
        conversation_id=_text(conversation.get("id")),
        timestamp=_seconds(status.get("timestamp")),
        gs_id=_text(status.get("gs_id")),
        error_code=code,
        error_title=title,
        callback_data=_text(status.get("biz_opaque_callback_data")),
        raw=_as_dict(status),
    )


def _message(message: Any, contacts: Mapping[str, _Contact]) -> Event:
    if not isinstance(message, Mapping) or not _text(message.get("id")):
        return UnknownEvent("messages", _as_dict(message))
    phone = _text(message.get("from"))
    user_id = _text(message.get("from_user_id")) or contacts.get(phone or "", _NOBODY).user_id
    if not phone and not user_id:  # never an event from nobody
        return UnknownEvent("messages", _as_dict(message))
    context = message.get("context")
    known = contacts.get(user_id or phone or "", _NOBODY)
    parent = _text(message.get("from_parent_user_id")) or known.parent_user_id
    common: dict[str, Any] = {
        "sender": phone or user_id,
        "user_id": user_id,
        "phone": phone,
        "parent_user_id": parent,
        "message_id": str(message["id"]),
        "timestamp": _seconds(message.get("timestamp")),
        "context_id": _text(context.get("id")) if isinstance(context, Mapping) else None,
        "raw": _as_dict(message),
    }
    kind = message.get("type")
    if kind == "system" and isinstance(message.get("system"), Mapping):
        system = message["system"]
        kind = _text(system.get("type")) or "unknown"
        new_user_id = _text(system.get("new_user_id")) or _text(system.get("user_id"))
        previous = _text(system.get("previous_user_id"))
        if previous is None and user_id != new_user_id:
            previous = user_id  # the message comes from the id that changed
        return SystemNotice(
            common["sender"],
            common["message_id"],
            common["timestamp"],
            kind,
            _text(system.get("body")),
            _text(system.get("new_wa_id")) or _text(system.get("wa_id")),
            new_user_id,
            user_id=common["user_id"],
            previous_user_id=previous,
            new_parent_user_id=_text(system.get("parent_user_id")),
            previous_parent_user_id=_text(system.get("previous_parent_user_id")),
            raw=common["raw"],
        )
    if kind == "button" and isinstance(message.get("button"), Mapping):
        button = message["button"]
        return TemplateButtonReply(
            **common,
            payload=_text(button.get("payload")) or "",
            text=_text(button.get("text")) or "",
        )
    if kind == "order" and isinstance(message.get("order"), Mapping):
        order = message["order"]
        items = [dict(i) for i in _list(order.get("product_items")) if isinstance(i, Mapping)]
        return OrderReceived(
            **common,
            catalog_id=_text(order.get("catalog_id")),
            text=_text(order.get("text")),
            items=items,
        )
    if kind == "contacts":
        cards = [dict(c) for c in _list(message.get("contacts")) if isinstance(c, Mapping)]
        return ContactsShared(**common, contacts=cards)
    if kind == "interactive" and isinstance(message.get("interactive"), Mapping):
        interactive = message["interactive"]
        reply_kind = interactive.get("type")
        reply = interactive.get(reply_kind) if isinstance(reply_kind, str) else None
        if isinstance(reply, Mapping):
            if reply_kind == "button_reply":
                return ButtonReply(
                    **common, id=_text(reply.get("id")) or "", title=_text(reply.get("title")) or ""
                )
            if reply_kind == "list_reply":
                return ListReply(
                    **common,
                    id=_text(reply.get("id")) or "",
                    title=_text(reply.get("title")) or "",
                    description=_text(reply.get("description")),
                )
            if reply_kind == "call_permission_reply":
                return CallPermissionReply(
                    **common,
                    accepted=reply.get("response") == "accept",
                    expires=_seconds(reply.get("expiration_timestamp")),
                )
            if reply_kind == "nfm_reply":
                return FlowReply(
                    **common,
                    name=_text(reply.get("name")),
                    body=_text(reply.get("body")),
                    response=_decoded(reply.get("response_json")),
                )
    if kind == "location" and isinstance(message.get("location"), Mapping):
        where = message["location"]
        latitude, longitude = _float(where.get("latitude")), _float(where.get("longitude"))
        if latitude is not None and longitude is not None:
            return LocationReply(
                **common,
                latitude=latitude,
                longitude=longitude,
                name=_text(where.get("name")),
                address=_text(where.get("address")),
            )
    if kind in _MEDIA_KINDS and isinstance(message.get(kind), Mapping):
        media = message[kind]
        return MediaReceived(
            **common,
            kind=str(kind),
            media_id=_text(media.get("id")),
            mime_type=_text(media.get("mime_type")),
            sha256=_text(media.get("sha256")),
            caption=_text(media.get("caption")),
            filename=_text(media.get("filename")),
            url=_text(media.get("url")),
            voice=media.get("voice") is True,
            animated=media.get("animated") is True,
        )
    if kind == "reaction" and isinstance(message.get("reaction"), Mapping):
        reaction = message["reaction"]
        emoji = reaction.get("emoji")
        return ReactionReceived(
            **common,
            reacted_to=_text(reaction.get("message_id")),
            emoji=emoji if isinstance(emoji, str) else "",
        )
    if kind == "unsupported":
        errors = _list(message.get("errors"))
        first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
        return UnsupportedReceived(
            **common, code=_int(first.get("code")), title=_text(first.get("title"))
        )
    text = message.get("text")
    body = _text(text.get("body")) if isinstance(text, Mapping) else None
    return InboundMessage(**common, type=_text(kind) or "unknown", text=body)


_MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")


def _gupshup_event(envelope: Mapping[str, Any]) -> Event:
    """An event in Gupshup's own format (``{"app", "version": 2, "type", "payload"}``): what
    an app subscribed with version 2 receives, typed as its version-3 twin would be.
    """
    kind, payload = envelope.get("type"), envelope.get("payload")
    if not isinstance(payload, Mapping):
        return UnknownEvent(_text(kind), _as_dict(envelope))
    inner = payload.get("payload")
    inner = inner if isinstance(inner, Mapping) else {}
    at = _seconds(envelope.get("timestamp"))
    if kind == "message-event" and _text(payload.get("id")):
        own_id = str(payload["id"])
        return StatusUpdate(
            message_id=_text(inner.get("whatsappMessageId")) or own_id,
            status=_text(payload.get("type")) or "unknown",
            recipient=_text(payload.get("destination")),
            phone=_text(payload.get("destination")),
            timestamp=_seconds(inner.get("ts")) or at,
            gs_id=_text(payload.get("gsId")) or own_id,
            error_code=_int(inner.get("code")),
            error_title=_text(inner.get("reason")),
            raw=_as_dict(envelope),
        )
    if kind == "billing-event":
        billing = _billing(payload, at, envelope)
        if billing is not None:
            return billing
    if kind == "user-event" and _text(payload.get("phone")):
        return UserEvent(
            str(payload["phone"]),
            _text(payload.get("type")) or "unknown",
            at,
            raw=_as_dict(envelope),
        )
    if kind == "message":
        event = _gupshup_message(payload, inner, at)
        if event is not None:
            return event
    return UnknownEvent(_text(kind), _as_dict(envelope))


def _billing(
    payload: Mapping[str, Any], at: int | None, envelope: Mapping[str, Any]
) -> BillingEvent | None:
    deductions, references = payload.get("deductions"), payload.get("references")
    if not isinstance(deductions, Mapping) or not isinstance(references, Mapping):
        return None
    message_id = _text(references.get("id")) or _text(references.get("gsId"))
    if not message_id:
        return None
    billable = deductions.get("billable")
    if billable in ("true", "false"):  # the older format wrote it as a string
        billable = billable == "true"
    return BillingEvent(
        message_id,
        _text(references.get("gsId")),
        _text(references.get("destination")),
        # Per-message pricing names the category; conversation pricing put it in ``type``.
        _text(deductions.get("category")) or _text(deductions.get("type")),
        billable if isinstance(billable, bool) else None,
        _text(deductions.get("model")),
        at,
        _text(references.get("conversationId")),
        raw=_as_dict(envelope),
    )


#: Gupshup's names of media messages, and Meta's.
_GUPSHUP_MEDIA = {"image": "image", "video": "video", "audio": "audio", "file": "document"}
_GUPSHUP_MEDIA |= {"sticker": "sticker"}


def _gupshup_message(
    payload: Mapping[str, Any], inner: Mapping[str, Any], at: int | None
) -> Event | None:
    sender = payload.get("sender")
    sender = sender if isinstance(sender, Mapping) else {}
    phone = _text(sender.get("phone")) or _text(payload.get("source"))
    if not phone or not _text(payload.get("id")):
        return None
    context = payload.get("context")
    common: dict[str, Any] = {
        "sender": phone,
        "phone": phone,
        "message_id": str(payload["id"]),
        "timestamp": at,
        "context_id": _text(context.get("id")) if isinstance(context, Mapping) else None,
        "raw": dict(payload),
    }
    kind = payload.get("type")
    if kind in ("button_reply", "list_reply"):
        chosen = _text(inner.get("postbackText")) or _text(inner.get("id")) or ""
        if kind == "button_reply":
            return ButtonReply(**common, id=chosen, title=_text(inner.get("title")) or "")
        return ListReply(
            **common,
            id=chosen,
            title=_text(inner.get("title")) or "",
            description=_text(inner.get("description")),
        )
    if kind == "quick_reply":
        text = _text(inner.get("text")) or ""
        return TemplateButtonReply(**common, payload=_text(inner.get("payload")) or text, text=text)
    if kind == "location":
        latitude, longitude = _float(inner.get("latitude")), _float(inner.get("longitude"))
        if latitude is not None and longitude is not None:
            return LocationReply(
                **common,
                latitude=latitude,
                longitude=longitude,
                name=_text(inner.get("name")),
                address=_text(inner.get("address")),
            )
    if kind in _GUPSHUP_MEDIA:
        return MediaReceived(
            **common,
            kind=_GUPSHUP_MEDIA[str(kind)],
            media_id=_text(inner.get("id")),
            mime_type=_text(inner.get("contentType")),
            caption=_text(inner.get("caption")),
            filename=_text(inner.get("name")),
            url=_text(inner.get("url")),
        )
    if kind == "contact":
        cards = [dict(c) for c in _list(inner.get("contacts")) if isinstance(c, Mapping)]
        return ContactsShared(**common, contacts=cards)
    body = _text(inner.get("text")) if kind == "text" else None
    return InboundMessage(**common, type=_text(kind) or "unknown", text=body)


def _decoded(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {"value": value}


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _seconds(value: Any) -> int | None:
    """A timestamp in seconds: Gupshup sends seconds or milliseconds."""
    number = _int(value)
    if number is not None and number > _MILLISECONDS:
        return number // 1000
    return number


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
