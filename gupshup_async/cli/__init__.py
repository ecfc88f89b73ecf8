"""The command line: ``gupshup-async demo | send | bulk | templates | report | receive |
subscribe | sandbox`` (click for arguments, rich for progress and tables, uvicorn for
``receive``: the ``cli`` extra). One module per command; this one is the entry point.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

try:
    import click
except ImportError as missing:  # pragma: no cover - depends on how it was installed
    raise SystemExit(
        f"gupshup-async: the command line needs the 'cli' extra ({missing.name} is missing): "
        "pip install 'gupshup-async[cli]'"
    ) from None

from gupshup_async.cli import (
    bulk,
    demo,
    receive,
    report,
    sandbox,
    send,
    subscribe,
    templates,
)
from gupshup_async.cli._common import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_USAGE,
    Done,
    describe,
    fail,
)
from gupshup_async.cli._group import cli
from gupshup_async.errors import GupshupError, JournalError, RowsError, ValidationError

__all__ = ["cli", "main"]

# Every command registers itself with the group when its module is imported.
_COMMANDS = (bulk, demo, receive, report, sandbox, send, subscribe, templates)


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point: one line on stderr for any error, never a traceback."""
    args = list(argv) if argv is not None else sys.argv[1:]
    if not args:  # a bare command: what it can do, not an error squeezed into one line
        with click.Context(cli, info_name="gupshup-async") as bare:
            click.echo(cli.get_help(bare), err=True)
        return EXIT_USAGE
    try:
        cli.main(
            args=args,
            prog_name="gupshup-async",
            standalone_mode=False,
        )
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        fail("interrupted")
        return 130
    except click.ClickException as problem:
        ctx = getattr(problem, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        fail(f"error: {problem.format_message()}{hint}")
        return problem.exit_code
    except (RowsError, JournalError) as refused:
        fail(f"error: {refused}")
        return EXIT_USAGE
    except ValidationError as refused:  # the input was wrong; nothing was sent
        fail(describe(refused))
        return EXIT_USAGE
    except GupshupError as failure:
        fail(describe(failure))
        return EXIT_FAILED
    except Done as done:
        return done.code
    except Exception as bug:  # a bug of ours: still one line, and a way to report it
        fail(
            f"internal error ({type(bug).__name__}: {bug}); please report it with the "
            "command you ran"
        )
        return EXIT_INTERNAL
    return 0
