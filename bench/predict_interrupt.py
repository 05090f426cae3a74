"""When does Ctrl-C while `arith-seq2seq predict` starts end in a traceback? SIGINT at
2 ms steps through the command's first --until seconds, --repeats times each; prints, per
moment, how the process ended: 130 (the command's own exit), killed by the signal (before
Python installed its handler), or a KeyboardInterrupt traceback.

    python bench/predict_interrupt.py --model data/model.pt
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import time


def ending(command: list[str], after: float) -> str:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if "Traceback" in err:
        return "traceback"
    return (
        "killed by the signal" if proc.returncode == -signal.SIGINT else f"exit {proc.returncode}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/model.pt")
    parser.add_argument("--until", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    command = [shutil.which("arith-seq2seq"), "predict", "--model", args.model, "1+2"]
    for step in range(int(args.until / 0.002) + 1):
        after = step * 0.002
        counts = collections.Counter(ending(command, after) for _ in range(args.repeats))
        print(f"{after:.3f} s  " + ", ".join(f"{kind} x{n}" for kind, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
