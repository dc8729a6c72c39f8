"""Each layer's membrane capacitor in the committed layout is the one its netlist instantiates.

The netlist gives every distinct neuron its own subcircuit (``neuron``, ``neuron_1``, ...) with the MIM the
Design sized for that layer's column height; the layout draws each layer's neuron with the Design's MIM too.
This test reads both the way a reviewer would: the CDL text (which neuron each layer instantiates and that
neuron's C line area) against the capm2 area drawn in the neuron cell under each layer cell of the GDS.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import klayout.db as kdb
import pytest

from generator.circuit.mapping import map_model
from generator.design import CircuitParams, DeviceProfile
from generator.pdk.sky130 import layers as L
from generator.spice.netlist import render_cdl

REPO = Path(__file__).resolve().parents[1]
PROFILE = DeviceProfile.load(REPO / "profiles" / "sky130_tt_27C.json")
#: committed layouts and the membrane capacitance (F) each was drawn with (layouts/README.md)
COMMITTED = {"iris": None, "iris-ideal": None, "digits": None, "mnist": None}  # circuit from each card


def _gds(name: str) -> Path:
    folder = REPO / "layouts" / name
    return next(p for p in (folder / f"{name}.gds", folder / f"{name}.gds.gz") if p.is_file())


def netlist_mim_area_um2(cdl: str) -> list[float]:
    """Per layer (in order) the MIM area (µm²) of the neuron subcircuit that layer instantiates."""
    areas = {m.group(1): float(m.group(2)) * 1e12
             for m in re.finditer(r"^\.subckt (neuron\w*) .*?^C\w+ .*? A=(\S+)", cdl, re.M | re.S)}
    layers = re.findall(r"^\.subckt \S+_layer(\d+)\b.*?^XN0 .*? (neuron\w*)$", cdl, re.M | re.S)
    return [areas[neuron] for _, neuron in sorted(layers, key=lambda kv: int(kv[0]))]


def layout_mim_area_um2(gds: Path) -> list[float]:
    """Per layer cell (``<top>_L<k>_...``, in k order) the capm2 area (µm²) of the neuron cell it places."""
    layout = kdb.Layout()
    layout.read(str(gds))
    capm2 = layout.find_layer(*L.CAPM2)
    out = {}
    for cell in layout.each_cell():
        m = re.search(r"_L(\d+)_[0-9a-f]+$", cell.name)
        if not m:
            continue
        neurons = {layout.cell(i).name: i for i in cell.each_child_cell() if layout.cell(i).name.startswith("neuron")}
        assert len(neurons) == 1, f"{cell.name} places {sorted(neurons)}; expected one neuron cell"
        neuron = layout.cell(next(iter(neurons.values())))
        region = kdb.Region(neuron.begin_shapes_rec(capm2)).merged()
        out[int(m.group(1))] = region.area() * layout.dbu ** 2
    return [out[k] for k in sorted(out)]


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_each_layers_mim_in_the_gds_is_the_netlists(name):
    params = None
    if COMMITTED[name]:
        params = dataclasses.replace(CircuitParams(corner=PROFILE.corner, temp=PROFILE.temp), c_m=COMMITTED[name])
    design = map_model(REPO / "trained_models" / name, PROFILE, params)
    want = netlist_mim_area_um2(render_cdl(design))
    got = layout_mim_area_um2(_gds(name))
    assert len(want) == len(got) == len(design.layers)
    for k, (w, g) in enumerate(zip(want, got)):
        assert g == pytest.approx(w, rel=1e-5), f"{name} layer {k}: GDS capm2 {g:.4f} µm² vs netlist MIM {w:.4f} µm²"
    assert [layer.neuron.mim.w * layer.neuron.mim.l for layer in design.layers] == pytest.approx(want, rel=1e-5)
