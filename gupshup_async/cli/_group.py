"""The command group every command module adds itself to."""

from __future__ import annotations

import click

from gupshup_async import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gupshup-async")
def cli() -> None:
    """Send WhatsApp interactive messages through Gupshup's Partner API v3."""
