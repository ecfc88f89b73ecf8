"""The exception tree. Pure: no I/O.

    GupshupError
    ├── ValidationError (also a ValueError)   refused on our side, nothing was sent
    ├── APIError                              the server answered with an error
    │   ├── AuthenticationError               401, 403: bad or expired token
    │   ├── BillingNotEnabledError            400: callback billing is off for the app
    │   ├── InvalidAppError                   400: the app id is unknown
    │   ├── AppNotOnCloudError                400: the app is not on Meta's Cloud API
    │   ├── RateLimitError                    429, Meta 4 / 80007 / 130429 / 131056
    │   └── ServerError                       5xx, Meta 1 / 2 / 131000 / 131016 / 131057
    ├── TransportError                        connect, timeout, protocol: no answer was read
    ├── NotAttempted                          a campaign stopped before this item's turn
    └── JournalError (also a ValueError)      a journal that does not fit this campaign

Every error says whether a retry is worth it (``transient``) and whether the message may have
gone out all the same (``ambiguous``). A ``ValidationError`` is neither. Which answer becomes
which error is decided in answers.py.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "APIError",
    "AppNotOnCloudError",
    "AuthenticationError",
    "BillingNotEnabledError",
    "GupshupError",
    "InvalidAppError",
    "JournalError",
    "NotAttempted",
    "Problem",
    "RateLimitError",
    "ServerError",
    "TransportError",
    "ValidationError",
]


class GupshupError(Exception):
    """Base class of every error this library raises."""

    #: Worth retrying: the same request may succeed later.
    transient: bool = False
    #: The message may have been accepted although no success was read.
    ambiguous: bool = False
    #: Requests made for this send before giving up (0: refused before sending).
    attempts: int = 0
    #: Of those, how many ended without knowing whether the message went out.
    ambiguous_attempts: int = 0


@attrs.frozen
class Problem:
    """One thing wrong with a request, and where: a path into the request body."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ValidationError(GupshupError, ValueError):
    """The request was refused before sending: it breaks a rule WhatsApp enforces.

    ``errors`` lists every problem found, so a template is fixed in one pass; ``path`` is the
    first one's place in the request body, e.g. ``interactive.action.buttons[2].reply.title``.
    """

    errors: tuple[Problem, ...]

    def __init__(self, errors: Iterable[Problem]) -> None:
        self.errors = tuple(errors)
        if not self.errors:
            raise ValueError("ValidationError needs at least one problem")
        super().__init__(_summarise(self.errors))

    @classmethod
    def at(cls, path: str, message: str) -> ValidationError:
        """An error with a single problem."""
        return cls([Problem(path, message)])

    @property
    def path(self) -> str:
        return self.errors[0].path

    def __reduce__(self) -> tuple[type[ValidationError], tuple[tuple[Problem, ...]]]:
        return (type(self), (self.errors,))


def _summarise(errors: tuple[Problem, ...]) -> str:
    if len(errors) == 1:
        return str(errors[0])
    lines = "\n".join(f"  {problem}" for problem in errors)
    return f"{len(errors)} problems:\n{lines}"


class APIError(GupshupError):
    """The server answered, and not with success.

    ``status_code`` is the HTTP status; ``body`` the answer as text (cut at 4 KiB, undecodable
    bytes replaced); ``message`` what it says went wrong; ``code`` the Meta error code when the
    answer carries one; ``retry_after`` the wait the server asked for, in seconds, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        code: int | None = None,
        retry_after: float | None = None,
        transient: bool | None = None,
        ambiguous: bool | None = None,
    ) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.message = message
        self.status_code = status_code
        self.body = body
        self.code = code
        self.retry_after = retry_after
        if transient is not None:
            self.transient = transient
        if ambiguous is not None:
            self.ambiguous = ambiguous


class AuthenticationError(APIError):
    """401 or 403, or Meta's 190: the token is wrong, expired or lacks the right."""


class BillingNotEnabledError(APIError):
    """Callback billing is not enabled for the app: fix the app's set-up, then send again."""


class InvalidAppError(APIError):
    """Gupshup does not know the app id."""


class AppNotOnCloudError(APIError):
    """The app is on-premise, not on Meta's Cloud API, which this endpoint requires."""


class RateLimitError(APIError):
    """Too many requests: for the app (429, Meta 4, 80007, 130429) or, when ``recipient_only``,
    for one recipient (Meta 131056, the pair rate limit; other recipients are unaffected).
    """

    transient = True

    @property
    def recipient_only(self) -> bool:
        return self.code == PAIR_RATE_LIMIT


class ServerError(APIError):
    """The server failed (5xx, or Meta's 1, 2, 131000, 131016, 131057): worth a retry later."""

    transient = True


class TransportError(GupshupError):
    """No answer was read: the connection failed, timed out, or broke the protocol.

    ``ambiguous`` is true when the request had been written in full before it broke (a read
    timeout, a connection dropped while waiting for the answer): the message may have gone out.
    """

    transient = True

    def __init__(self, message: str, *, ambiguous: bool) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


class NotAttempted(GupshupError):
    """A campaign stopped, on an error that would fail every item (``cause``), before this
    item's request was made: it was not sent, and the journal does not record it, so running
    the same campaign again once the cause is fixed sends it.
    """

    def __init__(self, cause: GupshupError) -> None:
        super().__init__(f"not attempted: the run stopped after {type(cause).__name__}: {cause}")
        self.cause = cause


class JournalError(GupshupError, ValueError):
    """The journal does not fit this campaign: written by another version, or by another
    campaign. Nothing was sent.
    """


# Meta's code for "too many messages to this one recipient" (the pair rate limit).
PAIR_RATE_LIMIT = 131056
