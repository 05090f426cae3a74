"""The `arith-seq2seq` command's entry point (also `python -m arith_seq2seq`).

It imports nothing of its own before it can catch Ctrl-C: the command's module, the
libraries it loads and its argument parser take a tenth of a second or more, and an
interrupt there was a KeyboardInterrupt traceback. Now it is exit status 130, silent, as
later on.
"""

import sys


def main() -> int:
    try:
        from .cli import main as command

        return command()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
