"""``python -m gupshup_async``: the same as the ``gupshup-async`` command."""

import sys

from gupshup_async.cli import main

sys.exit(main())
