"""CLI: ``imcgen verify MODEL`` (the verification loop) and ``imcgen build MODEL --out DIR`` (the whole flow
into one results bundle). Thin wrappers over generator/verify/, generator/execute.py and generator/report.py.

Both commands check every option, the output folder and the simulator before any work (``error: ...``, exit
2), write their bundle into a fresh folder beside ``--out`` that replaces it only when complete, and exit 1 when
fewer samples than asked were simulated (unless ``--allow-failures``).

Spike-time errors in ns; current scales dimensionless; temperatures in °C; timeouts in s; C_m in fF.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata as md
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import typer

from generator import report as R
from generator.commands._common import (
    check_corner,
    check_number,
    check_out_dir,
    check_temp,
    corner_option,
    fail,
    profile_option,
    resolve_profile,
    temp_option,
)
from generator.design import CircuitParams, DeviceProfile
from generator.errors import ImcgenError, InputError
from generator.execute import Executor, get_executor
from generator.io import atomic_write_text, dump_json
from generator.spice.ngspice import ngspice_path, ngspice_version

# generator.verify, generator.circuit.mapping and generator.spice.netlist are imported inside the functions that
# use them: they load scipy and jinja2 (about 1 s), which `imcgen --help` and every other command would pay here.

#: characters a SPICE ``.include``/``.lib`` line cannot carry; every simulation folder under --out gets the model
#: library written by generator/pdk (which refuses such paths), so --out is checked for them before any work


@contextlib.contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    """imcgen's errors as ``error: <message>`` and their exit code (2 bad input, 1 failed run), with the notes an
    error collected on its way (e.g. where :func:`generator.report.staged_bundle` set the previous bundle aside;
    the app's ImcgenGroup would print the message without them)."""
    try:
        yield
    except ImcgenError as exc:
        notes = "".join(f"\n  {n}" for n in getattr(exc, "__notes__", []))
        fail(f"{exc}{notes}", exc.exit_code, as_json=as_json)


# ============================================================================================ up-front checks
def _params(profile_path: Path, corner: Optional[str], temp: Optional[float],
            c_m_ff: Optional[float] = None, model: Path | None = None) -> tuple[DeviceProfile, CircuitParams]:
    """(profile, circuit parameters) from the profile file (resolved: :func:`resolve_profile`), the model card's
    circuit (C_m) and the corner / temperature (°C) / C_m (fF) options, which win."""
    from generator.circuit.mapping import default_params, read_trained_model

    check_corner(corner)
    check_temp(temp)
    check_number(c_m_ff, "--c-m", lo=0.0, lo_open=True, unit=" fF", hint="the membrane capacitance, e.g. 140")
    prof = DeviceProfile.load(profile_path)
    card = read_trained_model(model)[1] if model is not None else {}
    try:
        return prof, default_params(card, prof, c_m_ff=c_m_ff, corner=corner, temp=temp)
    except ImcgenError:
        raise
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _prepare(model: Path, out: Path, opts, profile: Optional[Path], corner, temp, c_m_ff, scale_opts):
    """Every check verify and build make before any work (exit 2 on bad input): (profile path, profile, circuit
    parameters, given scales or None)."""
    profile_path = resolve_profile(profile)
    prof, params = _params(profile_path, corner, temp, c_m_ff, model)
    scales = _scales(*scale_opts)
    _check_model(model, opts, calibrating=scales is None)
    _check_out(out, model, profile_path)
    ngspice_path()  # NgspiceNotFound (exit 2) says how to install it
    return profile_path, prof, params, scales


def _scales(scale: Optional[float], scale_pos: Optional[float], scale_neg: Optional[float]):
    if scale is None and scale_pos is None and scale_neg is None:
        return None
    sp = scale_pos if scale_pos is not None else scale
    sn = scale_neg if scale_neg is not None else scale
    if sp is None or sn is None:
        raise InputError("give --scale, or both --scale-pos and --scale-neg (or none of them to calibrate)")
    for name, v in (("scale", sp), ("scale", sn)):
        if not (math.isfinite(v) and v > 0):
            raise InputError(f"--{name} {v!r}: a current scale is a positive number (1 = as mapped)")
    return (float(sp), float(sn))


def _e_dis_choice(text: str):
    from generator import verify as V  # see the note under the imports

    if text in V.MODEL_E_DIS:
        return text
    try:
        return float(text)
    except ValueError:
        raise V.VerifyInputError(f"--model-e-dis {text!r}: use card, profile, ideal or a number > 1") from None


def _options(**kw):
    """VerifyOptions from the command's options (raises VerifyInputError, exit 2, naming the bad one)."""
    from generator import verify as V  # see the note under the imports

    kw["model_e_dis"] = _e_dis_choice(kw["model_e_dis"])
    return V.VerifyOptions(**kw)


def _check_model(model: Path, opts, calibrating: bool) -> None:
    """The model folder is readable and its dataset holds the samples asked for (test; train when calibrating)."""
    from generator import verify as V  # see the note under the imports
    from generator.circuit.mapping import read_trained_model

    read_trained_model(model)  # DesignError (exit 2) names the missing/bad file
    for split, n, opt in (("test", opts.n_samples, "--samples"), ("train", opts.calib_samples, "--calib-samples")):
        if split == "train" and not calibrating:
            continue
        have = V.split_size(model, split, opts.data_dir)
        if n > have:
            raise V.VerifyInputError(f"{opt} {n}: the {split} split of {model}'s dataset has {have} samples; "
                                     f"ask for at most {have}")


def _check_out(out: Path, *inputs: Path) -> None:
    """--out can take a bundle: a writable folder (:func:`check_out_dir`) that is new, empty or an earlier bundle
    (it is replaced as a whole), whose path SPICE include lines can carry and which holds none of the inputs."""
    check_out_dir(out)
    full = out.resolve()
    if not R.replaceable(full):
        raise InputError(f"--out {out} exists and is not an imcgen results bundle (no "
                         f"{' or '.join(R.BUNDLE_MARKERS)}); choose a new folder or remove it")
    for p in inputs:
        if p.resolve() == full or full in p.resolve().parents:
            raise InputError(f"--out {out} holds the input {p}; the bundle replaces --out, so choose another folder")


def _shown(given: Optional[Path], used: Path) -> str:
    """The profile path recorded in design.json and the manifest: as the user gave it; the default relative to
    the current folder when inside it (a bundle built from the repository root names ``profiles/...`` on every
    machine), else absolute."""
    if given is not None:
        return Path(given).as_posix()
    rel = os.path.relpath(used.resolve())
    return (Path(rel) if not rel.startswith("..") else used.resolve()).as_posix()


def _executor(kind: str, workers: Optional[int], address: Optional[str]) -> Executor:
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: give at least 1 worker process (or leave it out: one per core)")
    try:
        return get_executor(kind, workers=workers, address=address)
    except (ValueError, ImportError) as exc:
        raise InputError(str(exc)) from None


# ============================================================================================ output
def _print_summary(rep: dict, out: Path, as_json: bool) -> None:
    s = rep["summary"]
    m = rep["metrics"]
    cal = rep["calibration"]
    lines = [f"verified {s['n_samples']}/{m['n_requested']} samples ({rep['flow']}, {rep['mode']} mode, corner "
             f"{rep['corner']}, {rep['temp']} °C); scales +{cal['scale_pos']:.2f} / -{cal['scale_neg']:.2f}"]
    for layer in m["per_layer"]:
        lo, hi = layer.get("rmse_ci95_ns") or (math.nan, math.nan)
        ci = f" (95 % CI {lo:.3f}-{hi:.3f})" if math.isfinite(lo) else ""
        lines.append(f"  {layer['layer']:>8}: RMSE {layer['rmse_ns']:.3f} ns{ci}, max |err| {layer['max_abs_ns']:.3f} "
                     f"ns over {layer['n_spikes']} spikes of {layer.get('n_samples', s['n_samples'])} samples")
    lo, hi = m.get("class_agreement_ci95") or (math.nan, math.nan)
    lines.append(f"  class agreement {m['class_agreement']:.3f} (95 % CI {lo:.3f}-{hi:.3f}), model accuracy "
                 f"{m['model_accuracy']:.3f}, circuit accuracy {m['circuit_accuracy']:.3f}")
    num = rep.get("numerical_error")
    if num and num.get("max_abs_ns") is not None:
        lines.append(f"  simulator's numerical error ({num['reruns']} re-run(s) at reference tolerance): max "
                     f"{num['max_abs_ns']:.4f} ns, rms {num['rms_ns']:.4f} ns over {num['n_spikes']} spikes"
                     + (f", {num['fired_mismatch']} fired in one run only" if num["fired_mismatch"] else ""))
    if num and num.get("failed"):
        lines.append(f"  numerical check: {num['failed']} of {num['reruns']} reference re-run(s) failed "
                     f"({num.get('first_failure')}); the verification itself is complete")
    for f in rep["failures"]:
        lines.append(f"  FAILED sample {f['sample']}"
                     f"{'' if f['layer'] is None else ' layer %s neuron %s' % (f['layer'], f['neuron'])}: "
                     f"{f['error_type']}: {f['message']} (deck {f['deck']})")
    lines.append(f"report: {out / 'report.json'}")
    typer.echo("\n".join(lines))
    if as_json:
        typer.echo(json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in s.items()},
                              sort_keys=True))


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("imcgen", "numpy", "torch", "sky130", "gdsfactory", "klayout", "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    try:
        out["ngspice"] = ngspice_version()
    except Exception:  # noqa: BLE001 - a version string is informative only
        out["ngspice"] = "unknown"
    return out


def _input_spikes(model: Path, index: int):
    """Encoded input spike times of test sample ``index`` (model units) for the bundle's testbench."""
    from generator import verify as V  # see the note under the imports

    return V.load_model_run(model, 1, split="test", offset=index).times[0][0].tolist()


def _extracted(model: Path, prof, params, opts, gds: Path | None = None) -> tuple[list, dict]:
    """Post-layout capacitors on the netlist's nets, and the extraction summary: of ``gds`` when given (the
    bundle's own layout), else of the model's Design drawn here (the drawing depends on the weights' signs and
    the circuit parameters, not on the current scales)."""
    from generator.circuit.mapping import map_model
    from generator.signoff.pex import extract_parasitics
    from generator.verify import post_layout as PL

    design = map_model(model, prof, params, clip=True)
    if gds is None:
        caps, info = PL.extract_design(design)
    else:
        caps, info = PL.annotate(design, extract_parasitics(gds))
    typer.echo(f"post-layout: {len(caps)} extracted capacitors on the netlist's nets; membrane wiring "
               + ", ".join(f"layer {s['layer']} {s['membrane_wiring_f_mean'] * 1e15:.1f} fF "
                           f"(estimate {s['design_wiring_f'] * 1e15:.1f})" for s in info["layers"]), err=True)
    return caps, info


def _layout_and_drc(design, stage: Path, final: Path) -> dict | None:
    """layout/ (GDS + PNG), signoff/drc.json and signoff/drc.lyrdb in the staged bundle ``stage`` (whose reports
    name the GDS where it will be: under ``final``), when the layout and DRC modules are present.

    Imported here, not at the top: gdsfactory and KLayout take seconds to load and are optional extras."""
    try:
        from generator.layout.export import write_layout
    except ImportError as exc:
        typer.echo(f"note: no layout written ({exc})", err=True)
        return None
    info = write_layout(design, stage / "layout")
    gds_rel = Path(info["paths"]["gds"]).relative_to(stage).as_posix()
    result = {"gds": gds_rel}
    try:
        from generator.signoff.drc import run_drc
    except ImportError as exc:
        typer.echo(f"note: no DRC run ({exc})", err=True)
        return result
    rep = dataclasses.replace(run_drc(info["paths"]["gds"]), gds=str(final / gds_rel))
    rep.write_json(stage / "signoff" / "drc.json")
    rep.write_lyrdb(stage / "signoff" / "drc.lyrdb")
    result.update({"drc_violations": rep.violations, "drc_by_rule": rep.summary()["by_rule"],
                   "drc_lyrdb": "signoff/drc.lyrdb"})
    return result


# ============================================================================================ commands
def register(app: typer.Typer) -> None:
    common = dict(
        profile=profile_option(),
        samples=typer.Option(50, "--samples", help="test samples to verify (the first N of the test split; >= 1)"),
        flow=typer.Option("bottom-up", "--flow", help="bottom-up (one global current scale) | top-down (separate "
                          "positive/negative scales, for a model trained ideal)"),
        corner=corner_option(),
        temp=temp_option(),
        executor=typer.Option("process", "--executor", help="serial | process (local pool) | dask"),
        workers=typer.Option(None, "--workers", help="worker processes (default: one per core)"),
        address=typer.Option(None, "--address", help="Dask scheduler address, e.g. tcp://scheduler:8786 (implies --executor dask)"),
        calib_samples=typer.Option(4, "--calib-samples", help="training samples used to calibrate the current scale(s)"),
        mode=typer.Option("auto", "--mode", help="auto | network (whole network per sample) | column (one neuron "
                          "column per job, driven by the model's spike times)"),
        scale=typer.Option(None, "--scale", help="global current scale (dimensionless): skips calibration"),
        scale_pos=typer.Option(None, "--scale-pos", help="positive-current scale (dimensionless): skips calibration"),
        scale_neg=typer.Option(None, "--scale-neg", help="negative-current scale (dimensionless): skips calibration"),
        columns_per_layer=typer.Option(None, "--columns-per-layer", help="column mode: neurons simulated per hidden "
                                       "layer and test sample, drawn at random (--column-seed); default all; 0 = "
                                       "output layer only. Every output neuron is always simulated"),
        data_dir=typer.Option(None, "--data-dir", help="dataset folder (MNIST: holds mnist/; default $IMCGEN_DATA, "
                              "else ~/.cache/imcgen)"),
        column_seed=typer.Option(0, "--column-seed", help="column mode: seed of each sample's random draw of hidden "
                                 "columns (sample s uses numpy default_rng((seed, s)))"),
        sim_check=typer.Option(1, "--sim-check", help="re-run this many of the verified simulations (output columns, "
                               "or samples in network mode) at reference tolerance and report the spread: the "
                               "simulator's own numerical error (0 = skip)"),
        timeout=typer.Option(600.0, "--timeout", help="ngspice timeout per simulation (s)"),
        clip=typer.Option(False, "--clip", help="limit currents beyond the device range instead of failing"),
        model_e_dis=typer.Option("card", "--model-e-dis", help="firing-phase ramp on the model side: card (as "
                                 "trained) | profile (the measured E_dis of the discharger) | ideal | a number > 1"),
        model_e=typer.Option("global", "--model-e", help="reversal potentials E± (dimensionless) on the model side: "
                             "global (the card's, as trained) | per-synapse (each synapse's from the profile's "
                             "λ(I) at its mapped current, after calibration; weights unchanged)"),
        model_effects=typer.Option("card", "--model-effects", help="circuit effects on the model side (selector "
                                   "switch-off step, firing delay): card (as trained) | profile (measured, at this "
                                   "C_m) | none (the paper's model)"),
        c_m_ff=typer.Option(None, "--c-m", help="membrane capacitance C_m (fF; default 140, the paper's). "
                            "Use the model's: the mapping's currents scale with it"),
        search=typer.Option("secant", "--search", help="scale search: secant (bottom-up: root of the mean error, "
                            "then a line search on 1 %% steps, ~6-14 evaluations; top-down: Gauss-Newton on the spike-time residuals, "
                            "~16) | grid (coarse-to-fine grid: ~15 bottom-up, ~80 top-down)"),
        sim_settings=typer.Option("converged", "--sim-settings", help="ngspice settings: converged (network "
                                  "testbenches at reltol 1e-6, columns as the fast deck: spike times within ~0.01 ns "
                                  "of a tighter run) | legacy (reltol 1e-4: faster networks, up to +0.6 ns off)"),
        allow_failures=typer.Option(False, "--allow-failures", help="exit 0 even when some samples could not be "
                                    "simulated (the report lists them); default: exit 1"),
        as_json=typer.Option(False, "--json", help='print {"rmse_ns","max_abs_ns","class_agreement","n_samples","flow"} as the last line'),
    )

    @app.command("verify")
    def verify_cmd(
        model: Path = typer.Argument(..., help="trained model folder (weights.safetensors + card.json)"),
        out: Optional[Path] = typer.Option(None, "--out", help="output folder for report.json and plots "
                                           "(default results/<model>/verify; replaced as a whole by each run)"),
        profile: Optional[Path] = common["profile"], samples: int = common["samples"], flow: str = common["flow"],
        corner: Optional[str] = common["corner"], temp: Optional[float] = common["temp"],
        executor: str = common["executor"], workers: Optional[int] = common["workers"],
        address: Optional[str] = common["address"], calib_samples: int = common["calib_samples"],
        mode: str = common["mode"], scale: Optional[float] = common["scale"],
        scale_pos: Optional[float] = common["scale_pos"], scale_neg: Optional[float] = common["scale_neg"],
        columns_per_layer: Optional[int] = common["columns_per_layer"], column_seed: int = common["column_seed"],
        sim_check: int = common["sim_check"], data_dir: Optional[Path] = common["data_dir"],
        timeout: float = common["timeout"],
        clip: bool = common["clip"], model_e_dis: str = common["model_e_dis"], search: str = common["search"],
        model_e: str = common["model_e"], model_effects: str = common["model_effects"],
        c_m_ff: Optional[float] = common["c_m_ff"], allow_failures: bool = common["allow_failures"],
        sim_settings: str = common["sim_settings"], post_layout: bool = typer.Option(False, "--post-layout", help="verify the drawn silicon: draw the Design, "
                                         "extract its wiring capacitance (imcgen pex) onto the netlist's nets and "
                                         "calibrate and verify that post-layout circuit"),
        as_json: bool = common["as_json"],
    ) -> None:
        """Re-simulate the mapped circuit in ngspice on test samples and compare its spike times with the model."""
        from generator import verify as V  # see the note under the imports

        out = out or Path("results") / model.name / "verify"
        with _errors(as_json):
            # 1) everything that can be checked, before any work
            opts = _options(n_samples=samples, flow=flow, mode=mode, calib_samples=calib_samples, search=search,
                            timeout_s=timeout, clip=clip, columns_per_layer=columns_per_layer, model_e_dis=model_e_dis,
                            model_e=model_e, model_effects=model_effects, sim_settings=sim_settings,
                            column_seed=column_seed, sim_check=sim_check, data_dir=None if data_dir is None else str(data_dir))
            profile_path, prof, params, scales = _prepare(model, out, opts, profile, corner, temp, c_m_ff,
                                                          (scale, scale_pos, scale_neg))
            # 2) calibrate, map once, verify; the bundle replaces --out when complete
            with _executor(executor, workers, address) as ex:
                parasitics, info = _extracted(model, prof, params, opts) if post_layout else (None, None)
                rep = V.verify_model(model, opts, out_dir=out, profile=prof, params=params, scales=scales, executor=ex,
                                     parasitics=parasitics, post_layout_info=info)
        _print_summary(rep, out, as_json)
        if not allow_failures:
            with _errors(as_json):
                V.check_complete(rep)

    @app.command("build")
    def build_cmd(
        model: Path = typer.Argument(..., help="trained model folder (weights.safetensors + card.json)"),
        out: Path = typer.Option(..., "--out", help="results bundle folder (replaced as a whole by each run)"),
        profile: Optional[Path] = common["profile"],
        samples: int = typer.Option(10, "--samples", help="test samples to verify (the paper's experiment: 50)"),
        flow: str = common["flow"], corner: Optional[str] = common["corner"], temp: Optional[float] = common["temp"],
        executor: str = common["executor"], workers: Optional[int] = common["workers"],
        address: Optional[str] = common["address"],
        calib_samples: int = typer.Option(2, "--calib-samples", help="training samples used to calibrate the current scale(s)"),
        mode: str = common["mode"], scale: Optional[float] = common["scale"],
        scale_pos: Optional[float] = common["scale_pos"], scale_neg: Optional[float] = common["scale_neg"],
        columns_per_layer: Optional[int] = common["columns_per_layer"], column_seed: int = common["column_seed"],
        sim_check: int = common["sim_check"], data_dir: Optional[Path] = common["data_dir"],
        timeout: float = common["timeout"],
        clip: bool = common["clip"], model_e_dis: str = common["model_e_dis"], search: str = common["search"],
        model_effects: str = common["model_effects"], c_m_ff: Optional[float] = common["c_m_ff"],
        sim_settings: str = common["sim_settings"], layout: bool = typer.Option(True, "--layout/--no-layout", help="write the GDS and run DRC"),
        post_layout: bool = typer.Option(True, "--post-layout/--no-post-layout", help="also extract the bundle's "
                                         "GDS (signoff/pex.json) and calibrate and verify that post-layout circuit "
                                         "(verify_post_layout/); needs --layout"),
        allow_failures: bool = common["allow_failures"], as_json: bool = common["as_json"],
    ) -> None:
        """The whole flow into one results bundle: design.json, netlist/, layout/ + signoff/drc.json and drc.lyrdb,
        verify/, manifest.json (inputs, versions, sha256 of every output)."""
        from generator import verify as V  # see the note under the imports
        from generator.circuit.mapping import map_model, model_digest, read_trained_model
        from generator.spice.netlist import write_netlist

        t0 = time.monotonic()
        steps: dict[str, float] = {}
        with _errors(as_json):
            # 1) everything that can be checked, before any work
            opts = _options(n_samples=samples, flow=flow, mode=mode, calib_samples=calib_samples, search=search,
                            timeout_s=timeout, clip=clip, columns_per_layer=columns_per_layer, model_e_dis=model_e_dis,
                            model_effects=model_effects, sim_settings=sim_settings, column_seed=column_seed,
                            sim_check=sim_check, data_dir=None if data_dir is None else str(data_dir))
            profile_path, prof, params, scales = _prepare(model, out, opts, profile, corner, temp, c_m_ff,
                                                          (scale, scale_pos, scale_neg))
            with _executor(executor, workers, address) as ex, R.staged_bundle(out) as stage:
                # 2) calibrate the current scale(s) on training samples
                t = time.monotonic()
                cal = V.find_scales(model, prof, params, opts, executor=ex, workroot=stage / ".work_calib",
                                    scales=scales)
                steps["calibration_s"] = time.monotonic() - t
                # 3) map ONCE: this Design is what the bundle writes and what is verified
                design = map_model(model, prof, params, scale_pos=cal["scale_pos"], scale_neg=cal["scale_neg"],
                                   clip=opts.clip)
                design.source["profile_path"] = _shown(profile, profile_path)
                design.save(stage / "design.json")
                card = read_trained_model(model)[1]
                write_netlist(design, stage / "netlist", sample_spikes=_input_spikes(model, 0),
                              sample_note=f"{card.get('dataset')} test sample 0")
                # 4) layout and DRC
                layout_info = None
                if layout:
                    t = time.monotonic()
                    layout_info = _layout_and_drc(design, stage, out)
                    steps["layout_drc_s"] = time.monotonic() - t
                # 5) verify that Design
                t = time.monotonic()
                rep = V.verify(design, model, profile=prof, out_dir=stage / "verify", options=opts, executor=ex,
                               calibration=cal, final_dir=out / "verify",
                               timings={"calibration_s": steps["calibration_s"]})
                steps["verify_s"] = time.monotonic() - t
                # 6) the drawn silicon: extract the bundle's GDS, calibrate and verify the post-layout circuit
                rep_pl = None
                if layout_info and post_layout:
                    t = time.monotonic()
                    caps, info = _extracted(model, prof, params, opts, gds=stage / layout_info["gds"])
                    atomic_write_text(stage / "signoff" / "pex.json", dump_json(R.no_nan(info)))
                    cal_pl = V.find_scales(model, prof, params, opts, executor=ex, workroot=stage / ".work_calib",
                                           scales=scales, parasitics=caps)
                    design_pl = map_model(model, prof, params, scale_pos=cal_pl["scale_pos"],
                                          scale_neg=cal_pl["scale_neg"], clip=opts.clip)
                    design_pl.parasitics = caps
                    rep_pl = V.verify(design_pl, model, profile=prof, out_dir=stage / "verify_post_layout",
                                      options=opts, executor=ex, calibration=cal_pl,
                                      final_dir=out / "verify_post_layout", post_layout_info=info)
                    steps["post_layout_s"] = time.monotonic() - t
                manifest = {
                    "command": ("imcgen " + " ".join(sys.argv[1:]) if sys.argv and "imcgen" in Path(sys.argv[0]).name
                                else "imcgen build"),
                    "inputs": {"model": model.as_posix(), "model_digest": model_digest(model),
                               "profile": _shown(profile, profile_path), "profile_sha256": R.sha256_file(profile_path)},
                    "flow": flow, "samples": samples, "calib_samples": None if cal.get("given") else calib_samples,
                    "scales": {"scale_pos": cal["scale_pos"], "scale_neg": cal["scale_neg"]},
                    "summary": rep["summary"], "layout": layout_info,
                    "post_layout_summary": rep_pl["summary"] if rep_pl else None,
                    "versions": _versions(),
                    "outputs": R.bundle_hashes(stage),  # only what this run wrote: the staging folder started empty
                }
                atomic_write_text(stage / "manifest.json", dump_json(R.no_nan(manifest)))
        steps["total_s"] = time.monotonic() - t0
        typer.echo(f"bundle {out}: design.json, netlist/, {'layout/, signoff/, ' if layout_info else ''}verify/, "
                   f"{'verify_post_layout/, ' if rep_pl else ''}"
                   f"manifest.json ({len(manifest['outputs'])} files) in {steps['total_s']:.0f} s")
        if rep_pl is not None:
            typer.echo(f"post-layout: output RMSE {rep_pl['summary']['rmse_ns']:.2f} ns, class agreement "
                       f"{rep_pl['summary']['class_agreement']:.3f} (schematic {rep['summary']['rmse_ns']:.2f} ns)")
        _print_summary(rep, out / "verify", as_json)
        if not allow_failures:
            with _errors(as_json):
                V.check_complete(rep)
                if rep_pl is not None:
                    V.check_complete(rep_pl)
