"""A layer: the synapse crossbar (n_in rows x n_out columns) above a row of n_out neurons.

Rows are inputs (met4 spike lines ``spk``/``spkb`` run horizontally), columns are outputs (met2 dendrites run
vertically down into the neurons). Synapse (out i, in j) sits at column i, row j. Placement uses cell-array
references: each maximal run of equal-sign synapses in a row is ONE array instance (kdb.CellInstArray), so an
all-positive 784x400 layer is 784 instances and the GDS stays small. Column pitch = max(synapse, neuron) width.
The neuron row is one array instance below the crossbar: its control tracks, rails and wells abut from neuron to
neuron, so each control line is one continuous wire across the row (pins at the row ends, in the top cell).
"""

from __future__ import annotations

import klayout.db as kdb
import gdsfactory as gf

from generator.layout._pdk import ensure_pdk
from generator.layout.neuron import neuron
from generator.layout.synapse import synapse, synapse_pitch
from generator.pdk.sky130 import layers as L
from generator.pdk.sky130.rules import snap

ensure_pdk()


def column_pitch(w: float, l: float, c_m: float, dis_w: float, dis_l: float, neuron_pitch: float) -> float:  # noqa: ARG001
    """Column pitch (µm): the neuron pitch (which must hold the neuron) and at least the synapse's minimum width."""
    return snap(max(synapse_pitch(w, l)[0], neuron_pitch))


def sign_runs(row: list[int]) -> list[tuple[int, int, int]]:
    """(start column, length, sign) of each maximal run of equal signs in ``row``."""
    runs = []
    start = 0
    for k in range(1, len(row) + 1):
        if k == len(row) or row[k] != row[start]:
            runs.append((start, k - start, row[start]))
            start = k
    return runs


def bias_pin_name(layer: int, kind: str, i_out: int, j_in: int) -> str:
    """Name of the memory-gate bias pin of synapse (i_out, j_in) of ``layer``: e.g. ``L0_VBN_3_2`` (kind vbn/vbp)."""
    return f"L{layer}_{kind.upper()}_{i_out}_{j_in}"


def build_layer(name: str, signs_in_rows: list[list[int]], w: float, l: float, c_m: float, dis_w: float, dis_l: float,
                neuron_pitch: float, cap_side: float = 0.0) -> tuple[gf.Component, dict]:
    """Layer cell ``name`` from ``signs_in_rows[j][i]`` (input row j, output column i). Returns (cell, geometry)."""
    n_in = len(signs_in_rows)
    n_out = len(signs_in_rows[0]) if n_in else 0
    px = column_pitch(w, l, c_m, dis_w, dis_l, neuron_pitch)
    cells = {s: synapse(w=w, l=l, sign=s, pitch_x=px) for s in (-1, 0, 1)}
    py = cells[1].info["pitch_y"]
    neu = neuron(c_m=c_m, dis_w=dis_w, dis_l=dis_l, pitch_x=px, cap_side=cap_side)
    nh = neu.info["height"]
    c = gf.Component(name)
    kc = c.kdb_cell
    dbu = c.kcl.dbu
    ipx, ipy = int(round(px / dbu)), int(round(py / dbu))
    counts = {-1: 0, 0: 0, 1: 0}
    for j, row in enumerate(signs_in_rows):
        for start, n, s in sign_runs(list(row)):
            ci = cells[s].kdb_cell.cell_index()
            t = kdb.Trans(start * ipx, j * ipy)
            if n == 1:
                kc.insert(kdb.CellInstArray(ci, t))
            else:
                kc.insert(kdb.CellInstArray(ci, t, kdb.Vector(ipx, 0), kdb.Vector(0, 0), n, 1))
            counts[s] += n
    inh = int(round(nh / dbu))
    kc.insert(kdb.CellInstArray(neu.kdb_cell.cell_index(), kdb.Trans(0, -inh), kdb.Vector(ipx, 0),
                                kdb.Vector(0, 0), n_out, 1))
    geo = {"pitch_x": px, "pitch_y": py, "neuron_height": nh, "n_in": n_in, "n_out": n_out,
           "synapse_cells": {str(k): v for k, v in counts.items()}, "cap_side": neu.info["cap_side"],
           "synapse_ports": {s: {p.name: (p.center[0], p.center[1]) for p in cells[s].ports} for s in (-1, 0, 1)},
           "neuron_ports": {p.name: (p.center[0], p.center[1]) for p in neu.ports}}
    return c, geo


def label(c: gf.Component, text: str, x: float, y: float, layer: tuple[int, int], half: float = 0.07) -> None:
    """A pin: small rectangle on the pin layer of ``layer`` plus a text label there (the project's LVS reads it) and
    on the label layer (xx/5: where the official sky130 decks read net names)."""
    kc = c.kdb_cell
    li = c.kcl.layout.layer(*L.PIN_OF[layer])
    kc.shapes(li).insert(kdb.DBox(x - half, y - half, x + half, y + half))
    kc.shapes(li).insert(kdb.DText(text, kdb.DTrans(x, y)))
    kc.shapes(c.kcl.layout.layer(*L.LABEL_OF[layer])).insert(kdb.DText(text, kdb.DTrans(x, y)))
