"""CI check of a `distillguard bench` output folder; prints the headline tables.

Fails (exit 1) if results.json, report.md or report.html is missing or empty,
or if distillguard or any baseline did not run (skipped, or absent).

Usage: python scripts/check_bench.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXPECTED = ("distillguard", "rate", "iforest", "prada", "seat")
SECTIONS = ("## Results", "## Cost")


def check(out: Path) -> list[str]:
    problems = [
        f"{out / name} is missing or empty"
        for name in ("results.json", "report.md", "report.html")
        if not (out / name).is_file() or (out / name).stat().st_size == 0
    ]
    if problems:
        return problems
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    ran = {d["name"]: d for d in data.get("detectors", [])}
    for name in EXPECTED:
        if name in data.get("skipped", {}):
            problems.append(f"detector {name} was skipped: {data['skipped'][name]}")
        elif name not in ran:
            problems.append(f"detector {name} is not in results.json")
        elif not ran[name].get("subjects"):
            problems.append(f"detector {name} scored no subjects")
    return problems


def headline(report_md: str) -> str:
    """The Results and Cost sections of report.md."""
    out, keep = [], False
    for line in report_md.splitlines():
        if line.startswith("## "):
            keep = line.strip() in SECTIONS
        if keep:
            out.append(line)
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    problems = check(out)
    if problems:
        for p in problems:
            print(f"bench check: {p}", file=sys.stderr)
        return 1
    print(headline((out / "report.md").read_text(encoding="utf-8")))
    print(f"\nbench check: ok ({', '.join(EXPECTED)} reported; full report {out / 'report.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
