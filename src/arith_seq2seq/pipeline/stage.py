"""Running a stage's main() (its last good outputs are already back: stages/last_good.py):
user errors become one message and exit code 2, Ctrl-C one line and exit code 130."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

from .errors import UserError


def run(main: Callable[[], object]) -> None:
    # From here Ctrl-C is a KeyboardInterrupt again (stages/last_good.py made it one line
    # during the imports), for the training loop's own handling of it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
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
    except OSError as exc:
        # The system refused a read or a write (a full disk, a folder where a file was
        # expected, no permission): one line naming it; the outputs are as they were.
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"error: {where}{exc.strerror or exc}; the outputs are as they were before this run",
            file=sys.stderr,
        )
        sys.exit(1)
