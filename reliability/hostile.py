"""The full-size hostile-file run: every named hostile case on every reader kind, then thousands of
fuzzed returns, each judged out of process within a time and memory budget (reliability/judge.py).

    python reliability/hostile.py [--fuzz 3000] [--seed 1] [--size 1.0]

Prints one line, `bad files tried N (crashes C, hangs H)`, after the failures (if any) on stderr;
exits non-zero when a file crashed, hung, or left a feedback workbook with live content.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reliability.badfiles import KINDS, hostile_cases, mutate, seed  # noqa: E402
from reliability.judge import Judge, Verdict  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=3000, help="fuzzed files (default 3000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the fuzzer")
    parser.add_argument("--size", type=float, default=1.0, help="scale of the heavy cases (1 = full size)")
    args = parser.parse_args(argv)
    tried = crashes = hangs = bad_feedback = 0
    started = time.monotonic()
    slowest = (0.0, "")

    def record(label: str, verdict: Verdict) -> None:
        nonlocal tried, crashes, hangs, bad_feedback, slowest
        tried += 1
        slowest = max(slowest, (verdict.seconds, label))
        if verdict.outcome == "crash":
            crashes += 1
        elif verdict.outcome == "hang":
            hangs += 1
        elif verdict.feedback_problem:
            bad_feedback += 1
        if not verdict.judged:
            print(
                f"FAILED {label}: {verdict.outcome} {verdict.reason} {verdict.feedback_problem or ''}",
                file=sys.stderr,
            )

    with Judge() as judge:
        for case in hostile_cases(args.size):
            record(case.file_name, judge(case.file_name, case.make()))
        rng = random.Random(args.seed)
        for n in range(args.fuzz):
            kind = KINDS[n % len(KINDS)]
            data = mutate(seed(kind), kind, rng, steps=rng.randrange(1, 5))
            record(f"fuzz #{n} ({kind})", judge(f"fuzz{n}.{kind}", data))
    print(
        f"slowest {slowest[1]} {slowest[0]:.1f} s; feedback problems {bad_feedback}; "
        f"{time.monotonic() - started:.0f} s in all",
        file=sys.stderr,
    )
    print(f"bad files tried {tried} (crashes {crashes}, hangs {hangs})")
    return 1 if crashes or hangs or bad_feedback else 0


if __name__ == "__main__":
    sys.exit(main())
