"""Verification loop (issue 4): executor, waveform reading, calibration search, and the loop itself on Iris
with real ngspice and the real sky130 models.

Budget: under ~150 s on 2 cores. The search-logic tests use a cheap analytic objective (they test the
search, not the circuit); every test that claims to verify the circuit runs real ngspice.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from generator import verify as V
from generator.execute import Failed, get_executor
from generator.spice.waveform import crossing_time

REPO = Path(__file__).resolve().parents[1]


# ============================================================================================ executor
def _square_or_fail(x):
    if x == 3:
        raise ValueError(f"item {x} is bad")
    return x * x


def _die_on_five(x):
    if x == 5:
        os._exit(3)  # a worker crash (like a segfault), not an exception
    return x + 1


def test_serial_and_process_executors_agree_and_capture_failures():
    items = list(range(8))
    serial = get_executor("serial").map(_square_or_fail, items, progress=False)
    with get_executor("process", workers=2) as ex:
        proc = ex.map(_square_or_fail, items, progress=False)
    for out in (serial, proc):
        assert [r for i, r in enumerate(out) if i != 3] == [i * i for i in items if i != 3]
        assert isinstance(out[3], Failed)
        assert out[3].index == 3 and out[3].error_type == "ValueError" and "item 3 is bad" in out[3].message
    assert [r if not isinstance(r, Failed) else r.message for r in serial] == \
           [r if not isinstance(r, Failed) else r.message for r in proc]


def test_process_executor_survives_a_crashing_worker():
    with get_executor("process", workers=2) as ex:
        out = ex.map(_die_on_five, list(range(8)), progress=False)
    assert isinstance(out[5], Failed) and out[5].error_type == "WorkerCrashed"
    assert [r for i, r in enumerate(out) if i != 5] == [i + 1 for i in range(8) if i != 5]


def test_executor_errors_are_clear():
    with pytest.raises(ValueError, match="serial, process, dask"):
        get_executor("threads")
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install imcgen\[dask\]"):
            get_executor("dask")
    else:  # Dask installed (pip install imcgen[dask]): a local cluster must give the serial executor's answers
        items = [3, -1, 5, 0]  # math.factorial(-1) raises ValueError
        with get_executor("dask", workers=2) as ex:
            got = ex.map(math.factorial, items, progress=False)
        want = get_executor("serial").map(math.factorial, items, progress=False)
        assert [g if not isinstance(g, Failed) else g.error_type for g in got] == \
               [w if not isinstance(w, Failed) else w.error_type for w in want] == [6, "ValueError", 120, 1]


# ============================================================================================ waveforms
def test_crossing_time_interpolates_and_respects_the_window():
    t = np.linspace(0.0, 10.0, 11)  # 1 s steps
    v = np.clip(t - 4.0, 0.0, 1.8)  # rises 1 V/s from t = 4 s
    assert crossing_time(t, v, 0.9) == pytest.approx(4.9)
    assert crossing_time(t, v, 0.9, t_start=6.0) == pytest.approx(6.0)  # already high at the window start
    assert math.isnan(crossing_time(t, v, 0.9, t_stop=4.5))
    assert crossing_time(t, 1.8 - v, 0.9, rising=False) == pytest.approx(4.9)
    assert math.isnan(crossing_time(t, np.zeros_like(t), 0.9))


def test_model_membrane_trace_matches_closed_form():
    # two inputs, one positive and one negative weight: compare v(1) with a fine Euler integration
    t_in, w, e_pos, e_neg = [0.2, 0.5], [1.5, -0.7], 2.8, -1.53
    _, v = V.model_membrane_trace(t_in, w, e_pos, e_neg, n=400)
    dt, vv = 1e-5, 0.0
    for k in range(int(1 / dt)):
        t = k * dt
        dv = sum(wj * (1 - vv / (e_pos if wj >= 0 else e_neg)) for tj, wj in zip(t_in, w) if t >= tj)
        vv += dv * dt
    assert v[400] == pytest.approx(vv, abs=1e-4)
    # ideal firing ramp: threshold 1 reached at 1 + (1 - v(1))
    assert v[-1] == pytest.approx(1.0)


# ============================================================================================ search logic
def test_search_1d_finds_a_shifted_minimum_in_one_percent_steps():
    calls = []

    def objective(scales):  # fake objective: ONLY for the search logic; the loop itself uses ngspice below
        calls.append(len(scales))
        return [abs(s - 1.237) * 100 + 0.5 for s in scales]

    best, val, hist = V.search_scale_1d(objective)
    assert best == pytest.approx(1.24)
    assert val == pytest.approx(0.8, abs=1e-6)
    assert len(hist) < 40 and all(n > 1 for n in calls)  # batches, so the executor can run them in parallel


def test_secant_search_needs_few_evaluations():
    def objective(scales):  # fake objective for the search logic only: bias linear in the scale
        return [(abs(s - 1.137) * 100 + 0.5, (1.137 - s) * 300) for s in scales]

    best, val, hist = V.search_scale_secant(objective)
    assert best == pytest.approx(1.14)
    assert len(hist) <= 7


def test_search_2d_finds_separate_scales():
    def objective(pairs):  # fake objective for the search logic only
        return [(p - 1.31) ** 2 * 400 + (n - 0.82) ** 2 * 900 + 0.1 for p, n in pairs]

    (p, n), val, hist = V.search_scale_2d(objective)
    assert (p, n) == (pytest.approx(1.31), pytest.approx(0.82))
    assert len(hist) < 150


def test_search_reports_when_everything_failed():
    with pytest.raises(V.VerifyError, match="calibration failed"):
        V.search_scale_1d(lambda s: [math.inf] * len(s))


# ============================================================================================ the loop, real ngspice
IRIS = REPO / "trained_models" / "iris"
PROFILE = REPO / "profiles" / "sky130_tt_27C.json"
#: stated bound for the test: output-layer spike-time RMSE (ns) of the committed Iris model (trained with the
#: measured circuit effects), column mode, unit scale, model side with the discharger's measured E_dis; the issue's
#: 2 ns goal. Measured 0.33 ns (it was 6.6 ns with the paper's model before the circuit effects were modelled).
RMSE_BOUND_NS = 2.0


@pytest.fixture(scope="module")
def iris_report(tmp_path_factory):
    """Two Iris test samples column by column; sample 1 gets a 0.05 s ngspice timeout, so it cannot finish."""
    out = tmp_path_factory.mktemp("verify_iris")
    with get_executor("process", workers=2) as ex:
        opts = V.VerifyOptions(n_samples=2, mode="column", columns_per_layer=1, sample_timeouts={1: 0.05},
                               model_e_dis="profile")
        rep = V.verify_model(IRIS, opts, out_dir=out, profile=PROFILE, scales=(1.0, 1.0), executor=ex)
    return out, rep


@pytest.mark.ngspice
def test_loop_on_iris_matches_the_model(iris_report):
    out, rep = iris_report
    out_layer = rep["metrics"]["per_layer"][-1]
    assert out_layer["n_spikes"] == 5  # all 5 output columns of the sample that ran
    assert rep["metrics"]["per_layer"][0]["n_spikes"] == 1  # columns_per_layer=1 in the hidden layer
    assert rep["summary"]["rmse_ns"] < RMSE_BOUND_NS, rep["metrics"]
    assert rep["summary"]["class_agreement"] == 1.0
    lo, hi = rep["summary"]["class_agreement_ci95"]
    assert lo < 1.0 == hi  # one sample: the exact interval is wide
    num = rep["numerical_error"]  # the first output column re-run at reference tolerance
    assert num["reruns"] == 1 and num["n_spikes"] == 1 and num["failed"] == 0
    assert num["max_abs_ns"] < 0.05, num  # the fast deck is converged (benchmarks/column_cost.py: ~0.003 ns)
    saved = json.loads((out / "report.json").read_text())
    assert saved["summary"]["n_samples"] == 1 and saved["calibration"]["scale_pos"] == 1.0
    for name in ("spike_scatter.png", "error_histogram.png", "membrane_worst.png"):
        assert (out / name).stat().st_size > 5000


@pytest.mark.ngspice
def test_non_converging_sample_is_reported_and_the_rest_completes(iris_report):
    out, rep = iris_report
    assert rep["metrics"]["n_failed"] == 1 and rep["metrics"]["n_simulated"] == 1
    fails = rep["failures"]
    assert fails and all(f["sample"] == 1 and f["error_type"] == "NgspiceTimeout" for f in fails)
    deck = Path(fails[0]["deck"])
    assert deck.is_file() and deck.is_relative_to(out / "failed"), deck  # kept for a person to rerun
    assert rep["samples"][1]["failed"] and rep["samples"][0]["circuit_class"] is not None


@pytest.mark.ngspice
def test_wrong_mapping_raises_the_error_well_above_the_bound(iris_report, tmp_path):
    """The same sample's output columns with every current 20 % too large: the check must notice."""
    from generator.circuit.mapping import map_model, read_trained_model
    from generator.design import DeviceProfile

    _, rep = iris_report
    good = rep["summary"]["rmse_ns"]
    weights, card = read_trained_model(IRIS)
    prof = DeviceProfile.load(PROFILE)
    params = map_model(IRIS, prof, clip=True).params  # the discharger bias etc. the fixture's design used
    run = V.load_model_run(IRIS, 1, split="test", e_dis=prof.e_dis)
    with get_executor("process", workers=2) as ex:
        log: list = []
        ((bad, bias),) = V.evaluate_scales(weights, card, prof, params, run.times, "column", ex, tmp_path / "w",
                                           timeout_s=600, clip=True, columns_per_layer=0, pairs=[(1.2, 1.2)], log=log)
    assert not log, log
    assert bad > 3 * RMSE_BOUND_NS and bad > 5 * good, (bad, good)
    assert bias < -RMSE_BOUND_NS  # too much current: the circuit fires early
