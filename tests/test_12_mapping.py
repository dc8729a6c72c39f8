"""Weight mapping: trained-model folder + DeviceProfile -> Design (generator/circuit/mapping.py).

No simulator here (the simulated round trip bias -> current -> weight is in test_13_netlist.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from generator.circuit.mapping import (
    GateTable,
    design_from_weights,
    discharger_bias,
    map_model,
    ramp_alpha,
    read_trained_model,
    weights_from_currents,
)
from generator.design import CircuitParams, Design, DeviceProfile
from generator.errors import DesignError

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "sky130_tt_27C.json"


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    assert PROFILE.is_file(), f"{PROFILE} missing: create it with `imcgen characterize --out {PROFILE}`"
    return DeviceProfile.load(PROFILE)


def write_model(folder: Path, weights: list[np.ndarray], *, name: str = "toy", dataset: str = "iris",
                e_pos: float = 2.9, e_neg: float = -1.7, e_dis=None) -> Path:
    """A trained-model folder in the agreed format (weights.safetensors + card.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [int(weights[0].shape[1])] + [int(w.shape[0]) for w in weights]
    save_file({f"layers.{k}.weight": np.asarray(w, dtype=np.float32) for k, w in enumerate(weights)},
              str(folder / "weights.safetensors"))
    card = {"name": name, "arch": "-".join(map(str, sizes)), "sizes": sizes, "dataset": dataset,
            "encoding": "iris-bias", "model": "rcspike", "e_pos": e_pos, "e_neg": e_neg, "e_dis": e_dis}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_map_model_signs_currents_and_biases(tmp_path, profile):
    w0 = np.array([[0.5, -0.5, 0.0], [2.0, -1.0, 1.0]])
    w1 = np.array([[1.0, -2.0]])
    model = write_model(tmp_path / "m", [w0, w1])
    params = CircuitParams()
    d = map_model(model, profile, params)
    assert d.sizes == [3, 2, 1]
    assert d.e_pos == pytest.approx(2.9) and d.e_neg == pytest.approx(-1.7)
    unit = params.unit_current
    l0 = d.layers[0]
    assert l0.currents[0][0] == pytest.approx(0.5 * unit, rel=1e-6)  # NMOS stack, pulls charge out
    assert l0.currents[0][1] == pytest.approx(-0.5 * unit, rel=1e-6)  # PMOS stack, pushes charge in
    assert l0.currents[0][2] == 0.0 and l0.gate_bias[0][2] is None  # zero weight -> off
    nm = GateTable.from_profile(profile, "nmos")
    pm = GateTable.from_profile(profile, "pmos")
    # larger NMOS current -> higher gate; larger PMOS current -> lower gate
    assert l0.gate_bias[1][0] > l0.gate_bias[1][2] > l0.gate_bias[0][0]
    assert l0.gate_bias[0][1] > l0.gate_bias[1][1]
    # the bias reproduces the current through the profile's own table (monotone cubic in log I)
    assert nm.current_for(np.array([l0.gate_bias[1][0]]))[0] == pytest.approx(2.0 * unit, rel=2e-3)
    assert pm.current_for(np.array([l0.gate_bias[1][1]]))[0] == pytest.approx(1.0 * unit, rel=2e-3)
    # all biases inside the rails
    for layer in d.layers:
        for row in layer.gate_bias:
            for b in row:
                assert b is None or 0.0 < b < params.vdd
    back = weights_from_currents(d)
    np.testing.assert_allclose(back[0], w0, rtol=1e-6, atol=1e-12)
    assert d.source["model_digest"] and d.source["n_off"] == 1


def test_gate_table_inverse_exact_and_monotone(profile):
    for stack in ("nmos", "pmos"):
        tab = GateTable.from_profile(profile, stack)
        np.testing.assert_allclose(tab.bias_for(tab.current), tab.vg, atol=1e-9)
        i = np.geomspace(tab.i_min, tab.i_max, 2000)
        vb = tab.bias_for(i)
        dv = np.diff(vb)
        assert np.all(dv > 0) if stack == "nmos" else np.all(dv < 0)
        np.testing.assert_allclose(tab.current_for(vb), i, rtol=5e-3)


def test_scales_apply_per_sign(tmp_path, profile):
    model = write_model(tmp_path / "m", [np.array([[1.0, -1.0]])])
    d = map_model(model, profile, CircuitParams(), scale_pos=1.1, scale_neg=0.9)
    unit = d.params.unit_current
    assert d.layers[0].currents[0] == pytest.approx([1.1 * unit, -0.9 * unit], rel=1e-9)
    assert (d.scale_pos, d.scale_neg) == (1.1, 0.9)
    np.testing.assert_allclose(weights_from_currents(d)[0], [[1.0, -1.0]], rtol=1e-9)
    with pytest.raises(DesignError, match="scale_pos"):
        map_model(model, profile, CircuitParams(), scale_pos=float("nan"))


def test_out_of_range_weight_is_listed_unless_clipped(tmp_path, profile):
    nm = GateTable.from_profile(profile, "nmos")
    params = CircuitParams()
    too_big = 2.0 * nm.i_max / params.unit_current
    model = write_model(tmp_path / "m", [np.array([[0.5, too_big], [-0.3, 0.2]])])
    with pytest.raises(DesignError) as err:
        map_model(model, profile, params)
    msg = str(err.value)
    assert "1 synapse(s)" in msg and "layer 0 out 0 in 1" in msg and "--clip" in msg
    d = map_model(model, profile, params, clip=True)
    assert d.layers[0].currents[0][1] == pytest.approx(nm.i_max)
    assert d.layers[0].gate_bias[0][1] == pytest.approx(nm.vg[-1], abs=1e-9)
    assert d.source["n_clipped"] == 1 and d.source["clip"] is True


def test_tiny_weight_turns_synapse_off(tmp_path, profile):
    nm = GateTable.from_profile(profile, "nmos")
    tiny = 0.1 * nm.i_min / CircuitParams().unit_current
    d = map_model(write_model(tmp_path / "m", [np.array([[tiny, 1.0]])]), profile, CircuitParams())
    assert d.layers[0].gate_bias[0][0] is None and d.layers[0].currents[0][0] == 0.0
    assert d.layers[0].weights[0][0] == pytest.approx(tiny, rel=1e-6)  # the model's weight is kept


def test_nan_weight_rejected_with_layer_and_index(tmp_path, profile):
    w = np.array([[0.5, 0.1], [0.2, np.nan]])
    model = write_model(tmp_path / "m", [np.ones((2, 3)), w])
    with pytest.raises(DesignError, match=r"layers\.1\.weight.*\[1,1\]=nan"):
        read_trained_model(model)
    with pytest.raises(DesignError, match="non-finite"):
        design_from_weights([np.array([[np.inf]])], {"e_pos": 3, "e_neg": -2}, profile, CircuitParams())


def test_trained_model_folder_errors(tmp_path):
    with pytest.raises(DesignError, match="not found.*imcgen train"):
        read_trained_model(tmp_path / "nope")
    model = write_model(tmp_path / "m", [np.ones((2, 3))])
    (model / "weights.safetensors").unlink()
    with pytest.raises(DesignError, match=r"weights\.safetensors is missing"):
        read_trained_model(model)
    (model / "weights.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DesignError, match="not a readable safetensors"):
        read_trained_model(model)
    model2 = write_model(tmp_path / "m2", [np.ones((2, 3))])
    (model2 / "card.json").write_text("{broken")
    with pytest.raises(DesignError, match="not valid JSON"):
        read_trained_model(model2)
    model3 = write_model(tmp_path / "m3", [np.ones((2, 3))])
    card = json.loads((model3 / "card.json").read_text())
    card["sizes"] = [4, 2]
    (model3 / "card.json").write_text(json.dumps(card))
    with pytest.raises(DesignError, match=r"shape \[2, 3\] but card sizes \[4, 2\]"):
        read_trained_model(model3)


def test_design_json_round_trip(tmp_path, profile):
    model = write_model(tmp_path / "m", [np.array([[0.5, -0.25, 0.0]]), np.array([[1.5], [-0.7]])])
    d = map_model(model, profile, CircuitParams(), scale_pos=1.02, scale_neg=1.02)
    path = d.save(tmp_path / "design.json")
    back = Design.load(path)
    assert back == d
    assert back.to_json() == d.to_json() == path.read_text()
    with pytest.raises(DesignError, match="not found"):
        Design.load(tmp_path / "missing.json")


def test_discharger_bias_gives_the_ramp_current(profile):
    params = CircuitParams()
    vb, i_dis = discharger_bias(profile, params)
    alpha = ramp_alpha(profile.e_dis)
    beta = 1 / profile.e_dis
    # α(1 - β v) integrates from v=0 to exactly 1 in one phase (PAPER.md Eq. 82-85)
    assert (1 - (1 - 0) * math.exp(-alpha * beta)) / beta == pytest.approx(1.0, rel=1e-9)
    assert i_dis == pytest.approx(alpha * params.unit_current)
    tab = profile.tables["lambda_dis_vs_i"]
    assert min(tab["vb"]) < vb < max(tab["vb"])
    assert ramp_alpha(None) == 1.0
    with pytest.raises(DesignError, match="E_dis"):
        ramp_alpha(0.5)


def test_profile_without_tables_is_a_clear_error(tmp_path):
    bare = DeviceProfile(e_pos=3, e_neg=-2, e_dis=6, lambda_n=0.4, lambda_p=0.6, lambda_dis=0.2)
    model = write_model(tmp_path / "m", [np.ones((1, 1))])
    with pytest.raises(DesignError, match="imcgen characterize"):
        map_model(model, bare, CircuitParams())


def test_cli_map_writes_design(tmp_path, profile):
    from typer.testing import CliRunner

    from generator.cli import app

    model = write_model(tmp_path / "m", [np.array([[0.5, -0.5]])])
    res = CliRunner().invoke(app, ["map", str(model), "--profile", str(PROFILE), "--out", str(tmp_path / "o"),
                                   "--scale", "1.05", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    d = Design.load(summary["design"])
    assert summary["synapses_on"] == 2 and d.scale_pos == d.scale_neg == 1.05
    bad = write_model(tmp_path / "bad", [np.array([[1e4, 0.0]])])
    res = CliRunner().invoke(app, ["map", str(bad), "--profile", str(PROFILE), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "more current than the memory transistor" in res.output
