"""abcspark's benchmarks: ``python benchmarks/run.py [--quick] [--only NAME ...]``.

Prints one markdown table of figures and one of targets, and writes them to
``benchmarks/out/results.{csv,json}``. Every measured case runs in a fresh process; every
comparison is a ratio of runs made in this one invocation. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import asdict
from typing import List, Optional

from harness import OUT, Row, Target

SECTIONS = {
    "overhead": ("overhead", "section"),
    "pmc": ("pmc", "section"),
    "fewer": ("pmc", "fewer_section"),
    "expensive": ("expensive", "section"),
    "scale": ("scale", "section"),
    "memory": ("memory", "section"),
}
"""Section name -> (module of benchmarks/, function(quick) -> (rows, targets))."""


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about 3 minutes)")
    parser.add_argument(
        "--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS), help="sections"
    )
    return parser.parse_args(argv)


def _number(value: float) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def markdown(rows: List[Row], targets: List[Target]) -> str:
    """The figures and the targets as two markdown tables."""
    lines = ["| benchmark | case | figure | value |", "| --- | --- | --- | --- |"]
    for row in rows:
        value = f"{_number(row.value)} {row.unit}".strip()
        note = f" ({row.note})" if row.note else ""
        lines.append(f"| {row.section} | {row.case} | {row.figure} | {value}{note} |")
    lines += ["", "| target | measured | goal | met |", "| --- | --- | --- | --- |"]
    for target in targets:
        goal = (">= " if target.higher_is_better else "<= ") + _number(target.goal)
        note = f" ({target.note})" if target.note else ""
        met = "yes" if target.met else "**no**"
        lines.append(f"| {target.name}{note} | {_number(target.measured)} | {goal} | {met} |")
    return "\n".join(lines)


def write(rows: List[Row], targets: List[Target], meta: dict) -> None:
    """``out/results.csv`` (the figures) and ``out/results.json`` (figures, targets, meta)."""
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0]) if rows else ["section"]))
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    document = {
        "meta": meta,
        "rows": [asdict(row) for row in rows],
        "targets": [target.as_dict() for target in targets],
    }
    (OUT / "results.json").write_text(json.dumps(document, indent=1))
    (OUT / "results.md").write_text(markdown(rows, targets) + "\n")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    started = time.time()
    rows: List[Row] = []
    targets: List[Target] = []
    failed = {}
    for name, (module_name, function_name) in SECTIONS.items():
        if name not in args.only:
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        section_started = time.perf_counter()
        try:
            function = getattr(importlib.import_module(module_name), function_name)
            found, aims = function(args.quick)
        except Exception:  # one peer failing to install must not lose the other figures
            failed[name] = traceback.format_exc()
            print(failed[name], file=sys.stderr, flush=True)
            continue
        rows += found
        targets += aims
        seconds = time.perf_counter() - section_started
        print(f"   {name} took {seconds:.0f} s", file=sys.stderr, flush=True)
    meta = {
        "quick": args.quick,
        "sections": args.only,
        "failed": failed,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "seconds": time.time() - started,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
    }
    write(rows, targets, meta)
    print(markdown(rows, targets))
    print(
        f"\n{meta['seconds']:.0f} s; load average at the end {meta['load_average_at_end'][0]:.1f} "
        f"on {meta['cpus']} CPUs; wrote {OUT}/results.csv, results.json, results.md"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
