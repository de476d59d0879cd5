"""Compares two kosoku (Autobahn-format) index.json reports case by case.

Usage: compare.py DIRECT/index.json PROXY/index.json

Prints the count of each verdict (behavior, then close behavior) side by side, then every
case whose verdict differs. Exit code 0 when no case differs, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def load(path: str) -> dict[str, dict]:
    with open(path) as f:
        index = json.load(f)
    # One agent per run: {agent: {case_id: {behavior, behaviorClose, ...}}}.
    cases: dict[str, dict] = {}
    for per_agent in index.values():
        cases.update(per_agent)
    return cases


def case_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in case_id.split("."))


def main() -> int:
    direct, proxy = load(sys.argv[1]), load(sys.argv[2])
    for field, title in (("behavior", "verdict"), ("behaviorClose", "close verdict")):
        d = Counter(c[field] for c in direct.values())
        p = Counter(c[field] for c in proxy.values())
        print(f"\n{title:<16} {'direct':>8} {'proxy':>8}")
        for verdict in sorted(set(d) | set(p)):
            print(f"{verdict:<16} {d[verdict]:>8} {p[verdict]:>8}")
        print(f"{'total':<16} {sum(d.values()):>8} {sum(p.values()):>8}")
    differ = []
    for case_id in sorted(set(direct) | set(proxy), key=case_key):
        a, b = direct.get(case_id), proxy.get(case_id)
        pair = lambda c: (c["behavior"], c["behaviorClose"]) if c else ("missing", "")
        if pair(a) != pair(b):
            differ.append(f"  {case_id}: direct {pair(a)}, proxy {pair(b)}")
    print(f"\ncases whose verdict differs: {len(differ)}")
    print("\n".join(differ))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
