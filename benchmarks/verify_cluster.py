"""MNIST column-mode verification on the executors, and what 100 samples cost on a Dask cluster (issue 14).

The jobs are exactly those of ``imcgen verify trained_models/mnist --mode column --columns-per-layer K``: per test
sample, every output column (10 x 400 inputs) and K hidden columns (784 inputs) drawn at random, each driven by
the model's spike times, simulated with the fast column deck. They run three ways on this machine:

* ``serial``: one after another in this process (the per-column cost, no executor overhead);
* ``process``: the local process pool with ``--workers`` workers (``--executor process``, the default);
* ``dask``: a Dask ``LocalCluster`` of ``--workers`` single-threaded worker processes (``--executor dask``; the
  same client code that talks to a remote scheduler with ``--address``).

For each: wall s, the sum of the columns' ngspice wall s, and the executor's overhead per column,
(wall x workers - sum of ngspice wall) / columns. The extrapolation to N samples on W workers is then

    wall(N, W) = N (10 + K) (t_column + overhead) / W          (+ calibration and the numerical check, given)

with t_column and the overhead measured here (a cluster node is assumed as fast as one core of this machine;
scale by the ratio of single-core speeds otherwise). Memory per worker: one ngspice (~55 MB for these decks,
benchmarks/column_cost.py) plus the worker's Python (~0.3 GB with torch imported), so 1 GB per worker is ample.

    .venv/bin/python benchmarks/verify_cluster.py [--samples 2] [--columns-per-layer 5] [--workers 2]
                                                  [--scale 1.0] [--executors serial,process,dask] [--json]

The last line with ``--json``: ``{"t_column_s": ..., "overhead_s": {...}, "wall_100_s": {W: ...}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.circuit.mapping import map_model  # noqa: E402
from generator.design import DeviceProfile  # noqa: E402
from generator.execute import Failed, get_executor  # noqa: E402
from generator.verify.jobs import build_jobs, run_job  # noqa: E402
from generator.verify.model_side import model_spike_times  # noqa: E402

PROFILE = REPO / "profiles" / "sky130_tt_27C.json"
MODEL = REPO / "trained_models" / "mnist"
#: cluster sizes of the extrapolation table (workers = cores)
CLUSTER_WORKERS = (2, 16, 64, 256)


def mnist_jobs(n_samples: int, k_hidden: int, scale: float, root: Path, data_dir: Path) -> list:
    """The verification's column jobs for the first ``n_samples`` MNIST test images."""
    from generator.model.data import load_mnist

    prof = DeviceProfile.load(PROFILE)
    design = map_model(MODEL, prof, scale_pos=scale, scale_neg=scale)  # C_m and pitch from the card
    times, _ = model_spike_times(MODEL, load_mnist(data_dir).x_test[:n_samples])
    return build_jobs(design, times, "column", root, timeout_s=600.0, columns_per_layer=k_hidden)


def run(kind: str, workers: int, jobs: list) -> dict:
    """Wall s and summed ngspice wall s of ``jobs`` on one executor (its start-up is timed apart)."""
    t0 = time.perf_counter()
    ex = get_executor(kind, workers=1 if kind == "serial" else workers)
    start_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        res = ex.map(run_job, jobs, progress=False, label=kind)
        wall = time.perf_counter() - t0
    finally:
        ex.close()
    bad = [r for r in res if isinstance(r, Failed)]
    if bad:
        raise SystemExit(f"{kind}: {len(bad)} of {len(jobs)} columns failed; first: {bad[0].error_type}: "
                         f"{bad[0].message}")
    n_workers = 1 if kind == "serial" else workers
    sim = sum(r.wall_s for r in res)
    return {"executor": kind, "workers": n_workers, "start_s": start_s, "wall_s": wall, "ngspice_s": sim,
            "overhead_s_per_column": (wall * n_workers - sim) / len(jobs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--columns-per-layer", type=int, default=5, help="hidden columns per sample (K)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0, help="current scale (the calibrated one of a real run)")
    ap.add_argument("--executors", default="serial,process,dask")
    ap.add_argument("--data-dir", default=os.environ.get("IMCGEN_DATA", str(REPO.parent / "shared" / "datasets")))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    kinds = [k for k in args.executors.split(",") if k]
    rows = []
    with tempfile.TemporaryDirectory(prefix="verify_cluster-") as tmp:
        for kind in kinds:
            jobs = mnist_jobs(args.samples, args.columns_per_layer, args.scale, Path(tmp) / kind, Path(args.data_dir))
            rows.append(run(kind, args.workers, jobs))
            print(f"{kind:>8}: {len(jobs)} columns on {rows[-1]['workers']} worker(s): {rows[-1]['wall_s']:.1f} s wall "
                  f"(start-up {rows[-1]['start_s']:.1f} s), ngspice {rows[-1]['ngspice_s']:.1f} s, overhead "
                  f"{rows[-1]['overhead_s_per_column']:+.2f} s per column", flush=True)
    n_cols = len(jobs)
    base = next((r for r in rows if r["executor"] == "serial"), rows[0])
    t_col = base["ngspice_s"] / n_cols
    per_sample = 10 + args.columns_per_layer
    print(f"\n# one column: {t_col:.2f} s of ngspice (mean over {n_cols}: 10 output + {args.columns_per_layer} "
          f"hidden per sample)")
    print(f"# 100 samples = {100 * per_sample} columns; wall on W workers (without calibration and check):")
    print(f"{'executor':>8} " + " ".join(f"{'W=' + str(w):>9}" for w in CLUSTER_WORKERS))
    wall_100 = {}
    for r in rows:
        if r["executor"] == "serial":
            continue
        over = max(0.0, r["overhead_s_per_column"])
        walls = [100 * per_sample * (t_col + over) / w for w in CLUSTER_WORKERS]
        wall_100[r["executor"]] = dict(zip(CLUSTER_WORKERS, walls))
        print(f"{r['executor']:>8} " + " ".join(f"{w:>8.0f}s" for w in walls))
    if args.json:
        print(json.dumps({"t_column_s": t_col, "overhead_s": {r["executor"]: r["overhead_s_per_column"] for r in rows},
                          "wall_100_s": wall_100, "rows": rows}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
