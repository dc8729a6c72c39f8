"""The reference layouts in layouts/ are what the generator draws today, and they are DRC-clean.

Regenerating a committed model's GDS must give the committed bytes (determinism + regression): a change to a cell,
the mapping or the writer shows up here, and `make layouts` refreshes the references on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.circuit.mapping import map_model
from generator.design import DeviceProfile
from generator.layout.export import write_layout
from generator.signoff.drc import run_drc

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "sky130_tt_27C.json"


@pytest.mark.parametrize("name", ["iris", "iris-ideal"])
def test_regenerated_gds_equals_the_committed_reference(name, tmp_path):
    design = map_model(REPO / "trained_models" / name, DeviceProfile.load(PROFILE))
    write_layout(design, tmp_path, render=False)
    got = (tmp_path / f"{name}.gds").read_bytes()
    want = (REPO / "layouts" / name / f"{name}.gds").read_bytes()
    assert got == want, f"layouts/{name}/{name}.gds is stale: run `make layouts` and review the change"


@pytest.mark.parametrize("name", ["iris", "iris-ideal", "digits"])
def test_committed_layouts_are_drc_clean(name):
    report = run_drc(REPO / "layouts" / name / f"{name}.gds")
    assert report.violations == 0, report.by_rule
