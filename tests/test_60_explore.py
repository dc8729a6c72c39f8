"""Design-space exploration (generator/explore.py, `imcgen explore`): space validation, energy per inference,
a 4-point Iris sweep on a local Dask cluster, resume after a kill, and a failing point recorded as failed.

Tiny points: Iris 5-5-5, 30 epochs, 1 verified sample, layouts without PNGs. The profile cache of the resume test
is seeded with the committed default profile (same operating point), so only the Dask test characterises.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from generator.errors import InputError
from generator.explore import (RESULT_FILE, RUNNING_FILE, circuit_params, explore, parse_space, point_id,
                               supply_energy, _key)

import dataclasses

ROOT = Path(__file__).resolve().parents[1]

TINY = {"dataset": "iris", "arch": "5-5-5", "epochs": 30, "lr": 0.003, "samples": 1, "mode": "network"}


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("space, words", [
    ({"variables": {"c_mf": {"values": [100]}}}, ["unknown variable", "c_m_ff"]),
    ({"variables": {"c_m_ff": {"low": 300, "high": 100, "num": 2}}}, ["low 300 must be below high 100"]),
    ({"variables": {"c_m_ff": {"values": [1e6]}}}, ["out of range", "[10, 5000]"]),
    ({"variables": {"corner": {"values": ["tt", "xx"]}}}, ["'xx' is not a known corner", "tt, ff, ss, sf, fs"]),
    ({"variables": {"c_m_ff": {"low": 50, "high": 100}}}, ["a grid needs a finite set", "num: N"]),
    ({"search": "nsga2", "variables": {"c_m_ff": {"low": 50, "high": 100}}}, ["needs trials"]),
    ({"variables": {"syn_w": {"values": [1.0]}}, "fixed": {"syn_w": 2.0}}, ["both swept and fixed"]),
    ({"objectives": ["area:min"], "variables": {"syn_w": {"values": [1.0]}}}, ["unknown metric", "area_um2"]),
])
def test_space_validation_names_the_fix(space, words):
    with pytest.raises(InputError) as exc:
        parse_space(space, "s.yaml")
    assert exc.value.exit_code == 2
    for w in words:
        assert w in str(exc.value)


def test_cli_bad_space_exits_2(tmp_path):
    from typer.testing import CliRunner

    from generator.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_text("variables:\n  corner: {values: [tt, xx]}\n")
    res = CliRunner().invoke(app, ["explore", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "not a known corner" in res.output
    assert not (tmp_path / "o").exists()  # nothing written before the space is valid


def test_example_spaces_are_valid():
    from generator.explore import load_space

    small = load_space(ROOT / "scripts" / "explore_iris_small.yaml")
    large = load_space(ROOT / "scripts" / "explore_iris_large.yaml")
    assert small.search == "grid" and small.n_points() == 16
    assert large.search == "nsga2" and large.n_points() == 80


# ------------------------------------------------------------------------------------------------ energy
def test_supply_energy_constant_current():
    """A rail at 1.8 V delivering 100 nA (ngspice sign: current into the + terminal is -100 nA) for 2 µs of a
    3 µs window: E = 1.8 V x 100 nA x 2 µs = 0.36 pJ; a source absorbing power counts negative."""
    t = np.linspace(0, 3e-6, 3001)
    i = np.where((t >= 0.5e-6) & (t < 2.5e-6), -100e-9, 0.0)
    e = supply_energy(t, [("vdd", 1.8, i), ("v0", 1.3, -0.5 * i)])
    assert e["by_rail"]["vdd"] == pytest.approx(1.8 * 100e-9 * 2e-6, rel=2e-3)
    assert e["by_rail"]["v0"] == pytest.approx(-1.3 * 50e-9 * 2e-6, rel=2e-3)
    assert e["total_j"] == pytest.approx(e["by_rail"]["vdd"] + e["by_rail"]["v0"])


@pytest.mark.ngspice
def test_energy_one_synapse_against_hand_calculation(tmp_path):
    """One negative-weight synapse (PMOS stack from VDD into the membrane), membrane held at V0: the stack's
    current is the mapped I = |w| C_m V_th / T and its only path from VDD is the column, so the energy VDD delivers
    is E = VDD x I x (T - t_in T). The simulated column current integrated by supply_energy must match."""
    from generator.circuit.mapping import design_from_weights
    from generator.design import DeviceProfile
    from generator.pdk import sky130
    from generator.resources import default_profile
    from generator.spice.ngspice import run_deck
    from generator.spice.netlist import phase_schedule, render_column_testbench

    prof = DeviceProfile.load(default_profile())
    params = circuit_params({"c_m_ff": 140.0, "syn_w": 1.0, "syn_l": 0.25, "v0": 1.3, "vdd": 1.8,
                             "t_phase_ns": 1000.0, "corner": "tt", "temp": 27.0})
    w, t_in = -0.5, 0.25
    d = design_from_weights([np.array([[w]])], {"e_pos": prof.e_pos, "e_neg": prof.e_neg}, prof, params, name="one")
    current = abs(d.layers[0].currents[0][0])
    assert current == pytest.approx(abs(w) * params.unit_current, rel=1e-3)
    sky130.write_model_library(tmp_path)
    res = run_deck(render_column_testbench(d, 0, 0, [t_in], hold_v0=True), tmp_path, name="e1", timeout_s=120)
    acc = phase_schedule(1, params)[0]["accumulate"]
    # i(vcol) flows from the column into VCOL: the current VDD delivers, i.e. -(current into VDD's + terminal)
    e = supply_energy(res["time"], [("vdd", params.vdd, -np.asarray(res["i(vcol)"]))])
    hand = params.vdd * current * (1.0 - t_in) * (acc[1] - acc[0])
    assert e["total_j"] == pytest.approx(hand, rel=0.02)


# ------------------------------------------------------------------------------------------------ sweeps
def _seed_profile(out: Path, values: dict) -> None:
    """The default profile IS the characterisation of the default operating point: put it in the cache."""
    from generator.resources import default_profile

    key = _key(dataclasses.asdict(circuit_params(values)))
    (out / "cache" / "profiles").mkdir(parents=True, exist_ok=True)
    shutil.copy(default_profile(), out / "cache" / "profiles" / f"{key}.json")


@pytest.mark.ngspice
@pytest.mark.slow
def test_four_point_sweep_on_a_local_dask_cluster(tmp_path):
    """4 Iris points (2 current scales x 2 training |E±| scales: one characterisation, two trainings) through a
    local Dask cluster on loopback: 4 rows, the three Pareto plots and a summary naming the front."""
    from dask.distributed import LocalCluster

    space = parse_space({"name": "t4", "search": "grid", "fixed": {**TINY, "c_m_ff": 120.0},
                         "variables": {"scale": {"values": [0.95, 1.0]}, "e_scale": {"values": [1.0, 2.0]}}})
    out = tmp_path / "run"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        res = explore(space, out, executor="dask", address=cluster.scheduler_address, progress=False)
    rows = _rows(out)
    assert len(rows) == 4
    assert [r["status"] for r in rows] == ["ok"] * 4, [r["error"] for r in rows]
    assert res["executor"]["kind"] == "dask" and res["executor"]["address"].startswith("tcp://127.0.0.1")
    for r in rows:
        assert float(r["area_um2"]) > 0 and float(r["energy_pj"]) > 0 and float(r["rmse_ns"]) >= 0
        assert r["drc_violations"] == "0"
        assert 0 <= float(r["model_accuracy"]) <= 1
        assert (out / "points" / r["point"] / "layout").is_dir()
        assert (out / "points" / r["point"] / "verify" / "report.json").is_file()
    for png in ("pareto_accuracy_area.png", "pareto_accuracy_energy.png", "pareto_rmse_area.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    assert res["front"] and all(pid in summary for pid in res["front"])
    assert len(list((out / "cache" / "profiles").glob("*.json"))) == 1  # characterised once
    assert len([p for p in (out / "cache" / "models").iterdir() if p.is_dir()]) == 2  # trained per |E±| scale


@pytest.mark.ngspice
def test_resume_recomputes_nothing_and_failed_points_are_recorded(tmp_path):
    """Run 1 stops after 2 points (a kill); a third point's worker 'died' (a .running marker, no result). Run 2
    finishes the table without touching finished points. The points with a 0 s ngspice timeout fail in verify and
    are recorded with the error; the others finish."""
    space = parse_space({"name": "resume", "search": "grid", "fixed": dict(TINY),
                         "variables": {"scale": {"values": [0.95, 1.0]}, "timeout_s": {"values": [600.0, 0.0]}}})
    out = tmp_path / "run"
    _seed_profile(out, space.fixed)
    explore(space, out, executor="serial", max_points=2, progress=False)
    first = {r["point"]: r for r in _rows(out)}
    assert len(first) == 2
    stamps = {pid: (out / "points" / pid / RESULT_FILE).stat().st_mtime_ns for pid in first}
    texts = {pid: (out / "points" / pid / RESULT_FILE).read_text() for pid in first}
    from generator.explore import grid_points

    ids = [point_id(v) for v in grid_points(space)]
    killed = next(i for i in ids if i not in first)
    (out / "points" / killed).mkdir(parents=True)
    (out / "points" / killed / RUNNING_FILE).write_text("12345\n")  # left behind by a killed worker

    res = explore(space, out, executor="serial", progress=False)
    rows = _rows(out)
    assert len(rows) == 4 and {r["point"] for r in rows} == set(ids)
    for pid in first:  # not recomputed
        assert (out / "points" / pid / RESULT_FILE).stat().st_mtime_ns == stamps[pid]
        assert (out / "points" / pid / RESULT_FILE).read_text() == texts[pid]
    assert not (out / "points" / killed / RUNNING_FILE).exists()
    by = {(float(r["scale"]), float(r["timeout_s"])): r for r in rows}
    for scale in (0.95, 1.0):
        ok, bad = by[(scale, 600.0)], by[(scale, 0.0)]
        assert ok["status"] == "ok" and float(ok["energy_pj"]) > 0
        assert bad["status"] == "failed" and bad["stage"] == "verify"
        assert "simulated" in bad["error"] or "timeout" in bad["error"]
    assert res["counts"] == {"points": 4, "ok": 2, "failed": 2}
    assert "## Failed points" in (out / "summary.md").read_text()
    # the models were trained once (cache), the profile never (seeded)
    assert len([p for p in (out / "cache" / "models").iterdir() if p.is_dir()]) == 1
    meta = json.loads((out / "space.json").read_text())
    assert meta["swept"]["timeout_s"]["values"] == [600.0, 0.0]


def test_optuna_study_resumes_from_sqlite(tmp_path, monkeypatch):
    """NSGA-II with the study in OUT/study.db: a run stopped after 2 trials, plus a trial a kill left RUNNING whose
    point had finished, resumes to 6 trials; no finished point is evaluated again. (The flow is replaced by a fake
    point here; the real flow runs in the tests above.)"""
    import optuna

    import generator.explore as X

    calls = []

    def fake(task):
        pdir = Path(task["dir"])
        if (pdir / RESULT_FILE).is_file():
            return json.loads((pdir / RESULT_FILE).read_text())
        calls.append(task["id"])
        v = task["values"]
        res = {"status": "ok", "id": task["id"], "values": v, "dir": str(pdir), "seconds": 0.0,
               "metrics": {"model_accuracy": 1 - 1 / v["c_m_ff"], "area_um2": v["c_m_ff"] * 10.0,
                           "energy_pj": v["c_m_ff"] * 0.05, "rmse_ns": 1.0}}
        pdir.mkdir(parents=True, exist_ok=True)
        (pdir / RESULT_FILE).write_text(json.dumps(res))
        return res

    monkeypatch.setattr(X, "evaluate_point", fake)
    space = parse_space({"name": "opt", "search": "nsga2", "trials": 6, "seed": 1,
                         "variables": {"c_m_ff": {"low": 50, "high": 500, "log": True}}})
    out = tmp_path / "run"
    X.explore(space, out, executor="serial", max_points=2, progress=False)
    assert len(calls) == 2
    # a kill between a point's result and the study's tell: the trial stays RUNNING, the point is finished
    study = optuna.load_study(study_name="opt", storage=f"sqlite:///{out / 'study.db'}")
    trial = study.ask({"c_m_ff": optuna.distributions.FloatDistribution(50, 500, log=True)})
    fake(X._task(out, {**space.fixed, **trial.params}))
    assert len(calls) == 3
    res = X.explore(space, out, executor="serial", progress=False)
    assert len(calls) == 3 + 3  # 6 trials: 2 + the stale one read back + 3 new
    assert res["counts"] == {"points": 6, "ok": 6, "failed": 0}
    assert len(_rows(out)) == 6
