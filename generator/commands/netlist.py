"""CLI: ``imcgen map`` (trained model -> design.json) and ``imcgen netlist`` (design.json + netlist/ folder).

Thin wrappers over generator/circuit/mapping.py and generator/spice/netlist.py. Currents in A, voltages in V,
time in s; spike times in model units (one phase = 1). Options shared with other commands (--corner, --profile,
--out, --json) mean what generator/commands/_common.py says.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import typer

from generator.commands._common import (check_corner, check_number, check_out_dir, corner_option, handle_errors,
                                        profile_option, resolve_profile, warn, warn_if_no_synapses)

C_M_HELP = ("membrane capacitance C_m in fF (default 140, PAPER.md Table 2); the unit-weight current C_m V_th / T "
            "scales with it. Long columns need more: each input adds ~0.6 fF of device capacitance (784 inputs: ~1000)")
#: largest --c-m (fF) and current scale accepted
C_M_MAX_FF = 1e6
SCALE_MAX = 1e6


def _check_options(out: Path, c_m_ff: Optional[float], corner: Optional[str], **scales: Optional[float]) -> None:
    """Every option checked before any work (exit 2 naming the value and the fix)."""
    check_out_dir(out)
    check_number(c_m_ff, "--c-m", lo=0.0, lo_open=True, hi=C_M_MAX_FF, unit=" fF")
    check_corner(corner)
    for name, value in scales.items():
        check_number(value, "--" + name.replace("_", "-"), lo=0.0, lo_open=True, hi=SCALE_MAX,
                     hint="a dimensionless current scale, 1 = as mapped")


def _map(model: Path, profile: Path, clip: bool, scale: Optional[float], scale_pos: Optional[float],
         scale_neg: Optional[float], corner: Optional[str], c_m_ff: Optional[float] = None):
    from generator.circuit.mapping import default_params, map_model, read_trained_model
    from generator.design import DeviceProfile
    from generator.pdk import sky130

    profile = resolve_profile(profile)
    prof = DeviceProfile.load(profile)
    params = default_params(read_trained_model(model)[1], prof, c_m_ff=c_m_ff)
    if corner:
        sky130.check_corner(corner)
        if corner != prof.corner:
            warn(f"--corner {corner}: the design is simulated at {corner} with the biases of the profile's corner "
                 f"{prof.corner!r}; to re-bias, characterise {corner} (`imcgen characterize --corner {corner}`) and "
                 "pass its profile")
        params = dataclasses.replace(params, corner=corner)
    sp = scale_pos if scale_pos is not None else (scale if scale is not None else 1.0)
    sn = scale_neg if scale_neg is not None else (scale if scale is not None else 1.0)
    design = map_model(model, prof, params, scale_pos=sp, scale_neg=sn, clip=clip)
    design.source["profile_path"] = Path(profile).as_posix()
    warn_if_no_synapses(design)
    return design


def _summary(design, out: Path) -> dict:
    n_on = sum(1 for layer in design.layers for row in layer.gate_bias for b in row if b is not None)
    return {"design": str(out / "design.json"), "name": design.name, "sizes": design.sizes,
            "synapses_on": n_on, "scale_pos": design.scale_pos, "scale_neg": design.scale_neg,
            "v_b_dis": design.params.v_b_dis, "unit_current_a": design.params.unit_current}


def register(app: typer.Typer) -> None:
    @app.command("map")
    @handle_errors
    def map_cmd(
        model: Path = typer.Argument(..., help="trained model folder (weights.safetensors + card.json)"),
        out: Path = typer.Option(..., "--out", help="output folder; writes DIR/design.json"),
        profile: Optional[Path] = profile_option(),
        clip: bool = typer.Option(False, "--clip", help="limit currents beyond the device's range instead of failing"),
        scale: Optional[float] = typer.Option(None, "--scale", help="global current scale (dimensionless, bottom-up calibration)"),
        scale_pos: Optional[float] = typer.Option(None, "--scale-pos", help="current scale of positive weights (top-down)"),
        scale_neg: Optional[float] = typer.Option(None, "--scale-neg", help="current scale of negative weights (top-down)"),
        corner: Optional[str] = corner_option(),
        c_m_ff: Optional[float] = typer.Option(None, "--c-m", help=C_M_HELP),
        as_json: bool = typer.Option(False, "--json", help="print a JSON summary as the last stdout line"),
    ) -> None:
        """Map a trained model's weights to synapse currents (A) and memory gate biases (V): DIR/design.json."""
        _check_options(out, c_m_ff, corner, scale=scale, scale_pos=scale_pos, scale_neg=scale_neg)
        design = _map(model, profile, clip, scale, scale_pos, scale_neg, corner, c_m_ff)
        design.save(out / "design.json")
        summary = _summary(design, out)
        typer.echo(f"wrote {out / 'design.json'} ({design.name}, sizes {design.sizes}, "
                   f"{summary['synapses_on']} synapses on, V_b_dis {design.params.v_b_dis:.4f} V)")
        if as_json:
            typer.echo(json.dumps(summary, sort_keys=True))

    @app.command("netlist")
    @handle_errors
    def netlist_cmd(
        model: Path = typer.Argument(..., help="trained model folder, or a design.json written by `imcgen map`"),
        out: Path = typer.Option(..., "--out", help="output folder: DIR/design.json and DIR/netlist/"),
        profile: Optional[Path] = profile_option(help="DeviceProfile JSON (when MODEL is a model folder; default: "
                                                 "imcgen's sky130 tt 27 °C profile)"),
        sample: int = typer.Option(0, "--sample", help="index of the test sample whose encoded spikes drive the testbench"),
        clip: bool = typer.Option(False, "--clip", help="limit currents beyond the device's range instead of failing"),
        scale: Optional[float] = typer.Option(None, "--scale", help="global current scale (dimensionless)"),
        corner: Optional[str] = corner_option(),
        c_m_ff: Optional[float] = typer.Option(None, "--c-m", help=C_M_HELP),
        as_json: bool = typer.Option(False, "--json", help="print a JSON summary as the last stdout line"),
    ) -> None:
        """Write the SPICE netlist, a runnable testbench (`cd DIR/netlist && ngspice -b testbench.spice`) and the CDL."""
        from generator.design import Design
        from generator.spice.netlist import write_netlist

        _check_options(out, c_m_ff, corner, scale=scale)
        if model.is_file() and model.suffix == ".json":
            design = Design.load(model)
            warn_if_no_synapses(design)
            model_dir = Path(design.source.get("model_dir", ""))
        else:
            design = _map(model, profile, clip, scale, None, None, None, c_m_ff)
            model_dir = model
        spikes, note = _sample_spikes(model_dir, design, sample)
        design.save(out / "design.json")
        paths = write_netlist(design, out / "netlist", sample_spikes=spikes, corner=corner, sample_note=note)
        typer.echo(f"wrote {out / 'design.json'} and {out / 'netlist'}/ ({', '.join(p.name for p in paths.values())}); "
                   f"run: cd {out / 'netlist'} && ngspice -b testbench.spice")
        if as_json:
            summary = _summary(design, out)
            summary.update({k: str(v) for k, v in paths.items()})
            summary["sample"] = sample
            typer.echo(json.dumps(summary, sort_keys=True))


def _sample_spikes(model_dir: Path, design, sample: int):
    """Encoded input spike times of test sample ``sample`` of the model's dataset (imports torch lazily)."""
    from generator.errors import DesignError

    card_path = model_dir / "card.json"
    if not card_path.is_file():
        raise DesignError(f"cannot find the model's card.json at {card_path} to pick test sample {sample}")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DesignError(f"{card_path} is not valid JSON ({exc}); re-run `imcgen train`") from None
    from generator.model.card import validate_card
    from generator.model.data import load_dataset  # torch: only here

    card = validate_card(card, card_path)
    if "dataset" not in card:
        raise DesignError(f"{card_path} names no 'dataset'; add it (e.g. \"iris\") or retrain with `imcgen train`")
    ds = load_dataset(card["dataset"])
    n = int(ds.x_test.shape[0])
    if not 0 <= sample < n:
        raise DesignError(f"--sample {sample} out of range: the {ds.name} test set has {n} samples")
    x = ds.x_test[sample].reshape(-1).double().numpy()
    if x.size != design.layers[0].n_in:
        raise DesignError(f"the {ds.name} sample has {x.size} inputs but the design has {design.layers[0].n_in}")
    label = int(ds.y_test[sample])
    return x, f"{ds.name} test sample {sample} (label {label})"
