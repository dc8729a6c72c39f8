"""CLI: ``imcgen verify MODEL`` (the verification loop) and ``imcgen build MODEL --out DIR`` (the whole flow
into one results bundle). Thin wrappers over generator/verify.py, generator/execute.py and generator/report.py.

Spike-time errors in ns; current scales dimensionless; temperatures in °C; timeouts in s.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from pathlib import Path
from typing import Optional

import typer

DEFAULT_PROFILE = Path("profiles/sky130_tt_27C.json")


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _params(profile_path: Path, corner: Optional[str], temp: Optional[float], c_m_ff: Optional[float] = None):
    from generator.design import CircuitParams, DeviceProfile
    from generator.pdk import sky130

    if not profile_path.is_file():
        _fail(f"device profile {profile_path} not found; create it with `imcgen characterize --out {profile_path}`")
    prof = DeviceProfile.load(profile_path)
    params = CircuitParams(corner=prof.corner, temp=prof.temp)
    if corner:
        sky130.check_corner(corner)
        params = dataclasses.replace(params, corner=corner)
    if temp is not None:
        params = dataclasses.replace(params, temp=float(temp))
    if c_m_ff is not None:
        params = dataclasses.replace(params, c_m=float(c_m_ff) * 1e-15)
    try:
        return prof, params.validate()
    except ValueError as exc:
        _fail(str(exc))


def _scales(scale: Optional[float], scale_pos: Optional[float], scale_neg: Optional[float]):
    if scale is None and scale_pos is None and scale_neg is None:
        return None
    sp = scale_pos if scale_pos is not None else scale
    sn = scale_neg if scale_neg is not None else scale
    if sp is None or sn is None:
        _fail("give --scale, or both --scale-pos and --scale-neg (or none of them to calibrate)")
    return (float(sp), float(sn))


def _run_verify(model: Path, out: Path, *, profile: Path, samples: int, flow: str, corner, temp, executor: str,
                workers, address, calib_samples: int, mode: str, scales, columns_per_layer, timeout: float,
                clip: bool, model_e_dis: str = "card", search: str = "secant", model_e: str = "global",
                model_effects: str = "card", c_m_ff: Optional[float] = None) -> dict:
    from generator.errors import DesignError
    from generator.execute import get_executor
    from generator.verify import VerifyError, verify_model

    prof, params = _params(profile, corner, temp, c_m_ff)
    try:
        ex = get_executor(executor, workers=workers, address=address)
    except (ValueError, ImportError) as exc:
        _fail(str(exc))
    try:
        with ex:
            return verify_model(model, out_dir=out, profile=prof, params=params, n_samples=samples, flow=flow,
                                mode=mode, calib_samples=calib_samples, scales=scales, executor=ex,
                                timeout_s=timeout, clip=clip, columns_per_layer=columns_per_layer,
                                model_e_dis=_e_dis_choice(model_e_dis), search=search, model_e=model_e,
                                model_effects=model_effects)
    except (VerifyError, DesignError) as exc:
        _fail(str(exc))


def _e_dis_choice(text: str):
    if text in ("card", "profile", "ideal"):
        return text
    try:
        return float(text)
    except ValueError:
        _fail(f"--model-e-dis {text!r}: use card, profile, ideal or a number > 1")


def _print_summary(rep: dict, out: Path, as_json: bool) -> None:
    s = rep["summary"]
    m = rep["metrics"]
    cal = rep["calibration"]
    lines = [f"verified {s['n_samples']}/{m['n_requested']} samples ({rep['flow']}, {rep['mode']} mode, corner "
             f"{rep['corner']}, {rep['temp']} °C); scales +{cal['scale_pos']:.2f} / -{cal['scale_neg']:.2f}"]
    for layer in m["per_layer"]:
        lines.append(f"  {layer['layer']:>8}: RMSE {layer['rmse_ns']:.3f} ns, max |err| {layer['max_abs_ns']:.3f} ns "
                     f"over {layer['n_spikes']} spikes")
    lines.append(f"  class agreement {m['class_agreement']:.3f}, model accuracy {m['model_accuracy']:.3f}, "
                 f"circuit accuracy {m['circuit_accuracy']:.3f}")
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
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("imcgen", "numpy", "torch", "sky130", "gdsfactory", "klayout", "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    try:
        from generator.spice.ngspice import ngspice_version

        out["ngspice"] = ngspice_version()
    except Exception:  # noqa: BLE001 - a version string is informative only
        out["ngspice"] = "unknown"
    return out


def register(app: typer.Typer) -> None:
    common = dict(
        profile=typer.Option(DEFAULT_PROFILE, "--profile", help="DeviceProfile JSON (imcgen characterize)"),
        samples=typer.Option(50, "--samples", help="test samples to verify (the first N of the test split)"),
        flow=typer.Option("bottom-up", "--flow", help="bottom-up (one global current scale) | top-down (separate "
                          "positive/negative scales, for a model trained ideal)"),
        corner=typer.Option(None, "--corner", help="process corner of the simulation: tt ff ss sf fs (default: the profile's)"),
        temp=typer.Option(None, "--temp", help="simulation temperature (°C; default: the profile's)"),
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
                                       "layer (evenly spread; default all; 0 = output layer only)"),
        timeout=typer.Option(600.0, "--timeout", help="ngspice timeout per simulation (s)"),
        clip=typer.Option(False, "--clip", help="limit currents beyond the device range instead of failing"),
        model_e_dis=typer.Option("card", "--model-e-dis", help="firing-phase ramp on the model side: card (as "
                                 "trained) | profile (the measured E_dis of the discharger) | ideal | a number"),
        model_e=typer.Option("global", "--model-e", help="reversal potentials E± (dimensionless) on the model side: "
                             "global (the card's, as trained) | per-synapse (each synapse's from the profile's "
                             "λ(I) at its mapped current, after calibration; weights unchanged)"),
        model_effects=typer.Option("card", "--model-effects", help="circuit effects on the model side (selector "
                                   "switch-off step, firing delay): card (as trained) | profile (measured, at this "
                                   "C_m) | none (the paper's model)"),
        c_m_ff=typer.Option(None, "--c-m", help="membrane capacitance C_m (fF; default 140, the paper's). "
                            "Use the model's: the mapping's currents scale with it"),
        search=typer.Option("secant", "--search", help="bottom-up scale search: secant (root of the mean error, "
                            "then 1 %% steps; ~6 evaluations) | grid (coarse-to-fine grid, ~15 evaluations)"),
        as_json=typer.Option(False, "--json", help='print {"rmse_ns","max_abs_ns","class_agreement","n_samples","flow"} as the last line'),
    )

    @app.command("verify")
    def verify_cmd(
        model: Path = typer.Argument(..., help="trained model folder (weights.safetensors + card.json)"),
        out: Optional[Path] = typer.Option(None, "--out", help="output folder for report.json and plots "
                                           "(default results/<model>/verify)"),
        profile: Path = common["profile"], samples: int = common["samples"], flow: str = common["flow"],
        corner: Optional[str] = common["corner"], temp: Optional[float] = common["temp"],
        executor: str = common["executor"], workers: Optional[int] = common["workers"],
        address: Optional[str] = common["address"], calib_samples: int = common["calib_samples"],
        mode: str = common["mode"], scale: Optional[float] = common["scale"],
        scale_pos: Optional[float] = common["scale_pos"], scale_neg: Optional[float] = common["scale_neg"],
        columns_per_layer: Optional[int] = common["columns_per_layer"], timeout: float = common["timeout"],
        clip: bool = common["clip"], model_e_dis: str = common["model_e_dis"], search: str = common["search"],
        model_e: str = common["model_e"], model_effects: str = common["model_effects"],
        c_m_ff: Optional[float] = common["c_m_ff"], as_json: bool = common["as_json"],
    ) -> None:
        """Re-simulate the mapped circuit in ngspice on test samples and compare its spike times with the model."""
        out = out or Path("results") / model.name / "verify"
        rep = _run_verify(model, out, profile=profile, samples=samples, flow=flow, corner=corner, temp=temp,
                          executor=executor, workers=workers, address=address, calib_samples=calib_samples,
                          mode=mode, scales=_scales(scale, scale_pos, scale_neg), columns_per_layer=columns_per_layer,
                          timeout=timeout, clip=clip, model_e_dis=model_e_dis, search=search, model_e=model_e,
                          model_effects=model_effects, c_m_ff=c_m_ff)
        _print_summary(rep, out, as_json)

    @app.command("build")
    def build_cmd(
        model: Path = typer.Argument(..., help="trained model folder (weights.safetensors + card.json)"),
        out: Path = typer.Option(..., "--out", help="results bundle folder"),
        profile: Path = common["profile"],
        samples: int = typer.Option(10, "--samples", help="test samples to verify (the paper's experiment: 50)"),
        flow: str = common["flow"], corner: Optional[str] = common["corner"], temp: Optional[float] = common["temp"],
        executor: str = common["executor"], workers: Optional[int] = common["workers"],
        address: Optional[str] = common["address"],
        calib_samples: int = typer.Option(2, "--calib-samples", help="training samples used to calibrate the current scale(s)"),
        mode: str = common["mode"], scale: Optional[float] = common["scale"],
        scale_pos: Optional[float] = common["scale_pos"], scale_neg: Optional[float] = common["scale_neg"],
        columns_per_layer: Optional[int] = common["columns_per_layer"], timeout: float = common["timeout"],
        clip: bool = common["clip"], model_e_dis: str = common["model_e_dis"], search: str = common["search"],
        model_effects: str = common["model_effects"], c_m_ff: Optional[float] = common["c_m_ff"],
        layout: bool = typer.Option(True, "--layout/--no-layout", help="write the GDS and run DRC"),
        as_json: bool = common["as_json"],
    ) -> None:
        """The whole flow into one results bundle: design.json, netlist/, layout/ + signoff/drc.json, verify/,
        manifest.json (inputs, versions, sha256 of every output)."""
        from generator.circuit.mapping import map_model, model_digest
        from generator.errors import DesignError
        from generator.io import atomic_write_text, dump_json
        from generator.report import bundle_hashes, sha256_file
        from generator.spice.netlist import write_netlist

        t0 = time.monotonic()
        steps: dict[str, float] = {}
        out.mkdir(parents=True, exist_ok=True)
        # 1) verification first: it calibrates the current scale(s) the bundle's design is mapped with
        t = time.monotonic()
        rep = _run_verify(model, out / "verify", profile=profile, samples=samples, flow=flow, corner=corner,
                          temp=temp, executor=executor, workers=workers, address=address,
                          calib_samples=calib_samples, mode=mode, scales=_scales(scale, scale_pos, scale_neg),
                          columns_per_layer=columns_per_layer, timeout=timeout, clip=clip,
                          model_e_dis=model_e_dis, search=search, model_effects=model_effects, c_m_ff=c_m_ff)
        steps["verify_s"] = time.monotonic() - t
        cal = rep["calibration"]
        # 2) the calibrated design, its netlist (testbench driven by test sample 0) and the layout
        prof, params = _params(profile, corner, temp, c_m_ff)
        try:
            design = map_model(model, prof, params, scale_pos=cal["scale_pos"], scale_neg=cal["scale_neg"], clip=clip)
            design.source["profile_path"] = Path(profile).as_posix()
            design.save(out / "design.json")
            spikes = _input_spikes(model, 0)
            write_netlist(design, out / "netlist", sample_spikes=spikes,
                          sample_note=f"{rep['model']['dataset']} test sample 0")
        except DesignError as exc:
            _fail(str(exc))
        layout_info = None
        if layout:
            t = time.monotonic()
            layout_info = _layout_and_drc(design, out)
            steps["layout_drc_s"] = time.monotonic() - t
        manifest = {
            "command": "imcgen " + " ".join(sys.argv[1:]) if sys.argv and "imcgen" in Path(sys.argv[0]).name else "imcgen build",
            "inputs": {"model": model.as_posix(), "model_digest": model_digest(model),
                       "profile": Path(profile).as_posix(), "profile_sha256": sha256_file(profile)},
            "flow": flow, "samples": samples, "calib_samples": None if cal.get("given") else calib_samples,
            "scales": {"scale_pos": cal["scale_pos"], "scale_neg": cal["scale_neg"]},
            "summary": rep["summary"], "layout": layout_info,
            "versions": _versions(),
            "outputs": bundle_hashes(out),
        }
        atomic_write_text(out / "manifest.json", dump_json(_clean(manifest)))
        steps["total_s"] = time.monotonic() - t0
        typer.echo(f"bundle {out}: design.json, netlist/, {'layout/, signoff/, ' if layout_info else ''}verify/, "
                   f"manifest.json ({len(manifest['outputs'])} files) in {steps['total_s']:.0f} s")
        _print_summary(rep, out / "verify", as_json)


def _input_spikes(model: Path, index: int):
    """Encoded input spike times of test sample ``index`` (model units) for the bundle's testbench."""
    from generator.verify import load_model_run

    return load_model_run(model, 1, split="test", offset=index).times[0][0].tolist()


def _layout_and_drc(design, out: Path) -> dict | None:
    """layout/ (GDS + PNG) and signoff/drc.json, when the layout and DRC modules are present."""
    try:
        from generator.layout.export import write_layout
    except ImportError as exc:
        typer.echo(f"note: no layout written ({exc})", err=True)
        return None
    info = write_layout(design, out / "layout")
    result = {"gds": Path(info["paths"]["gds"]).relative_to(out).as_posix()}
    try:
        from generator.signoff.drc import run_drc
    except ImportError as exc:
        typer.echo(f"note: no DRC run ({exc})", err=True)
        return result
    rep = run_drc(info["paths"]["gds"])
    rep.write_json(out / "signoff" / "drc.json")
    result.update({"drc_violations": rep.violations, "drc_by_rule": rep.summary()["by_rule"]})
    return result


def _clean(obj):
    from generator.report import _no_nan

    return _no_nan(obj)
