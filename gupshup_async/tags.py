"""The tag each request carries so that its status webhooks name it. Pure.

A tag goes out as Meta's ``biz_opaque_callback_data`` and comes back, as given, in every status
of the message that request made. It names a send (a campaign and an item's key, or a client and
one `send`) and the attempt: ``<campaign>/<key>`` for the first attempt (the form campaigns have
always used), ``<campaign>:<n>/<key>`` for attempt ``n``. One tag per attempt is what lets a
status say *which* request went out: the one whose answer never came (the send succeeded, no
retry needed), or a retry as well (the recipient has it twice, and that is counted, not guessed).
"""

from __future__ import annotations

import attrs

from gupshup_async.messages import CALLBACK_DATA_MAX

__all__ = ["Tag"]


def _plain(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or "/" in value or ":" in value:
        raise ValueError(f"a tag's {attribute.name} must be non-empty, without '/' or ':'")


@attrs.frozen
class Tag:
    """One attempt of one send: ``str(tag)`` is the callback data it carries."""

    campaign: str = attrs.field(validator=_plain)
    key: str = attrs.field(validator=attrs.validators.min_len(1))
    attempt: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def __str__(self) -> str:
        if self.attempt == 1:
            return f"{self.campaign}/{self.key}"
        return f"{self.campaign}:{self.attempt}/{self.key}"

    @property
    def fits(self) -> bool:
        """Whether it fits in ``biz_opaque_callback_data`` (512 characters) at any attempt."""
        return len(f"{self.campaign}:{10**6}/{self.key}") <= CALLBACK_DATA_MAX

    def at(self, attempt: int) -> Tag:
        """The same send's tag at attempt number ``attempt``."""
        return attrs.evolve(self, attempt=attempt)

    def upto(self, attempt: int) -> list[str]:
        """The callback data of this send's attempts 1 to ``attempt``."""
        return [str(self.at(n)) for n in range(1, attempt + 1)]

    @classmethod
    def parse(cls, text: str | None) -> Tag | None:
        """The tag ``text`` is, or None for callback data that is not one of ours."""
        if not text:
            return None
        head, slash, key = text.partition("/")
        if not slash or not key:
            return None
        campaign, colon, number = head.partition(":")
        if not campaign:
            return None
        attempt = 1
        if colon:
            if not number.isdigit() or number.startswith("0") or int(number) < 2:
                return None
            attempt = int(number)
        return cls(campaign, key, attempt)
