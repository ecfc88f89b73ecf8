"""A local Gupshup look-alike: the demo's, the tests' and the benchmarks' server."""

from gupshup_async.sandbox._account import (
    SANDBOX_APP_ID,
    SANDBOX_TEMPLATES,
    SANDBOX_TOKEN,
    Account,
    Processed,
)
from gupshup_async.sandbox._rules import FAULT_KINDS, Answer, Faults, SandboxRules, canned
from gupshup_async.sandbox._server import STATUS_DELAY, Sandbox

__all__ = [
    "FAULT_KINDS",
    "SANDBOX_APP_ID",
    "SANDBOX_TEMPLATES",
    "SANDBOX_TOKEN",
    "STATUS_DELAY",
    "Account",
    "Answer",
    "Faults",
    "Processed",
    "Sandbox",
    "SandboxRules",
    "canned",
]
