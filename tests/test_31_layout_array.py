"""Layer / network / top: DRC-clean Iris-sized network, device counts equal the Design's, pins labelled,
byte-identical GDS for the same Design, clear errors before any file for impossible sizes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import klayout.db as kdb
import pytest

from generator.design import CircuitParams, Design, LayerDesign
from generator.errors import DesignError
from generator.layout.export import write_layout
from generator.signoff.drc import run_drc


def make_design(name="iris_test", sizes=(5, 5, 5), params=None) -> Design:
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        cur = [[(1e-7, -1e-7, 0.0)[(3 * i + j + k) % 3] for j in range(a)] for i in range(b)]
        layers.append(LayerDesign(f"l{k}", a, b, [[0.0] * a for _ in range(b)], cur, [[None] * a for _ in range(b)]))
    return Design(name, params or CircuitParams(), layers, 2.8, -1.53)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = make_design()
    out = tmp_path_factory.mktemp("lay")
    info = write_layout(d, out)
    return d, out, info


def test_network_drc_clean(written):
    d, out, info = written
    rep = run_drc(out / f"{d.name}.gds")
    assert rep.by_rule == {}, rep.by_rule


def test_device_counts_match_design(written):
    d, out, info = written
    ly = kdb.Layout()
    ly.read(str(out / f"{d.name}.gds"))
    top = ly.cell(info["top_cell"])
    n_syn = {1: 0, -1: 0, 0: 0}
    n_neu = 0
    for ci in [top.cell_index()] + list(top.called_cells()):
        cell = ly.cell(ci)
        for inst in cell.each_inst():
            name = ly.cell(inst.cell_index).name
            n = inst.na * inst.nb if inst.is_regular_array() else 1
            if name.startswith("synapse_"):
                s = {"S1": 1, "Sm1": -1, "S0": 0}[name.split("_")[3]]
                n_syn[s] += n
            elif name.startswith("neuron_"):
                n_neu += n
    want = {1: 0, -1: 0, 0: 0}
    for layer in d.layers:
        for i in range(layer.n_out):
            for j in range(layer.n_in):
                want[layer.sign(i, j)] += 1
    assert n_syn == want
    assert n_neu == sum(layer.n_out for layer in d.layers)
    # devices inside the cells are counted by extraction in tests/test_32_layout_extract.py


def test_pins_labelled(written):
    d, out, info = written
    ly = kdb.Layout()
    ly.read(str(out / f"{d.name}.gds"))
    top = ly.cell(info["top_cell"])
    texts = set()
    for li in ly.layer_indexes():
        for sh in top.shapes(li).each():
            if sh.is_text():
                texts.add(sh.text_string)
    need = {"VDD", "VSS", "V0", "VBDIS", "VBSENSE"} | {f"IN{j}" for j in range(5)} | {f"IN{j}_B" for j in range(5)}
    need |= {f"L{k}_OUT{i}{b}" for k in (0, 1) for i in range(5) for b in ("", "_B")}
    need |= {f"L{k}_{s}" for k in (0, 1) for s in ("PHASE", "PHASE_B", "RESET", "RESET_B")}
    for k, layer in enumerate(d.layers):
        for i in range(layer.n_out):
            for j in range(layer.n_in):
                s = layer.sign(i, j)
                if s:
                    need.add(f"L{k}_{'VBN' if s > 0 else 'VBP'}_{i}_{j}")
    assert need <= texts, sorted(need - texts)[:10]


def test_outputs_and_determinism(written, tmp_path):
    d, out, info = written
    for key in ("gds", "png_top", "png_synapse", "png_neuron"):
        assert (out / info["files"][key]).is_file()
    summ = json.loads((out / f"{d.name}_layout.json").read_text())
    assert summ["cells"]["synapse"] == 50 and summ["die_um"][0] > 0 and summ["area_per_synapse_um2"] > 0
    info2 = write_layout(make_design(), tmp_path, render=False)
    assert (tmp_path / f"{d.name}.gds").read_bytes() == (out / f"{d.name}.gds").read_bytes()
    del info2


@pytest.mark.parametrize("change,match", [
    ({"c_m": 1e-12}, "neuron pitch"),
    ({"syn_w": 0.3}, "width W=0.3"),
    ({"dis_l": 0.1}, "length L=0.1"),
])
def test_bad_sizes_error_before_writing(tmp_path, change, match):
    p = dataclasses.replace(CircuitParams(), **change)
    with pytest.raises(DesignError, match=match):
        write_layout(make_design("bad", params=p), tmp_path / "o")
    assert not (tmp_path / "o").exists()
