"""The wiring estimate the Design sizes every MIM with is what extraction of the drawn layout finds.

design.membrane_wiring(n_in) (14.3 fF + 1.0 fF per input) makes the schematic's membrane C_m and shrinks the MIM
by as much; if the layout generator or the extractor changes, this fails and the constants must be re-measured.
Post-layout verification is only as good as this agreement (Iris: 106 ns output RMSE before the wiring was
counted, 1.7 ns after).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.circuit.mapping import design_from_weights, map_model
from generator.design import CircuitParams, DeviceProfile, membrane_wiring
from generator.signoff.pex import extract_parasitics
from generator.verify.post_layout import annotate, extract_design

REPO = Path(__file__).resolve().parents[1]
PROFILE = DeviceProfile.load(REPO / "profiles" / "sky130_tt_27C.json")


def test_committed_iris_layout_membranes_match_the_estimate():
    design = map_model(REPO / "trained_models" / "iris", PROFILE)
    caps, summary = annotate(design, extract_parasitics(REPO / "layouts" / "iris" / "iris.gds"))
    for layer, s in zip(design.layers, summary["layers"]):
        assert s["membrane_wiring_f_mean"] == pytest.approx(membrane_wiring(layer.n_in), rel=0.10), s
        assert s["design_wiring_f"] == pytest.approx(membrane_wiring(layer.n_in), rel=1e-3)
    assert all(c.c > 0 for c in caps) and summary["capacitors"] == len(caps)
    # every membrane, input and output spike net of the schematic got its capacitance
    nets = {n for c in caps for n in (c.a, c.b)}
    want = {f"m{k + 1}_{i}" for k, layer in enumerate(design.layers) for i in range(layer.n_out)}
    want |= {f"in_{j}" for j in range(design.layers[0].n_in)} | {f"s{len(design.layers)}_{i}" for i in range(3)}
    assert want <= nets, sorted(want - nets)


def test_a_longer_column_adds_one_femtofarad_per_input():
    card = {"e_pos": PROFILE.e_pos, "e_neg": PROFILE.e_neg, "e_dis": PROFILE.e_dis, "name": "wiring16"}
    rng = np.random.default_rng(0)
    design = design_from_weights([rng.uniform(-0.5, 0.5, (2, 16)), rng.uniform(-0.5, 0.5, (2, 2))], card, PROFILE,
                                 CircuitParams(), name="wiring16")
    _, summary = extract_design(design)
    got = [s["membrane_wiring_f_mean"] for s in summary["layers"]]
    assert got[0] == pytest.approx(membrane_wiring(16), rel=0.10)
    assert got[1] == pytest.approx(membrane_wiring(2), rel=0.10)
    assert got[0] - got[1] == pytest.approx(14 * 1.0e-15, rel=0.15)
