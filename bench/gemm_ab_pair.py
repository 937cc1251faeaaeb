"""Runs both builds of bench/gemm_ab.sh (REV as "old" and the working tree as "new", then the roles swapped) and
prints the change's effect with the slot bias divided out.

    bash bench/gemm_ab.sh HEAD && python bench/gemm_ab_pair.py [--runs 2] THREADS ROUNDS  M K N TA TB  [...]

Why: the same source in both slots of one binary has read 0.94-1.08 by the median of paired rounds, one way
over several consecutive runs (dev-zen3, bench/RESULTS.md), so one binary resolves a change no better than
about +-5%.  The bias goes with the slot: with f the forward median (new/old) and r the reverse one (old/new,
the same two sources in the other slots), sqrt(f / r) estimates the change with it divided out.  Forward and
reverse runs alternate, so a drift of the host's speed touches both alike.
"""
import argparse
import math
import os
import re
import subprocess
import sys

LINE = re.compile(r"^\s*(\d+x\s*\d+x\s*\d+[^:]*?)\s+(\d+)t: .*median ([0-9.]+) \[[^]]*\](.*)$")


def run(binary, args):
    out = subprocess.run([binary] + args, check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            key = " ".join(m.group(1).split()) + f" {m.group(2)}t"
            res[key] = (float(m.group(3)), "DIFFERENT" in m.group(4))
    return res


def gmean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="runs of each build (alternating), default 2")
    ap.add_argument("--binary", default=os.environ.get("AB_OUT", "/tmp/fnn_gemm_ab"))
    ap.add_argument("args", nargs=argparse.REMAINDER, help="THREADS ROUNDS M K N TA TB [M K N TA TB ...]")
    ns = ap.parse_args()
    if len(ns.args) < 7 or (len(ns.args) - 2) % 5:
        ap.error("expected THREADS ROUNDS followed by groups of M K N TA TB")
    fwd, rev, diff = {}, {}, set()
    for i in range(ns.runs):
        for binary, store in ((ns.binary, fwd), (ns.binary + ".rev", rev)):
            for key, (med, different) in run(binary, ns.args).items():
                store.setdefault(key, []).append(med)
                if different:
                    diff.add(key)
        print(f"run {i + 1} of {ns.runs} done", file=sys.stderr)
    print(f"{'shape':28s} {'forward (new/old)':>24s} {'reverse (old/new)':>24s}  effect")
    for key in fwd:
        f, r = fwd[key], rev.get(key, [])
        if not r:
            continue
        eff = math.sqrt(gmean(f) / gmean(r))
        fs = " ".join(f"{x:.3f}" for x in f)
        rs = " ".join(f"{x:.3f}" for x in r)
        print(f"{key:28s} {fs:>24s} {rs:>24s}  {eff:.3f}{'  DIFFERENT' if key in diff else ''}")


if __name__ == "__main__":
    main()
