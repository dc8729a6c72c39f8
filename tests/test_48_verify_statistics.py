"""Statistics of a sampled verification (issue 14): which hidden columns each test sample simulates, and the
confidence intervals the report gives for the class agreement and the per-layer RMSE.

Pure numerics (no simulator): the intervals are checked against textbook values and against coverage on
synthetic data, so a wrong formula fails here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from generator.verify.jobs import build_jobs, columns_for
from generator.verify.metrics import agreement_interval, rmse_interval


def test_hidden_columns_are_a_seeded_random_draw_per_sample():
    a = columns_for(400, 8, np.random.default_rng([0, 3]))
    assert a == columns_for(400, 8, np.random.default_rng([0, 3]))  # reproducible
    assert a != columns_for(400, 8, np.random.default_rng([0, 4]))  # another sample, other columns
    assert len(set(a)) == 8 and a == sorted(a) and all(0 <= i < 400 for i in a)
    assert columns_for(5, None) == list(range(5)) and columns_for(5, 0) == [] and columns_for(5, 9) == list(range(5))
    # unbiased: over many samples every neuron is drawn about equally often
    hits = np.zeros(50)
    for s in range(2000):
        hits[columns_for(50, 5, np.random.default_rng([1, s]))] += 1
    assert hits.min() > 150 and hits.max() < 250  # expected 200 each


def test_build_jobs_draws_hidden_columns_per_sample_and_all_output_columns(tmp_path):
    class Layer:
        def __init__(self, n_in, n_out):
            self.n_in, self.n_out = n_in, n_out

    class FakeDesign:
        layers = [Layer(20, 40), Layer(40, 10)]

    times = [np.zeros((3, 20)), np.zeros((3, 40)), np.zeros((3, 10))]
    jobs = build_jobs(FakeDesign(), times, "column", tmp_path, timeout_s=1, columns_per_layer=4, column_seed=7)
    per = {s: sorted(j.neuron for j in jobs if j.sample == s and j.layer == 0) for s in range(3)}
    assert all(len(v) == 4 for v in per.values()) and len({tuple(v) for v in per.values()}) == 3
    assert all(sorted(j.neuron for j in jobs if j.sample == s and j.layer == 1) == list(range(10)) for s in range(3))
    again = build_jobs(FakeDesign(), times, "column", tmp_path, timeout_s=1, columns_per_layer=4, column_seed=7)
    assert [(j.sample, j.layer, j.neuron) for j in again] == [(j.sample, j.layer, j.neuron) for j in jobs]


def test_agreement_interval_is_the_exact_binomial_one():
    # textbook Clopper-Pearson values: 50/50 -> [0.9289, 1]; 0/10 -> [0, 0.3085]; 5/10 -> [0.1871, 0.8129]
    lo, hi = agreement_interval(50, 50)
    assert hi == 1.0 and lo == pytest.approx(0.92889, abs=1e-4)
    lo, hi = agreement_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.30850, abs=1e-4)
    lo, hi = agreement_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.18709, abs=1e-4), pytest.approx(0.81291, abs=1e-4))
    assert all(math.isnan(x) for x in agreement_interval(0, 0))
    # the 99.5 % goal at 100 samples: even 100/100 only bounds the agreement from below by ~96.4 %
    assert agreement_interval(100, 100)[0] == pytest.approx(0.96378, abs=1e-4)


def test_rmse_interval_covers_the_true_rmse():
    """Per-sample clusters of errors of true RMSE 1.5 ns: the 95 % bootstrap interval over 60 samples holds it in
    most of 100 repetitions, and narrows with more samples."""
    rng = np.random.default_rng(0)
    covered, widths = 0, {}
    for rep in range(100):
        counts = rng.integers(5, 15, size=60)
        ss = np.array([np.sum(rng.normal(0, 1.5, size=c) ** 2) for c in counts])
        lo, hi = rmse_interval(ss, counts, seed=rep)
        covered += lo <= 1.5 <= hi
        widths.setdefault(60, []).append(hi - lo)
    assert covered >= 85, covered
    counts = rng.integers(5, 15, size=240)
    ss = np.array([np.sum(rng.normal(0, 1.5, size=c) ** 2) for c in counts])
    lo, hi = rmse_interval(ss, counts)
    assert hi - lo < 0.7 * np.mean(widths[60])
    assert all(math.isnan(x) for x in rmse_interval(np.array([1.0]), np.array([3])))


def test_big_designs_travel_as_one_file_not_in_every_job(tmp_path):
    """A design above DESIGN_FILE_MIN_SYNAPSES is written once per run; the jobs carry its path and SHA-256 only
    (an MNIST Design pickles to 8.6 MB), and a worker reads back the very same Design."""
    import pickle

    from generator.circuit.mapping import design_from_weights
    from generator.design import CircuitParams, DeviceProfile
    from generator.errors import DesignError
    from generator.verify import jobs as J

    prof = DeviceProfile.load(Path(__file__).resolve().parents[1] / "profiles" / "sky130_tt_27C.json")
    w = np.random.default_rng(0).normal(0, 0.1, size=(120, 200))
    card = {"e_pos": prof.e_pos, "e_neg": prof.e_neg, "e_dis": prof.e_dis, "name": "big"}
    design = design_from_weights([w], card, prof, CircuitParams(c_m=1e-12), clip=True, name="big")
    assert 200 * 120 > J.DESIGN_FILE_MIN_SYNAPSES
    times = [np.full((2, 200), 0.5), np.full((2, 120), 0.5)]
    jobs = build_jobs(design, times, "column", tmp_path / "work", timeout_s=1, columns_per_layer=None)
    assert len(jobs) == 240 and all(j.design is None for j in jobs)
    assert len({j.design_file for j in jobs}) == 1 and Path(jobs[0].design_file).is_file()
    assert len(pickle.dumps(jobs[0])) < 20_000 < len(pickle.dumps(design))
    assert J.job_design(jobs[7]).to_json() == design.to_json()
    Path(jobs[0].design_file).write_text(design.to_json().replace("big", "other"))
    J._design_from_file.cache_clear()
    with pytest.raises(DesignError, match="changed during the run"):
        J.job_design(jobs[0])


@pytest.mark.ngspice
def test_numerical_check_reports_a_failed_rerun(tmp_path):
    """The reference re-run of the numerical check can fail (ngspice's "timestep too small" at reltol 1e-7
    chgtol 1e-17 did): the report says so, with the error, instead of a silent null."""
    from generator.circuit.mapping import map_model
    from generator.design import DeviceProfile
    from generator.execute import get_executor
    from generator.verify.jobs import SimJob, SimOutcome
    from generator.verify.loop import numerical_check

    repo = Path(__file__).resolve().parents[1]
    design = map_model(repo / "trained_models" / "iris", DeviceProfile.load(repo / "profiles" / "sky130_tt_27C.json"))
    job = SimJob(design, 0, [0.5] * design.layers[1].n_in, str(tmp_path / "job"), timeout_s=0.0, layer=1, neuron=0)
    verified = SimOutcome(sample=0, times=[[0.5]], layer=1, neuron=0)
    out = numerical_check(design, [job], [verified], 1, get_executor("serial"))
    assert out["reruns"] == 1 and out["failed"] == 1 and out["n_spikes"] == 0 and out["max_abs_ns"] is None
    assert "Timeout" in out["first_failure"], out
    assert numerical_check(design, [job], [verified], 0, get_executor("serial")) is None
