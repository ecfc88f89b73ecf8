"""Development sessions: `nox -s lint typecheck tests docs` is what CI runs."""

from __future__ import annotations

from pathlib import Path

import nox
import tomllib
from packaging.requirements import Requirement

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
    session.install("-e", ".[test,cli,postgres]", "mypy>=1.11", "async-timeout>=4.0")
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


def lowest_pins() -> list[str]:
    """``name==floor`` for every direct dependency of the package and of the extras users
    install (cli, redis, postgres), from the ``>=`` floors pyproject.toml declares.
    """
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"]]
    for extra in ("cli", "redis", "postgres"):
        declared += project["optional-dependencies"][extra]
    pins = []
    for line in declared:
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if not floors:
            raise SystemExit(f"{requirement.name} has no >= floor in pyproject.toml")
        marker = f"; {requirement.marker}" if requirement.marker else ""
        pins.append(f"{requirement.name}=={floors[0]}{marker}")
    return pins


@nox.session
def tests_lowest(session: nox.Session) -> None:
    """The test suite on the lowest versions pyproject.toml allows of every direct dependency
    (the test tools themselves at their newest): a floor that is too low fails here.
    """
    constraints = Path(session.create_tmp()) / "lowest.txt"
    constraints.write_text("\n".join(lowest_pins()) + "\n")
    session.install("-e", ".[test]", "-c", str(constraints))
    session.run("pip", "list", "--format=freeze", silent=False)
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site with its API reference (mkdocstrings), warnings as errors."""
    session.install("-e", ".[cli]", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks: throughput against raw aiohttp and httpx, the limiter, a server that
    enforces the exact rate, bulk memory, the records on SQLite and PostgreSQL, the drivers.

    ``nox -s bench -- --rounds 5`` passes options to benchmarks/throughput.py.
    """
    session.install("-e", ".[bench,postgres]")
    session.run("python", "benchmarks/throughput.py", *session.posargs)
    session.run("python", "benchmarks/limiter.py")
    session.run("python", "benchmarks/exact_rate.py")
    session.run("python", "benchmarks/bulk_memory.py")
    session.run("python", "benchmarks/records.py")
    session.run("python", "benchmarks/postgres_drivers.py")
