"""The verification loop: the same input spikes through the trained model and through ngspice (PAPER.md §6).

Why: the whole point of the bottom-up flow is that the trained model predicts the circuit. This package
measures how well: for each test sample it takes the model's spike times of every layer (eval mode, no
noise, exact solver), runs the generated testbench with the same input spikes in ngspice, reads every
neuron's firing time from its output node and compares (spike-time RMSE in ns, class agreement).

One responsibility per module, imports pointing down the list:

* :mod:`.options`: :class:`VerifyOptions` (every setting, checked up front) and the errors;
* :mod:`.model_side`: the model's spike times and membrane traces, its E_dis / E± / circuit effects;
* :mod:`.jobs`: one ngspice run per :class:`SimJob`, gathered by :func:`collect`;
* :mod:`.metrics`: RMSE, classes, per-layer and per-sample comparison;
* :mod:`.calibration`: the three scale searches and :func:`calibrate`;
* :mod:`.loop`: :func:`verify` (one given Design) and :func:`verify_model` (calibrate + map + verify).

Units: times in model units (one phase = 1) unless a name ends in ``_ns`` or ``_s``; voltages in V.
"""

from __future__ import annotations

from generator.verify.calibration import (
    calibrate,
    evaluate_scales,
    search_scale_1d,
    search_scale_2d,
    search_scale_gauss_newton,
    search_scale_secant,
)
from generator.verify.jobs import (
    TRACE_POINTS,
    Collected,
    SimJob,
    SimOutcome,
    build_jobs,
    collect,
    decimate,
    keep_for_inspection,
    run_job,
)
from generator.verify.loop import check_complete, find_scales, load_profile, settle, verify, verify_model
from generator.verify.metrics import as_time, compare, layer_metrics, layer_names, predicted_class, rmse_ns
from generator.verify.model_side import (
    ModelRun,
    ModelSide,
    load_model_run,
    model_membrane_trace,
    model_spike_times,
    model_times_for_design,
    resolve_model_effects,
    settle_model_side,
    split_size,
)
from generator.verify.options import (
    FLOWS,
    MODEL_E,
    MODEL_E_DIS,
    MODEL_EFFECTS,
    MODES,
    NETWORK_MODE_MAX_SYNAPSES,
    SEARCHES,
    IncompleteVerification,
    VerifyError,
    VerifyInputError,
    VerifyOptions,
    resolve_mode,
)

__all__ = [
    "FLOWS", "MODES", "MODEL_E", "MODEL_E_DIS", "MODEL_EFFECTS", "SEARCHES", "NETWORK_MODE_MAX_SYNAPSES", "TRACE_POINTS",
    "VerifyError", "VerifyInputError", "IncompleteVerification", "VerifyOptions", "resolve_mode",
    "ModelRun", "ModelSide", "load_model_run", "model_membrane_trace", "model_spike_times", "model_times_for_design",
    "resolve_model_effects", "settle_model_side", "split_size",
    "SimJob", "SimOutcome", "Collected", "build_jobs", "collect", "decimate", "keep_for_inspection", "run_job",
    "as_time", "compare", "layer_metrics", "layer_names", "predicted_class", "rmse_ns",
    "calibrate", "evaluate_scales", "search_scale_1d", "search_scale_2d", "search_scale_gauss_newton", "search_scale_secant",
    "check_complete", "find_scales", "load_profile", "settle", "verify", "verify_model",
]
