"""The app's webhook subscriptions, as Gupshup's subscription API gives them. Pure.

A version-3 subscription posts Meta's envelope (what `parse_events` and the `Receiver` read) to
its URL, with its ``meta`` headers (the shared secret the receiver checks) on every callback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import attrs

from gupshup_async.errors import APIError, ValidationError

__all__ = ["DEFAULT_MODES", "Subscription", "check_url", "read_subscription", "read_subscriptions"]

#: What a subscription sends by default: the user's messages and every status of ours. Gupshup
#: lists the modes a subscription takes; ``OTHERS`` carries the account and template events.
DEFAULT_MODES: Final = ("MESSAGE", "ENQUEUED", "SENT", "DELIVERED", "READ", "FAILED", "OTHERS")


@attrs.frozen
class Subscription:
    """One webhook subscription of the app. Its ``meta`` headers (a secret) are never kept."""

    id: str
    url: str
    tag: str | None
    modes: tuple[str, ...]
    version: int | None
    active: bool


def check_url(url: object) -> str:
    """The callback URL, if it is an absolute http(s) one (Gupshup requires https in
    production; http is for local tests); else a `ValidationError` at ``url``.
    """
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValidationError.at("url", f"must be an absolute https:// URL, got {url!r}")
    if any(c.isspace() for c in url) or "://" not in url or not url.split("://", 1)[1]:
        raise ValidationError.at("url", f"must be an absolute https:// URL, got {url!r}")
    return url


def read_subscription(status: int, content: bytes) -> Subscription:
    """The subscription a successful set answers with."""
    data = _data(status, content)
    found = data.get("subscription")
    if not isinstance(found, Mapping):
        raise _unreadable(status, content)
    return _subscription(found, status, content)


def read_subscriptions(status: int, content: bytes) -> list[Subscription]:
    """The subscriptions a list answers with."""
    data = _data(status, content)
    found = data.get("subscriptions")
    if not isinstance(found, list):
        raise _unreadable(status, content)
    return [_subscription(s, status, content) for s in found if isinstance(s, Mapping)]


def _subscription(found: Mapping[str, Any], status: int, content: bytes) -> Subscription:
    if found.get("id") is None or not isinstance(found.get("url"), str):
        raise _unreadable(status, content)
    modes = found.get("modes")
    if isinstance(modes, str):
        listed = tuple(m for m in modes.split(",") if m)
    elif isinstance(modes, list):
        listed = tuple(str(m) for m in modes)
    else:
        listed = ()
    version = found.get("version")
    return Subscription(
        str(found["id"]),
        found["url"],
        found.get("tag") if isinstance(found.get("tag"), str) else None,
        listed,
        int(version) if isinstance(version, (int, str)) and str(version).isdigit() else None,
        found.get("active") is not False,
    )


def _data(status: int, content: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(content)
    except ValueError:
        raise _unreadable(status, content) from None
    if not isinstance(data, Mapping):
        raise _unreadable(status, content)
    if data.get("status") == "error":
        said = data.get("message")
        raise APIError(f"refused: {said}", status_code=status, body=_shown(content))
    return data


def _unreadable(status: int, content: bytes) -> APIError:
    return APIError(
        "the subscription API's answer cannot be read", status_code=status, body=_shown(content)
    )


def _shown(content: bytes) -> str:
    return content[:200].decode("utf-8", "replace")
