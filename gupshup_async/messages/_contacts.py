"""A contacts message: up to five contact cards, as Meta writes them."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._free_form import FreeFormBase
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import copy_extra

#: Meta's OpenAPI ``ContactsMessage``: 1 to 5 contacts.
CONTACTS_MIN: Final = 1
CONTACTS_MAX: Final = 5
#: Ours: Meta states no length for a card's texts.
CARD_TEXT_MAX: Final = 1000

# Each list of a card, and the one field each of its entries must have.
_ENTRIES: Final = {"phones": "phone", "emails": "email", "urls": "url", "addresses": None}
_NAME_PARTS: Final = ("first_name", "last_name", "middle_name", "suffix", "prefix")
_ORG_PARTS: Final = ("company", "department", "title")


def _cards(value: object) -> object:
    """A deep copy, as a tuple: the caller's cards can never change the message later."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        return value
    return tuple(copy.deepcopy(dict(card)) if isinstance(card, Mapping) else card for card in value)


def _texts(out: list[Problem], path: str, obj: Mapping[str, Any], keys: Sequence[str]) -> None:
    for key in keys:
        rules.text(out, f"{path}.{key}", obj.get(key), CARD_TEXT_MAX, required=False)


def _check_card(out: list[Problem], path: str, card: object) -> None:
    if not isinstance(card, Mapping):
        out.append(Problem(path, f"must be a contact card (an object), got {rules.show(card)}"))
        return
    name = card.get("name")
    if not isinstance(name, Mapping):
        out.append(Problem(f"{path}.name", "is required: an object with formatted_name"))
    else:
        rules.text(out, f"{path}.name.formatted_name", name.get("formatted_name"), CARD_TEXT_MAX)
        _texts(out, f"{path}.name", name, _NAME_PARTS)
    for key, needed in _ENTRIES.items():
        if key not in card:
            continue
        entries = card[key]
        if not isinstance(entries, list):
            out.append(Problem(f"{path}.{key}", f"must be a list, got {rules.show(entries)}"))
            continue
        for index, entry in enumerate(entries):
            where = f"{path}.{key}[{index}]"
            if not isinstance(entry, Mapping):
                out.append(Problem(where, f"must be an object, got {rules.show(entry)}"))
            elif needed is not None:
                rules.text(out, f"{where}.{needed}", entry.get(needed), CARD_TEXT_MAX)
    org = card.get("org")
    if org is not None:
        if isinstance(org, Mapping):
            _texts(out, f"{path}.org", org, _ORG_PARTS)
        else:
            out.append(Problem(f"{path}.org", f"must be an object, got {rules.show(org)}"))
    birthday = card.get("birthday")
    if birthday is not None:
        try:
            valid = len(birthday) == 10 and bool(datetime.date.fromisoformat(birthday))
        except (TypeError, ValueError):
            valid = False
        if not valid:
            out.append(
                Problem(f"{path}.birthday", f"must be YYYY-MM-DD, got {rules.show(birthday)}")
            )


def _check_cards(out: list[Problem], path: str, cards: object) -> None:
    if not isinstance(cards, tuple):
        out.append(Problem(path, f"must be a list of contact cards, got {rules.show(cards)}"))
        return
    rules.count(out, path, len(cards), CONTACTS_MIN, CONTACTS_MAX, "contacts")
    for index, card in enumerate(cards):
        _check_card(out, f"{path}[{index}]", card)


@attrs.frozen
class ContactsMessage(FreeFormBase):
    """One to five contact cards, each Meta's contact object: ``name`` (``formatted_name``
    required; ``first_name``, ``last_name``...), and optional ``phones`` (``phone``, ``type``,
    ``wa_id``), ``emails``, ``urls``, ``addresses``, ``org`` and ``birthday`` (YYYY-MM-DD).
    ``ContactsMessage.card("Asha Rao", "+91 98765 43210")`` makes the simplest one.
    """

    contacts: tuple[dict[str, Any], ...] = attrs.field(converter=_cards)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "contacts"

    @classmethod
    def card(cls, name: str, *phones: str, email: str | None = None) -> ContactsMessage:
        """One card: a formatted name, phone numbers, an email."""
        card: dict[str, Any] = {"name": {"formatted_name": name}}
        if phones:
            card["phones"] = [{"phone": phone} for phone in phones]
        if email is not None:
            card["emails"] = [{"email": email}]
        return cls([card])

    def _check(self, out: list[Problem], path: str) -> None:
        _check_cards(out, path, self.contacts)

    def to_json(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The request's ``contacts`` array (a list, not an object, unlike other types)."""
        return copy.deepcopy(list(self.contacts))

    def _fields_json(self) -> JSON:
        raise NotImplementedError  # a list: read and written whole, nothing left over

    @classmethod
    def _read(cls, document: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
        raise NotImplementedError
