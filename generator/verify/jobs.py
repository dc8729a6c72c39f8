"""Simulation jobs of the verification loop: what one ngspice run is, how it runs, how results are gathered.

Why: every simulation (calibration and verification alike) is one picklable :class:`SimJob` run by
:func:`run_job` inside an executor worker (generator/execute.py spreads them over local processes or a Dask
cluster). A job is a whole-network testbench for one sample (``network`` mode) or one neuron with its column of
synapses driven by the model's spike times of the previous layer (``column`` mode).

Spike times are read from each neuron's output node as the rising crossing of VDD/2 in its firing phase,
linearly interpolated, and converted to model units: t = (t_cross - t_firing_phase_start) / T.

Units: times in model units (one phase = 1) unless a name ends in ``_s``; voltages in V; timeouts in s.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generator.design import CircuitParams, Design
from generator.errors import DesignError
from generator.execute import Failed
from generator.io import atomic_write_text
from generator.spice import netlist as nl
from generator.spice.fast import FastDeck
from generator.spice.sim import Simulation
from generator.spice.waveform import crossing_time

#: at most this many points per membrane/output trace kept in memory for the plots
TRACE_POINTS = 1500
#: ngspice options of a network testbench per simulator setting (SimJob.settings); "reference" is 10x tighter
#: than the converged settings (the report's numerical-error check). "converged" runs the fast network deck
#: (shared synapse cards, loose until the first layer's accumulation ends, these options after: Iris, 3 samples,
#: 24.0 -> 14.0 CPU s, within 0.007 ns of the reltol-1e-7 reference; benchmarks/README.md)
NETWORK_OPTIONS = {"converged": nl.OPTIONS_CONVERGED, "legacy": nl.OPTIONS, "reference": nl.OPTIONS_TIGHTER}
#: the ``fast`` argument of a column deck per simulator setting: the fast deck, today's deck, the reference
#: (every synapse drawn, reltol 1e-6 throughout, to the end: benchmarks/column_cost.py)
COLUMN_DECKS = {"converged": True, "legacy": False, "reference": FastDeck.reference()}


def decimate(t: np.ndarray, v: np.ndarray, n: int = TRACE_POINTS) -> tuple[list[float], list[float]]:
    """Resample a trace onto ``n`` evenly spaced times (for plots; the metrics use the full-resolution trace)."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    if t.size <= n:
        return t.tolist(), v.tolist()
    grid = np.linspace(t[0], t[-1], n)
    return grid.tolist(), np.interp(grid, t, v).tolist()


#: designs with more synapses than this travel to the workers as one file per run, not inside every job: an MNIST
#: Design pickles to 8.6 MB (0.05 s to dump, 0.19 s to load: ~7 % of a 3.5 s column, and 8.6 MB of network
#: traffic per job on a cluster); the file is read once per worker process (:func:`job_design`)
DESIGN_FILE_MIN_SYNAPSES = 20_000


@dataclass
class SimJob:
    """One ngspice run: a whole-network testbench for one sample, or one neuron column for one sample.

    ``input_times``: the network's input spikes (network mode) or the layer's input spikes from the model
    (column mode), model units. ``workdir``: where the deck, log and raw file go (kept when the run fails).
    ``design``: the Design, or None for a big one, which is read from ``design_file`` (its SHA-256
    ``design_sha``; written by :func:`build_jobs`, on the file system the workers share with the run).
    """

    design: Design | None
    sample: int  # position in the verified sample list
    input_times: list[float]
    workdir: str
    timeout_s: float = 300.0
    layer: int | None = None  # column mode: 0-based spiking layer
    neuron: int | None = None  # column mode: neuron index in that layer
    keep_traces: bool = False
    #: simulator settings (NETWORK_OPTIONS, COLUMN_DECKS): converged (the fast network or column deck), legacy,
    #: or reference (tighter still: the numerical-error check of the report)
    settings: str = "converged"
    design_file: str = ""
    design_sha: str = ""


@dataclass
class SimOutcome:
    """What one run gave: circuit spike times per spiking layer (model units; NaN = no spike in the firing
    phase), and (when asked) decimated traces in model units for the plots."""

    sample: int
    times: list[list[float]]
    layer: int | None = None
    neuron: int | None = None
    traces: dict = field(default_factory=dict)
    wall_s: float = 0.0
    deck: str = ""
    warnings: list[str] = field(default_factory=list)


def _spike_time(t: np.ndarray, v: np.ndarray, fire: tuple[float, float], vdd: float, t_phase: float) -> float:
    """Firing time in model units within the layer's firing phase (NaN: no rising crossing of VDD/2)."""
    tc = crossing_time(t, v, vdd / 2.0, rising=True, t_start=fire[0], t_stop=fire[1])
    return (tc - fire[0]) / t_phase if math.isfinite(tc) else math.nan


def _trace(t: np.ndarray, v: np.ndarray, acc0: float, params: CircuitParams) -> tuple[list[float], list[float]]:
    """Membrane trace in model units over the layer's accumulation and firing phases: x = (t - acc0)/T in
    [0, 2], v = (V0 - V)/V_th (the circuit's membrane is inverted, PAPER.md App. A.2)."""
    sel = (t >= acc0) & (t <= acc0 + 2 * params.t_phase)
    x = (t[sel] - acc0) / params.t_phase
    y = (params.v0 - v[sel]) / params.v_th
    return decimate(x, y)


def job_design(job: SimJob) -> Design:
    """The job's Design: carried in the job, or read (once per process) from its design file."""
    return job.design if job.design is not None else _design_from_file(job.design_file, job.design_sha)


@functools.lru_cache(maxsize=4)
def _design_from_file(path: str, sha: str) -> Design:
    """Design from a file :func:`build_jobs` wrote; keyed by the content's SHA-256, so a reused path with new
    content is read again, and a file changed under the run is an error rather than another design."""
    text = Path(path).read_text()
    if hashlib.sha256(text.encode()).hexdigest() != sha:
        raise DesignError(f"design file {path} changed during the run (its SHA-256 differs from the job's): "
                          "do not share a work folder between runs")
    return Design.from_dict(json.loads(text))


def run_job(job: SimJob) -> SimOutcome:
    """Render, simulate and read one job (runs inside an executor worker). Errors propagate (the executor
    records them with the deck path; :class:`generator.spice.ngspice.NgspiceError` carries it)."""
    design = job_design(job)
    p = design.params
    sim = Simulation(p.corner, job.workdir)  # the job's own folder: kept (the bundle keeps failed/worst decks)
    if job.layer is None:  # the whole pipelined network
        nl.write_netlist(design, sim.workdir, sample_spikes=job.input_times,
                         sample_note=f"verified sample {job.sample}",
                         options=NETWORK_OPTIONS[job.settings], fast=job.settings == "converged")
        deck = (sim.workdir / "testbench.spice").read_text()
        res = sim.run(deck, name="testbench", timeout_s=job.timeout_s)
        sched = nl.phase_schedule(len(design.layers), p)
        t = res["time"]
        times, traces = [], {}
        for k, layer in enumerate(design.layers):
            row = []
            for i in range(layer.n_out):
                row.append(_spike_time(t, res[f"v(s{k + 1}_{i})"], sched[k]["fire"], p.vdd, p.t_phase))
                if job.keep_traces:
                    traces[f"{k}:{i}"] = _trace(t, res[f"v(m{k + 1}_{i})"], sched[k]["accumulate"][0], p)
            times.append(row)
    else:  # one neuron and its column, driven by the model's spike times of the previous layer
        name = f"col_l{job.layer}_n{job.neuron}"
        deck = nl.render_column_testbench(design, job.layer, job.neuron, job.input_times, lib=sim.library.name,
                                          fast=COLUMN_DECKS[job.settings])
        res = sim.run(deck, name=name, timeout_s=job.timeout_s)
        sched = nl.phase_schedule(1, p)[0]
        t = res["time"]
        times = [[_spike_time(t, res["v(spk)"], sched["fire"], p.vdd, p.t_phase)]]
        traces = {}
        if job.keep_traces:
            traces[f"{job.layer}:{job.neuron}"] = _trace(t, res["v(mem)"], sched["accumulate"][0], p)
    return SimOutcome(sample=job.sample, times=times, layer=job.layer, neuron=job.neuron, traces=traces,
                      wall_s=res.wall_s, deck=str(res.deck_path), warnings=list(res.warnings)[:5])


def columns_for(n_out: int, limit: int | None, rng: np.random.Generator | None = None) -> list[int]:
    """Neuron indices simulated in one hidden layer for one sample in column mode: all (None), none (0), or
    ``limit`` of them: drawn at random without replacement by ``rng`` (so that, over the samples, every neuron has
    the same chance and the layer's error estimate is unbiased), or evenly spread when ``rng`` is None."""
    if limit == 0:
        return []
    if limit is None or limit >= n_out:
        return list(range(n_out))
    if rng is not None:
        return sorted(int(i) for i in rng.choice(n_out, size=limit, replace=False))
    return sorted(set(int(round(x)) for x in np.linspace(0, n_out - 1, limit)))


def build_jobs(design: Design, times: list[np.ndarray], mode: str, workroot: Path, *, timeout_s: float,
               sample_timeouts: dict[int, float] | None = None, keep_traces: bool = False,
               columns_per_layer: int | None = None, tag: str = "", settings: str = "converged",
               column_seed: int = 0) -> list[SimJob]:
    """Jobs for every sample (network mode) or every (sample, layer, neuron) column (column mode).

    ``times``: the model's spike times [input, layer 1, ..., output], arrays [B, N]. Column jobs of layer k take
    ``times[k]`` (the model's spikes into that layer) as their input. ``timeout_s`` (s) per deck, overridden
    per sample position by ``sample_timeouts``. ``settings``: :attr:`SimJob.settings`. ``column_seed``: the hidden
    columns of sample s are drawn by ``numpy.random.default_rng([column_seed, s])`` (reproducible, and the same
    sample gets the same columns in any run with the same seed).
    """
    sample_timeouts = sample_timeouts or {}
    jobs = []
    n = times[0].shape[0]
    carried, shared = design, {}
    if sum(layer.n_in * layer.n_out for layer in design.layers) > DESIGN_FILE_MIN_SYNAPSES:
        text = design.to_json()
        path = atomic_write_text(Path(workroot) / f"{tag}design.json", text)
        carried, shared = None, {"design_file": str(path), "design_sha": hashlib.sha256(text.encode()).hexdigest()}
    for s in range(n):
        tmo = float(sample_timeouts.get(s, timeout_s))
        if mode == "network":
            jobs.append(SimJob(carried, s, [float(x) for x in times[0][s]], str(workroot / f"{tag}s{s:04d}"), tmo,
                               keep_traces=keep_traces, settings=settings, **shared))
        else:
            last = len(design.layers) - 1
            for k, layer in enumerate(design.layers):
                rng = np.random.default_rng([column_seed, s])
                for i in columns_for(layer.n_out, None if k == last else columns_per_layer, rng):
                    jobs.append(SimJob(carried, s, [float(x) for x in times[k][s]],
                                       str(workroot / f"{tag}s{s:04d}" / f"l{k}_n{i:04d}"), tmo, layer=k, neuron=i,
                                       keep_traces=keep_traces and k == last, settings=settings, **shared))
    return jobs


@dataclass
class Collected:
    """Circuit spike times gathered from job outcomes: per layer arrays [B, N] (NaN where not simulated or
    no spike), which entries were simulated, traces and failures."""

    times: list[np.ndarray]
    simulated: list[np.ndarray]
    traces: dict[int, dict]
    failures: list[dict]
    wall_s: float
    sample_failed: np.ndarray  # [B] bool


def collect(design: Design, jobs: list[SimJob], results: list, n_samples: int) -> Collected:
    """Gather executor results into per-layer arrays; a Failed job marks its sample (network mode) or its
    column (column mode) as not simulated and is listed with its deck and ngspice's words."""
    sizes = [layer.n_out for layer in design.layers]
    times = [np.full((n_samples, m), np.nan) for m in sizes]
    simulated = [np.zeros((n_samples, m), dtype=bool) for m in sizes]
    traces: dict[int, dict] = {}
    failures = []
    wall = 0.0
    failed = np.zeros(n_samples, dtype=bool)
    for job, res in zip(jobs, results):
        if isinstance(res, Failed):
            deck = res.attrs.get("deck_path") or ""
            failures.append({"sample": job.sample, "layer": job.layer, "neuron": job.neuron,
                             "error_type": res.error_type, "message": res.message.splitlines()[0] if res.message else "",
                             "ngspice": res.attrs.get("message", ""), "deck": deck, "workdir": job.workdir})
            failed[job.sample] = True
            continue
        wall += res.wall_s
        if res.layer is None:
            for k, row in enumerate(res.times):
                times[k][res.sample] = row
                simulated[k][res.sample] = True
        else:
            times[res.layer][res.sample, res.neuron] = res.times[0][0]
            simulated[res.layer][res.sample, res.neuron] = True
        if res.traces:
            traces.setdefault(res.sample, {}).update(res.traces)
    return Collected(times, simulated, traces, failures, wall, failed)


def _relocate(path: str, old_root: str, new_root: Path) -> str:
    """``path`` (under ``old_root``) moved to ``new_root``; compared resolved, because ngspice's deck paths are
    absolute while a work folder may be named relative to the current folder."""
    if not path:
        return path
    try:
        rel = Path(path).resolve().relative_to(Path(old_root).resolve())
    except ValueError:
        return path
    return str(new_root / rel)


def keep_for_inspection(col: Collected, work: Path, out: Path, *, worst_position: int | None, mode: str,
                        final_dir: Path | None = None) -> None:
    """Keep what a person needs and drop the rest of the work folder ``work``: each failed job's folder moves to
    ``out/failed/`` (its entry in ``col.failures`` then names the kept deck), the worst sample's deck (network
    mode) to ``out/worst_sample/`` without its raw file (large and reproducible from the deck).

    ``final_dir``: where ``out`` will be once the run's bundle is swapped in; the failure entries name paths
    there (default ``out``).
    """
    named = Path(final_dir) if final_dir is not None else out
    failed_dir = out / "failed"
    shutil.rmtree(failed_dir, ignore_errors=True)
    shutil.rmtree(out / "worst_sample", ignore_errors=True)
    for f in col.failures:
        src = Path(f["workdir"])
        rel = src.relative_to(work)
        dst = failed_dir / rel
        if src.is_dir():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), str(dst))
        f["deck"] = _relocate(f["deck"], str(src), named / "failed" / rel)  # after the move: resolve() still works
        f["workdir"] = str(named / "failed" / rel)
    if worst_position is not None and mode == "network":
        src = work / f"s{worst_position:04d}"
        if src.is_dir():
            shutil.move(str(src), str(out / "worst_sample"))
            for p in (out / "worst_sample").glob("*.raw"):
                p.unlink()  # large and reproducible from the deck
    shutil.rmtree(work, ignore_errors=True)
