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
    └── TransportError                        connect, timeout, protocol: no answer was read

Every error says whether a retry is worth it (``transient``) and whether the message may have
gone out all the same (``ambiguous``). A ``ValidationError`` is neither.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "GupshupError",
    "Problem",
    "ValidationError",
]


class GupshupError(Exception):
    """Base class of every error this library raises."""

    #: Worth retrying: the same request may succeed later.
    transient: bool = False
    #: The message may have been accepted although no success was read.
    ambiguous: bool = False


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
