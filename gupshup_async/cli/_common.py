"""What the commands share: options, exit codes, errors in one line, the client they make."""

from __future__ import annotations

import functools
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click
import httpx
import phonenumbers

from gupshup_async.auth import PartnerCredentials
from gupshup_async.client import DEFAULT_BASE_URL, GupshupClient
from gupshup_async.errors import GupshupError, ValidationError
from gupshup_async.policy import CONFIRM_WITHIN, RetryPolicy
from gupshup_async.recipients import RowMessage
from gupshup_async.stores import open_window_store
from gupshup_async.stores._postgres import is_database, redacted
from gupshup_async.template_definitions import TemplateDefinitions
from gupshup_async.window import TemplateChoice, WindowPolicy

#: Exit codes: every item sent (or sent before); some failed or were not attempted; the
#: command line or its input was wrong (nothing sent); some may have been delivered but it is
#: not known (none failed otherwise); a bug of ours (sysexits' EX_SOFTWARE); interrupted.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AMBIGUOUS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_INTERNAL = 70


class Done(Exception):
    """Ends a command with an exit code, its message already printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class PositiveNumber(click.ParamType):  # type: ignore[type-arg]  # generic in click >= 8.2 only
    """A positive, finite number."""

    name = "number"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"must be a positive number, got {value}", param, ctx)
        return number


POSITIVE = PositiveNumber()

Command = TypeVar("Command", bound=Callable[..., Any])


def not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty")
    return value


def writable(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"{value}: the folder {value.parent} does not exist")
    return value


def location(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | str | None:
    """A record's place: a ``postgresql://`` URL (kept as given), or a file whose folder
    exists.
    """
    if value is None or is_database(value):
        return value
    return writable(ctx, param, Path(value))


def printable(where: Path | str) -> str:
    """A record's place as it may be printed: a database's URL without its password."""
    return redacted(where) if isinstance(where, str) and is_database(where) else str(where)


def refuse_overwriting(output: Path, inputs: list[Path | None], option: str) -> None:
    """Refuse an output file that is one of the command's inputs (or a journal's sidecar):
    writing it would destroy what the command reads.
    """
    target = output.resolve()
    for given in inputs:
        if given is None:
            continue
        source = given.resolve()
        sidecars = {source.with_name(source.name + end) for end in ("-wal", "-shm", ".lock")}
        same = target == source or target in sidecars
        if not same and output.exists() and given.exists():
            same = os.path.samefile(output, given)
        if same:
            raise click.BadParameter(
                f"{output} is also an input ({given}): writing it would destroy it; give "
                "another file",
                param_hint=option,
            )


def country_code(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise click.BadParameter(f"{value!r} is not a country's ISO code (IN, BR, US, ID...)")
    return code


def redis_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter(
            f"{value!r} is not a Redis URL (redis://host:6379/0, rediss://..., unix://...)"
        )
    return value


def parse_shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    i, sep, n = value.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
        raise click.BadParameter(f"{value!r} is not I/N with 0 <= I < N (0/2, 1/2)")
    return int(i), int(n)


def secret_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A secret's option: given on the command line, every user of the machine can read it
    (``ps``), so say so, once, and point to the environment variable.
    """
    value = not_empty(ctx, param, value)
    source = ctx.get_parameter_source(param.name or "")
    if value and source is click.core.ParameterSource.COMMANDLINE:
        names = (
            ", ".join(getattr(param, "envvar", None) or [])
            if isinstance(getattr(param, "envvar", None), list)
            else getattr(param, "envvar", None)
        )
        fail(
            f"warning: {param.opts[0]} on the command line is visible to every user of this "
            f"machine (ps); set {names} in the environment instead"
        )
    return value


def read_secret(path: Path, option: str) -> str:
    """A secret kept in a file (a Docker or Kubernetes secret, a file only its owner reads):
    its text without the trailing newline. Warns when other users may read the file; never
    prints what it holds.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as bad:
        reason = bad.strerror if isinstance(bad, OSError) else "not UTF-8 text"
        raise click.BadParameter(f"{path}: {reason}", param_hint=option) from None
    if not text:
        raise click.BadParameter(f"{path} is empty", param_hint=option)
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        fail(f"warning: {path} can be read by other users of this machine (chmod 600 {path})")
    return text


def secret_from_file(
    name: str,
    option: str,
    envvar: str,
    otherwise: Callable[[dict[str, Any]], Any] | None = None,
    otherwise_said: str = "",
) -> Callable[[Command], Command]:
    """Lets the secret ``name`` come from ``--<name>-file`` instead: the decorated command
    gets ``name`` either way, and one of the two is required, unless ``otherwise`` (given the
    command's other values) finds one another way (``otherwise_said`` says which).
    """
    file_param = f"{name}_file"

    def decorate(function: Command) -> Command:
        @functools.wraps(function)
        def command(*args: Any, **kwargs: Any) -> Any:
            given, path = kwargs.get(name), kwargs.pop(file_param, None)
            if path is not None:
                if given:
                    raise click.UsageError(f"give {option} or {option}-file, not both")
                kwargs[name] = read_secret(path, f"{option}-file")
            elif not given:
                found = otherwise(kwargs) if otherwise is not None else None
                if found is None:
                    raise click.UsageError(
                        f"Missing option '{option}': set {envvar}{otherwise_said} in the "
                        f"environment, or give {option}-file"
                    )
                kwargs[name] = found
            return function(*args, **kwargs)

        with_file = click.option(
            f"{option}-file",
            file_param,
            envvar=f"{envvar}_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Or {envvar}_FILE: a file holding {option}'s value (a mounted secret).",
        )(command)
        return cast(Command, with_file)  # the command, with one more option

    return decorate


def partner_credentials(values: dict[str, Any]) -> PartnerCredentials | None:
    """The app token from partner credentials in the environment, as `GupshupClient.from_env`
    reads them (``GUPSHUP_PARTNER_EMAIL`` and ``GUPSHUP_PARTNER_SECRET``); None without them.
    """
    email = os.environ.get("GUPSHUP_PARTNER_EMAIL", "").strip()
    secret = os.environ.get("GUPSHUP_PARTNER_SECRET", "").strip()
    if not (email and secret):
        return None
    return PartnerCredentials(values["app_id"], email, secret, base_url=values["base_url"])


def required_from(envvar: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A required option's check that names its environment variable when it is missing."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            raise click.UsageError(
                f"Missing option '{param.opts[0]}': give it, or set {envvar} in the environment"
            )
        return not_empty(ctx, param, value)

    return check


def credentials(function: Any) -> Any:
    """--app-id, --token (or --token-file, or partner credentials in the environment),
    --base-url, --timeout, --max-attempts, --at-most-once, --country.
    """
    function = secret_from_file(
        "token",
        "--token",
        "GUPSHUP_APP_TOKEN",
        otherwise=partner_credentials,
        otherwise_said=" (or GUPSHUP_PARTNER_EMAIL and GUPSHUP_PARTNER_SECRET)",
    )(function)
    options = [
        click.option(
            "--app-id",
            envvar="GUPSHUP_APP_ID",
            callback=required_from("GUPSHUP_APP_ID"),
            help="Or GUPSHUP_APP_ID.",
        ),
        click.option(
            "--token",
            envvar="GUPSHUP_APP_TOKEN",
            callback=secret_option,
            help="Better GUPSHUP_APP_TOKEN: an option is visible to every user of the machine.",
        ),
        click.option(
            "--base-url", envvar="GUPSHUP_BASE_URL", default=DEFAULT_BASE_URL, show_default=True
        ),
        click.option(
            "--timeout",
            type=POSITIVE,
            default=10.0,
            show_default=True,
            help="Seconds to wait for an answer, per attempt.",
        ),
        click.option(
            "--max-attempts",
            type=click.IntRange(1, 100),
            default=5,
            show_default=True,
            help="Attempts per message, the first included.",
        ),
        click.option(
            "--at-most-once",
            is_flag=True,
            help="Never retry a send that may have been delivered: no duplicates, some lost.",
        ),
        click.option(
            "--country",
            "default_region",
            envvar="GUPSHUP_DEFAULT_COUNTRY",
            callback=country_code,
            help="Or GUPSHUP_DEFAULT_COUNTRY: the country (IN, BR...) of numbers written "
            "without their country code; without it such numbers are refused.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def windows_and_templates(function: Any) -> Any:
    """--windows, --outside-window, --template-instead, --templates."""
    options = [
        click.option(
            "--windows",
            "windows_file",
            envvar="GUPSHUP_WINDOWS",
            callback=location,
            help="The window store `receive --windows` writes (a file, or a postgresql:// "
            "URL; or GUPSHUP_WINDOWS): who wrote in the last 24 hours.",
        ),
        click.option(
            "--outside-window",
            type=click.Choice(["send", "refuse", "template"]),
            default="send",
            show_default=True,
            help="What to do with a free-form message to a user whose 24-hour window is not "
            "known open: send it anyway, refuse it, or send --template-instead.",
        ),
        click.option(
            "--template-instead",
            "instead_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A template message (JSON; for bulk, {column} placeholders are filled from "
            "each row) sent in place of the message outside the window.",
        ),
        click.option(
            "--templates",
            "templates_source",
            help="Check template messages before sending against a definitions FILE (Meta's "
            "or Gupshup's shape), or 'fetch' the app's from Gupshup.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def window_options(
    windows_file: Path | str | None,
    outside_window: str,
    instead: TemplateChoice | None,
    templates_source: str | None,
) -> dict[str, Any]:
    """The client's window and template options, from the command line's."""
    options: dict[str, Any] = {}
    if templates_source == "fetch":
        options["templates"] = "fetch"
    elif templates_source is not None:
        try:
            options["templates"] = TemplateDefinitions.load(templates_source)
        except (OSError, ValueError) as bad:
            raise click.BadParameter(str(bad), param_hint="--templates") from None
    if outside_window == "send":
        if instead is not None:
            raise click.UsageError("--template-instead goes with --outside-window template")
        return options
    if windows_file is None:
        raise click.UsageError(
            f"--outside-window {outside_window} needs --windows: the store a receiver writes"
        )
    if outside_window == "template" and instead is None:
        raise click.UsageError("--outside-window template needs --template-instead FILE")
    options["windows"] = open_window_store(windows_file)
    options["window_policy"] = (
        WindowPolicy.refuse() if instead is None else WindowPolicy.template_instead(instead)
    )
    return options


def instead_template(path: Path | None, outside_window: str) -> RowMessage | None:
    if path is None:
        return None
    if outside_window != "template":
        raise click.UsageError("--template-instead goes with --outside-window template")
    try:
        made = RowMessage.load(path)
    except (OSError, ValueError) as bad:
        raise click.BadParameter(f"{path}: {bad}", param_hint="--template-instead") from None
    if made.root != "template":
        raise click.BadParameter(
            f"{path}: must be a template message (name, language, components)",
            param_hint="--template-instead",
        )
    return made


def make_client(
    app_id: str,
    token: str | PartnerCredentials,
    base_url: str,
    timeout: float,
    max_attempts: int,
    at_most_once: bool,
    confirm_within: float = CONFIRM_WITHIN,
    **options: Any,
) -> GupshupClient:
    retry = RetryPolicy(
        max_attempts=max_attempts,
        retry_ambiguous=not at_most_once,
        confirm_within=confirm_within,
    )
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    return GupshupClient(app_id, token, base_url=base_url, retry=retry, timeout=timeouts, **options)


def fail(message: str) -> None:
    # click.echo, not rich: one line, never wrapped or marked up.
    click.echo(f"gupshup-async: {' '.join(message.split())}", err=True)


# helpers ----------------------------------------------------------------------------------


def describe(failure: GupshupError) -> str:
    if isinstance(failure, ValidationError):
        problems = "; ".join(str(p) for p in failure.errors)
        return f"refused before sending: {problems}"
    attempts = f" after {failure.attempts} attempt(s)" if failure.attempts > 1 else ""
    said = f"send failed{attempts}: {type(failure).__name__}: {failure}"
    if failure.ambiguous or failure.ambiguous_attempts:
        said += " (it may have been delivered all the same: an attempt ended without an answer)"
    return said
