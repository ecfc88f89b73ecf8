"""The exception tree. Pure: no I/O.

    GupshupError
    ├── ValidationError (also a ValueError)   refused on our side, nothing was sent
    ├── APIError                              the server answered with an error
    │   ├── AuthenticationError               401, 403: bad or expired token
    │   ├── BillingNotEnabledError            400: callback billing is off for the app
    │   ├── InvalidAppError                   400: the app id is unknown
    │   ├── AppNotOnCloudError                400: the app is not on Meta's Cloud API
    │   ├── AccountError                      the account cannot send now (368, 131031, ...)
    │   ├── RateLimitError                    429, Meta 4 / 80007 / 130429 / 131056
    │   └── ServerError                       5xx, Meta 2 / 131000 / 131016 / 131057 / 133004
    ├── TransportError                        connect, timeout, protocol: no answer was read
    ├── NotAttempted                          a campaign stopped before this item's turn
    ├── StopRequested                         why, when it was asked to stop
    ├── UnreachableRecipient                  an earlier message to them failed for good
    ├── UserOptedOut                          the user stopped marketing messages: not sent
    ├── RecipientMoved                        the user changed number or user id: not sent
    ├── OutsideWindow                         the user's 24-hour window is not open: not sent
    ├── EarlierOutcome                        the journal says an earlier run dealt with it
    ├── LimiterUnavailable                    the shared rate limiter did not answer
    ├── JournalError (also a ValueError)      a journal that does not fit this campaign
    ├── WebhookError (also a ValueError)      a callback body that is not a webhook at all
    └── RowsError (also a ValueError)         a recipients file that cannot be read

Every error says whether a retry is worth it (``transient``) and whether the message may have
gone out all the same (``ambiguous``). A ``ValidationError`` is neither. Which answer becomes
which error is decided in answers.py.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "CODES",
    "APIError",
    "AccountError",
    "AppNotOnCloudError",
    "AuthenticationError",
    "BillingNotEnabledError",
    "Code",
    "EarlierOutcome",
    "GupshupError",
    "InvalidAppError",
    "JournalError",
    "LimiterUnavailable",
    "NotAttempted",
    "OutsideWindow",
    "Problem",
    "RateLimitError",
    "RecipientMoved",
    "RowsError",
    "ServerError",
    "StopRequested",
    "TransportError",
    "UnreachableRecipient",
    "UserOptedOut",
    "ValidationError",
    "WebhookError",
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
    #: A status source was consulted for those attempts, for as long as the policy allows, and
    #: named none of them: the message almost surely never arrived (see "Uncertain attempts").
    unconfirmed: bool = False


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

    @property
    def meaning(self) -> Code | None:
        """What ``code`` means, whether it is retried and whom it concerns, if it is known."""
        return CODES.get(self.code) if self.code is not None else None

    @property
    def per_recipient(self) -> bool:
        """True when the refusal concerns this recipient only: others can still be sent to."""
        meaning = self.meaning
        return meaning is not None and meaning.scope == "recipient"


class AccountError(APIError):
    """The account cannot send now, to anyone: blocked for policy (368), locked (131031), over
    its spam limit (131048), out of balance (Gupshup 1003), told to stop (Gupshup 4001). A
    campaign stops on it; ``meaning`` says what to do.
    """


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


class StopRequested(GupshupError):
    """The run was asked to stop (`BulkRun.stop`, Ctrl-C, SIGTERM): what had not started was not
    sent, and runs again with the same command. The ``cause`` of those items' `NotAttempted`.
    """

    def __init__(self) -> None:
        super().__init__("the run was asked to stop")


class UnreachableRecipient(GupshupError):
    """Not sent: an earlier message of this campaign to the same recipient failed for good
    (``code``: undeliverable, not on WhatsApp, opted out...), as its status webhook said.
    """

    def __init__(self, recipient: str, code: int | None) -> None:
        meaning = CODES[code].meaning if code in CODES else "failed for good"
        super().__init__(f"not sent: an earlier message to {recipient} failed ({code}: {meaning})")
        self.code = code


class UserOptedOut(GupshupError):
    """Not sent: the user stopped marketing messages (a ``user_preferences`` webhook said so)
    and this is a marketing template. Utility and authentication templates still go.
    """

    def __init__(self, recipient: str, template: str) -> None:
        super().__init__(
            f"not sent: {recipient} stopped marketing messages, and {template} is a marketing "
            "template"
        )
        self.recipient = recipient


class RecipientMoved(GupshupError):
    """Not sent: the user left this id (a ``user_changed_number`` or user id change webhook
    said so) for ``new``; the old number may be given to somebody else. Send to ``new`` if
    you mean them.
    """

    def __init__(self, recipient: str, new: str) -> None:
        super().__init__(
            f"not sent: {recipient} is no longer this user's (they changed to {new}, as a "
            f"webhook said); send to {new} if you mean them"
        )
        self.recipient = recipient
        self.new = new


class OutsideWindow(GupshupError):
    """Not sent: the user's 24-hour customer service window is closed (``closed_at``, a Unix
    time), or not known to be open (``closed_at`` None) under a policy that treats unknown as
    closed. A free-form message would fail with 131047: send an approved template instead.
    """

    def __init__(self, recipient: str, closed_at: float | None) -> None:
        why = "not known to be open" if closed_at is None else "closed"
        super().__init__(
            f"not sent: the 24-hour window of {recipient} is {why}; only a template can reach "
            "this user now (131047)"
        )
        self.recipient = recipient
        self.closed_at = closed_at


class LimiterUnavailable(GupshupError):
    """The shared rate limiter (Redis) could not be reached in time: nothing was sent, and a
    campaign stops, since every other item would wait on it the same way.
    """


class EarlierOutcome(GupshupError):
    """The journal says this item was dealt with in an earlier run, and it was not sent again.

    ``state`` is ``failed`` (rerun with ``retry_failed=True`` to try again), ``ambiguous``
    (its request may have gone out and no status has said so yet: a later run looks again;
    ``resend_ambiguous=True`` sends it again) or ``unconfirmed`` (no status came within the
    journal's ``unconfirmed_after`` of its last attempt, though statuses are being recorded: it
    almost surely never arrived; ``resend_unconfirmed=True`` sends it again).
    """

    def __init__(self, state: str, detail: str | None) -> None:
        super().__init__(f"{state} in an earlier run" + (f": {detail}" if detail else ""))
        self.state = state
        self.ambiguous = state in ("ambiguous", "unconfirmed")


class JournalError(GupshupError, ValueError):
    """The journal does not fit this campaign: written by another version, or by another
    campaign. Nothing was sent.
    """


class WebhookError(GupshupError, ValueError):
    """The body is not a webhook envelope at all (not JSON, too large, nested too deeply, or
    no ``entry`` list): answer it with a 4xx.
    """


class RowsError(GupshupError, ValueError):
    """A recipients file that cannot be read as it says it is: the message names the file and
    the line (or item) at fault.
    """


# Meta's code for "too many messages to this one recipient" (the pair rate limit).
PAIR_RATE_LIMIT = 131056
# Meta's code for "more than 24 hours since the user last wrote": a template is needed.
WINDOW_CLOSED = 131047


@attrs.frozen
class Code:
    """One error code of Meta's or Gupshup's: what it means, whether a send that met it is
    retried, whom it concerns (``recipient``, ``account``, or ``message``: this request as
    written), and what to do.
    """

    code: int
    source: str  # "Meta" or "Gupshup"
    meaning: str
    retried: bool
    scope: str
    todo: str


#: Status failures after which sending the same recipient again is pointless for a while.
UNREACHABLE_CODES = frozenset({131026, 131050, 1002, 1012})

# Gupshup's page groups these without telling them apart.
_TEMPLATE_OR_OPT_IN = "a template or opt-in failure (Gupshup groups 1004 to 1008)"
_SEE_MESSAGE = "read the answer's message; check the template and the user's opt-in"
_MEDIA = "the media's URL or size was refused (Gupshup groups 1010 and 1011)"


def _codes(*rows: tuple[int, str, str, bool, str, str]) -> dict[int, Code]:
    return {row[0]: Code(*row) for row in rows}


#: The codes this library knows, from Meta's and Gupshup's error pages (2026); docs/errors.md
#: shows this table, and a test holds the two together.
CODES: dict[int, Code] = _codes(
    (
        0,
        "Meta",
        "authentication failed: the token was invalidated or its user lost access",
        False,
        "account",
        "renew the token",
    ),
    (
        3,
        "Meta",
        "the app lacks the capability or permission",
        False,
        "account",
        "check the app's permissions",
    ),
    (
        10,
        "Meta",
        "permission not granted, or removed",
        False,
        "account",
        "grant the permission again",
    ),
    (1, "Meta", "API unknown: an invalid request", False, "message", "check the request"),
    (2, "Meta", "API service: temporarily down", True, "account", "retried"),
    (4, "Meta", "too many calls for the app", True, "account", "retried after a pause"),
    (100, "Meta", "invalid parameter", False, "message", "fix the parameter named"),
    (190, "Meta", "access token expired or invalid", False, "account", "renew the token"),
    (
        368,
        "Meta",
        "temporarily blocked for policy violations",
        False,
        "account",
        "stop sending; see the account's quality in WhatsApp Manager",
    ),
    (80007, "Meta", "rate limit of the business account", True, "account", "retried after a pause"),
    (130429, "Meta", "throughput limit of the number", True, "account", "retried after a pause"),
    (
        130472,
        "Meta",
        "the user's number is part of an experiment",
        False,
        "recipient",
        "not sent to this user; nothing to fix",
    ),
    (
        130497,
        "Meta",
        "the business cannot message users in this country",
        False,
        "recipient",
        "not sent to this user; the others are unaffected",
    ),
    (131000, "Meta", "something went wrong", True, "message", "retried"),
    (131016, "Meta", "service unavailable", True, "account", "retried"),
    (
        131026,
        "Meta",
        "message undeliverable (no WhatsApp, old app, terms not accepted)",
        False,
        "recipient",
        "do not send to this number again soon",
    ),
    (
        131031,
        "Meta",
        "business account locked",
        False,
        "account",
        "stop sending; resolve it in WhatsApp Manager",
    ),
    (
        131047,
        "Meta",
        "more than 24 hours since the user last wrote",
        False,
        "recipient",
        "send an approved template instead",
    ),
    (
        131048,
        "Meta",
        "spam rate limit hit",
        False,
        "account",
        "stop and slow down: too many messages were blocked or reported",
    ),
    (
        131049,
        "Meta",
        "not delivered, to keep the ecosystem healthy",
        False,
        "recipient",
        "wait at least 24 hours before sending this user a marketing message again",
    ),
    (
        131050,
        "Meta",
        "the user stopped marketing messages",
        False,
        "recipient",
        "do not send marketing messages to this user",
    ),
    (131051, "Meta", "unsupported message type", False, "message", "change the message"),
    (
        131056,
        "Meta",
        "too many messages to this user (pair rate limit)",
        True,
        "recipient",
        "retried after a pause, for this user only",
    ),
    (131057, "Meta", "business account in maintenance", True, "account", "retried"),
    (
        131062,
        "Meta",
        "this message type cannot go to a business-scoped user id",
        False,
        "message",
        "send it to the phone number, or another type",
    ),
    (
        131008,
        "Meta",
        "a required parameter is missing",
        False,
        "message",
        "add the parameter named",
    ),
    (
        131009,
        "Meta",
        "a parameter's value is not valid",
        False,
        "message",
        "fix the parameter named",
    ),
    (
        131021,
        "Meta",
        "the recipient is the sender's own number",
        False,
        "message",
        "send to another number",
    ),
    (
        131052,
        "Meta",
        "the media the user sent could not be downloaded",
        False,
        "message",
        "ask the user to send it again",
    ),
    (
        131053,
        "Meta",
        "the message's media could not be uploaded (type or size)",
        False,
        "message",
        "check the media's type and size",
    ),
    (
        132000,
        "Meta",
        "the template's parameters do not match in number",
        False,
        "message",
        "give as many parameters as the template has placeholders",
    ),
    (
        132001,
        "Meta",
        "the template does not exist in that language",
        False,
        "message",
        "check the template's name and language, and that it is approved",
    ),
    (132005, "Meta", "the filled-in template is too long", False, "message", "shorten parameters"),
    (132007, "Meta", "the template breaks a policy", False, "message", "use another template"),
    (
        132012,
        "Meta",
        "a template parameter has the wrong format",
        False,
        "message",
        "give each parameter the kind the template expects",
    ),
    (132015, "Meta", "the template is paused for low quality", False, "message", "use another"),
    (132016, "Meta", "the template is disabled", False, "message", "use another template"),
    (
        132018,
        "Meta",
        "a template parameter holds a line break, tab or 5 spaces in a row",
        False,
        "message",
        "remove them from the parameter",
    ),
    (133004, "Meta", "server temporarily unavailable", True, "account", "retried"),
    (
        133010,
        "Meta",
        "the business phone number is not registered",
        False,
        "account",
        "register the number with the Cloud API",
    ),
    (
        135000,
        "Meta",
        "generic user error: an unknown problem with the request's parameters",
        False,
        "message",
        "check the request; it fails the same way again",
    ),
    (2494100, "Meta", "under maintenance", True, "account", "retried in a few minutes"),
    (
        1001,
        "Gupshup",
        "last mapped bot failed: the bot's details do not match the sender's",
        False,
        "account",
        "check the app's sender number with Gupshup",
    ),
    (1002, "Gupshup", "number does not exist on WhatsApp", False, "recipient", "remove the number"),
    (1003, "Gupshup", "wallet balance low", False, "account", "top up the wallet, then resume"),
    (1004, "Gupshup", _TEMPLATE_OR_OPT_IN, False, "message", _SEE_MESSAGE),
    (1005, "Gupshup", _TEMPLATE_OR_OPT_IN, False, "message", _SEE_MESSAGE),
    (1006, "Gupshup", _TEMPLATE_OR_OPT_IN, False, "message", _SEE_MESSAGE),
    (1007, "Gupshup", _TEMPLATE_OR_OPT_IN, False, "message", _SEE_MESSAGE),
    (1008, "Gupshup", _TEMPLATE_OR_OPT_IN, False, "message", _SEE_MESSAGE),
    (1010, "Gupshup", _MEDIA, False, "message", "fix the media link, or send smaller media"),
    (1011, "Gupshup", _MEDIA, False, "message", "fix the media link, or send smaller media"),
    (1012, "Gupshup", "the user has opted out", False, "recipient", "do not send to this user"),
    (
        4001,
        "Gupshup",
        "API rate limited: stop sending and contact Gupshup",
        False,
        "account",
        "stop the campaign; contact Gupshup",
    ),
    (4002, "Gupshup", "invalid response from WhatsApp", True, "message", "retried"),
    (
        4003,
        "Gupshup",
        "no template matched",
        False,
        "message",
        "check the template's name, language and parameters",
    ),
    (
        4004,
        "Gupshup",
        "this API is for Cloud API apps only",
        False,
        "account",
        "move the app to Meta's Cloud API",
    ),
    (4005, "Gupshup", "template paused", False, "message", "use another template"),
)
