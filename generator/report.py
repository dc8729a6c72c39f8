"""Plots and results-bundle bookkeeping (report.json writer, manifest with sha256 of every output).

Why: a verification run is judged by a few pictures (the paper's Fig. 7: model vs SPICE membrane traces of
the worst sample, and the distribution of spike-time differences) and by a manifest that says exactly what
was produced from which inputs. Plots use matplotlib's Agg backend (no display needed) and PNG metadata
without version or date, so equal data give byte-identical files.

Units: times in ns on the time axes unless labelled "model units" (one phase = 1); membrane in model units
v = (V0 - V) / V_th (0 = rest, 1 = firing threshold).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from generator.io import atomic_write_bytes, atomic_write_text, dump_json

#: PNG metadata: no software version, no timestamp, so plots are reproducible byte for byte
_PNG_META = {"Software": None}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata=_PNG_META)
    _pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_membrane_traces(path: str | os.PathLike, layers: Sequence[dict], title: str = "") -> Path:
    """Model vs SPICE membrane potential of every neuron, one panel per layer (the paper's Fig. 7b/c).

    ``layers``: per spiking layer a dict with ``name``, ``model`` = [(t, v) per neuron] (t in model units
    from the layer's accumulation start, 0..2), ``circuit`` = [(t, v) per neuron] (same axes),
    ``model_spikes`` / ``circuit_spikes`` = spike times in model units of the firing phase (0..1).
    """
    plt = _pyplot()
    n = max(1, len(layers))
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 2.8 * n), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, layer in zip(axes[:, 0], layers):
        for i, ((tm, vm), (tc, vc)) in enumerate(zip(layer["model"], layer["circuit"])):
            c = colors[i % len(colors)]
            ax.plot(tc, vc, color=c, lw=1.2, label=f"n{i} SPICE" if i < 10 else None)
            ax.plot(tm, vm, color=c, lw=1.0, ls="--", label=f"n{i} model" if i < 10 else None)
        for i, (sm, sc) in enumerate(zip(layer.get("model_spikes", []), layer.get("circuit_spikes", []))):
            c = colors[i % len(colors)]
            if np.isfinite(sm):
                ax.plot([1 + sm], [1.0], marker="v", color=c, ms=6, mfc="none")
            if np.isfinite(sc):
                ax.plot([1 + sc], [1.0], marker="o", color=c, ms=4)
        ax.axhline(1.0, color="0.5", lw=0.6, ls=":")
        ax.axvline(1.0, color="0.5", lw=0.6, ls=":")
        ax.set_xlim(0, 2)
        ax.set_ylabel(f"{layer['name']}\nv (model units)")
        ax.text(0.02, 0.92, "accumulation", transform=ax.transAxes, fontsize=8, va="top")
        ax.text(0.52, 0.92, "firing", transform=ax.transAxes, fontsize=8, va="top")
    axes[-1, 0].set_xlabel("time from the layer's accumulation start (model units, 1 = T)")
    axes[0, 0].legend(fontsize=6, ncol=5, loc="lower right")
    if title:
        axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_spike_scatter(path: str | os.PathLike, per_layer: Sequence[dict], t_phase_ns: float) -> Path:
    """Circuit vs model spike times (ns from the firing-phase start), one colour per layer, with y = x.

    ``per_layer``: dicts with ``name``, ``model`` and ``circuit`` (flat lists, model units).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for layer in per_layer:
        m = np.asarray(layer["model"], dtype=float) * t_phase_ns
        c = np.asarray(layer["circuit"], dtype=float) * t_phase_ns
        ok = np.isfinite(m) & np.isfinite(c)
        ax.scatter(m[ok], c[ok], s=10, alpha=0.7, label=layer["name"])
    ax.plot([0, t_phase_ns], [0, t_phase_ns], color="0.4", lw=0.8)
    ax.set_xlim(0, t_phase_ns)
    ax.set_ylim(0, t_phase_ns)
    ax.set_xlabel("model spike time (ns after firing-phase start)")
    ax.set_ylabel("SPICE spike time (ns after firing-phase start)")
    ax.legend(fontsize=8)
    ax.set_aspect("equal")
    fig.tight_layout()
    return _save(fig, path)


def plot_error_histogram(path: str | os.PathLike, per_layer: Sequence[dict]) -> Path:
    """Histogram of spike-time differences SPICE - model (ns), per layer (the paper's Fig. 7d).

    ``per_layer``: dicts with ``name`` and ``diff_ns`` (flat list).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    allv = np.concatenate([np.asarray(l["diff_ns"], dtype=float) for l in per_layer]) if per_layer else np.zeros(0)
    allv = allv[np.isfinite(allv)]
    span = max(1.0, float(np.max(np.abs(allv)))) if allv.size else 1.0
    bins = np.linspace(-span, span, 41)
    for layer in per_layer:
        d = np.asarray(layer["diff_ns"], dtype=float)
        d = d[np.isfinite(d)]
        if d.size:
            rms = float(np.sqrt(np.mean(d ** 2)))
            ax.hist(d, bins=bins, alpha=0.6, label=f"{layer['name']} (RMSE {rms:.2f} ns, n={d.size})")
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel("spike-time difference SPICE - model (ns)")
    ax.set_ylabel("spikes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_calibration(path: str | os.PathLike, history: Sequence[Sequence[float]], flow: str) -> Path:
    """Calibration objective (RMSE ns) over the scales tried: a curve (1-D) or a scatter map (2-D)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    h = np.asarray([row for row in history if np.isfinite(row[-1])], dtype=float)
    if h.size and h.shape[1] == 2:
        order = np.argsort(h[:, 0])
        ax.plot(h[order, 0], h[order, 1], marker="o", ms=3)
        ax.set_xlabel("global current scale")
        ax.set_ylabel("calibration RMSE (ns)")
        ax.set_yscale("log")
    elif h.size:
        sc = ax.scatter(h[:, 0], h[:, 1], c=np.log10(np.maximum(h[:, 2], 1e-3)), s=18, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="log10 RMSE (ns)")
        ax.set_xlabel("positive-current scale")
        ax.set_ylabel("negative-current scale")
    ax.set_title(f"calibration ({flow})", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


# ============================================================================================ bundle
def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_hashes(root: str | os.PathLike, exclude: Iterable[str] = ("manifest.json",)) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative POSIX paths, sorted), except ``exclude`` and dot-files."""
    root = Path(root)
    skip = set(exclude)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in skip and not any(part.startswith(".") for part in p.relative_to(root).parts):
            out[rel] = sha256_file(p)
    return out


def write_report(path: str | os.PathLike, report: dict) -> Path:
    """report.json, deterministic (sorted keys; no NaN: they become null)."""
    return atomic_write_text(path, dump_json(_no_nan(report)))


def _no_nan(obj):
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_no_nan(v) for v in obj]
    if isinstance(obj, np.generic):
        return _no_nan(obj.item())
    if isinstance(obj, np.ndarray):
        return _no_nan(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj
