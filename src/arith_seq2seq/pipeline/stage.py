"""Running a stage's main(): its last good outputs back in place first (last_good.py), then
user errors become one message and exit code 2."""

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
