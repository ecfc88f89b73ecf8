"""The app's template list, fetched through the client's exchange: cached, one fetch at a time,
a failing list asked again only after a pause (the endpoint allows 10 calls a minute).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from gupshup_async._http import Exchange, token_headers
from gupshup_async.auth import TokenProvider, fresh_token
from gupshup_async.errors import APIError, AuthenticationError, GupshupError
from gupshup_async.template_definitions import TemplateDefinitions

__all__ = ["TemplateList"]

logger = logging.getLogger("gupshup_async")

# After a failed fetch, how long before the next is tried (the endpoint allows 10 calls a
# minute: a campaign of template items must not spend them on retries).
_FETCH_PAUSE = 60.0
# A template list is a few KiB per template; an answer beyond this is not one.
_TEMPLATE_LIST_MAX = 32 * 1024 * 1024


class TemplateList:
    """``GET /partner/app/{app_id}/templates`` for one app, behind a cache."""

    def __init__(
        self, exchange: Exchange, provider: TokenProvider, url: str, *, max_age: float
    ) -> None:
        self._exchange = exchange
        self._provider = provider
        self._url = url
        self.max_age = max_age
        self._fetched: tuple[float, TemplateDefinitions] | None = None
        self._failed: tuple[float, GupshupError] | None = None
        self._fetching = asyncio.Lock()

    @property
    def cached(self) -> TemplateDefinitions | None:
        """The definitions last fetched, however old (None: none yet)."""
        return self._fetched[1] if self._fetched is not None else None

    async def get(self, max_age: float | None = None) -> TemplateDefinitions:
        """The list, fetched at most once per ``max_age`` seconds (default: the list's own)."""
        max_age = self.max_age if max_age is None else max_age
        async with self._fetching:
            now = time.monotonic()
            fetched, failed = self._fetched, self._failed
            if fetched is not None and now - fetched[0] < max_age:
                return fetched[1]
            if failed is not None and now < failed[0]:
                if fetched is not None:
                    return fetched[1]
                raise failed[1]
            try:
                definitions = await self._fetch()
            except GupshupError as error:
                pause = getattr(error, "retry_after", None) or _FETCH_PAUSE
                self._failed = (time.monotonic() + pause, error)
                if fetched is None:
                    raise
                logger.warning(
                    "the template list could not be fetched (%s): using the one from %.0f s ago",
                    type(error).__name__,
                    time.monotonic() - fetched[0],
                )
                return fetched[1]
            self._fetched, self._failed = (time.monotonic(), definitions), None
            return definitions

    async def _fetch(self) -> TemplateDefinitions:
        token = await self._provider.token()
        try:
            return await self._fetch_with(token)
        except AuthenticationError as error:
            fresh = await fresh_token(self._provider, error, token)
            if fresh is None:
                raise
            return await self._fetch_with(fresh)

    async def _fetch_with(self, token: str) -> TemplateDefinitions:
        # A GET that times out sent no message: not ambiguous, whatever a send would be.
        answer = await self._exchange.send(
            "GET",
            self._url,
            headers=token_headers(token),
            limit=_TEMPLATE_LIST_MAX,
            ambiguous=False,
            secret=token,
        )
        if answer.status != 200:
            raise answer.refusal()
        try:
            found = TemplateDefinitions.from_json(json.loads(answer.content), strict=False)
        except (ValueError, RecursionError) as bad:
            raise APIError(
                f"the template list cannot be read: {bad}",
                status_code=200,
                body=answer.content[:200].decode("utf-8", "replace"),
            ) from None
        if found.unreadable:
            logger.warning(
                "%d templates of the app's list cannot be read; messages naming them are not "
                "checked: %s",
                len(found.unreadable),
                ", ".join(sorted(found.unreadable)),
            )
        return found
