"""The settings of one verification run, checked before any work starts, and the package's errors.

Why a frozen dataclass: the loop used to take twenty keyword parameters; grouping them lets a command validate
every value up front (an impossible option fails in milliseconds with exit 2, not after a calibration of
minutes) and hand one object to calibration and verification alike.

Units: timeouts in s; spike times in model units (one phase = 1); E_dis dimensionless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from generator.errors import EXIT_BAD_INPUT, InputError, RunError

FLOWS = ("bottom-up", "top-down")
MODES = ("auto", "network", "column")
#: reversal potentials of the model side: the card's global E± (as trained) or each synapse's own E± from the
#: λ(I) of its mapped current (generator.circuit.mapping.per_synapse_reversal)
MODEL_E = ("global", "per-synapse")
#: circuit effects of the model side: as trained, measured (the profile), or none (the paper's model)
MODEL_EFFECTS = ("card", "profile", "none")
#: model-side firing-phase ramp by name; a number > 1 (dimensionless E_dis) is accepted too
MODEL_E_DIS = ("card", "profile", "ideal")
#: scale searches: secant (bottom-up: root of the mean error; top-down: Gauss-Newton on the residuals), grid
#: (bottom-up: 1-D coarse-to-fine grid; top-down: 2-D grid, ~80 evaluations)
SEARCHES = ("secant", "grid")
#: simulator settings: converged (network testbenches at reltol 1e-6, columns as the fast deck; spike times within
#: ~0.006 ns of a tighter run) or legacy (reltol 1e-4: up to +0.6 ns of simulator error, benchmarks/column_cost.py)
SIM_SETTINGS = ("converged", "legacy")
#: networks with at most this many synapses are simulated whole (``mode="auto"``); bigger ones column by column
NETWORK_MODE_MAX_SYNAPSES = 2000


class VerifyError(RunError):
    """The verification cannot run (bad model, unknown flow, no sample simulated); the message says the fix."""


class VerifyInputError(VerifyError, InputError):
    """A verification option that cannot be used (exit 2, raised before any simulation)."""

    exit_code = EXIT_BAD_INPUT


class IncompleteVerification(VerifyError):
    """Fewer samples were simulated than asked for (exit 1); the message quotes the first failure."""


def _choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise VerifyInputError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


@dataclass(frozen=True)
class VerifyOptions:
    """How to verify: samples, flow, simulation mode, timeouts and the model side's settings.

    ``n_samples``: test samples compared (the first N of the test split). ``flow``: bottom-up (one global
    current scale) or top-down (separate positive/negative scales). ``mode``: auto | network | column.
    ``calib_samples``: training samples the scale search runs on; ``search``: secant | grid (see SEARCHES).
    ``timeout_s``: ngspice timeout per deck (s; 0 makes every deck fail, for tests); ``sample_timeouts``: per
    verified sample (by position) overrides (s). ``clip``: limit currents beyond the device range instead of
    failing. ``columns_per_layer``: column mode, neurons simulated per hidden layer (None = all, 0 = output
    layer only). ``plots``: write the PNGs. ``model_e_dis``: model-side firing ramp: "card", "profile",
    "ideal" or a number > 1. ``model_e``: "global" | "per-synapse". ``model_effects``: "card" | "profile" | "none".
    ``column_seed``: column mode, the seed of each sample's random draw of hidden columns (``columns_per_layer``).
    ``sim_check``: after the run, this many of its simulations (the first output-layer columns, or the first
    samples in network mode) are run again at reference tolerance, and the report gives the spread: the
    simulator's own numerical error (0 = skip).
    """

    n_samples: int = 50
    flow: str = "bottom-up"
    mode: str = "auto"
    calib_samples: int = 4
    search: str = "secant"
    timeout_s: float = 600.0
    sample_timeouts: Mapping[int, float] | None = field(default=None, compare=False)
    clip: bool = False
    columns_per_layer: int | None = None
    data_dir: str | None = None
    plots: bool = True
    model_e_dis: str | float | None = "card"
    model_e: str = "global"
    model_effects: str = "card"
    sim_settings: str = "converged"
    column_seed: int = 0
    sim_check: int = 1

    def __post_init__(self) -> None:
        _choice("flow", self.flow, FLOWS)
        _choice("mode", self.mode, MODES)
        _choice("model_e", self.model_e, MODEL_E)
        _choice("model_effects", self.model_effects, MODEL_EFFECTS)
        _choice("search", self.search, SEARCHES)
        _choice("sim_settings", self.sim_settings, SIM_SETTINGS)
        if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, int) or self.n_samples < 1:
            raise VerifyInputError(f"--samples {self.n_samples!r}: verify at least 1 test sample (e.g. --samples 10)")
        if isinstance(self.calib_samples, bool) or not isinstance(self.calib_samples, int) or self.calib_samples < 1:
            raise VerifyInputError(f"--calib-samples {self.calib_samples!r}: calibrate on at least 1 training sample "
                                   "(e.g. --calib-samples 2), or give the scale (--scale) to skip calibration")
        if not (isinstance(self.timeout_s, (int, float)) and math.isfinite(self.timeout_s) and self.timeout_s >= 0):
            raise VerifyInputError(f"--timeout {self.timeout_s!r} s: give a finite number of seconds >= 0 (e.g. --timeout 600)")
        for pos, t in (self.sample_timeouts or {}).items():
            if not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0):
                raise VerifyInputError(f"sample_timeouts[{pos}] = {t!r} s: give a finite number of seconds >= 0")
        if self.columns_per_layer is not None and (isinstance(self.columns_per_layer, bool)
                                                   or not isinstance(self.columns_per_layer, int)
                                                   or self.columns_per_layer < 0):
            raise VerifyInputError(f"--columns-per-layer {self.columns_per_layer!r}: give 0 (output layer only), a "
                                   "positive count of hidden neurons per layer, or leave it out (all)")
        for name, val in (("--column-seed", self.column_seed), ("--sim-check", self.sim_check)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 0:
                raise VerifyInputError(f"{name} {val!r}: give an integer >= 0")
        e = self.model_e_dis
        if e is not None and not (isinstance(e, str) and e in MODEL_E_DIS):
            try:
                val = float(e)
            except (TypeError, ValueError):
                val = math.nan
            if not val > 1:  # the RC ramp 1 - exp(-s/E_dis) reaches the threshold 1 only for E_dis > 1
                raise VerifyInputError(f"--model-e-dis {e!r}: use card, profile, ideal or a number > 1 "
                                       "(the discharger's E_dis, dimensionless)")


def resolve_mode(mode: str, n_synapses: int) -> str:
    """``mode`` with "auto" settled: whole network up to NETWORK_MODE_MAX_SYNAPSES synapses, else columns."""
    if mode == "auto":
        return "network" if n_synapses <= NETWORK_MODE_MAX_SYNAPSES else "column"
    return mode
