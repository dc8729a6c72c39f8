"""Layout generation at scale: time, GDS size and peak memory for square arrays 8x8 .. 784x400 (one layer).

Signs are random (+, -, 0 equally likely): the worst case for run-length array references. C_m is 140 fF of MIM
capacitor plus the column's parasitics (a 784-input column adds ~480 fF). Each size runs in a fresh process so peak
memory (ru_maxrss, whole process) is per size. Goal (issue 5): 784x400 in < 30 s and < 50 MB of GDS. Usage: python benchmarks/layout_scale.py [--sizes 8x8,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

SIZES = ["8x8", "32x32", "128x128", "256x256", "784x400"]

_CHILD = r"""
import json, random, resource, sys, time, tempfile, os
t0 = time.perf_counter()
from generator.design import CircuitParams, Design, LayerDesign, membrane_parasitic
from generator.layout.export import write_layout
n_in, n_out = map(int, sys.argv[1].split("x"))
# C_m = 140 fF of MIM cap plus the column's own parasitics, so the netlist accepts every size
params = CircuitParams(c_m=140e-15 + membrane_parasitic(n_in))
r = random.Random(0)
cur = [[r.choice((1e-7, -1e-7, 0.0)) for _ in range(n_in)] for _ in range(n_out)]
d = Design(f"bench_{n_in}x{n_out}", params,
           [LayerDesign("l0", n_in, n_out, [[0.0] * n_in for _ in range(n_out)], cur, [[None] * n_in for _ in range(n_out)])],
           2.8, -1.53)
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    info = write_layout(d, out, render=False)
t2 = time.perf_counter()
print(json.dumps({"size": sys.argv[1], "import_s": round(t1 - t0, 2), "generate_s": round(t2 - t1, 2),
                  "gds_mb": round(info["gds_bytes"] / 1e6, 2),
                  "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "die_um": info["die_um"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default=",".join(SIZES), help="comma-separated n_in x n_out list")
    args = ap.parse_args()
    print(f"{'size':>9} {'generate s':>10} {'GDS MB':>8} {'peak MB':>8} {'die (µm)':>20}")
    for size in args.sizes.split(","):
        res = subprocess.run([sys.executable, "-c", _CHILD, size], capture_output=True, text=True, check=True)
        row = json.loads(res.stdout.strip().splitlines()[-1])
        die = f"{row['die_um'][0]:.0f} x {row['die_um'][1]:.0f}"
        print(f"{size:>9} {row['generate_s']:>10} {row['gds_mb']:>8} {row['peak_mb']:>8} {die:>20}", flush=True)


if __name__ == "__main__":
    main()
