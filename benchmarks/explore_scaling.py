"""Exploration throughput: design points per minute with 1 and 2 workers (process pool and Dask), and the
executor's own overhead per point.

Every configuration evaluates the same N Iris points (current scales around 1; one profile and one model, made
once beforehand and copied into each run's cache, so each point is the per-point flow: map, netlist, layout, DRC,
LVS, verify on ``--samples`` samples, energy simulation). Overhead per point = (wall x workers - sum of the time
spent inside the points) / N: pool or cluster start, pickling, scheduling and idle workers at the end; also shown
as a share of a point. A no-op map over the same executor gives its bare per-item cost.

    python benchmarks/explore_scaling.py [--points 4] [--samples 1] [--json]

Goal (issue 13): 2 workers >= 1.7x one worker; overhead < 5 % of a point. On a shared machine the 2-worker figure
is only meaningful when two cores are free.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.execute import get_executor  # noqa: E402
from generator.explore import explore, parse_space  # noqa: E402


def _noop(x):
    return x


def _space(n: int, samples: int):
    scales = [round(0.9 + 0.05 * k, 4) for k in range(n)]
    return parse_space({"name": "scaling", "search": "grid",
                        "fixed": {"dataset": "iris", "arch": "5-5-5", "epochs": 30, "samples": samples,
                                  "mode": "network"},
                        "variables": {"scale": {"values": scales}}})


def run(points: int = 4, samples: int = 1, configs=(("process", 1), ("process", 2), ("dask", 1), ("dask", 2))) -> dict:
    root = Path(tempfile.mkdtemp(prefix="imcgen-explore-bench-"))
    try:
        # warm the caches once (characterise + train), outside the timed runs
        warm = root / "warm"
        explore(_space(1, samples), warm, executor="serial", progress=False)
        rows = []
        for kind, workers in configs:
            out = root / f"{kind}{workers}"
            out.mkdir()
            shutil.copytree(warm / "cache", out / "cache")
            t0 = time.monotonic()
            res = explore(_space(points, samples), out, executor=kind, workers=workers, progress=False)
            wall = time.monotonic() - t0
            inside = sum(float(r["seconds"] or 0) for r in res["rows"])
            ok = sum(r["status"] == "ok" for r in res["rows"])
            per_point = inside / len(res["rows"])
            overhead = (wall * workers - inside) / len(res["rows"])
            with get_executor(kind, workers) as ex:  # bare per-item cost of the executor (after its start)
                ex.map(_noop, range(4 * workers), progress=False)
                t1 = time.monotonic()
                ex.map(_noop, range(20 * workers), progress=False)
                noop = (time.monotonic() - t1) * workers / (20 * workers)
            rows.append({"executor": kind, "workers": workers, "points": len(res["rows"]), "ok": ok,
                         "wall_s": round(wall, 2), "points_per_min": round(60 * len(res["rows"]) / wall, 2),
                         "point_s": round(per_point, 2), "overhead_s_per_point": round(overhead, 2),
                         "overhead_pct": round(100 * overhead / per_point, 1), "noop_ms_per_item": round(1e3 * noop, 2)})
        base = {r["executor"]: r["points_per_min"] for r in rows if r["workers"] == 1}
        for r in rows:
            r["speedup_vs_1"] = round(r["points_per_min"] / base[r["executor"]], 2) if r["executor"] in base else None
        return {"rows": rows, "points": points, "samples": samples}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=4, help="design points per configuration")
    ap.add_argument("--samples", type=int, default=1, help="verified test samples per point")
    ap.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    args = ap.parse_args()
    res = run(args.points, args.samples)
    head = ("executor", "workers", "points", "ok", "wall_s", "points_per_min", "speedup_vs_1", "point_s",
            "overhead_s_per_point", "overhead_pct", "noop_ms_per_item")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in res["rows"]:
        print(" | ".join(str(r[h]) for h in head))
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
