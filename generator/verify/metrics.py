"""Spike-time and class metrics of the verification loop: model vs circuit, per layer and per sample.

Why: the loop's verdict is a few numbers (the paper's §6): the RMSE and max |error| of spike times in ns per
spiking layer, the fraction of samples on which circuit and model pick the same class, and both accuracies.
A circuit neuron that did not fire in its firing phase counts as firing at its end (t = 1, the model's clamp).

Units: spike times in model units (one phase = 1) unless a name ends in ``_ns``; ``t_phase`` in s.
"""

from __future__ import annotations

import math

import numpy as np

from generator.verify.jobs import Collected
from generator.verify.model_side import ModelRun


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


def layer_names(n_layers: int) -> list[str]:
    """"hidden1", ..., "output" for the spiking layers."""
    return [f"hidden{k + 1}" for k in range(n_layers - 1)] + ["output"]


def as_time(x: float) -> float:
    """A circuit neuron that did not fire in its firing phase sits at the end of it: t = 1 (the model's clamp)."""
    return 1.0 if not math.isfinite(x) else x


def layer_pairs(model_times: list[np.ndarray], col: Collected, ok: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per spiking layer (model, circuit) spike times (model units, flat) of the simulated entries of the samples
    in ``ok`` [B] bool; a circuit neuron that did not fire counts as t = 1."""
    out = []
    for k in range(len(col.times)):
        sim = col.simulated[k] & ok[:, None]
        out.append((model_times[k + 1][sim], np.array([as_time(x) for x in col.times[k][sim]])))
    return out


#: confidence level of the report's intervals
CI_LEVEL = 0.95
#: bootstrap resamples of the RMSE interval, and their seed (explicit: the report is byte-identical per input)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def agreement_interval(k: int, n: int, level: float = CI_LEVEL) -> list[float]:
    """Clopper-Pearson (exact binomial) interval [lo, hi] of a proportion k/n: the class agreement measured on n
    samples. Exact rather than normal-approximated because the agreement sits near 1, where the normal
    interval would be too narrow (e.g. 50/50 gives [0.929, 1], not [1, 1])."""
    from scipy.stats import beta

    if n <= 0:
        return [math.nan, math.nan]
    a = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1.0 - a, k + 1, n - k))
    return [lo, hi]


def rmse_interval(sq_sums: np.ndarray, counts: np.ndarray, level: float = CI_LEVEL,
                  resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> list[float]:
    """Percentile-bootstrap interval [lo, hi] (ns) of a pooled RMSE, resampling whole test samples (each sample's
    spikes are correlated, so the sample is the unit): ``sq_sums[s]`` = sum of squared errors (ns²) of sample s,
    ``counts[s]`` its spike count. NaNs when fewer than 2 samples contribute."""
    keep = counts > 0
    ss, nn = np.asarray(sq_sums, dtype=float)[keep], np.asarray(counts, dtype=float)[keep]
    if ss.size < 2:
        return [math.nan, math.nan]
    idx = np.random.default_rng(seed).integers(0, ss.size, size=(resamples, ss.size))
    boot = np.sqrt(ss[idx].sum(axis=1) / nn[idx].sum(axis=1))
    a = (1.0 - level) / 2.0
    return [float(np.quantile(boot, a)), float(np.quantile(boot, 1.0 - a))]


def layer_metrics(model_times: list[np.ndarray], col: Collected, t_phase: float, ok: np.ndarray) -> list[dict]:
    """RMSE / max |error| (ns) per spiking layer over the simulated entries of the samples in ``ok``, with the
    RMSE's bootstrap interval over samples (``rmse_ci95_ns``) and how many samples contributed."""
    out = []
    for k, (name, (m, c)) in enumerate(zip(layer_names(len(col.times)), layer_pairs(model_times, col, ok))):
        sim = col.simulated[k] & ok[:, None]
        r, mx = rmse_ns(m, c, t_phase) if m.size else (math.nan, math.nan)
        nofire = int(np.sum(~np.isfinite(col.times[k][sim])))
        d = np.where(sim, np.vectorize(as_time)(col.times[k]) - model_times[k + 1], 0.0) * t_phase * 1e9
        counts = sim.sum(axis=1)
        out.append({"layer": name, "rmse_ns": r, "rmse_ci95_ns": rmse_interval((d ** 2).sum(axis=1), counts),
                    "max_abs_ns": mx, "n_spikes": int(m.size), "n_samples": int(np.sum(counts > 0)),
                    "circuit_no_spike": nofire, "model_t1": int(np.sum(m >= 1.0 - 1e-9))})
    return out


def compare(run: ModelRun, col: Collected, t_phase: float) -> dict:
    """Everything the report says about the comparison: ``per_layer`` metrics, ``samples`` (one entry per
    verified sample: its index, label, both classes and spike times, output RMSE/max in ns, or ``failed``),
    ``class_agreement`` (with its exact 95 % interval ``class_agreement_ci95``), ``model_accuracy``, ``circuit_accuracy``, ``n_ok`` and ``worst`` (the non-failed
    sample entry of the largest output RMSE, ties: the earliest; None when every sample failed)."""
    n_samples = len(run.labels)
    n_layers = len(col.times)
    ok = ~col.sample_failed
    per_layer = layer_metrics(run.times, col, t_phase, ok)
    model_cls = predicted_class(run.times[-1])
    circ_out = np.vectorize(as_time)(col.times[-1]) if col.times[-1].size else col.times[-1]
    circ_cls = predicted_class(circ_out)
    samples = []
    for s in range(n_samples):
        entry = {"position": s, "index": int(run.indices[s]), "label": int(run.labels[s]),
                 "model_class": int(model_cls[s]), "model_times": [run.times[k + 1][s].tolist()
                                                                   for k in range(n_layers)]}
        if ok[s]:
            r, mx = rmse_ns(run.times[-1][s], circ_out[s], t_phase)
            entry.update({"circuit_class": int(circ_cls[s]), "rmse_ns": r, "max_abs_ns": mx,
                          "circuit_times": [col.times[k][s].tolist() for k in range(n_layers)]})
        else:
            entry.update({"circuit_class": None, "failed": True})
        samples.append(entry)
    n_ok = int(ok.sum())
    return {
        "per_layer": per_layer,
        "samples": samples,
        "class_agreement": float(np.mean(model_cls[ok] == circ_cls[ok])) if n_ok else math.nan,
        "class_agreement_ci95": agreement_interval(int(np.sum(model_cls[ok] == circ_cls[ok])), n_ok),
        "model_accuracy": float(np.mean(model_cls == run.labels)) if n_samples else math.nan,
        "circuit_accuracy": float(np.mean(circ_cls[ok] == run.labels[ok])) if n_ok else math.nan,
        "n_ok": n_ok,
        "worst": max((e for e in samples if not e.get("failed")), key=lambda e: (e["rmse_ns"], -e["position"]),
                     default=None),
    }


def calibration_residuals(model_times: list[np.ndarray], col: Collected, mode: str, t_phase: float) -> np.ndarray:
    """Signed spike-time errors (ns, circuit - model) the scale search works on: the output layer over the samples
    that ran (network mode), or every simulated column of every layer (column mode); empty when nothing ran."""
    m, c = _calibration_pairs(model_times, col, mode)
    return (c - m) * t_phase * 1e9


def _calibration_pairs(model_times: list[np.ndarray], col: Collected, mode: str) -> tuple[np.ndarray, np.ndarray]:
    ok = ~col.sample_failed
    if mode == "network":
        m = model_times[-1][ok].ravel()
        c = np.array([as_time(x) for x in col.times[-1][ok].ravel()])
    else:
        ms, cs = [], []
        for k in range(len(col.times)):
            sim = col.simulated[k]
            ms.append(model_times[k + 1][sim])
            cs.append(np.array([as_time(x) for x in col.times[k][sim]]))
        m, c = np.concatenate(ms), np.concatenate(cs)
    return m, c


def calibration_objective(model_times: list[np.ndarray], col: Collected, mode: str,
                          t_phase: float) -> tuple[float, float]:
    """(RMSE ns, mean signed error ns = circuit - model) the scale search minimises (see
    :func:`calibration_residuals`); (inf, NaN) when nothing ran."""
    m, c = _calibration_pairs(model_times, col, mode)
    if m.size:
        val = rmse_ns(m, c, t_phase)[0]
        bias = float(np.mean(c - m)) * t_phase * 1e9
    else:
        val, bias = math.inf, math.nan
    return (val if math.isfinite(val) else math.inf, bias)
