"""Plots and results-bundle bookkeeping (report.json writer, staged bundle folders, manifest with sha256 of
every output).

Why: a verification run is judged by a few pictures (the paper's Fig. 7: model vs SPICE membrane traces of
the worst sample, and the distribution of spike-time differences) and by a manifest that says exactly what
was produced from which inputs. Plots use matplotlib's Agg backend (no display needed) and PNG metadata
without version or date, so equal data give byte-identical files. A bundle is written into a fresh folder
beside its destination and swapped in when complete (:func:`staged_bundle`), so a bundle never mixes the
files of two runs and an interrupted run never leaves an old report looking current.

matplotlib is imported on first use (:func:`_pyplot`): it costs about a second at CLI start otherwise.

Units: times in ns on the time axes unless labelled "model units" (one phase = 1); membrane in model units
v = (V0 - V) / V_th (0 = rest, 1 = firing threshold).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from generator.errors import InputError
from generator.io import atomic_write_bytes, atomic_write_text, dump_json

#: PNG metadata: no software version, no timestamp, so plots are reproducible byte for byte
_PNG_META = {"Software": None}


def _pyplot():
    import matplotlib  # on first use: see the module docstring

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


def write_verify_plots(out: str | os.PathLike, *, layers: Sequence[dict], t_phase_ns: float, flow: str,
                       calibration_history: Sequence[Sequence[float]] | None = None,
                       membrane_panels: Sequence[dict] = (), membrane_title: str = "") -> list[str]:
    """The verification loop's plots in ``out``; returns the names written, in this order:

    ``spike_scatter.png`` and ``error_histogram.png`` from ``layers`` (per spiking layer ``name``, ``model`` and
    ``circuit``: flat spike times in model units, the circuit's "no spike" already counted as 1);
    ``calibration.png`` when a scale search ran (``calibration_history`` rows: see :func:`plot_calibration`);
    ``membrane_worst.png`` when ``membrane_panels`` (see :func:`plot_membrane_traces`). ``t_phase_ns``: one phase T (ns).
    """
    out = Path(out)
    scatter = [{"name": l["name"], "model": list(l["model"]), "circuit": list(l["circuit"])} for l in layers]
    hist = [{"name": l["name"], "diff_ns": ((np.asarray(l["circuit"], dtype=float) - np.asarray(l["model"], dtype=float))
                                           * t_phase_ns).tolist()} for l in layers]
    written = [plot_spike_scatter(out / "spike_scatter.png", scatter, t_phase_ns).name,
               plot_error_histogram(out / "error_histogram.png", hist).name]
    if calibration_history:
        written.append(plot_calibration(out / "calibration.png", calibration_history, flow).name)
    if membrane_panels:
        written.append(plot_membrane_traces(out / "membrane_worst.png", membrane_panels, membrane_title).name)
    return written


# ============================================================================================ bundle
#: files that mark a folder as an imcgen results bundle (build: manifest.json; verify: report.json), so a
#: re-run may replace it
BUNDLE_MARKERS = ("manifest.json", "report.json")


def replaceable(out: str | os.PathLike) -> bool:
    """True when ``out`` may be replaced by a new bundle: absent, an empty folder, or an imcgen bundle."""
    out = Path(out)
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    return not any(out.iterdir()) or any((out / m).is_file() for m in BUNDLE_MARKERS)


def previous_path(out: str | os.PathLike) -> Path:
    """Where :func:`staged_bundle` keeps the bundle it replaces until the new one is complete."""
    out = Path(out)
    return out.parent / f".{out.name}.previous"


@contextlib.contextmanager
def staged_bundle(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh empty folder beside ``out``; when the block completes, it becomes ``out``.

    A bundle that already sits at ``out`` is moved to :func:`previous_path` when the block starts (a run that
    stops half-way must not leave the old report looking current) and deleted once the new bundle is in place
(so is one that an earlier, failed run set aside).
    If the block fails, the staging folder is removed, ``out`` stays absent, the previous bundle stays at
    :func:`previous_path` and the exception gets a note saying so. ``out`` must be :func:`replaceable`
    (the caller checks it first, so that the error comes before any work); folders that cannot be created are an
    :class:`~generator.errors.InputError`.
    """
    out = Path(out)
    if not replaceable(out):
        raise InputError(f"--out {out} exists and is not an imcgen results bundle (no {' or '.join(BUNDLE_MARKERS)});"
                         " choose a new folder or remove it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(stage, 0o777 & ~mask)  # the usual folder permissions, not mkdtemp's private 0700
    except OSError as exc:
        raise InputError(f"cannot write the bundle beside --out {out}: {exc.strerror or exc}; choose a folder you "
                         "can write") from None
    previous = previous_path(out)
    moved = False
    try:
        if out.exists():
            if previous.exists():
                shutil.rmtree(previous)
            os.replace(out, previous)
            moved = True
        yield stage
        os.replace(stage, out)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if moved and hasattr(exc, "add_note"):
            exc.add_note(f"the previous bundle of {out} was set aside at {previous} (this run did not finish)")
        raise
    shutil.rmtree(previous, ignore_errors=True)  # also one an earlier, failed run set aside: out is current now


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
    return atomic_write_text(path, dump_json(no_nan(report)))


def no_nan(obj):
    """``obj`` as plain JSON data: NaN/inf become None, numpy scalars and arrays plain numbers and lists, paths str."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: no_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [no_nan(v) for v in obj]
    if isinstance(obj, np.generic):
        return no_nan(obj.item())
    if isinstance(obj, np.ndarray):
        return no_nan(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj
