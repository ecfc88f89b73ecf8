"""A reaction: an emoji on a message of the conversation, or removing one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._free_form import FreeFormBase
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import copy_extra

#: Ours: one emoji, with its modifiers (skin tone, joiners), is a few code points; Meta states
#: no length. A longer text is not an emoji.
EMOJI_MAX: Final = 10


def _check_emoji(out: list[Problem], where: str, emoji: object) -> None:
    if not isinstance(emoji, str):
        shown = f"{rules.type_name(emoji)} {rules.show(emoji)}"
        out.append(Problem(where, f"must be an emoji or '' (to remove), got {shown}"))
    elif len(emoji) > EMOJI_MAX or (emoji and not emoji.strip()):
        shown = rules.show(emoji)
        out.append(Problem(where, f"must be one emoji or '' (to remove), got {shown}"))
    elif any(c.isalpha() or c.isspace() for c in emoji):  # digits: keycaps (1️⃣)
        out.append(Problem(where, f"must be an emoji, not text, got {rules.show(emoji)}"))


@attrs.frozen
class ReactionMessage(FreeFormBase):
    """``ReactionMessage(wamid, "👍")`` reacts to the message ``message_id`` names (Meta's id,
    as a webhook gives it); ``ReactionMessage.remove(wamid)`` takes the reaction back (an
    empty emoji). WhatsApp sends no status but ``sent`` for a reaction, and only to a message
    of the last 30 days.
    """

    message_id: str
    emoji: str
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "reaction"

    @classmethod
    def remove(cls, message_id: str) -> ReactionMessage:
        """Remove this business's reaction to ``message_id``."""
        return cls(message_id, "")

    def _check(self, out: list[Problem], path: str) -> None:
        rules.identifier(out, f"{path}.message_id", self.message_id, rules.MEDIA_ID_MAX)
        _check_emoji(out, f"{path}.emoji", self.emoji)

    def _fields_json(self) -> JSON:
        return {"message_id": self.message_id, "emoji": self.emoji}

    @classmethod
    def _read(cls, document: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
        for key in ("message_id", "emoji"):
            if key not in document:
                reader.problem(f"reaction.{key}", "is required")
        return {"message_id": document.get("message_id"), "emoji": document.get("emoji", "")}
