"""python -m pbstats.gen OUT [--years 2024 2025] [--seed 7]: write a demo city's returns and expected.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from .city import generate_city, summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pbstats.gen", description="写出示例市的年报样例及预期结果（expected.json）"
    )
    parser.add_argument(
        "out", type=Path, help="folder to write the corpus into (emptied if it holds an older corpus)"
    )
    parser.add_argument("--years", type=int, nargs="+", default=[2024, 2025])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bad-share", type=float, default=0.08)
    parser.add_argument("--quirk-share", type=float, default=0.5)
    args = parser.parse_args(argv)
    manifest = generate_city(
        args.out, args.years, args.seed, bad_share=args.bad_share, quirk_share=args.quirk_share
    )
    print(f"{args.out}: {summary(manifest)}")


if __name__ == "__main__":
    main()
