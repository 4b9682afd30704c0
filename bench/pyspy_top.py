#!/usr/bin/env python3
"""Top frames of a py-spy profile (``py-spy record --format raw``: collapsed stacks).

Each input line is ``frame;frame;...;leaf COUNT``. Prints the frames with the most samples by
own time (the leaf frame) and by inclusive time (the frame anywhere on the stack, counted once
per stack), as percentages of all samples.

    python3 bench/pyspy_top.py results/<ts>/profile-sqlite-authcode.txt --top 20
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path


def summarise(lines: list[str], top: int) -> str:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            incl[frame] += n
    if not total:
        return "no samples\n"
    out = [f"{total} samples"]
    for title, counter in (("own time", own), ("inclusive time", incl)):
        out.append("")
        out.append(f"top {top} by {title}:")
        for frame, n in counter.most_common(top):
            out.append(f"  {100.0 * n / total:5.1f}%  {frame}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", help="py-spy --format raw output")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--out", help="also write the summary here")
    a = ap.parse_args(argv)
    text = summarise(Path(a.profile).read_text(errors="replace").splitlines(), a.top)
    print(text, end="")
    if a.out:
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
