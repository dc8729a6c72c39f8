"""Cost of one SPICE neuron column: today's deck and settings vs the fast deck vs the tight-tolerance reference.

Columns (issue 14): a 784-input column of ``trained_models/mnist`` (hidden neuron, driven by one real MNIST test
image), a 400-input column (output neuron, driven by the model's hidden spike times of that image) and a 64-input
column of ``trained_models/digits``. Variants per column (generator/spice/fast.py):

* ``today``: ``render_column_testbench`` as the verification runs it (X instances, ``OPTIONS`` throughout, to the
  end of the firing phase);
* ``fast``: ``fast=True`` (synapse FETs as M lines on shared cards, rbodymod=0; the synapses whose input never
  spikes lumped per polarity and 50 mV bias bin; reltol 3e-4 in reset and accumulation, reltol 1e-6 chgtol 1e-16
  from 5 ns before its end; stop once the neuron fired);
* ``ref``: ``FastDeck.reference()``: shared cards (SkyWater's, unchanged), reltol 1e-6 chgtol 1e-16 throughout, to the end
  (the M lines change the spike time by < 0.01 ns at this tolerance: ``ref_x``, measured on the small column);
* extra variants with ``--variants``: ``nolump`` (the fast deck with every synapse drawn), ``lump_coarse`` (one
  lumping bin per polarity), ``ref_x`` (X instances at reference tolerance), ``shared`` (M lines at today's
  settings), ``sched`` (X instances with the schedule).

Each variant runs in its own forked worker; CPU s = the worker's getrusage(RUSAGE_CHILDREN) user+sys delta (the
ngspice child), memory = that child's peak resident set (VmHWM polled from /proc; ru_maxrss would include the
forking Python). Spike error = spike time - the reference's (ns).

    .venv/bin/python benchmarks/column_cost.py [--json] [--quick] [--columns 64,400,784|none] [--variants today,fast,ref[,nolump,...]]
                                               [--backends N]

``--quick``: only the 64-input column. The last line printed is a JSON object
``{"cpu_s_784": ..., "speedup_784": ..., "max_dt_ns": ...}`` (null where a column was not measured).
Run it niced on a shared machine: ``nice -n 10``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.circuit.mapping import map_model  # noqa: E402
from generator.design import DeviceProfile  # noqa: E402
from generator.spice import netlist as nl  # noqa: E402
from generator.spice.fast import FastDeck  # noqa: E402
from generator.spice.sim import Simulation  # noqa: E402
from generator.spice.waveform import crossing_time  # noqa: E402

PROFILE = REPO / "profiles" / "sky130_tt_27C.json"


def variant_spec(name: str):
    """Variant name -> the ``fast`` argument of render_column_testbench."""
    from generator.spice.netlist import OPTIONS
    return {
        "today": False,
        "fast": True,
        "ref": FastDeck.reference(),
        "ref_x": FastDeck.reference(shared_models=False),
        "shared": FastDeck(schedule=False, options=OPTIONS, stop_on_spike=False, card_overrides=(), lump_bin_v=None),
        "sched": FastDeck(shared_models=False, lump_bin_v=None),
        "nolump": FastDeck(lump_bin_v=None),
        "lump_coarse": FastDeck(lump_bin_v=10.0),
    }[name]


# ------------------------------------------------------------------------------------------------ columns
def _sample_times(model: str, layer: int) -> np.ndarray:
    """Input spike times of ``layer`` (0-based) for test sample 0 (the model's own spikes for layer > 0)."""
    from generator.verify.model_side import model_spike_times
    from generator.model.data import load_digits, load_mnist

    data = Path(os.environ.get("IMCGEN_DATA", REPO.parent / "shared" / "datasets"))
    ds = load_mnist(data) if model == "mnist" else load_digits()
    x = ds.x_test[:1]
    times, _ = model_spike_times(REPO / "trained_models" / model, x)
    return times[layer][0], times[layer + 1][0]


def column(n_in: int) -> dict:
    """The design, layer, neuron and input times of the ``n_in``-input column."""
    model, layer = {64: ("digits", 1), 400: ("mnist", 1), 784: ("mnist", 0)}[n_in]
    design = map_model(REPO / "trained_models" / model, DeviceProfile.load(PROFILE))
    t_in, t_out = _sample_times(model, layer)
    # the neuron whose model spike is nearest the middle of the firing phase (it surely fires in the circuit)
    fires = np.where(np.isfinite(t_out) & (t_out < 0.95), t_out, np.inf)
    neuron = int(np.argmin(np.abs(fires - 0.5)))
    assert design.layers[layer].n_in == n_in, (design.layers[layer].n_in, n_in)
    return {"design": design, "layer": layer, "neuron": neuron, "times": [float(t) for t in t_in],
            "model": model, "model_t": float(t_out[neuron]),
            "n_spiking_inputs": int(np.sum(np.asarray(t_in) < 1.0))}


# ------------------------------------------------------------------------------------------------ one run
class ChildPeak:
    """Peak resident memory (VmHWM, MB) of this process's children, polled from /proc while they run.

    Why not ru_maxrss: Linux carries the forking process's resident set (this Python, torch loaded: ~270 MB)
    over the exec into the child's ru_maxrss, which would hide the small decks' memory. VmHWM of the exec'd
    image is its own."""

    def __init__(self, period_s: float = 0.05):
        self.period_s = period_s
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            try:
                kids = set()
                for tid in os.listdir(f"/proc/{me}/task"):
                    kids.update(Path(f"/proc/{me}/task/{tid}/children").read_text().split())
                for pid in kids:
                    # only the exec'd simulator (a child caught between fork and exec is a copy of this Python)
                    if Path(f"/proc/{pid}/comm").read_text().strip() != "ngspice":
                        continue
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            self._stop.wait(self.period_s)

    def __enter__(self) -> "ChildPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _run(col: dict, variant: str, workdir: str, q, spec=None) -> None:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    design = col["design"]
    p = design.params
    try:
        with Simulation(p.corner, workdir) as sim:
            deck = nl.render_column_testbench(design, col["layer"], col["neuron"], col["times"],
                                              lib=sim.library.name,
                                              fast=variant_spec(variant) if spec is None else spec)
            with ChildPeak() as peak:
                res = sim.run(deck, name=f"col_{variant}", timeout_s=3600)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        fire = nl.phase_schedule(1, p)[0]["fire"]
        tc = crossing_time(res["time"], res["v(spk)"], p.vdd / 2, rising=True, t_start=fire[0], t_stop=fire[1])
        q.put({"cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
               "maxrss_mb": peak.peak_kb / 1024.0, "wall_s": res.wall_s,
               "spike_ns": (tc - fire[0]) * 1e9 if math.isfinite(tc) else None,
               "points": int(res["time"].size), "deck_kb": len(deck) / 1024.0})
    except Exception as e:  # noqa: BLE001 - reported in the table
        q.put({"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"})


def run_variant(col: dict, variant: str, workdir: Path, spec=None) -> dict:
    """Run one variant (or ``spec``, a FastDeck, under the name ``variant``) in a forked worker."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_run, args=(col, variant, str(workdir), q, spec))
    proc.start()
    out = q.get()
    proc.join()
    return out


# ------------------------------------------------------------------------------------------------ back-ends
def backend_overhead(n_runs: int, root: Path) -> dict:
    """Per-simulation cost of BatchNgspice vs SharedNgspice on a small deck: ``n_runs`` runs of one Iris column
    (today's deck) through Simulation.run each; wall s per run (mean of all but the first: the shared child's
    start is paid once) and CPU s per run (this process + children: getrusage SELF + CHILDREN deltas; the
    shared child is a child)."""
    from generator.spice.sim import BatchNgspice, SharedNgspice

    design = map_model(REPO / "trained_models" / "iris", DeviceProfile.load(PROFILE))
    rng = np.random.default_rng(0)
    t_in = np.where(rng.uniform(size=design.layers[0].n_in) < 0.2, 1.0, rng.uniform(size=design.layers[0].n_in))
    out = {}
    for tag, backend in (("batch", BatchNgspice()), ("shared", SharedNgspice())):
        with Simulation("tt", root / f"backend_{tag}", backend=backend) as sim:
            deck = nl.render_column_testbench(design, 0, 0, t_in, lib=sim.library.name)
            first = time.monotonic()
            sim.run(deck, name="warm")
            first = time.monotonic() - first
            r0 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
            t0 = time.monotonic()
            for k in range(n_runs):
                sim.run(deck, name=f"run{k}")
            wall = (time.monotonic() - t0) / n_runs
        if hasattr(backend, "close"):
            backend.close()  # reaps the shared child, so its CPU time is in RUSAGE_CHILDREN
        r1 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu = sum((b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime) for a, b in zip(r0, r1)) / n_runs
        out[tag] = {"first_run_s": first, "wall_s_per_run": wall, "cpu_s_per_run": cpu}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="also print every row as JSON")
    ap.add_argument("--quick", action="store_true", help="only the 64-input digits column")
    ap.add_argument("--columns", default="64,400,784", help="column sizes (of 64, 400, 784)")
    ap.add_argument("--variants", default="today,fast,ref", help="today,fast,ref[,ref_x,shared,sched]")
    ap.add_argument("--backends", type=int, default=0, metavar="N",
                    help="also time N runs of an Iris column on the batch and the shared-library back-ends")
    ap.add_argument("--keep", default="", help="folder for the decks and logs (default: a temporary folder)")
    args = ap.parse_args(argv)
    sizes = [64] if args.quick else [] if args.columns == "none" else [int(s) for s in args.columns.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="column_cost-"))
    rows = []
    print(f"# column cost, ngspice 39, load average {os.getloadavg()[0]:.1f} at start; decks in {root}")
    print(f"{'column':>8} {'variant':>8} {'CPU s':>8} {'wall s':>8} {'peak MB':>8} {'points':>7} "
          f"{'spike ns':>10} {'err ns':>8}")
    summary: dict = {}
    for n in sizes:
        col = column(n)
        res = {}
        for v in variants:
            res[v] = run_variant(col, v, root / f"c{n}" / v)
        ref = res.get("ref", {}).get("spike_ns")
        for v in variants:
            r = res[v]
            err = (r["spike_ns"] - ref) if (ref is not None and r.get("spike_ns") is not None) else None
            row = {"column": n, "variant": v, "model": col["model"], "layer": col["layer"], "neuron": col["neuron"],
                   "spiking_inputs": col["n_spiking_inputs"], **r, "err_ns": err}
            rows.append(row)
            if "error" in r:
                print(f"{n:>8} {v:>8}  failed: {r['error']}")
                continue
            print(f"{n:>8} {v:>8} {r['cpu_s']:8.1f} {r['wall_s']:8.1f} {r['maxrss_mb']:8.0f} {r['points']:7d} "
                  f"{r['spike_ns'] if r['spike_ns'] is not None else float('nan'):10.4f} "
                  f"{err if err is not None else float('nan'):8.4f}")
            sys.stdout.flush()
        t, f = res.get("today", {}), res.get("fast", {})
        summary[f"cpu_s_{n}"] = f.get("cpu_s")
        summary[f"speedup_{n}"] = (t["cpu_s"] / f["cpu_s"]) if t.get("cpu_s") and f.get("cpu_s") else None
        summary[f"dt_fast_ns_{n}"] = next((r["err_ns"] for r in rows if r["column"] == n and r["variant"] == "fast"),
                                          None)
        summary[f"dt_today_ns_{n}"] = next((r["err_ns"] for r in rows if r["column"] == n
                                            and r["variant"] == "today"), None)
    if args.backends:
        bo = backend_overhead(args.backends, root)
        print(f"# back-end overhead, {args.backends} runs of an Iris column (today's deck):")
        for tag, r in bo.items():
            print(f"{tag:>8}: first run {r['first_run_s']:.2f} s, then {r['wall_s_per_run']:.3f} s wall and "
                  f"{r['cpu_s_per_run']:.3f} CPU s per run")
        summary["backend_wall_s"] = {k: v["wall_s_per_run"] for k, v in bo.items()}
        summary["backend_cpu_s"] = {k: v["cpu_s_per_run"] for k, v in bo.items()}
    if args.json:
        for r in rows:
            print(json.dumps(r))
    errs = [abs(r["err_ns"]) for r in rows if r["variant"] == "fast" and r.get("err_ns") is not None]
    last = {"cpu_s_784": summary.get("cpu_s_784"), "speedup_784": summary.get("speedup_784"),
            "max_dt_ns": max(errs) if errs else None,
            **{k: v for k, v in summary.items() if k not in ("cpu_s_784", "speedup_784")}}
    print(json.dumps(last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
