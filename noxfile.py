"""Development sessions: `nox -s lint typecheck tests docs` is what CI runs."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PACKAGE = "gupshup_async"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint rules and formatting) and import-linter (the layers in pyproject.toml)."""
    session.install("-e", ".", "ruff>=0.6", "import-linter>=2.1")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (as Python 3.10 sees it: async-timeout included)."""
    session.install("-e", ".[test,cli]", "mypy>=1.11", "async-timeout>=4.0")
    session.run("mypy", "--strict", PACKAGE)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, with line coverage of the package."""
    session.install("-e", ".[test]")
    session.run("pytest", f"--cov={PACKAGE}", "--cov-report=term", *session.posargs)
    # The command line's subprocesses are measured too (coverage's patch = ["subprocess"]).
    session.run("coverage", "report", "--fail-under=90", "--format=total")
    # The message layer is the contract users build on: keep it thoroughly tested.
    session.run("coverage", "report", "--include=gupshup_async/messages/*", "--fail-under=95")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site with its API reference (mkdocstrings), warnings as errors."""
    session.install("-e", ".[cli]", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks: throughput against raw aiohttp and httpx, the limiter, bulk memory.

    ``nox -s bench -- --rounds 5`` passes options to benchmarks/throughput.py.
    """
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/throughput.py", *session.posargs)
    session.run("python", "benchmarks/limiter.py")
    session.run("python", "benchmarks/bulk_memory.py")
