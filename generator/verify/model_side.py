"""The model's side of the comparison: spike times and membrane traces of the trained model on the same inputs
the circuit gets, with the firing ramp, reversal potentials and circuit effects the run asks for.

Why a module of its own: the model side is the reference every circuit number is measured against; it reads
the trained model only through its saved folder (weights + card) and never depends on a simulation.

torch and generator.model are imported inside the functions that need them: loading torch costs about a
second, and ``imcgen --help`` (which imports this package through the commands) should not pay it.

Units: times in model units (one phase = 1); E± and E_dis dimensionless.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from generator.circuit.effects import NO_EFFECTS, circuit_effects
from generator.circuit.mapping import per_synapse_reversal
from generator.design import CircuitParams, Design, DeviceProfile
from generator.errors import DesignError
from generator.verify.options import MODEL_EFFECTS, VerifyError, VerifyInputError, VerifyOptions


# ============================================================================================ membrane trace
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


# ============================================================================================ spike times
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
    import torch  # see the module docstring: torch only when the model actually runs

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
    import torch  # see the module docstring

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


def split_size(model_dir: str | os.PathLike, split: str = "test", data_dir: str | os.PathLike | None = None) -> int:
    """Samples in the model's dataset ``split`` ("test" or "train"): what ``n_samples`` may ask for at most."""
    from generator.model.data import load_dataset  # see the module docstring
    from generator.model.train import read_card

    ds = load_dataset(read_card(model_dir)["dataset"], data_dir)
    return len(ds.y_test if split == "test" else ds.y_train)


def load_model_run(model_dir: str | os.PathLike, n: int, *, split: str = "test", offset: int = 0,
                   data_dir: str | os.PathLike | None = None, e_dis: float | None | str = "card",
                   reversal: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                   effects: dict | str = "card") -> ModelRun:
    """The first ``n`` samples (after ``offset``) of the model's dataset split through the model
    (``e_dis``, ``reversal``, ``effects``: see :func:`model_spike_times`)."""
    from generator.model.data import load_dataset  # see the module docstring
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


def model_times_for_design(model_dir: str | os.PathLike, inputs: np.ndarray, design: Design,
                           profile: DeviceProfile, e_dis: float | None | str = "card",
                           effects: dict | str = "card") -> list[np.ndarray]:
    """The model's spike times [input, layer 1, ..., output] for input spikes ``inputs`` [B, N_in] (model
    units) with every synapse's E± from its current in ``design`` (A, after the calibration scale) via the
    profile's λ(I) tables (:func:`generator.circuit.mapping.per_synapse_reversal`)."""
    import torch  # see the module docstring

    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    return model_spike_times(model_dir, x, e_dis, per_synapse_reversal(design, profile), effects)[0]


# ============================================================================================ settings
def resolve_model_effects(model_effects: str, card: dict, profile: DeviceProfile, params: CircuitParams,
                          model_dir) -> dict | str:
    """The circuit effects of the model side (selector switch-off step, firing delay; generator/circuit/
    switch_charge.py, firing_delay.py) for ``model_effects``: "card" (as trained; checked: the step scales as
    1/C_m, so the card's C_m must be the circuit's), "profile" (measured, at these circuit parameters) or "none"
    (the paper's model). Returns "card" or {"reversal_table", "switch_step", "fire_delay", "driven_step"}."""
    if model_effects == "none":
        return dict(NO_EFFECTS)
    if model_effects == "card":
        st = card.get("switch_step")
        if st is not None and not math.isclose(float(st.get("c_m", params.c_m)), params.c_m, rel_tol=1e-6):
            raise VerifyInputError(f"{model_dir} was trained with the switch-off step of C_m = {st['c_m']:g} F but "
                                   f"the circuit has C_m = {params.c_m:g} F; pass the model's C_m (--c-m) or "
                                   "--model-effects profile")
        return "card"
    if model_effects == "profile":
        try:
            return circuit_effects(profile, params)
        except DesignError as exc:
            raise VerifyInputError(str(exc)) from None
    raise VerifyInputError(f"unknown model_effects {model_effects!r}; choose one of {', '.join(MODEL_EFFECTS)}")


@dataclass(frozen=True)
class ModelSide:
    """How the model side runs, settled once for calibration and verification alike.

    ``e_dis``: what :func:`model_spike_times` takes ("card", a number or None = ideal ramp); ``e_dis_used``: the
    ramp's E_dis in effect (the card's when "card"; dimensionless). ``effects``: "card" or the effects dict
    handed to the model; ``effects_used``: the effects in effect, always a dict (report, plots).
    """

    model_dir: Path
    card: dict
    e_dis: float | None | str
    e_dis_used: float | None
    effects: dict | str
    effects_used: dict
    model_e: str
    model_effects: str

    def run(self, n: int, *, split: str = "test", data_dir=None, reversal=None) -> ModelRun:
        """The model's spike times on the first ``n`` samples of ``split`` with these settings."""
        return load_model_run(self.model_dir, n, split=split, data_dir=data_dir, e_dis=self.e_dis,
                              reversal=reversal, effects=self.effects)

    def reversal_for(self, design: Design, profile: DeviceProfile) -> list | None:
        """Per-synapse E± of ``design`` (model_e = "per-synapse"), else None (the card's global E±)."""
        return per_synapse_reversal(design, profile) if self.model_e == "per-synapse" else None


def settle_model_side(model_dir: str | os.PathLike, card: dict, profile: DeviceProfile, params: CircuitParams,
                      options: VerifyOptions, mode: str) -> ModelSide:
    """The model side for ``options`` at circuit parameters ``params`` simulated in ``mode`` (network/column)."""
    e = options.model_e_dis
    if e == "profile":
        e = float(profile.e_dis)
    elif e == "ideal":
        e = None
    elif e != "card" and e is not None:
        e = float(e)
    e_dis_used = card.get("e_dis") if e == "card" else e
    effects = resolve_model_effects(options.model_effects, card, profile, params, model_dir)
    eff = {k: card.get(k, v) for k, v in NO_EFFECTS.items()} if effects == "card" else effects
    if mode == "column" and eff.get("driven_step") is not None:
        # column testbenches drive every layer with the ideal stimulus edges, not with neuron output logic: the
        # model side takes the ideal-edge switch-off step in every layer (generator/circuit/driven_edge.py)
        eff = {**eff, "driven_step": None}
        effects = eff
    return ModelSide(Path(model_dir), card, e, e_dis_used, effects, eff, options.model_e, options.model_effects)


def reversal_summary(reversal) -> list[dict]:
    """Range of the per-synapse E± per layer, for the report (dimensionless)."""
    out = []
    for k, (ep, en) in enumerate(reversal):
        out.append({"layer": k, "e_pos_min": float(np.min(ep)), "e_pos_max": float(np.max(ep)),
                    "e_neg_min": float(np.min(en)), "e_neg_max": float(np.max(en))})
    return out


def membrane_panels(design: Design, run: ModelRun, sample: int, circuit_traces: dict, circuit_times: list,
                    side: ModelSide, reversal: list | None, names: Sequence[str]) -> list[dict]:
    """Model vs circuit membrane traces of every neuron of ``sample`` (position), one panel per spiking layer
    whose circuit traces were all kept, for :func:`generator.report.plot_membrane_traces` (model units)."""
    import torch  # see the module docstring

    from generator.model.functional import reversal_from_table
    from generator.model.functional import switch_step as switch_step_fn

    s, effects = sample, side.effects_used
    panels = []
    for k, layer in enumerate(design.layers):
        keys = [f"{k}:{i}" for i in range(layer.n_out)]
        if not all(key in circuit_traces for key in keys):
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
        model_tr = [model_membrane_trace(run.times[k][s], layer.weights[i], e_rows[i][0], e_rows[i][1],
                                         side.e_dis_used, step=steps[i]) for i in range(layer.n_out)]
        panels.append({"name": names[k], "model": model_tr, "circuit": [circuit_traces[key] for key in keys],
                       "model_spikes": run.times[k + 1][s].tolist(),
                       "circuit_spikes": circuit_times[k][s].tolist()})
    return panels
