"""A campaign's inputs: the items, their recipients, and what identifies each one. Pure.

An item is known by its normalised recipient, the fingerprint of its message's JSON and, with a
journal, how many times that same pair came before it in the input; or by the key its
`Recipient` gives. Never by its position: a resume over re-sorted or edited input finds every
item where it was. A recipient belongs to one shard of a campaign split across processes.
"""

from __future__ import annotations

import contextlib
import hashlib

import attrs

from gupshup_async.errors import GupshupError, ValidationError
from gupshup_async.messages import NO_ENVELOPE, Envelope, Message, normalize_recipient

__all__ = ["Item", "Job", "Recipient", "fingerprint", "in_shard", "job_of", "shard_of"]


@attrs.frozen
class Recipient:
    """A recipient (a phone number or a business-scoped user id) with what goes with this one
    item: a ``key`` of your choosing (a customer id) that names it in outcomes and in the
    journal, so a rerun recognises it; ``reply_to``, the id of the user's message it answers;
    ``callback_data``, your tag echoed in its status webhooks (at most 512 characters).
    """

    to: str
    key: str | None = None
    reply_to: str | None = attrs.field(default=None, kw_only=True)
    callback_data: str | None = attrs.field(default=None, kw_only=True)


#: An item: ``(to, message)``; ``to`` a number or a `Recipient`; ``message`` a message, or the
#: `ValidationError` that making it raised (a bad template row), which becomes its outcome.
Item = tuple["str | Recipient", "Message | ValidationError"]


def fingerprint(message: Message) -> str:
    """A short fingerprint of the exact interactive JSON a message sends."""
    return hashlib.blake2b(message.encoded(), digest_size=8).hexdigest()


@attrs.frozen
class Job:
    """An item made ready to send: its place in the input, its recipient as normalised, its
    identity (``key``), and its message, or why it is refused before sending.
    """

    index: int
    to: str  # normalised, or as given when it could not be
    key: str
    message: Message | None
    error: GupshupError | None  # refused before sending
    fingerprint: str = ""
    envelope: Envelope = NO_ENVELOPE


def job_of(index: int, item: Item, seen: dict[int, int] | None, region: str | None = None) -> Job:
    """The job for an item, with its identity; ``seen`` counts the pairs met so far (kept
    with a journal only, where a deliberate repeat must get a key of its own); ``region``:
    the country of numbers written without their country code.
    """
    try:
        target, message = item
    except (TypeError, ValueError):
        problem = ValidationError.at("item", f"must be a (to, message) pair, got {item!r:.60}")
        return Job(index, "", f"item-{index + 1}", None, problem)
    explicit = target.key if isinstance(target, Recipient) else None
    written = target.to if isinstance(target, Recipient) else target
    if isinstance(message, ValidationError):
        return Job(index, str(written), explicit or f"item-{index + 1}", None, message)
    try:
        to = normalize_recipient(written, region)
    except ValidationError as refused:
        return Job(index, str(written), explicit or f"item-{index + 1}", message, refused)
    if not hasattr(message, "encoded"):
        not_a_message = f"must be a message, got {message!r:.60}"
        problem = ValidationError.at("interactive", not_a_message)
        return Job(index, to, explicit or f"item-{index + 1}", None, problem)
    envelope = NO_ENVELOPE
    if isinstance(target, Recipient) and (target.reply_to or target.callback_data):
        try:
            envelope = Envelope(target.reply_to, target.callback_data)
        except ValidationError as refused:
            return Job(index, to, explicit or f"item-{index + 1}", message, refused)
    print_ = fingerprint(message)
    key = explicit or _content_key(to, print_, seen)
    return Job(index, to, key, message, None, print_, envelope)


def shard_of(recipient: str, shards: int, region: str | None = None) -> int:
    """The shard a recipient belongs to: a stable hash of the number as normalised."""
    with contextlib.suppress(ValidationError):  # a bad number keeps its own hash
        recipient = normalize_recipient(recipient, region)
    digest = hashlib.blake2b(recipient.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def in_shard(item: Item, shard: int, shards: int, region: str | None = None) -> bool:
    try:
        target, _ = item
    except (TypeError, ValueError):
        return shard == 0  # not a pair: reported once, by the first shard
    written = target.to if isinstance(target, Recipient) else target
    return shard_of(str(written), shards, region) == shard


def _content_key(to: str, print_: str, seen: dict[int, int] | None) -> str:
    key = f"{to}:{print_}"
    if seen is None:
        return key
    mark = hash(key)  # an int: a tenth of the memory of the string, for a million items
    before = seen.get(mark, 0)
    seen[mark] = before + 1
    return key if before == 0 else f"{key}#{before + 1}"
