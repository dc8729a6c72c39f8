"""Throughput of the verification loop's column simulations (issue 4 benchmark).

Prints three tables:
1. simulated neuron-columns per second vs column size (synapses per neuron), one worker;
2. overhead of our code (render deck + model library + ngspice via generator.spice.ngspice.run_deck + raw
   parse + spike extraction) over a bare `ngspice -b deck` on the very same decks (goal: under 10 %);
3. speed-up of the local process pool with 2 workers over serial on the same batch of columns.

Columns are random (seeded) weights mapped through the real sky130 device profile, driven by random input
spike times in [0, 1]. Run from the repository root:

    .venv/bin/python benchmarks/verify_throughput.py [--sizes 4 16 64] [--columns 4] [--workers 2] [--json]

Wall times are what they are on the machine at the time: on a shared machine, run it when it is quiet.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator import verify as V  # noqa: E402
from generator.circuit.mapping import design_from_weights  # noqa: E402
from generator.design import CircuitParams, DeviceProfile  # noqa: E402
from generator.execute import Failed, get_executor  # noqa: E402
from generator.spice.ngspice import ngspice_path  # noqa: E402


def column_jobs(n_in: int, n_columns: int, profile: DeviceProfile, root: Path, seed: int = 0) -> list[V.SimJob]:
    """``n_columns`` one-layer jobs with ``n_in`` synapses each (weights ~ N(0, 1/sqrt(n_in)) * 2)."""
    rng = np.random.default_rng(seed + n_in)
    w = rng.normal(0.0, 2.0 / np.sqrt(n_in), size=(n_columns, n_in))
    card = {"e_pos": profile.e_pos, "e_neg": profile.e_neg, "e_dis": profile.e_dis, "name": f"bench{n_in}"}
    design = design_from_weights([w], card, profile, CircuitParams(corner=profile.corner, temp=profile.temp),
                                 clip=True, name=f"bench{n_in}")
    jobs = []
    for i in range(n_columns):
        t_in = rng.uniform(0.0, 1.0, size=n_in).tolist()
        jobs.append(V.SimJob(design, i, t_in, str(root / f"n{n_in}" / f"c{i}"), 600.0, layer=0, neuron=i))
    return jobs


def raw_ngspice(decks: list[Path]) -> float:
    """Seconds for bare `ngspice -b` on each deck, in its own folder (the same decks our runner wrote)."""
    exe = ngspice_path()
    t0 = time.perf_counter()
    for deck in decks:
        subprocess.run([exe, "-b", deck.name], cwd=deck.parent, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 16, 64], help="synapses per column")
    ap.add_argument("--columns", type=int, default=4, help="columns per size")
    ap.add_argument("--workers", type=int, default=2, help="workers of the process pool for the speed-up table")
    ap.add_argument("--profile", default=str(REPO / "profiles" / "sky130_tt_27C.json"))
    ap.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    args = ap.parse_args(argv)
    profile = DeviceProfile.load(args.profile)
    rows, over, speed = [], [], []
    with tempfile.TemporaryDirectory(prefix="imcgen_bench_") as tmp:
        root = Path(tmp)
        serial = get_executor("serial")
        for n_in in args.sizes:
            jobs = column_jobs(n_in, args.columns, profile, root / "serial")
            t0 = time.perf_counter()
            res = serial.map(V.run_job, jobs, progress=False)
            ours = time.perf_counter() - t0
            bad = [r for r in res if isinstance(r, Failed)]
            if bad:
                print(f"size {n_in}: {len(bad)} column(s) failed: {bad[0].message}", file=sys.stderr)
            decks = [Path(r.deck) for r in res if not isinstance(r, Failed)]
            raw = raw_ngspice(decks)
            rows.append({"synapses": n_in, "columns": len(jobs), "wall_s": ours, "columns_per_s": len(jobs) / ours})
            over.append({"synapses": n_in, "ours_s": ours, "raw_ngspice_s": raw, "overhead": ours / raw - 1.0})
        n_in = args.sizes[min(1, len(args.sizes) - 1)]
        batch = column_jobs(n_in, max(args.columns, 2 * args.workers), profile, root / "speedup")
        t0 = time.perf_counter()
        serial.map(V.run_job, batch, progress=False)
        t_serial = time.perf_counter() - t0
        with get_executor("process", workers=args.workers) as pool:
            pool.map(V.run_job, batch[:args.workers], progress=False)  # start the workers (not timed)
            t0 = time.perf_counter()
            pool.map(V.run_job, batch, progress=False)
            t_pool = time.perf_counter() - t0
        speed.append({"synapses": n_in, "columns": len(batch), "serial_s": t_serial, "workers": args.workers,
                      "pool_s": t_pool, "speedup": t_serial / t_pool})

    print("\n1) neuron-columns per second (serial, one ngspice at a time)")
    print(f"{'synapses':>9} {'columns':>8} {'wall s':>9} {'columns/s':>10}")
    for r in rows:
        print(f"{r['synapses']:>9} {r['columns']:>8} {r['wall_s']:>9.2f} {r['columns_per_s']:>10.3f}")
    print("\n2) overhead of our code over bare `ngspice -b` on the same decks")
    print(f"{'synapses':>9} {'ours s':>9} {'ngspice s':>10} {'overhead':>9}")
    for r in over:
        print(f"{r['synapses']:>9} {r['ours_s']:>9.2f} {r['raw_ngspice_s']:>10.2f} {100 * r['overhead']:>8.1f}%")
    print(f"\n3) process pool speed-up ({speed[0]['workers']} workers, {speed[0]['columns']} columns of "
          f"{speed[0]['synapses']} synapses)")
    print(f"{'serial s':>9} {'pool s':>9} {'speed-up':>9}")
    for r in speed:
        print(f"{r['serial_s']:>9.2f} {r['pool_s']:>9.2f} {r['speedup']:>9.2f}")
    if args.json:
        print(json.dumps({"columns_per_s": {r["synapses"]: r["columns_per_s"] for r in rows},
                          "overhead": {r["synapses"]: r["overhead"] for r in over},
                          "speedup": speed[0]["speedup"]}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
