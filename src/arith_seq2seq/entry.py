"""Running a stage's main(): user errors become one message and exit code 2."""

from __future__ import annotations

import sys
from typing import Callable

from .errors import UserError


def run(main: Callable[[], object]) -> None:
    try:
        main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
