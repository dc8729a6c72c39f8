"""`imcgen gds MODEL_OR_DESIGN --out DIR`: the layout view of a Design (GDS, PNG renders, JSON summary).

Output file names come from the design's name made safe (generator.layout.export.file_stem), so they always
land inside --out. Shared options (--profile, --out, --json) mean what generator/commands/_common.py says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from generator.commands._common import (check_number, check_out_dir, handle_errors, profile_option, resolve_profile,
                                        warn_if_no_synapses)

#: the --neuron-pitch range (µm): below ~1 µm nothing fits; above 1 mm it is surely a unit mistake
NEURON_PITCH_RANGE_UM = (1.0, 1000.0)


def _load_design(src: Path, profile: Optional[Path]):
    from generator.design import Design
    from generator.errors import DesignError

    if src.is_file():
        return Design.load(src)
    if (src / "design.json").is_file():
        return Design.load(src / "design.json")
    if src.is_dir():
        from generator.circuit.mapping import map_model
        from generator.design import DeviceProfile

        return map_model(src, DeviceProfile.load(resolve_profile(profile)))
    raise DesignError(f"{src} is neither a design.json nor a model folder; pass a design.json written by "
                      "`imcgen map`, a results folder holding one, or a trained model folder")


def register(app: typer.Typer) -> None:
    @app.command("gds")
    @handle_errors
    def gds(
        source: Path = typer.Argument(..., help="design.json, a results folder with design.json, or a model folder"),
        out: Path = typer.Option(..., "--out", help="output folder for <name>.gds, PNGs and <name>_layout.json"),
        profile: Optional[Path] = profile_option(help="DeviceProfile JSON used when SOURCE is a model folder "
                                                 "(default: imcgen's sky130 tt 27 °C profile)"),
        neuron_pitch: Optional[float] = typer.Option(None, "--neuron-pitch", help="neuron (column) pitch in µm "
                                                     "(default: the Design's: the model card's circuit, else 12)"),
        no_render: bool = typer.Option(False, "--no-render", help="skip the PNG renders"),
        as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON line (last line)"),
    ) -> None:
        """Draw the sky130 layout of a Design: DRC-clean cells, synapse arrays, neurons, labelled pins."""
        from generator.layout.export import write_layout

        check_out_dir(out)
        lo, hi = NEURON_PITCH_RANGE_UM
        if neuron_pitch is not None:
            check_number(neuron_pitch, "--neuron-pitch", lo=lo, hi=hi, unit=" µm")
        if profile is not None:
            resolve_profile(profile)
        design = _load_design(source, profile)
        warn_if_no_synapses(design)
        info = write_layout(design, out, neuron_pitch=neuron_pitch, render=not no_render)
        gds_path = info.pop("paths", {}).get("gds")
        if as_json:
            typer.echo(json.dumps(info, sort_keys=True))
        else:
            typer.echo(f"wrote {gds_path}: die {info['die_um'][0]} x {info['die_um'][1]} µm, "
                       f"{info['cells']['synapse']} synapses, {info['cells']['neuron']} neurons")
