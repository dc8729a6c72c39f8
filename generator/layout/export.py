"""Write a Design's layout: ``<name>.gds`` (no gdsfactory metadata, no timestamps), PNG renders, JSON summary.

Same Design -> byte-identical GDS: GDS timestamps are off and every cell name is derived from the Design.
All checks run before any file is written (bad sizes raise DesignError); files are written atomically.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import klayout.db as kdb

from generator.design import Design
from generator.io import atomic_write_bytes, atomic_write_text, dump_json
from generator.layout.neuron import NEURON_DEVICES, device_counts
from generator.layout.top import build_top, check_design


def _canonical_copy(src: kdb.Layout, top_index: int) -> kdb.Layout:
    """A fresh layout holding ``top_index`` and its hierarchy, with layers created in (layer, datatype) order and
    cells in name order.

    gdsfactory/KLayout number cells and layers in the order a process first made them, and the GDS writer follows
    those numbers: without this copy the bytes would depend on what else the process drew before (e.g. a test that
    built single cells first), not only on the Design.
    """
    out = kdb.Layout()
    out.dbu = src.dbu
    infos = sorted((src.get_info(li) for li in src.layer_indexes()), key=lambda i: (i.layer, i.datatype, i.name))
    lmap = {src.find_layer(info): out.layer(info) for info in infos}
    cells = sorted({top_index, *src.cell(top_index).called_cells()}, key=lambda i: src.cell(i).name)
    cmap = {i: out.create_cell(src.cell(i).name).cell_index() for i in cells}
    for i in cells:
        s_cell, o_cell = src.cell(i), out.cell(cmap[i])
        for li_src, li_out in lmap.items():
            o_cell.shapes(li_out).insert(s_cell.shapes(li_src))
        for inst in s_cell.each_inst():
            arr = inst.cell_inst.dup()
            arr.cell_index = cmap[inst.cell_index]
            o_cell.insert(arr)
    return out


def gds_bytes(component) -> bytes:
    """GDS of ``component`` and its hierarchy as bytes: no metadata cell, no timestamps (KLayout 0.28 reads it), and
    the same bytes for the same drawing whatever the process built before (see :func:`_canonical_copy`)."""
    layout = _canonical_copy(component.kcl.layout, component.kdb_cell.cell_index())
    opts = kdb.SaveLayoutOptions()
    opts.format = "GDS2"
    opts.gds2_write_timestamps = False
    opts.gds2_write_cell_properties = False
    opts.gds2_write_file_properties = False
    opts.gds2_libname = "IMCGEN"
    opts.write_context_info = False
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.gds")
        layout.write(p, opts)
        return Path(p).read_bytes()


def summary(design: Design, geo: dict, top_name: str) -> dict:
    """Cell and device counts, die size (µm) and areas per synapse / per neuron (µm²)."""
    layers = geo["layers"]
    x0 = min(g["bbox"][0] for g in layers)
    y0 = min(g["bbox"][1] for g in layers)
    x1 = max(g["bbox"][2] for g in layers)
    y1 = max(g["bbox"][3] for g in layers)
    n_syn = sum(g["n_in"] * g["n_out"] for g in layers)
    n_neu = sum(g["n_out"] for g in layers)
    g0 = layers[0]
    dev = {k: n * n_neu for k, n in device_counts().items()}  # each neuron, plus 2 NFET + 2 PFET per synapse
    dev["nfet_01v8"] = dev.get("nfet_01v8", 0) + 2 * n_syn
    dev["pfet_01v8"] = dev.get("pfet_01v8", 0) + 2 * n_syn
    return {
        "name": design.name,
        "top_cell": top_name,
        "die_um": [round(x1 - x0, 3), round(y1 - y0, 3)],
        "die_area_um2": round((x1 - x0) * (y1 - y0), 3),
        "cells": {"synapse": n_syn, "neuron": n_neu, "layer": len(layers),
                  "synapse_by_sign": {s: sum(g["synapse_cells"][s] for g in layers) for s in ("1", "-1", "0")}},
        "devices": dev,
        "neuron_devices": NEURON_DEVICES,
        "area_per_synapse_um2": round(g0["pitch_x"] * g0["pitch_y"], 4),
        "area_per_neuron_um2": round(g0["pitch_x"] * g0["neuron_height"], 4),
        "synapse_pitch_um": [g0["pitch_x"], g0["pitch_y"]],
        "mim_cap_side_um": g0["cap_side"],
        "layers": [{"n_in": g["n_in"], "n_out": g["n_out"], "bbox_um": [round(v, 3) for v in g["bbox"]],
                    "mim_cap_side_um": g["cap_side"]}
                   for g in layers],
    }


#: longest output file stem (characters)
STEM_MAX = 100


def file_stem(name: str) -> str:
    """A safe output file stem for a design name: the name itself when it is a plain identifier (letters, digits,
    ``_ - .``, not starting with ``.`` or ``-``), else the name with every other character replaced by ``_``.

    Why: the name comes from a model card or a design.json (untrusted text); a name such as ``../../x`` or
    ``/abs/x`` must never choose where a file is written. The result has no path separator, is not ``.``/``..``
    and cannot start with ``.`` or ``-``, so ``out_dir / stem`` always stays inside ``out_dir``.
    """
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(name))[:STEM_MAX]
    stem = re.sub(r"^[.\-]+", lambda m: "_" * len(m.group()), stem)
    return stem or "design"


def write_layout(design: Design, out_dir: str | os.PathLike, *, neuron_pitch: float | None = None,
                 render: bool = True) -> dict:
    """Write ``out_dir/<stem>.gds``, ``<stem>_layout.json`` and (``render``) PNGs, ``stem`` =
    :func:`file_stem` of the design's name; return the summary dict with the written paths under ``files``."""
    neuron_pitch = design.neuron_pitch_um if neuron_pitch is None else neuron_pitch  # µm
    check_design(design, neuron_pitch)  # before anything is written
    top, geo = build_top(design, neuron_pitch)
    data = gds_bytes(top)
    out = Path(out_dir)
    stem = file_stem(design.name)
    info = summary(design, geo, top.name)
    gds = atomic_write_bytes(out / f"{stem}.gds", data)
    files = {"gds": str(gds)}
    if render:
        from generator.layout.render import render_pngs

        files.update(render_pngs(gds, out, stem, top.name))
    info["files"] = {k: Path(v).name for k, v in sorted(files.items())}
    info["gds_bytes"] = len(data)
    atomic_write_text(out / f"{stem}_layout.json", dump_json(info))
    files["json"] = str(out / f"{stem}_layout.json")
    info["paths"] = files
    return info
