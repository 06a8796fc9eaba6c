"""Two runs of bench.ranker_quality on the same days, compared model by model: the mean over the days of (after -
before) per metric, with its paired standard error (bench.day_stats.paired_differences), e.g. before and after
a change of code or config.

    python -m bench.quality_diff BEFORE.json AFTER.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.day_stats import paired_differences


def quality_diff(before: dict, after: dict) -> dict[str, dict]:
    """Per model in both runs, paired_differences of its daily figures (after against before)."""
    if before["days"] != after["days"]:
        raise SystemExit(f"the runs cover different days: {before['days']} and {after['days']}")
    return {name: paired_differences(after["per_day"][name], days)
            for name, days in before["per_day"].items() if name in after["per_day"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    for name, values in quality_diff(*(json.loads(path.read_text()) for path in (args.before, args.after))).items():
        print(f"{name:<20} after - before: "
              + " ".join(f"{k} {v['mean']:+.4f} (se {v['se']:.4f}, {v['days']} days)" for k, v in values.items()))


if __name__ == "__main__":
    main()
