"""One person, several ids: a phone number (WhatsApp id), a business-scoped user id
(``US.13491208655302741918``) and, for businesses enrolled in them, a parent user id
(``US.ENT.11815799212886844830``). Webhooks show which ids go together (`links`) and when a
user's id changes (`moves`); the window and delivery stores use both, so that a person is
known by whichever id a send or a status names. Pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from gupshup_async.webhooks import (
    FROM_USER,
    Event,
    StatusUpdate,
    SystemNotice,
    UserIdChange,
    UserPreference,
)

__all__ = ["People", "links", "moves"]


def links(events: Iterable[Event]) -> list[tuple[str, str]]:
    """``(id, other id)`` for each pair of ids the events show to be one person: a phone
    number and a user id, a user id and a parent user id. A number change links the new ids.
    """
    found: list[tuple[str, str]] = []
    for event in events:
        ids: tuple[str | None, ...]
        if isinstance(event, StatusUpdate) or isinstance(event, FROM_USER):  # noqa: SIM101 (mypy narrows each)
            ids = (event.phone, event.user_id, event.parent_user_id)
        elif isinstance(event, UserPreference):
            ids = (event.wa_id, event.user_id, None)
        elif isinstance(event, UserIdChange):
            ids = (event.wa_id, event.new_user_id, event.new_parent_user_id)
        elif isinstance(event, SystemNotice):
            ids = (event.new_wa_id, event.new_user_id, event.new_parent_user_id)
        else:
            continue
        known = [i for i in dict.fromkeys(ids) if i]
        found.extend(itertools.combinations(known, 2))
    return found


def moves(events: Iterable[Event]) -> list[tuple[str, str]]:
    """``(old, new)`` for each id a user left: their number (``user_changed_number``), their
    user id or parent user id (a number change, ``user_changed_user_id``, ``user_id_update``).
    What is known of them goes with them.
    """
    found: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, SystemNotice):
            pairs = [
                (event.previous_user_id, event.new_user_id),
                (event.previous_parent_user_id, event.new_parent_user_id),
            ]
            if event.kind == "user_changed_number" and event.sender != event.user_id:
                pairs.insert(0, (event.sender, event.new_wa_id))  # from the old number
        elif isinstance(event, UserIdChange):
            pairs = [
                (event.previous_user_id, event.new_user_id),
                (event.previous_parent_user_id, event.new_parent_user_id),
            ]
        else:
            continue
        found.extend((old, new) for old, new in pairs if old and new and old != new)
    return found


class People:
    """The ids known to be one person, in memory: ``people.link(phone, user_id)``, then
    ``people.ids_of(either)`` is both. A move (`move`) links the new id and forgets the old.
    """

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: dict[str, frozenset[str]] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def ids_of(self, some_id: str) -> frozenset[str]:
        """``some_id`` and every id linked to it."""
        return self._groups.get(some_id) or frozenset((some_id,))

    def link(self, one: str, other: str) -> None:
        group = self.ids_of(one) | self.ids_of(other)
        for member in group:
            self._groups[member] = group

    def move(self, old: str, new: str) -> None:
        """``old`` is no longer this person's: its links go to ``new``."""
        group = (self.ids_of(old) - {old}) | self.ids_of(new)
        self._groups.pop(old, None)
        for member in group:
            self._groups[member] = group

    def learn(self, events: Iterable[Event]) -> None:
        events = list(events)
        for one, other in links(events):
            self.link(one, other)
        for old, new in moves(events):
            self.move(old, new)
