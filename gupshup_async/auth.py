"""Where the app token comes from: a fixed string, or a provider that can fetch a new one.

The client asks a `TokenProvider` for the token before each request and, when the server
answers 401, asks it once to ``refresh``; a provider that cannot (a fixed token) says None and
the 401 stands. A provider serialises its own refreshes, so many tasks that see the same 401
cause one refresh between them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["StaticToken", "TokenProvider", "mask"]


@runtime_checkable
class TokenProvider(Protocol):
    async def token(self) -> str:
        """The token to send now."""

    async def refresh(self, rejected: str) -> str | None:
        """A token to replace ``rejected`` after a 401, or None when there is none to get.

        ``rejected`` tells a provider whether another task has already refreshed it.
        """


def mask(secret: str) -> str:
    """A secret as reprs and logs may show it: never more than its first four characters."""
    return f"{secret[:4]}…" if len(secret) > 12 else "…"


class StaticToken:
    """A fixed app token. It cannot be refreshed: a 401 is final."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("the app token must be a non-empty string")
        self._token = token

    async def token(self) -> str:
        return self._token

    async def refresh(self, rejected: str) -> str | None:
        return None

    def __repr__(self) -> str:
        return f"StaticToken({mask(self._token)!r})"
