"""Compares two kosoku (Autobahn-format) index.json reports case by case.

Usage: compare.py [--identical] DIRECT/index.json PROXY/index.json

Prints the count of each verdict (behavior, then close behavior) side by side, then every
case whose verdict differs. A difference is *explained* when the echo server failed the
connection by dropping TCP without a close frame and wiretape, per its relay policy
(`proxy/src/relay.rs`), told the client so with its own close 1011; see docs/hardening.md.
Exit code 0 when every difference is explained (with --identical: when there is none), 1
otherwise.
"""

from __future__ import annotations

import json
import os
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
    args = sys.argv[1:]
    identical = "--identical" in args
    args = [a for a in args if a != "--identical"]
    direct, proxy = load(args[0]), load(args[1])
    for field, title in (("behavior", "verdict"), ("behaviorClose", "close verdict")):
        d = Counter(c[field] for c in direct.values())
        p = Counter(c[field] for c in proxy.values())
        print(f"\n{title:<16} {'direct':>8} {'proxy':>8}")
        for verdict in sorted(set(d) | set(p)):
            print(f"{verdict:<16} {d[verdict]:>8} {p[verdict]:>8}")
        print(f"{'total':<16} {sum(d.values()):>8} {sum(p.values()):>8}")
    proxy_dir = os.path.dirname(args[1])
    explained, unexplained = [], []
    for case_id in sorted(set(direct) | set(proxy), key=case_key):
        a, b = direct.get(case_id), proxy.get(case_id)
        pair = lambda c: (c["behavior"], c["behaviorClose"]) if c else ("missing", "")
        if pair(a) == pair(b):
            continue
        line = f"  {case_id}: direct {pair(a)}, proxy {pair(b)}"
        if (
            not identical
            and a
            and b
            and wiretape_1011_after_a_drop(a, os.path.join(proxy_dir, b["reportfile"]))
        ):
            explained.append(line)
        else:
            unexplained.append(line)
    print(f"\ncases whose verdict differs: {len(explained) + len(unexplained)}")
    print(f"  explained (the echo server dropped TCP, wiretape sent 1011): {len(explained)}")
    print(f"  unexplained: {len(unexplained)}")
    print("\n".join(unexplained))
    if explained:
        ids = ", ".join(l.split(":")[0].strip() for l in explained)
        print(f"\nexplained cases: {ids}")
    return 1 if unexplained else 0


def wiretape_1011_after_a_drop(direct_case: dict, proxy_report: str) -> bool:
    """The server sent no close directly; through the proxy the only close was wiretape's 1011."""
    with open(proxy_report) as f:
        report = json.load(f)
    return (
        direct_case.get("remoteCloseCode") is None
        and report["remoteCloseCode"] == 1011
        and (report["remoteCloseReason"] or "").startswith("wiretape:")
    )


if __name__ == "__main__":
    sys.exit(main())
