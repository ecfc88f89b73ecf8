"""A local Gupshup look-alike: the demo's, the tests' and the benchmarks' server."""

from gupshup_async.sandbox._account import (
    SANDBOX_APP_ID,
    SANDBOX_TEMPLATES,
    SANDBOX_TOKEN,
    Account,
    Processed,
)
from gupshup_async.sandbox._rules import Answer, Faults, SandboxRules, canned
from gupshup_async.sandbox._server import Sandbox

__all__ = [
    "SANDBOX_APP_ID",
    "SANDBOX_TEMPLATES",
    "SANDBOX_TOKEN",
    "Account",
    "Answer",
    "Faults",
    "Processed",
    "Sandbox",
    "SandboxRules",
    "canned",
]
