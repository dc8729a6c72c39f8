"""`imcgen gds MODEL_OR_DESIGN --out DIR`: the layout view of a Design (GDS, PNG renders, JSON summary)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _load_design(src: Path):
    from generator.design import Design
    from generator.errors import DesignError

    if src.is_file():
        return Design.load(src)
    if (src / "design.json").is_file():
        return Design.load(src / "design.json")
    if src.is_dir():
        try:
            from generator.circuit.mapping import map_model  # helper-4's module, when present
        except ImportError:
            raise DesignError(f"{src} is a model folder but generator.circuit.mapping is not available; "
                              f"run `imcgen map {src} --out DIR` and pass DIR/design.json") from None
        from generator.design import DeviceProfile

        return map_model(src, DeviceProfile.load(Path("profiles/sky130_tt_27C.json")))
    raise DesignError(f"{src} is neither a design.json nor a model folder")


def register(app: typer.Typer) -> None:
    @app.command("gds")
    def gds(
        source: Path = typer.Argument(..., help="design.json, a results folder with design.json, or a model folder"),
        out: Path = typer.Option(..., "--out", help="output folder for <name>.gds, PNGs and <name>_layout.json"),
        neuron_pitch: float = typer.Option(12.0, "--neuron-pitch", help="neuron (column) pitch in µm"),
        no_render: bool = typer.Option(False, "--no-render", help="skip the PNG renders"),
        as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON line (last line)"),
    ) -> None:
        """Draw the sky130 layout of a Design: DRC-clean cells, synapse arrays, neurons, labelled pins."""
        from generator.errors import DesignError
        from generator.layout.export import write_layout

        try:
            info = write_layout(_load_design(source), out, neuron_pitch=neuron_pitch, render=not no_render)
        except DesignError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        info.pop("paths", None)
        if as_json:
            typer.echo(json.dumps(info, sort_keys=True))
        else:
            typer.echo(f"wrote {out}/{info['name']}.gds: die {info['die_um'][0]} x {info['die_um'][1]} µm, "
                       f"{info['cells']['synapse']} synapses, {info['cells']['neuron']} neurons")
