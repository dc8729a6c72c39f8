"""Extraction (klayout.db LayoutToNetlist): the drawn neuron and network are the netlisted circuit.

The neuron cell is extracted and compared with the CDL ``neuron`` subcircuit (NetlistComparer: same devices,
sizes and connections); the small network's extracted device counts per model equal the Design's.
"""

from __future__ import annotations

import klayout.db as kdb
import pytest

from generator.layout.export import write_layout
from generator.layout.neuron import PIN_NAMES, device_counts, neuron
from generator.layout.top import mim_side
from generator.signoff.extract import compare, extract, read_cdl
from generator.spice.netlist import render_cdl
from tests.test_31_layout_array import make_design

PREFIX = "sky130_fd_pr__"


@pytest.fixture(scope="module")
def design():
    return make_design("extract_net", sizes=(3, 4, 2))


@pytest.fixture(scope="module")
def reference(design, tmp_path_factory):
    path = tmp_path_factory.mktemp("cdl") / "ref.cdl"
    path.write_text(render_cdl(design))
    return read_cdl(path)


def test_neuron_devices_and_pins(design):
    p = design.params
    c = neuron(c_m=p.c_m, dis_w=p.dis_w, dis_l=p.dis_l, cap_side=mim_side(design, 0))
    ex = extract((c.kcl.layout, c.kdb_cell))
    assert ex.devices == {PREFIX + k: v for k, v in device_counts().items()}
    top = next(ex.netlist.each_circuit_top_down())
    assert sorted(pin.name() for pin in top.each_pin()) == sorted(PIN_NAMES)


def test_neuron_matches_cdl_subcircuit(design, reference):
    p = design.params
    c = neuron(c_m=p.c_m, dis_w=p.dis_w, dis_l=p.dis_l, cap_side=mim_side(design, 0))
    ex = extract((c.kcl.layout, c.kdb_cell))
    top = next(ex.netlist.each_circuit_top_down())
    top.name = "NEURON"
    ref = reference.dup()
    for circ in list(ref.each_circuit()):
        if circ.name.upper() != "NEURON":
            ref.remove(circ)
    ok, log = compare(ex.netlist, ref)
    assert ok, log


def test_network_device_counts_match_design(design, tmp_path):
    info = write_layout(design, tmp_path, render=False)
    ex = extract(tmp_path / f"{design.name}.gds", flat=False)
    n_syn = sum(layer.n_in * layer.n_out for layer in design.layers)
    n_neu = sum(layer.n_out for layer in design.layers)
    want = {PREFIX + k: v * n_neu for k, v in device_counts().items()}
    want[PREFIX + "nfet_01v8"] += 2 * n_syn
    want[PREFIX + "pfet_01v8"] += 2 * n_syn
    assert ex.devices == want
    del info


def test_network_spike_routing_connects_layers(design, tmp_path):
    """Layer 0's output spike nets reach layer 1's selector gates: each L0_OUT net has NMOS gates (the row of
    layer-1 NMOS selectors plus the neuron's own output logic) and L0_OUT_B PMOS selector gates."""
    write_layout(design, tmp_path, render=False)
    ex = extract(tmp_path / f"{design.name}.gds")
    top = next(ex.netlist.each_circuit_top_down())
    n_next = design.layers[1].n_out
    for i in range(design.layers[0].n_out):
        for name, model in ((f"L0_OUT{i}", "nfet_01v8"), (f"L0_OUT{i}_B", "pfet_01v8")):
            net = top.net_by_name(name)
            assert net is not None, name
            gates = [t for t in net.each_terminal() if t.terminal_id() == kdb.DeviceClassMOS4Transistor.TERMINAL_G
                     and t.device().device_class().name == PREFIX + model]
            assert len(gates) >= n_next, (name, len(gates))
