"""The verification loop: the same input spikes through the trained model and through ngspice (PAPER.md §6).

Why: the whole point of the bottom-up flow is that the trained model predicts the circuit. This module
measures how well: for each test sample it takes the model's spike times of every layer (eval mode, no
noise, exact solver), runs the generated testbench with the same input spikes in ngspice, reads every
neuron's firing time from its output node (rising crossing of VDD/2, linearly interpolated), converts it to
model units (t = (t_cross - t_firing_phase_start) / T) and compares.

Two ways to simulate (``mode``):

* ``network``: the whole pipelined network in one deck per sample (small networks such as Iris 5-5-5).
  Errors propagate from layer to layer exactly as on silicon.
* ``column``: each neuron with its column of synapses in its own deck, driven by the MODEL's spike times of
  the previous layer (big networks). Jobs are independent and are spread by :mod:`generator.execute`; the
  error of each layer is then measured on its own (no propagation).

Calibration (PAPER.md Algorithms 5-6), on a calibration subset taken from the TRAINING split, so it is
disjoint from the reported (test) samples:

* ``bottom-up``: one global current scale (scale_pos = scale_neg), coarse-to-fine grid down to 1 % steps;
* ``top-down``: separate positive/negative scales, 2-D coarse-to-fine grid down to 1 % steps.

Each evaluation re-maps the model with the scales and simulates the calibration samples. The objective is
the RMSE (ns) of the output-layer spike times, as in the paper.

Units: times in model units (one phase = 1) unless a name ends in ``_ns`` or ``_s``; voltages in V.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from generator.circuit.effects import NO_EFFECTS
from generator.design import CircuitParams, Design, DeviceProfile
from generator.errors import DesignError, RunError
from generator.execute import Executor, Failed
from generator.spice.waveform import crossing_time

FLOWS = ("bottom-up", "top-down")
MODES = ("auto", "network", "column")
#: reversal potentials of the model side: the card's global E± (as trained) or each synapse's own E± from the
#: λ(I) of its mapped current (generator.circuit.mapping.per_synapse_reversal)
MODEL_E = ("global", "per-synapse")
#: networks with at most this many synapses are simulated whole (``mode="auto"``); bigger ones column by column
NETWORK_MODE_MAX_SYNAPSES = 2000
#: at most this many points per membrane/output trace kept in memory for the plots
TRACE_POINTS = 1500
DEFAULT_PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "sky130_tt_27C.json"


class VerifyError(RunError):
    """The verification cannot run (bad model, unknown flow, no sample simulated); the message says the fix."""


# ============================================================================================ waveforms
def decimate(t: np.ndarray, v: np.ndarray, n: int = TRACE_POINTS) -> tuple[list[float], list[float]]:
    """Resample a trace onto ``n`` evenly spaced times (for plots; the metrics use the full-resolution trace)."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    if t.size <= n:
        return t.tolist(), v.tolist()
    grid = np.linspace(t[0], t[-1], n)
    return grid.tolist(), np.interp(grid, t, v).tolist()


# ============================================================================================ the model side
def _phi(f: float, dt: float) -> float:
    """(1 - exp(-f dt)) / f, exact also for f -> 0 (no 0/0)."""
    x = f * dt
    return dt if abs(x) < 1e-12 else -math.expm1(-x) / f


def model_membrane_trace(t_in: Sequence[float], weights: Sequence[float], e_pos: float | Sequence[float],
                         e_neg: float | Sequence[float], e_dis: float | None = None,
                         n: int = 400, step: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The model's membrane potential v(t) of one neuron over its accumulation phase [0, 1) and firing
    phase [1, 2] (model units), for the plots (PAPER.md Eq. 20 and 82-85).

    Accumulation: dv/dt = sum_j w_j (1 - v/E_j) theta(t - t_j), E_j = e_pos for w_j >= 0 else e_neg, solved
    exactly between input spikes. Firing: the ramp dv/dt = 1 (or the RC ramp with finite ``e_dis``) up to the
    threshold 1, where the neuron fires; v is held at 1 afterwards. ``e_pos``/``e_neg``: one number, or one
    per input synapse (per-synapse reversal potentials, a row of the [N_out, N_in] tensors). ``step``: the
    selector switch-off step added to v at t = 1 (model units; see functional.switch_step).
    """
    t_in = np.asarray(t_in, dtype=float)
    w = np.asarray(weights, dtype=float)
    ep = np.broadcast_to(np.asarray(e_pos, dtype=float), w.shape)
    en = np.broadcast_to(np.asarray(e_neg, dtype=float), w.shape)
    beta = np.where(w >= 0, 1.0 / ep, 1.0 / en)
    grid = np.linspace(0.0, 2.0, 2 * n + 1)
    out = np.empty_like(grid)
    order = np.argsort(t_in, kind="stable")
    events = [(float(t_in[j]), j) for j in order if t_in[j] < 1.0]
    v, t_prev, f, g = 0.0, 0.0, 0.0, 0.0
    k = 0
    for gi, tg in enumerate(grid[: n + 1]):  # accumulation phase on [0, 1]
        while k < len(events) and events[k][0] <= tg:
            te, j = events[k]
            v = v * math.exp(-f * (te - t_prev)) + g * _phi(f, te - t_prev)
            t_prev = te
            f += w[j] * beta[j]
            g += w[j]
            k += 1
        out[gi] = v * math.exp(-f * (tg - t_prev)) + g * _phi(f, tg - t_prev)
    v_acc = out[n] + step
    for gi in range(n + 1, 2 * n + 1):  # firing phase on (1, 2]
        s = grid[gi] - 1.0
        if e_dis is None or not math.isfinite(e_dis):
            vv = v_acc + s
        else:
            b = 1.0 / e_dis
            alpha = -math.log(1.0 - b) / b
            vv = (1.0 - (1.0 - b * v_acc) * math.exp(-alpha * b * s)) / b
        out[gi] = min(vv, 1.0)
    return grid, out


@dataclass
class ModelRun:
    """The model's view of the samples: spike times of every layer (input included as layer 0)."""

    card: dict
    times: list[np.ndarray]  # [L+1] arrays [B, N_l]; times[0] = the input spikes
    labels: np.ndarray  # [B]
    indices: np.ndarray  # [B] sample indices within the split
    split: str  # "test" or "train"


def model_spike_times(model_dir: str | os.PathLike, x: "Any", e_dis: float | None | str = "card",
                      reversal: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                      effects: dict | str = "card") -> tuple[list[np.ndarray], dict]:
    """Spike times of every layer for inputs ``x`` [B, N_in] (eval mode, noise 0, the card's eval solver,
    which is the exact solver for MLPs). Returns ([input, layer 1, ..., output] as float64 arrays, card).

    ``e_dis``: "card" keeps the trained firing-phase ramp; a number (or None = ideal ramp) replaces it in
    every layer (e.g. the profile's measured E_dis: the model's prediction of the circuit's real ramp).
    ``reversal``: None keeps the trained global E±; else one (e_pos, e_neg) pair of arrays [N_out, N_in] per
    spiking layer (e.g. :func:`generator.circuit.mapping.per_synapse_reversal`) that replaces them. The
    weights are never changed. ``effects``: "card" keeps the trained circuit effects (or their absence); a dict
    {"reversal_table", "switch_step", "fire_delay", "driven_step"} (generator/circuit/effects.py) replaces them
    in every RC-Spike linear layer (``reversal``, when given, wins over the reversal table).
    """
    import torch

    from generator.model.layers import assign_circuit_effects
    from generator.model.train import load_trained_model

    network, card = load_trained_model(model_dir)
    if effects != "card":
        assign_circuit_effects(network, effects)
    network.eval()
    network.noise_sigma = 0.0
    if e_dis != "card":
        for layer in network.layers:
            if hasattr(layer, "e_dis"):
                layer.e_dis = None if e_dis is None else float(e_dis)
    if reversal is not None:
        _set_reversal(network, reversal, model_dir)
    with torch.no_grad():
        xin = x.reshape(x.shape[0], -1) if x.ndim > 2 else x
        outs = network.forward_all(xin)
    return [xin.double().numpy()] + [o.double().reshape(o.shape[0], -1).numpy() for o in outs], card


def _set_reversal(network, reversal: Sequence[tuple[np.ndarray, np.ndarray]], model_dir) -> None:
    """Give every spiking layer of ``network`` its own E± tensors (float32, [N_out, N_in])."""
    import torch

    layers = network.spiking_layers
    if len(reversal) != len(layers):
        raise VerifyError(f"{len(reversal)} per-synapse E± pairs for the {len(layers)} spiking layers of {model_dir}")
    for k, (layer, (ep, en)) in enumerate(zip(layers, reversal)):
        shape = tuple(layer.weight.shape)
        ep = torch.as_tensor(np.asarray(ep, dtype=np.float64), dtype=torch.float32)
        en = torch.as_tensor(np.asarray(en, dtype=np.float64), dtype=torch.float32)
        if tuple(ep.shape) != shape or tuple(en.shape) != shape:
            raise VerifyError(f"layer {k} of {model_dir}: per-synapse E± of shapes {tuple(ep.shape)}/{tuple(en.shape)}"
                              f" do not match its weight {shape} [out, in]")
        if not (bool((ep > 0).all()) and bool((en < 0).all()) and bool(torch.isfinite(ep).all())
                and bool(torch.isfinite(en).all())):
            raise VerifyError(f"layer {k} of {model_dir}: per-synapse E± must be finite with E+ > 0 > E-")
        for name, val in (("e_pos", ep), ("e_neg", en)):
            if name in layer._buffers:
                layer._buffers[name] = val
            else:
                setattr(layer, name, val)
        layer.reversal_table = None  # the given tensors replace a trained E±(|w|) table too


def load_model_run(model_dir: str | os.PathLike, n: int, *, split: str = "test", offset: int = 0,
                   data_dir: str | os.PathLike | None = None, e_dis: float | None | str = "card",
                   reversal: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                   effects: dict | str = "card") -> ModelRun:
    """The first ``n`` samples (after ``offset``) of the model's dataset split through the model
    (``e_dis``, ``reversal``, ``effects``: see :func:`model_spike_times`)."""
    from generator.model.data import load_dataset
    from generator.model.train import read_card

    card = read_card(model_dir)
    ds = load_dataset(card["dataset"], data_dir)
    x = ds.x_test if split == "test" else ds.x_train
    y = ds.y_test if split == "test" else ds.y_train
    if split == "train":
        # a class-balanced pick so that a few calibration samples cover every class
        order = _interleave_classes(y.numpy())
    else:
        order = np.arange(len(y))
    total = len(order)
    if n <= 0 or offset + n > total:
        raise VerifyError(f"asked for {n} {split} samples (offset {offset}) but {card['dataset']} has {total}")
    idx = order[offset:offset + n]
    times, card = model_spike_times(model_dir, x[idx], e_dis, reversal, effects)
    return ModelRun(card=card, times=times, labels=y.numpy()[idx].astype(int), indices=np.asarray(idx), split=split)


def _interleave_classes(y: np.ndarray) -> np.ndarray:
    """Indices ordered round-robin over classes (class 0's first, class 1's first, ...): a balanced prefix."""
    per = [list(np.nonzero(y == c)[0]) for c in np.unique(y)]
    out = []
    while any(per):
        for lst in per:
            if lst:
                out.append(lst.pop(0))
    return np.asarray(out, dtype=int)


# ============================================================================================ metrics
def predicted_class(t_out: np.ndarray) -> np.ndarray:
    """Earliest output spike wins (ties: lowest index), as generator.model.train.accuracy."""
    return np.argmin(np.asarray(t_out, dtype=float), axis=-1)


def rmse_ns(model_t: np.ndarray, circuit_t: np.ndarray, t_phase_s: float) -> tuple[float, float]:
    """(RMSE, max |error|) in ns of spike-time differences given in model units (NaNs ignored)."""
    d = (np.asarray(circuit_t, dtype=float) - np.asarray(model_t, dtype=float)).ravel() * t_phase_s * 1e9
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan, math.nan
    return float(np.sqrt(np.mean(d ** 2))), float(np.max(np.abs(d)))


# ============================================================================================ calibration search
def _key(*scales: float) -> tuple[float, ...]:
    return tuple(round(float(s), 4) for s in scales)


def search_scale_1d(evaluate: Callable[[list[float]], list[float]], *, start: float = 1.0, coarse_step: float = 0.04,
                    coarse_points: int = 9, fine_step: float = 0.01, fine_radius: int = 3,
                    lo: float = 0.3, hi: float = 3.0, max_shifts: int = 6) -> tuple[float, float, list[tuple]]:
    """Coarse-to-fine grid search of one global current scale (bottom-up, PAPER.md Algorithm 6).

    ``evaluate(scales) -> objectives`` evaluates a batch (so the caller can run the batch in parallel);
    NaN/inf objectives mean "failed". A coarse grid of ``coarse_points`` around ``start`` (shifted while the
    best point is at its edge), then every ``fine_step`` (1 %) within ``fine_radius`` steps of the best.
    Returns (best scale, its objective, [(scale, objective), ...] in evaluation order).
    """
    seen: dict[tuple, float] = {}
    history: list[tuple] = []

    def run(cands: list[float]) -> None:
        todo = [c for c in dict.fromkeys(_key(c)[0] for c in cands) if lo <= c <= hi and _key(c) not in seen]
        if not todo:
            return
        vals = evaluate(todo)
        for c, val in zip(todo, vals):
            val = float(val) if val is not None and np.isfinite(val) else math.inf
            seen[_key(c)] = val
            history.append((c, val))

    def best() -> tuple[float, float]:
        k = min(seen, key=lambda s: (seen[s], abs(s[0] - start), s[0]))
        return k[0], seen[k]

    half = (coarse_points - 1) // 2
    centre = start
    for _ in range(max_shifts + 1):
        run([centre + coarse_step * i for i in range(-half, half + 1)])
        b, _ = best()
        grid = sorted(s[0] for s in seen)
        if b not in (grid[0], grid[-1]) or b <= lo or b >= hi:
            break
        centre = b + (coarse_step * half if b == grid[-1] else -coarse_step * half)
    b, _ = best()
    run([b + fine_step * i for i in range(-fine_radius, fine_radius + 1)])
    b, val = best()
    if not math.isfinite(val):
        raise VerifyError("calibration failed: no current scale gave a simulated result "
                          "(every calibration simulation failed; see the failed decks in the report)")
    return b, val, history


def search_scale_secant(evaluate: Callable[[list[float]], list[tuple[float, float]]], *, start: float = 1.0,
                        probe: float = 0.03, step: float = 0.01, lo: float = 0.3, hi: float = 3.0,
                        max_walk: int = 12) -> tuple[float, float, list[tuple]]:
    """Global current scale in few evaluations (bottom-up): root of the mean signed spike-time error, then a
    walk on the 1 % lattice to the local RMSE minimum.

    ``evaluate(scales) -> [(rmse, bias), ...]``: bias = mean(circuit - model) spike time; more current makes
    spikes earlier, so the bias falls monotonically with the scale. Two probes at start ± ``probe`` give the
    secant root s*; then s* and its 1 % neighbours are evaluated and the walk continues downhill. Falls back
    to :func:`search_scale_1d` when the probes fail or do not bracket a usable slope.
    Returns (best scale, its RMSE, [(scale, rmse), ...]).
    """
    seen: dict[float, tuple[float, float]] = {}
    history: list[tuple] = []

    def run(cands: list[float]) -> None:
        todo = [c for c in dict.fromkeys(round(float(c), 4) for c in cands) if lo <= c <= hi and c not in seen]
        if not todo:
            return
        for c, val in zip(todo, evaluate(todo)):
            r, b = (val if isinstance(val, (tuple, list)) else (val, math.nan))
            r = float(r) if r is not None and np.isfinite(r) else math.inf
            seen[c] = (r, float(b) if b is not None else math.nan)
            history.append((c, r))

    s0, s1 = round(start - probe, 4), round(start + probe, 4)
    run([s0, s1])
    b0, b1 = seen.get(s0, (math.inf, math.nan))[1], seen.get(s1, (math.inf, math.nan))[1]
    if not (np.isfinite(b0) and np.isfinite(b1)) or b1 == b0 or (b0 - b1) * (s1 - s0) <= 0:
        best, val, hist = search_scale_1d(lambda sc: [v[0] if isinstance(v, (tuple, list)) else v
                                                      for v in evaluate(sc)], start=start, lo=lo, hi=hi)
        return best, val, history + list(hist)
    root = s0 - b0 * (s1 - s0) / (b1 - b0)
    centre = min(max(round(round(root / step) * step, 4), lo), hi)
    run([centre - step, centre, centre + step])
    for _ in range(max_walk):
        best = min(seen, key=lambda c: (seen[c][0], abs(c - centre)))
        nxt = [round(best - step, 4), round(best + step, 4)]
        if all(c in seen or not lo <= c <= hi for c in nxt):
            break
        run(nxt)
    best = min(seen, key=lambda c: (seen[c][0], abs(c - start)))
    if not math.isfinite(seen[best][0]):
        raise VerifyError("calibration failed: no current scale gave a simulated result "
                          "(every calibration simulation failed; see the failed decks in the report)")
    return best, seen[best][0], history


def search_scale_2d(evaluate: Callable[[list[tuple[float, float]]], list[float]], *, start=(1.0, 1.0),
                    steps: Sequence[float] = (0.1, 0.03, 0.01), radii: Sequence[int] = (3, 2, 1),
                    lo: float = 0.3, hi: float = 3.0, max_shifts: int = 4) -> tuple[tuple[float, float], float, list]:
    """Coarse-to-fine 2-D grid search of (scale_pos, scale_neg) (top-down, PAPER.md Algorithm 5).

    At each level, a (2r+1)^2 grid of spacing ``step`` around the best point so far (re-centred while the best
    lies on the grid's edge); the last level is 1 % steps. Returns ((pos, neg), objective, history).
    """
    seen: dict[tuple, float] = {}
    history: list[tuple] = []

    def run(cands: list[tuple[float, float]]) -> None:
        todo = [c for c in dict.fromkeys(_key(*c) for c in cands)
                if lo <= c[0] <= hi and lo <= c[1] <= hi and c not in seen]
        if not todo:
            return
        vals = evaluate(todo)
        for c, val in zip(todo, vals):
            val = float(val) if val is not None and np.isfinite(val) else math.inf
            seen[c] = val
            history.append((c[0], c[1], val))

    def best() -> tuple[tuple[float, float], float]:
        k = min(seen, key=lambda s: (seen[s], abs(s[0] - start[0]) + abs(s[1] - start[1]), s))
        return k, seen[k]

    centre = _key(*start)
    for step, r in zip(steps, radii):
        for _ in range(max_shifts + 1):
            run([(centre[0] + step * i, centre[1] + step * j) for i in range(-r, r + 1) for j in range(-r, r + 1)])
            b, _ = best()
            on_edge = (abs(b[0] - centre[0]) >= r * step - 1e-9) or (abs(b[1] - centre[1]) >= r * step - 1e-9)
            centre = b
            if not on_edge:
                break
    b, val = best()
    if not math.isfinite(val):
        raise VerifyError("calibration failed: no (scale_pos, scale_neg) gave a simulated result")
    return b, val, history


# ============================================================================================ simulation jobs
@dataclass
class SimJob:
    """One ngspice run: a whole-network testbench for one sample, or one neuron column for one sample.

    ``input_times``: the network's input spikes (network mode) or the layer's input spikes from the model
    (column mode), model units. ``workdir``: where the deck, log and raw file go (kept when the run fails).
    """

    design: Design
    sample: int  # position in the verified sample list
    input_times: list[float]
    workdir: str
    timeout_s: float = 300.0
    layer: int | None = None  # column mode: 0-based spiking layer
    neuron: int | None = None  # column mode: neuron index in that layer
    keep_traces: bool = False


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


def run_job(job: SimJob) -> SimOutcome:
    """Render, simulate and read one job (runs inside an executor worker). Errors propagate (the executor
    records them with the deck path; :class:`generator.spice.ngspice.NgspiceError` carries it)."""
    from generator.pdk import sky130
    from generator.spice import netlist as nl
    from generator.spice.ngspice import run_deck

    design, p = job.design, job.design.params
    wd = Path(job.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    if job.layer is None:  # the whole pipelined network
        nl.write_netlist(design, wd, sample_spikes=job.input_times, sample_note=f"verified sample {job.sample}")
        deck = (wd / "testbench.spice").read_text()
        res = run_deck(deck, wd, name="testbench", timeout_s=job.timeout_s)
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
        sky130.write_model_library(wd, p.corner)
        name = f"col_l{job.layer}_n{job.neuron}"
        deck = nl.render_column_testbench(design, job.layer, job.neuron, job.input_times, lib=sky130.LIBRARY_NAME)
        res = run_deck(deck, wd, name=name, timeout_s=job.timeout_s)
        sched = nl.phase_schedule(1, p)[0]
        t = res["time"]
        times = [[_spike_time(t, res["v(spk)"], sched["fire"], p.vdd, p.t_phase)]]
        traces = {}
        if job.keep_traces:
            traces[f"{job.layer}:{job.neuron}"] = _trace(t, res["v(mem)"], sched["accumulate"][0], p)
    return SimOutcome(sample=job.sample, times=times, layer=job.layer, neuron=job.neuron, traces=traces,
                      wall_s=res.wall_s, deck=str(res.deck_path), warnings=list(res.warnings)[:5])


# ============================================================================================ orchestration
def layer_names(n_layers: int) -> list[str]:
    """"hidden1", ..., "output" for the spiking layers."""
    return [f"hidden{k + 1}" for k in range(n_layers - 1)] + ["output"]


def _as_time(x: float) -> float:
    """A circuit neuron that did not fire in its firing phase sits at the end of it: t = 1 (the model's clamp)."""
    return 1.0 if not math.isfinite(x) else x


def _columns_for(n_out: int, limit: int | None) -> list[int]:
    """Neuron indices simulated per hidden layer in column mode: all (None), none (0), or ``limit`` evenly
    spread (deterministic)."""
    if limit == 0:
        return []
    if limit is None or limit >= n_out:
        return list(range(n_out))
    return sorted(set(int(round(x)) for x in np.linspace(0, n_out - 1, limit)))


def build_jobs(design: Design, times: list[np.ndarray], mode: str, workroot: Path, *, timeout_s: float,
               sample_timeouts: dict[int, float] | None = None, keep_traces: bool = False,
               columns_per_layer: int | None = None, tag: str = "") -> list[SimJob]:
    """Jobs for every sample (network mode) or every (sample, layer, neuron) column (column mode).

    ``times``: the model's spike times [input, layer 1, ..., output], arrays [B, N]. Column jobs of layer k take
    ``times[k]`` (the model's spikes into that layer) as their input.
    """
    sample_timeouts = sample_timeouts or {}
    jobs = []
    n = times[0].shape[0]
    for s in range(n):
        tmo = float(sample_timeouts.get(s, timeout_s))
        if mode == "network":
            jobs.append(SimJob(design, s, [float(x) for x in times[0][s]], str(workroot / f"{tag}s{s:04d}"), tmo,
                               keep_traces=keep_traces))
        else:
            last = len(design.layers) - 1
            for k, layer in enumerate(design.layers):
                for i in _columns_for(layer.n_out, None if k == last else columns_per_layer):
                    jobs.append(SimJob(design, s, [float(x) for x in times[k][s]],
                                       str(workroot / f"{tag}s{s:04d}" / f"l{k}_n{i:04d}"), tmo, layer=k, neuron=i,
                                       keep_traces=keep_traces and k == last))
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


def layer_metrics(model_times: list[np.ndarray], col: Collected, t_phase: float, ok: np.ndarray) -> list[dict]:
    """RMSE / max |error| (ns) per spiking layer over the simulated entries of the samples in ``ok``."""
    out = []
    for k, name in enumerate(layer_names(len(col.times))):
        sim = col.simulated[k] & ok[:, None]
        m = model_times[k + 1][sim]
        c = np.array([_as_time(x) for x in col.times[k][sim]])
        r, mx = rmse_ns(m, c, t_phase) if m.size else (math.nan, math.nan)
        nofire = int(np.sum(~np.isfinite(col.times[k][sim])))
        out.append({"layer": name, "rmse_ns": r, "max_abs_ns": mx, "n_spikes": int(m.size),
                    "circuit_no_spike": nofire, "model_t1": int(np.sum(m >= 1.0 - 1e-9))})
    return out


def _evaluate_scales(weights, card, profile, params, model_times, mode, executor, workroot, *, timeout_s, clip,
                     columns_per_layer, pairs: list[tuple[float, float]], log: list,
                     model_times_for: Callable[[Design], list[np.ndarray]] | None = None) -> list[float]:
    """Calibration objective for each (scale_pos, scale_neg): output-layer RMSE (ns) on the calibration samples
    (column mode: RMSE over the simulated columns of every layer), with the mean signed error (ns, circuit -
    model): [(rmse, bias), ...]. Runs all pairs x samples in one map.

    ``model_times_for(design)``: the model's spike times for that design (per-synapse E± depend on the scaled
    currents); None = ``model_times`` for every pair."""
    from generator.circuit.mapping import design_from_weights

    jobs, owner = [], []
    times_of: dict[int, list[np.ndarray]] = {}
    for pi, (sp, sn) in enumerate(pairs):
        try:
            d = design_from_weights(weights, card, profile, params, scale_pos=sp, scale_neg=sn, clip=clip)
        except DesignError as exc:
            log.append({"scale_pos": sp, "scale_neg": sn, "error": str(exc).splitlines()[0]})
            continue
        times_of[pi] = model_times_for(d) if model_times_for is not None else model_times
        js = build_jobs(d, times_of[pi], mode, workroot, timeout_s=timeout_s, columns_per_layer=columns_per_layer,
                        tag=f"p{sp:.4f}_n{sn:.4f}_")
        jobs += js
        owner += [pi] * len(js)
    results = executor.map(run_job, jobs, label="calibration") if jobs else []
    n = model_times[0].shape[0]
    out = []
    for pi, (sp, sn) in enumerate(pairs):
        sel = [(j, r) for j, r, o in zip(jobs, results, owner) if o == pi]
        if not sel:
            out.append((math.inf, math.nan))
            continue
        col = collect(sel[0][0].design, [j for j, _ in sel], [r for _, r in sel], n)
        ok = ~col.sample_failed
        mt = times_of[pi]
        if col.failures:
            log.append({"scale_pos": sp, "scale_neg": sn, "failed_jobs": len(col.failures),
                        "first_failure": col.failures[0]})
        if mode == "network":
            m = mt[-1][ok].ravel()
            c = np.array([_as_time(x) for x in col.times[-1][ok].ravel()])
        else:
            ms, cs = [], []
            for k in range(len(col.times)):
                sim = col.simulated[k]
                ms.append(mt[k + 1][sim])
                cs.append(np.array([_as_time(x) for x in col.times[k][sim]]))
            m, c = np.concatenate(ms), np.concatenate(cs)
        if m.size:
            val = rmse_ns(m, c, params.t_phase)[0]
            bias = float(np.mean(c - m)) * params.t_phase * 1e9
        else:
            val, bias = math.inf, math.nan
        out.append((val if math.isfinite(val) else math.inf, bias))
    shutil.rmtree(workroot, ignore_errors=True)
    return out


def calibrate(model_dir, profile: DeviceProfile, params: CircuitParams, *, flow: str, n_samples: int,
              executor: Executor, workroot: Path, mode: str, timeout_s: float = 600.0, clip: bool = False,
              columns_per_layer: int | None = None, data_dir=None, model_e_dis: float | None | str = "card",
              search: str = "secant", model_e: str = "global", model_effects: dict | str = "card") -> dict:
    """Find the current scale(s) on ``n_samples`` TRAINING samples (disjoint from the verified test samples).

    ``model_e="per-synapse"``: every candidate scale is compared with the model run with that design's own
    per-synapse E± (:func:`model_times_for_design`).

    Returns {"scale_pos", "scale_neg", "rmse_ns" (calibration objective), "history", "samples" (train
    indices), "failures"}.
    """
    from generator.circuit.mapping import map_model, read_trained_model

    weights, card = read_trained_model(model_dir)
    # the circuit parameters map_model settles (e.g. the discharger bias V_b_dis for the model's E_dis), so
    # that every calibration design differs from the final one by its current scales only
    params = map_model(model_dir, profile, params, clip=True).params
    run = load_model_run(model_dir, n_samples, split="train", data_dir=data_dir, e_dis=model_e_dis,
                         effects=model_effects)
    log: list = []
    # per-synapse E± depend on each candidate design's currents: the model side is re-run per design
    times_for = (functools.partial(model_times_for_design, model_dir, run.times[0], profile=profile,
                                   e_dis=model_e_dis, effects=model_effects) if model_e == "per-synapse" else None)
    kw = dict(timeout_s=timeout_s, clip=clip, columns_per_layer=columns_per_layer, log=log,
              model_times_for=times_for)

    if flow == "bottom-up":
        def objective(scales):
            return _evaluate_scales(weights, card, profile, params, run.times, mode, executor, workroot,
                                    pairs=[(s, s) for s in scales], **kw)

        if search == "secant":
            best, val, hist = search_scale_secant(objective)
        elif search == "grid":
            best, val, hist = search_scale_1d(lambda sc: [v[0] for v in objective(sc)])
        else:
            raise VerifyError(f"unknown search {search!r}; choose secant or grid")
        sp = sn = best
        history = [[s, v] for s, v in hist]
    elif flow == "top-down":
        def objective(pairs):
            return [v[0] for v in _evaluate_scales(weights, card, profile, params, run.times, mode, executor,
                                                   workroot, pairs=list(pairs), **kw)]

        (sp, sn), val, hist = search_scale_2d(objective)
        history = [[a, b, v] for a, b, v in hist]
    else:
        raise VerifyError(f"unknown flow {flow!r}; choose one of {', '.join(FLOWS)}")
    return {"scale_pos": sp, "scale_neg": sn, "rmse_ns": val, "history": history, "n_samples": n_samples,
            "search": search if flow == "bottom-up" else "grid-2d",
            "samples": [int(i) for i in run.indices], "split": "train", "evaluations": len(history),
            "failures": log[:20]}


def model_times_for_design(model_dir: str | os.PathLike, inputs: np.ndarray, design: Design,
                           profile: DeviceProfile, e_dis: float | None | str = "card",
                           effects: dict | str = "card") -> list[np.ndarray]:
    """The model's spike times [input, layer 1, ..., output] for input spikes ``inputs`` [B, N_in] (model
    units) with every synapse's E± from its current in ``design`` (A, after the calibration scale) via the
    profile's λ(I) tables (:func:`generator.circuit.mapping.per_synapse_reversal`)."""
    import torch

    from generator.circuit.mapping import per_synapse_reversal

    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    return model_spike_times(model_dir, x, e_dis, per_synapse_reversal(design, profile), effects)[0]


MODEL_EFFECTS = ("card", "profile", "none")


def resolve_model_effects(model_effects: str, card: dict, profile: DeviceProfile, params: CircuitParams,
                          model_dir) -> dict | str:
    """The circuit effects of the model side (selector switch-off step, firing delay; generator/circuit/
    switch_charge.py, firing_delay.py) for ``model_effects``: "card" (as trained; checked: the step scales as
    1/C_m, so the card's C_m must be the circuit's), "profile" (measured, at these circuit parameters) or "none"
    (the paper's model). Returns "card" or {"reversal_table", "switch_step", "fire_delay", "driven_step"}."""
    from generator.circuit.effects import circuit_effects

    if model_effects == "none":
        return dict(NO_EFFECTS)
    if model_effects == "card":
        st = card.get("switch_step")
        if st is not None and not math.isclose(float(st.get("c_m", params.c_m)), params.c_m, rel_tol=1e-6):
            raise VerifyError(f"{model_dir} was trained with the switch-off step of C_m = {st['c_m']:g} F but the "
                              f"circuit has C_m = {params.c_m:g} F; pass the model's C_m (--c-m) or "
                              "--model-effects profile")
        return "card"
    if model_effects == "profile":
        try:
            return circuit_effects(profile, params)
        except DesignError as exc:
            raise VerifyError(str(exc)) from None
    raise VerifyError(f"unknown model_effects {model_effects!r}; choose one of {', '.join(MODEL_EFFECTS)}")


def _reversal_summary(reversal) -> list[dict]:
    """Range of the per-synapse E± per layer, for the report (dimensionless)."""
    out = []
    for k, (ep, en) in enumerate(reversal):
        out.append({"layer": k, "e_pos_min": float(np.min(ep)), "e_pos_max": float(np.max(ep)),
                    "e_neg_min": float(np.min(en)), "e_neg_max": float(np.max(en))})
    return out


def _relocate(path: str, old_root: str, new_root: Path) -> str:
    return str(new_root / Path(path).relative_to(old_root)) if path and path.startswith(old_root) else path


def verify_model(model_dir: str | os.PathLike, *, out_dir: str | os.PathLike, profile: str | os.PathLike | DeviceProfile | None = None,
                 params: CircuitParams | None = None, n_samples: int = 50, flow: str = "bottom-up", mode: str = "auto",
                 calib_samples: int = 4, scales: tuple[float, float] | None = None, executor: Executor | None = None,
                 timeout_s: float = 600.0, sample_timeouts: dict[int, float] | None = None, clip: bool = False,
                 columns_per_layer: int | None = None, data_dir: str | os.PathLike | None = None,
                 plots: bool = True, model_e_dis: str | float | None = "card", search: str = "secant",
                 model_e: str = "global", model_effects: str = "card") -> dict:
    """Run the verification loop and write ``out_dir/report.json`` (+ plots, failed decks, worst sample's deck).

    ``profile``: DeviceProfile or its JSON path (default profiles/sky130_tt_27C.json). ``params``: circuit
    parameters (corner/temperature of the simulation). ``scales``: (scale_pos, scale_neg) to skip calibration.
    ``sample_timeouts``: per-sample ngspice timeout override (s), by position in the verified list.
    ``columns_per_layer``: column mode only, simulate this many evenly spread neurons of each hidden layer (the
    output layer is always complete, for class agreement). ``model_e_dis``: the firing-phase ramp of the
    model side: "card" (as trained), "profile" (the measured E_dis of the circuit's discharger), "ideal", or a
    number. ``model_e``: reversal potentials of the model side: "global" (the card's E±, as trained) or
    "per-synapse" (each synapse's E± from the λ(I) of its mapped current, after calibration; the weights
    stay as trained, so the change of the error measures the modelling error of one global E±).
    ``model_effects``: the circuit effects of the model side (selector switch-off step, firing delay): "card"
    (as trained), "profile" (measured, from the profile at these circuit parameters; for models trained without
    them) or "none" (the paper's model); see :func:`resolve_model_effects`.
    Returns the report dict.
    """
    from generator.circuit.mapping import map_model, per_synapse_reversal, read_trained_model

    t_start = time.monotonic()
    if flow not in FLOWS:
        raise VerifyError(f"unknown flow {flow!r}; choose one of {', '.join(FLOWS)}")
    if mode not in MODES:
        raise VerifyError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if model_e not in MODEL_E:
        raise VerifyError(f"unknown model_e {model_e!r}; choose one of {', '.join(MODEL_E)}")
    out = Path(out_dir)
    if not isinstance(profile, DeviceProfile):
        ppath = Path(profile) if profile else DEFAULT_PROFILE
        if not ppath.is_file():
            raise VerifyError(f"device profile {ppath} not found; create it with "
                              f"`imcgen characterize --out {ppath}` or pass --profile FILE")
        profile = DeviceProfile.load(ppath)
    params = (params or CircuitParams(corner=profile.corner, temp=profile.temp)).validate()
    weights, card = read_trained_model(model_dir)
    if model_e_dis == "profile":
        model_e_dis = float(profile.e_dis)
    elif model_e_dis == "ideal":
        model_e_dis = None
    elif model_e_dis != "card" and model_e_dis is not None:
        model_e_dis = float(model_e_dis)
    eff_e_dis = card.get("e_dis") if model_e_dis == "card" else model_e_dis
    effects = resolve_model_effects(model_effects, card, profile, params, model_dir)
    if effects == "card":
        eff = {k: card.get(k, v) for k, v in NO_EFFECTS.items()}
    else:
        eff = effects
    out.mkdir(parents=True, exist_ok=True)
    n_syn = sum(w.size for w in weights)
    if mode == "auto":
        mode = "network" if n_syn <= NETWORK_MODE_MAX_SYNAPSES else "column"
    if mode == "column" and eff.get("driven_step") is not None:
        # column testbenches drive every layer with the ideal stimulus edges, not with neuron output logic: the
        # model side takes the ideal-edge switch-off step in every layer (generator/circuit/driven_edge.py)
        eff = {**eff, "driven_step": None}
        effects = eff
    notes = []
    ideal = min(abs(float(card["e_pos"])), abs(float(card["e_neg"]))) >= 50
    if flow == "top-down" and not ideal:
        notes.append(f"top-down flow on a model trained with E+={card['e_pos']}, E-={card['e_neg']} (not ideal)")
    if flow == "bottom-up" and ideal:
        notes.append("bottom-up flow on an ideal (|E±| >= 50) model: expect large errors; use --flow top-down")

    own_executor = executor is None
    if own_executor:
        from generator.execute import get_executor

        executor = get_executor("process")
    try:
        t_cal = time.monotonic()
        if scales is None:
            cal = calibrate(model_dir, profile, params, flow=flow, n_samples=calib_samples, executor=executor,
                            workroot=out / ".work_calib", mode=mode, timeout_s=timeout_s, clip=clip,
                            columns_per_layer=columns_per_layer, data_dir=data_dir, model_e_dis=model_e_dis,
                            search=search, model_e=model_e, model_effects=effects)
        else:
            cal = {"scale_pos": float(scales[0]), "scale_neg": float(scales[1]), "given": True}
        t_cal = time.monotonic() - t_cal
        design = map_model(model_dir, profile, params, scale_pos=cal["scale_pos"], scale_neg=cal["scale_neg"],
                           clip=clip)
        reversal = per_synapse_reversal(design, profile) if model_e == "per-synapse" else None
        run = load_model_run(model_dir, n_samples, split="test", data_dir=data_dir, e_dis=model_e_dis,
                             reversal=reversal, effects=effects)
        work = out / ".work"
        shutil.rmtree(work, ignore_errors=True)
        jobs = build_jobs(design, run.times, mode, work, timeout_s=timeout_s, sample_timeouts=sample_timeouts,
                          keep_traces=plots, columns_per_layer=columns_per_layer)
        t_sim = time.monotonic()
        results = executor.map(run_job, jobs, label="verify")
        t_sim = time.monotonic() - t_sim
        executor_info = executor.describe()
    finally:
        if own_executor:
            executor.close()

    col = collect(design, jobs, results, n_samples)
    ok = ~col.sample_failed
    tp = params.t_phase
    per_layer = layer_metrics(run.times, col, tp, ok)
    model_cls = predicted_class(run.times[-1])
    circ_out = np.vectorize(_as_time)(col.times[-1]) if col.times[-1].size else col.times[-1]
    circ_cls = predicted_class(circ_out)
    samples = []
    for s in range(n_samples):
        entry = {"position": s, "index": int(run.indices[s]), "label": int(run.labels[s]),
                 "model_class": int(model_cls[s]), "model_times": [run.times[k + 1][s].tolist()
                                                                   for k in range(len(design.layers))]}
        if ok[s]:
            r, mx = rmse_ns(run.times[-1][s], circ_out[s], tp)
            entry.update({"circuit_class": int(circ_cls[s]), "rmse_ns": r, "max_abs_ns": mx,
                          "circuit_times": [col.times[k][s].tolist() for k in range(len(design.layers))]})
        else:
            entry.update({"circuit_class": None, "failed": True})
        samples.append(entry)
    n_ok = int(ok.sum())
    agree = float(np.mean(model_cls[ok] == circ_cls[ok])) if n_ok else math.nan
    model_acc = float(np.mean(model_cls == run.labels)) if n_samples else math.nan
    circ_acc = float(np.mean(circ_cls[ok] == run.labels[ok])) if n_ok else math.nan
    worst = max((e for e in samples if not e.get("failed")), key=lambda e: (e["rmse_ns"], -e["position"]), default=None)

    # keep what a person needs: failed decks and the worst sample's deck; drop the rest of the work folder
    failed_dir = out / "failed"
    shutil.rmtree(failed_dir, ignore_errors=True)
    shutil.rmtree(out / "worst_sample", ignore_errors=True)
    for f in col.failures:
        src = Path(f["workdir"])
        dst = failed_dir / src.relative_to(work)
        if src.is_dir():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), str(dst))
        f["deck"] = _relocate(f["deck"], str(src), dst)
        f["workdir"] = str(dst)
    if worst is not None and mode == "network":
        src = work / f"s{worst['position']:04d}"
        if src.is_dir():
            shutil.move(str(src), str(out / "worst_sample"))
            for p in (out / "worst_sample").glob("*.raw"):
                p.unlink()  # large and reproducible from the deck
    shutil.rmtree(work, ignore_errors=True)

    summary = {"rmse_ns": per_layer[-1]["rmse_ns"], "max_abs_ns": per_layer[-1]["max_abs_ns"],
               "class_agreement": agree, "n_samples": n_ok, "flow": flow}
    report = {
        "summary": summary,
        "model": {"dir": Path(model_dir).as_posix(), "name": card.get("name"), "arch": card.get("arch"),
                  "dataset": card.get("dataset"), "e_pos": card.get("e_pos"), "e_neg": card.get("e_neg"),
                  "e_dis": card.get("e_dis"), "test_accuracy_card": card.get("test_accuracy"),
                  "e_dis_used": eff_e_dis, "model_e": model_e, "model_effects": model_effects,
                  "effects_used": {"reversal_table": eff["reversal_table"] is not None,
                                   "switch_step": eff["switch_step"] is not None, "fire_delay": eff["fire_delay"],
                                   "driven_step": eff.get("driven_step") is not None},
                  "per_synapse_e": _reversal_summary(reversal) if reversal is not None else None},
        "flow": flow, "mode": mode, "corner": params.corner, "temp": params.temp,
        "params": asdict(design.params), "profile": {"e_pos": profile.e_pos, "e_neg": profile.e_neg, "e_dis": profile.e_dis,
                                             "corner": profile.corner, "temp": profile.temp},
        "calibration": cal,
        "metrics": {"per_layer": per_layer, "class_agreement": agree, "model_accuracy": model_acc,
                    "circuit_accuracy": circ_acc, "n_requested": n_samples, "n_simulated": n_ok,
                    "n_failed": int(col.sample_failed.sum()), "jobs": len(jobs),
                    "columns_per_layer": columns_per_layer if mode == "column" else None},
        "worst_sample": worst["position"] if worst else None,
        "failures": col.failures,
        "samples": samples,
        "notes": notes,
    }
    from generator import report as R

    plots_written = []
    if plots and n_ok:
        plots_written = _write_plots(out, report, design, run, col, worst, eff_e_dis, reversal, eff)
    report["plots"] = plots_written
    R.write_report(out / "report.json", report)
    # timings vary from run to run: kept apart so report.json stays byte-identical for equal inputs
    R.write_report(out / "timing.json", {"total_s": time.monotonic() - t_start, "calibration_s": t_cal,
                                         "simulation_s": t_sim, "ngspice_cpu_wall_s": col.wall_s,
                                         "executor": executor_info, "jobs": len(jobs)})
    return report


def _write_plots(out: Path, report: dict, design: Design, run: ModelRun, col: Collected, worst: dict | None,
                 e_dis: float | None, reversal: list | None = None, effects: dict | None = None) -> list[str]:
    import torch

    from generator import report as R
    from generator.model.functional import reversal_from_table
    from generator.model.functional import switch_step as switch_step_fn

    names = layer_names(len(design.layers))
    tp_ns = design.params.t_phase * 1e9
    ok = ~col.sample_failed
    scatter, hist = [], []
    for k, name in enumerate(names):
        sim = col.simulated[k] & ok[:, None]
        m = run.times[k + 1][sim]
        c = np.array([_as_time(x) for x in col.times[k][sim]])
        scatter.append({"name": name, "model": m.tolist(), "circuit": c.tolist()})
        hist.append({"name": name, "diff_ns": ((c - m) * tp_ns).tolist()})
    written = [R.plot_spike_scatter(out / "spike_scatter.png", scatter, tp_ns).name,
               R.plot_error_histogram(out / "error_histogram.png", hist).name]
    cal = report["calibration"]
    if cal.get("history"):
        written.append(R.plot_calibration(out / "calibration.png", cal["history"], report["flow"]).name)
    if worst is not None:
        s = worst["position"]
        tr = col.traces.get(s, {})
        panels = []
        for k, layer in enumerate(design.layers):
            keys = [f"{k}:{i}" for i in range(layer.n_out)]
            if not all(key in tr for key in keys):
                continue
            table = (effects or {}).get("reversal_table")
            if reversal is None and table is not None:
                ep, en = reversal_from_table(torch.as_tensor(np.asarray(layer.weights)), table)
                e_rows = list(zip(ep.numpy(), en.numpy()))
            elif reversal is None:
                e_rows = [(design.e_pos, design.e_neg)] * layer.n_out
            else:
                e_rows = [(reversal[k][0][i], reversal[k][1][i]) for i in range(layer.n_out)]
            steps = switch_step_fn(torch.as_tensor(run.times[k][s:s + 1]), torch.as_tensor(np.asarray(layer.weights)),
                                   (effects or {}).get("switch_step"))[0].tolist()
            model_tr = [model_membrane_trace(run.times[k][s], layer.weights[i], e_rows[i][0], e_rows[i][1], e_dis,
                                             step=steps[i]) for i in range(layer.n_out)]
            panels.append({"name": names[k], "model": model_tr, "circuit": [tr[key] for key in keys],
                           "model_spikes": run.times[k + 1][s].tolist(),
                           "circuit_spikes": col.times[k][s].tolist()})
        if panels:
            title = (f"worst sample #{worst['index']} ({report['flow']}): output RMSE {worst['rmse_ns']:.2f} ns, "
                     f"model class {worst['model_class']}, circuit class {worst['circuit_class']}")
            written.append(R.plot_membrane_traces(out / "membrane_worst.png", panels, title).name)
    return written
