"""The verification loop itself: the same input spikes through the trained model and through ngspice on ONE
given Design (PAPER.md §6), and the convenience that calibrates, maps and verifies a trained model.

Why :func:`verify` takes a Design: the hardware that a bundle writes (design.json, netlist, layout) is the
hardware that is verified, mapped once. :func:`verify_model` keeps the one-call form for scripts and tests.

Two ways to simulate (``VerifyOptions.mode``):

* ``network``: the whole pipelined network in one deck per sample (small networks such as Iris 5-5-5).
  Errors propagate from layer to layer exactly as on silicon.
* ``column``: each neuron with its column of synapses in its own deck, driven by the MODEL's spike times of
  the previous layer (big networks). Jobs are independent and are spread by :mod:`generator.execute`; the
  error of each layer is then measured on its own (no propagation).

Units: times in model units (one phase = 1) unless a name ends in ``_ns`` or ``_s``; voltages in V.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from generator import report as R
from generator.circuit.mapping import map_model, read_trained_model
from generator.design import CircuitParams, Design, DeviceProfile, Parasitic
from generator.execute import Executor, Failed, get_executor
from generator.io import round_sig
from generator.resources import default_profile
from generator.spice.ngspice import ngspice_path
from generator.verify.calibration import calibrate
from generator.verify.jobs import COLUMN_DECKS, NETWORK_OPTIONS, build_jobs, collect, keep_for_inspection, run_job
from generator.verify.metrics import compare, layer_names, layer_pairs
from generator.verify.model_side import ModelSide, membrane_panels, reversal_summary, settle_model_side
from generator.verify.options import IncompleteVerification, VerifyInputError, VerifyOptions, resolve_mode


def load_profile(profile: str | os.PathLike | DeviceProfile | None) -> DeviceProfile:
    """A DeviceProfile, read from its JSON path (None: the committed default, sky130 tt 27 °C)."""
    if isinstance(profile, DeviceProfile):
        return profile
    ppath = Path(profile) if profile else default_profile()
    if not ppath.is_file():
        raise VerifyInputError(f"device profile {ppath} not found; create it with "
                               f"`imcgen characterize --out {ppath}` or pass --profile FILE")
    return DeviceProfile.load(ppath)


def settle(model_dir: str | os.PathLike, profile: DeviceProfile, params: CircuitParams,
           options: VerifyOptions) -> tuple[str, ModelSide]:
    """(simulation mode with "auto" settled, model side) for the trained model in ``model_dir``."""
    weights, card = read_trained_model(model_dir)
    mode = resolve_mode(options.mode, sum(w.size for w in weights))
    return mode, settle_model_side(model_dir, card, profile, params, options, mode)


def find_scales(model_dir: str | os.PathLike, profile: DeviceProfile, params: CircuitParams, options: VerifyOptions,
                *, executor: Executor, workroot: Path, scales: tuple[float, float] | None = None,
                parasitics: Sequence[Parasitic] = ()) -> dict:
    """The current scales (dimensionless) to map with: ``scales`` = (scale_pos, scale_neg) as given, else
    calibrated (:func:`generator.verify.calibration.calibrate`, scratch decks under ``workroot``)."""
    if scales is not None:
        return {"scale_pos": float(scales[0]), "scale_neg": float(scales[1]), "given": True}
    mode, side = settle(model_dir, profile, params, options)
    ngspice_path()  # a missing simulator is named before any work, not as every deck's failure
    return calibrate(side, profile, params, options, executor=executor, workroot=workroot, mode=mode,
                     parasitics=parasitics)


@contextlib.contextmanager
def _executor(executor: Executor | None) -> Iterator[Executor]:
    """``executor`` as is, or a local process pool owned (and closed) here."""
    if executor is not None:
        yield executor
        return
    own = get_executor("process")
    try:
        yield own
    finally:
        own.close()


def numerical_check(design: Design, jobs: list, results: list, n: int, executor: Executor) -> dict | None:
    """The simulator's own numerical error: the first ``n`` simulations that ran (output-layer columns in column
    mode, samples in network mode) run again at reference settings (jobs.NETWORK_OPTIONS / COLUMN_DECKS
    "reference"); returns the spread of their spike times against the verified run (ns; None when n = 0 or
    nothing ran). A spike that one run has and the other lacks is counted in ``fired_mismatch``."""
    last = len(design.layers) - 1
    picked = [(j, r) for j, r in zip(jobs, results)
              if not isinstance(r, Failed) and (j.layer is None or j.layer == last)][:n]
    if not picked:
        return None
    rerun = [dataclasses.replace(j, settings="reference", keep_traces=False, workdir=j.workdir + "_reference")
             for j, _ in picked]
    again = executor.map(run_job, rerun, label="numerical check")
    diffs, mismatch, failed, first_failure = [], 0, 0, None
    for (_, r), r2 in zip(picked, again):
        if isinstance(r2, Failed):
            failed += 1
            if first_failure is None:
                words = (r2.attrs.get("message") or "").strip().replace("\n", " | ")
                first_failure = (f"{r2.error_type}: {(r2.message or '').partition(chr(10))[0]}"
                                 + (f"; ngspice said: {words}" if words else ""))
            continue
        a = np.concatenate([np.asarray(x, dtype=float) for x in r.times])
        b = np.concatenate([np.asarray(x, dtype=float) for x in r2.times])
        both = np.isfinite(a) & np.isfinite(b)
        mismatch += int(np.sum(np.isfinite(a) != np.isfinite(b)))
        diffs.append((a[both] - b[both]) * design.params.t_phase * 1e9)
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    return {"reruns": len(picked), "failed": failed, "first_failure": first_failure, "n_spikes": int(d.size),
            "fired_mismatch": mismatch,
            "max_abs_ns": float(np.max(np.abs(d))) if d.size else None,
            "rms_ns": float(np.sqrt(np.mean(d ** 2))) if d.size else None,
            "mean_ns": float(np.mean(d)) if d.size else None,
            "reference": "network: " + NETWORK_OPTIONS["reference"] + "; column: every synapse drawn, "
                         + COLUMN_DECKS["reference"].options + " throughout"}


def verify(design: Design, model_dir: str | os.PathLike, *, profile: str | os.PathLike | DeviceProfile | None,
           out_dir: str | os.PathLike, options: VerifyOptions = VerifyOptions(), executor: Executor | None = None,
           calibration: dict | None = None, final_dir: str | os.PathLike | None = None,
           timings: Mapping[str, float] | None = None, post_layout_info: Mapping | None = None) -> dict:
    """Verify ``design`` (the hardware as written) against the trained model in ``model_dir`` on
    ``options.n_samples`` test samples; write ``out_dir/report.json``, ``timing.json``, the plots, failed decks
    (``failed/``) and the worst sample's deck (``worst_sample/``, network mode). Returns the report dict.

    ``profile``: the DeviceProfile the design was mapped with (or its JSON path; None = the default) for the
    per-synapse E± and the report. ``executor``: where the simulations run (None: a local process pool made and
    closed here); it is a live resource, not a setting, so it is not part of ``options``. ``calibration``: how the
    design's scales were found, for the report (default: given, the design's own). ``final_dir``: where
    ``out_dir`` will be once a staged bundle is swapped in; paths in the report name it. ``timings``: extra
    entries for timing.json (s), e.g. the calibration's. ``post_layout_info``: how ``design.parasitics`` were
    extracted (generator/verify/post_layout.py), for the report.
    """
    t_start = time.monotonic()
    profile = load_profile(profile)
    ngspice_path()  # a missing simulator is named before any work, not as every deck's failure
    out = Path(out_dir)
    mode = resolve_mode(options.mode, sum(layer.n_in * layer.n_out for layer in design.layers))
    _, card = read_trained_model(model_dir)
    side = settle_model_side(model_dir, card, profile, design.params, options, mode)
    cal = calibration if calibration is not None else {"scale_pos": design.scale_pos, "scale_neg": design.scale_neg,
                                                       "given": True}
    notes = []
    ideal = min(abs(float(card["e_pos"])), abs(float(card["e_neg"]))) >= 50
    if options.flow == "top-down" and not ideal:
        notes.append(f"top-down flow on a model trained with E+={card['e_pos']}, E-={card['e_neg']} (not ideal)")
    if options.flow == "bottom-up" and ideal:
        notes.append("bottom-up flow on an ideal (|E±| >= 50) model: expect large errors; use --flow top-down")

    reversal = side.reversal_for(design, profile)
    run = side.run(options.n_samples, split="test", data_dir=options.data_dir, reversal=reversal)
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    jobs = build_jobs(design, run.times, mode, work, timeout_s=options.timeout_s,
                      sample_timeouts=dict(options.sample_timeouts or {}), keep_traces=options.plots,
                      columns_per_layer=options.columns_per_layer, settings=options.sim_settings,
                      column_seed=options.column_seed)
    with _executor(executor) as ex:
        t_sim = time.monotonic()
        results = ex.map(run_job, jobs, label="verify")
        t_sim = time.monotonic() - t_sim
        t_check = time.monotonic()
        numerical = numerical_check(design, jobs, results, options.sim_check, ex)
        t_check = time.monotonic() - t_check
        executor_info = ex.describe()

    col = collect(design, jobs, results, options.n_samples)
    tp = design.params.t_phase
    cmp = compare(run, col, tp)
    worst = cmp["worst"]
    keep_for_inspection(col, work, out, worst_position=worst["position"] if worst else None, mode=mode,
                        final_dir=final_dir)

    summary = {"rmse_ns": cmp["per_layer"][-1]["rmse_ns"], "max_abs_ns": cmp["per_layer"][-1]["max_abs_ns"],
               "class_agreement": cmp["class_agreement"], "class_agreement_ci95": cmp["class_agreement_ci95"],
               "n_samples": cmp["n_ok"], "flow": options.flow}
    eff = side.effects_used
    report = {
        "summary": summary,
        "model": {"dir": Path(model_dir).as_posix(), "name": card.get("name"), "arch": card.get("arch"),
                  "dataset": card.get("dataset"), "e_pos": card.get("e_pos"), "e_neg": card.get("e_neg"),
                  "e_dis": card.get("e_dis"), "test_accuracy_card": card.get("test_accuracy"),
                  "e_dis_used": side.e_dis_used, "model_e": options.model_e, "model_effects": options.model_effects,
                  "effects_used": {"reversal_table": eff["reversal_table"] is not None,
                                   "switch_step": eff["switch_step"] is not None, "fire_delay": eff["fire_delay"],
                                   "driven_step": eff.get("driven_step") is not None},
                  "per_synapse_e": reversal_summary(reversal) if reversal is not None else None},
        "flow": options.flow, "mode": mode, "sim_settings": options.sim_settings, "corner": design.params.corner,
        "temp": design.params.temp,
        "params": dataclasses.asdict(design.params),
        "profile": {"e_pos": profile.e_pos, "e_neg": profile.e_neg, "e_dis": profile.e_dis,
                    "corner": profile.corner, "temp": profile.temp},
        "calibration": cal,
        "metrics": {"per_layer": cmp["per_layer"], "class_agreement": cmp["class_agreement"],
                    "class_agreement_ci95": cmp["class_agreement_ci95"],
                    "model_accuracy": cmp["model_accuracy"], "circuit_accuracy": cmp["circuit_accuracy"],
                    "n_requested": options.n_samples, "n_simulated": cmp["n_ok"],
                    "n_failed": int(col.sample_failed.sum()), "jobs": len(jobs),
                    "columns_per_layer": options.columns_per_layer if mode == "column" else None,
                    "column_seed": options.column_seed if mode == "column" else None},
        "numerical_error": numerical,
        "worst_sample": worst["position"] if worst else None,
        "failures": col.failures,
        "samples": cmp["samples"],
        "notes": notes,
    }
    if design.parasitics:  # post-layout: the extracted wiring capacitance the simulated netlists carried
        report["post_layout"] = {"capacitors": len(design.parasitics),
                                 "total_f": round_sig(sum(c.c for c in design.parasitics)),
                                 **dict(post_layout_info or {})}
    plots_written = []
    if options.plots and cmp["n_ok"]:
        names = layer_names(len(design.layers))
        layers = [{"name": name, "model": m.tolist(), "circuit": c.tolist()}
                  for name, (m, c) in zip(names, layer_pairs(run.times, col, ~col.sample_failed))]
        panels, title = [], ""
        if worst is not None:
            panels = membrane_panels(design, run, worst["position"], col.traces.get(worst["position"], {}),
                                     col.times, side, reversal, names)
            title = (f"worst sample #{worst['index']} ({options.flow}): output RMSE {worst['rmse_ns']:.2f} ns, "
                     f"model class {worst['model_class']}, circuit class {worst['circuit_class']}")
        plots_written = R.write_verify_plots(out, layers=layers, t_phase_ns=tp * 1e9, flow=options.flow,
                                             calibration_history=cal.get("history"), membrane_panels=panels,
                                             membrane_title=title)
    report["plots"] = plots_written
    R.write_report(out / "report.json", report)
    # timings vary from run to run: kept apart so report.json stays byte-identical for equal inputs
    extra = dict(timings or {})
    R.write_report(out / "timing.json", {**extra, "total_s": time.monotonic() - t_start + extra.get("calibration_s", 0.0),
                                         "simulation_s": t_sim, "numerical_check_s": t_check,
                                         "ngspice_cpu_wall_s": col.wall_s,
                                         "executor": executor_info, "jobs": len(jobs)})
    return report


def verify_model(model_dir: str | os.PathLike, options: VerifyOptions | None = None, *,
                 out_dir: str | os.PathLike, profile: str | os.PathLike | DeviceProfile | None = None,
                 params: CircuitParams | None = None, scales: tuple[float, float] | None = None,
                 executor: Executor | None = None, parasitics: Sequence[Parasitic] | None = None,
                 post_layout_info: Mapping | None = None, **overrides) -> dict:
    """Calibrate (unless ``scales`` = (scale_pos, scale_neg) are given), map the model once and :func:`verify`
    that Design; the bundle (report.json, plots, failed decks) is staged beside ``out_dir`` and swapped in when
    complete (:func:`generator.report.staged_bundle`). Returns the report dict.

    ``options``: a :class:`VerifyOptions`; ``overrides``: any of its fields by name (``n_samples=2,
    mode="column"``), applied on top. ``profile``: DeviceProfile or its JSON path (default
    profiles/sky130_tt_27C.json). ``params``: circuit parameters (corner/temperature of the simulation).
    ``executor``: see :func:`verify`. ``parasitics``: post-layout capacitors (generator/verify/post_layout.py)
    that the calibration designs and the verified Design carry; None verifies the schematic.
    ``post_layout_info``: the extraction's summary, for the report.
    """
    options = dataclasses.replace(options or VerifyOptions(), **overrides) if overrides else (options or VerifyOptions())
    profile = load_profile(profile)
    params = (params or CircuitParams(corner=profile.corner, temp=profile.temp)).validate()
    with _executor(executor) as ex, R.staged_bundle(out_dir) as stage:
        t_cal = time.monotonic()
        cal = find_scales(model_dir, profile, params, options, executor=ex, workroot=stage / ".work_calib",
                          scales=scales, parasitics=parasitics or ())
        t_cal = time.monotonic() - t_cal
        design = map_model(model_dir, profile, params, scale_pos=cal["scale_pos"], scale_neg=cal["scale_neg"],
                           clip=options.clip)
        design.parasitics = list(parasitics or ())
        return verify(design, model_dir, profile=profile, out_dir=stage, options=options, executor=ex,
                      calibration=cal, final_dir=out_dir, timings={"calibration_s": t_cal},
                      post_layout_info=post_layout_info)


def check_complete(report: dict) -> None:
    """Raise :class:`IncompleteVerification` (exit 1) when fewer samples were simulated than asked for, with how
    many and why: the first failed deck's error, ngspice's own words and where the deck is kept."""
    m = report["metrics"]
    if m["n_simulated"] >= m["n_requested"]:
        return
    fails = report.get("failures") or []
    msg = (f"only {m['n_simulated']} of {m['n_requested']} requested samples were simulated ({m['n_failed']} "
           f"failed, {len(fails)} failed deck(s))")
    if fails:
        f = fails[0]
        where = f"sample {f['sample']}" + ("" if f.get("layer") is None else f" layer {f['layer']} neuron {f['neuron']}")
        words = (f.get("ngspice") or "").strip().replace("\n", " | ")
        msg += f"; first failure: {where}: {f['error_type']}: {f['message']}"
        if words:
            msg += f"; ngspice said: {words}"
        if f.get("deck"):
            msg += f"; deck kept at {f['deck']}"
    raise IncompleteVerification(msg + ". Fix: raise --timeout or fix the failing deck; pass --allow-failures to "
                                 "accept a partial report")
