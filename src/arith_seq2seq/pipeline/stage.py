"""Running a stage's main(): its last good outputs back in place first (last_good.py), then
user errors become one message and exit code 2, Ctrl-C one line and exit code 130."""

from __future__ import annotations

import sys
from typing import Callable

from . import last_good
from .errors import UserError


def run(main: Callable[[], object]) -> None:
    last_good.restore()
    try:
        main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        # Ctrl-C is a request, not a crash: one line, not a traceback. Every output is
        # written whole or not at all (files.py), so the old ones are still in place.
        print("interrupted; the outputs are as they were before this run", file=sys.stderr)
        sys.exit(130)
