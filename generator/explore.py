"""Design-space exploration: which C_m, synapse W/L, bias/supply point and training |E±| give the best accuracy per
area and per energy while the circuit still does what the model says.

A **space file** (YAML) names swept variables (values, or a range) and fixed ones; every design point then goes
through the real flow, in its own results folder ``points/<id>/`` (:func:`evaluate_point`):

    characterise (cached per device operating point: W, L, C_m, V0, VDD, T, corner, temperature)
    -> train (cached per profile + training settings) -> map -> netlist + layout -> DRC (+ LVS)
    -> verify on a few test samples -> energy simulation (supply currents saved) -> metrics

Metrics per point: ``model_accuracy`` (the trained model on the whole test split), ``circuit_accuracy`` and
``class_agreement`` (ngspice vs model on the verified samples), ``rmse_ns`` (output spike times), ``area_um2``
(die area of the generated layout), ``energy_pj`` (energy per inference: -sum over the DC rails of the integral of
V_rail x i(V_rail) over the whole inference of one test sample, from ngspice), ``latency_ns`` (input phase start to
the earliest output spike in that simulation), ``drc_violations``, ``lvs``.

Search (``search:`` in the space file): ``grid`` (every combination), ``random`` (``trials`` draws, seeded), or
Optuna multi-objective search ``nsga2`` / ``tpe`` over the space's ``objectives``; the Optuna study lives in
``OUT/study.db`` (SQLite). A point whose ``result.json`` exists is never recomputed, so a killed run resumes where
it stopped: grid/random skip finished points, Optuna re-asks a trial left RUNNING by the kill and finds its result
if the point had finished. A failed point is recorded (``status: failed``, the stage and the error) and the sweep
goes on.

Execution goes only through :mod:`generator.execute` (serial | process | dask); inside a point everything runs
serially (one point = one worker core). The progress display polls the points' folders, so it works the same for
every executor (a remote Dask cluster needs ``--out`` on a file system the workers share).

Outputs in ``OUT``: ``space.json`` (the validated space), ``results.csv`` and ``results.json`` (every variable and
metric per point), ``pareto_accuracy_area.png``, ``pareto_accuracy_energy.png``, ``pareto_rmse_area.png``,
``summary.md`` (the front's designs), ``cache/`` (profiles and models), ``points/``.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import fcntl
import hashlib
import io
import itertools
import json
import math
import os
import re
import shutil
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from generator.errors import InputError, RunError
from generator.io import atomic_write_bytes, atomic_write_text, dump_json

SEARCHES = ("grid", "random", "nsga2", "tpe")
RESULT_FILE = "result.json"
RUNNING_FILE = ".running"


# ============================================================================================ the variables
@dataclass(frozen=True)
class Var:
    """One variable of the space: ``kind`` float | int | choice | bool | arch; ``lo``/``hi``: allowed range."""

    name: str
    kind: str
    default: Any
    help: str
    lo: float = -math.inf
    hi: float = math.inf
    choices: tuple = ()
    unit: str = ""


def _corners() -> tuple:
    from generator.pdk import sky130

    return tuple(sky130.CORNERS)


def _datasets() -> tuple:
    from generator.model.card import DATASETS

    return tuple(DATASETS)


def _variables() -> dict[str, Var]:
    from generator.pdk import sky130

    vs = [
        Var("c_m_ff", "float", 140.0, "membrane capacitance C_m", 10.0, 5000.0, unit="fF"),
        Var("syn_w", "float", 1.0, "synapse selector and memory transistor width", sky130.MIN_W_UM, 50.0, unit="µm"),
        Var("syn_l", "float", 0.25, "synapse selector and memory transistor length", sky130.MIN_L_UM, 20.0, unit="µm"),
        Var("v0", "float", 1.3, "reset (resting) membrane potential V0", 0.6, 1.75, unit="V"),
        Var("vdd", "float", 1.8, "supply voltage", 1.4, 1.98, unit="V"),
        Var("t_phase_ns", "float", 1000.0, "phase duration T", 20.0, 1e6, unit="ns"),
        Var("corner", "choice", "tt", "sky130 process corner (characterised and simulated)", choices=_corners()),
        Var("temp", "float", 27.0, "temperature (characterised and simulated)", -40.0, 125.0, unit="°C"),
        Var("e_scale", "float", 1.0, "training |E±| = e_scale x the measured E± (1: bottom-up)", 0.1, 100.0),
        Var("circuit_effects", "bool", True, "train with the profile's measured circuit effects"),
        Var("steps", "int", 10, "DSTD time points per phase (training)", 1, 1000),
        Var("epochs", "int", 60, "training epochs", 1, 100000),
        Var("lr", "float", 3e-3, "Adam learning rate", 1e-6, 1.0),
        Var("seed", "int", 0, "training seed", 0, 2**31 - 1),
        Var("dataset", "choice", "iris", "dataset", choices=_datasets()),
        Var("arch", "arch", "5-5-5", "network layer sizes (first = inputs), e.g. 5-5-5"),
        Var("scale", "float", 1.0, "current scale of the mapping (no calibration)", 0.2, 5.0),
        Var("samples", "int", 2, "test samples verified with ngspice", 1, 100000),
        Var("mode", "choice", "network", "verification: network | column | auto", choices=("network", "column", "auto")),
        Var("columns_per_layer", "int", None, "column mode: hidden neurons simulated per layer (None = all)", 0, 100000),
        Var("timeout_s", "float", 600.0, "ngspice timeout per deck", 0.0, 86400.0, unit="s"),
        Var("lvs", "bool", True, "run LVS when generator.signoff.lvs.run_lvs is available"),
    ]
    return {v.name: v for v in vs}


VARIABLES = _variables()
METRICS = {  # name -> (unit, better direction)
    "model_accuracy": ("", "max"), "circuit_accuracy": ("", "max"), "class_agreement": ("", "max"),
    "rmse_ns": ("ns", "min"), "area_um2": ("µm²", "min"), "energy_pj": ("pJ", "min"),
    "latency_ns": ("ns", "min"),
}
DEFAULT_OBJECTIVES = ("model_accuracy:max", "area_um2:min", "energy_pj:min")
#: the three Pareto plots: (file, x metric, y metric)
PLOTS = (("pareto_accuracy_area.png", "area_um2", "model_accuracy"),
         ("pareto_accuracy_energy.png", "energy_pj", "model_accuracy"),
         ("pareto_rmse_area.png", "area_um2", "rmse_ns"))
#: variables that decide the characterisation (the profile cache key)
CHAR_VARS = ("c_m_ff", "syn_w", "syn_l", "v0", "vdd", "t_phase_ns", "corner", "temp")
TRAIN_VARS = ("dataset", "arch", "e_scale", "circuit_effects", "steps", "epochs", "lr", "seed")


# ============================================================================================ the space file
@dataclass
class Space:
    """A validated space: ``swept`` name -> spec ({"values": [...]} or {"low", "high", "log", "step", "num"}),
    ``fixed`` name -> value (every variable not swept: the space's value or the default)."""

    name: str
    search: str
    trials: int | None
    seed: int
    objectives: list[tuple[str, str]]
    swept: dict[str, dict]
    fixed: dict[str, Any]
    source: str = ""
    #: metric -> {"min": x} and/or {"max": x}: a point outside is "infeasible" (kept in the table, left off the fronts)
    constraints: dict[str, dict] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "search": self.search, "trials": self.trials, "seed": self.seed,
                "objectives": [f"{m}:{d}" for m, d in self.objectives], "swept": self.swept, "fixed": self.fixed,
                "constraints": self.constraints}

    def violations(self, metrics: dict) -> list[float]:
        """Per constraint, how far ``metrics`` lie outside it (<= 0: satisfied; a missing metric violates by 1)."""
        out = []
        for m, bound in sorted(self.constraints.items()):
            v = metrics.get(m)
            for side, limit in sorted(bound.items()):
                if v is None or not math.isfinite(float(v)):
                    out.append(1.0)
                else:
                    out.append(float(v) - limit if side == "max" else limit - float(v))
        return out

    def feasible(self, metrics: dict) -> bool:
        return all(x <= 0 for x in self.violations(metrics))

    def size(self) -> int | None:
        """Points of the grid (None when a swept variable has no finite grid)."""
        n = 1
        for spec in self.swept.values():
            if "values" in spec:
                n *= len(spec["values"])
            elif "num" in spec:
                n *= int(spec["num"])
            else:
                return None
        return n

    def n_points(self) -> int:
        return self.size() if self.search == "grid" else int(self.trials)


def _where(source: str, key: str) -> str:
    return f"{source}: {key}" if source else key


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_value(var: Var, value: Any, where: str) -> Any:
    """``value`` converted to the variable's kind and checked against its range; else InputError with the fix."""
    if var.kind == "choice":
        if value not in var.choices:
            hint = _suggest(str(value), [str(c) for c in var.choices])
            raise InputError(f"{where}: {value!r} is not a known {var.name}{hint}; use one of "
                             f"{', '.join(map(str, var.choices))}")
        return value
    if var.kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{where}: {value!r} must be true or false")
        return value
    if var.kind == "arch":
        if not isinstance(value, str) or not re.fullmatch(r"[1-9][0-9]{0,5}(-[1-9][0-9]{0,5}){1,8}", value):
            raise InputError(f"{where}: {value!r} is not a layer list; write sizes joined by '-', e.g. 5-5-5")
        return value
    if value is None and var.default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: {value!r} is not a number; give a number in [{var.lo:g}, {var.hi:g}]"
                         f"{' ' + var.unit if var.unit else ''}")
    if var.kind == "int":
        if float(value) != int(value):
            raise InputError(f"{where}: {value!r} must be a whole number")
        value = int(value)
    else:
        value = float(value)
    if not (math.isfinite(value) and var.lo <= value <= var.hi):
        raise InputError(f"{where}: {value:g}{' ' + var.unit if var.unit else ''} is out of range; {var.name} "
                         f"({var.help}) must lie in [{var.lo:g}, {var.hi:g}]{' ' + var.unit if var.unit else ''}")
    return value


def _check_spec(var: Var, spec: Any, where: str, search: str) -> dict:
    if not isinstance(spec, dict):
        spec = {"values": spec if isinstance(spec, list) else [spec]}
    unknown = sorted(set(spec) - {"values", "low", "high", "log", "step", "num"})
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; a swept variable is {{values: [...]}} or "
                         "{low: A, high: B[, log: true][, step: S][, num: N]}")
    if "values" in spec:
        if set(spec) != {"values"}:
            raise InputError(f"{where}: give either values: [...] or low/high, not both")
        vals = spec["values"]
        if not isinstance(vals, list) or not vals:
            raise InputError(f"{where}: values must be a non-empty list, e.g. values: [{var.default!r}]")
        out = [_check_value(var, v, f"{where}.values[{i}]") for i, v in enumerate(vals)]
        if len(set(map(repr, out))) != len(out):
            raise InputError(f"{where}: values {vals} repeat a value; list each value once")
        return {"values": out}
    if var.kind not in ("float", "int"):
        raise InputError(f"{where}: {var.name} is a {var.kind}; sweep it with values: [...]")
    if "low" not in spec or "high" not in spec:
        raise InputError(f"{where}: a range needs both low and high (or use values: [...])")
    lo = _check_value(var, spec["low"], f"{where}.low")
    hi = _check_value(var, spec["high"], f"{where}.high")
    if not lo < hi:
        raise InputError(f"{where}: low {lo:g} must be below high {hi:g} (for a single value, put it under fixed:)")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise InputError(f"{where}.log: {log!r} must be true or false")
    if log and lo <= 0:
        raise InputError(f"{where}: a log range needs low > 0 (got {lo:g})")
    out = {"low": lo, "high": hi, "log": log}
    if "step" in spec:
        step = spec["step"]
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0 or log:
            raise InputError(f"{where}.step: {step!r} must be a positive number (and not with log: true)")
        out["step"] = step
    if "num" in spec:
        num = spec["num"]
        if isinstance(num, bool) or not isinstance(num, int) or num < 2:
            raise InputError(f"{where}.num: {num!r} must be a whole number >= 2 (grid points across the range)")
        out["num"] = num
    elif search == "grid":
        raise InputError(f"{where}: a grid needs a finite set: add num: N (points across [low, high]) or give values")
    return out


def parse_space(data: Any, source: str = "") -> Space:
    """Validate the space (a dict, as read from YAML) -> :class:`Space`; InputError (exit 2) names the key and fix."""
    if not isinstance(data, dict):
        raise InputError(f"{source or 'space'}: the space file must be a mapping with variables: and fixed:")
    allowed = {"name", "search", "trials", "seed", "objectives", "variables", "fixed", "description", "constraints"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InputError(f"{_where(source, str(unknown[0]))}: unknown top-level key{_suggest(unknown[0], allowed)}; "
                         f"allowed: {', '.join(sorted(allowed))}")
    name = data.get("name") or (Path(source).stem if source else "space")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", name):
        raise InputError(f"{_where(source, 'name')}: {name!r} must be letters, digits, '_', '-', '.' (<= 64)")
    search = data.get("search", "grid")
    if search not in SEARCHES:
        raise InputError(f"{_where(source, 'search')}: {search!r} is not a search{_suggest(str(search), SEARCHES)}; "
                         f"use one of {', '.join(SEARCHES)}")
    trials = data.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise InputError(f"{_where(source, 'trials')}: {trials!r} must be a whole number >= 1")
    if search != "grid" and trials is None:
        raise InputError(f"{_where(source, 'trials')}: search {search} needs trials: N (points to evaluate)")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"{_where(source, 'seed')}: {seed!r} must be a whole number >= 0")
    objectives = []
    for i, text in enumerate(data.get("objectives") or DEFAULT_OBJECTIVES):
        m, _, d = str(text).partition(":")
        d = d or METRICS.get(m, ("", "max"))[1]
        if m not in METRICS:
            raise InputError(f"{_where(source, f'objectives[{i}]')}: unknown metric {m!r}{_suggest(m, METRICS)}; "
                             f"use one of {', '.join(METRICS)} (optionally :min or :max)")
        if d not in ("min", "max"):
            raise InputError(f"{_where(source, f'objectives[{i}]')}: direction {d!r} must be min or max")
        objectives.append((m, d))
    constraints = {}
    cons = data.get("constraints") or {}
    if not isinstance(cons, dict):
        raise InputError(f"{_where(source, 'constraints')}: must map metrics to bounds, e.g. rmse_ns: {{max: 10}}")
    for m, bound in cons.items():
        where = _where(source, f"constraints.{m}")
        if m not in METRICS:
            raise InputError(f"{where}: unknown metric{_suggest(str(m), METRICS)}; use one of {', '.join(METRICS)}")
        if not isinstance(bound, dict) or not bound or set(bound) - {"min", "max"} or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bound.values()):
            raise InputError(f"{where}: give {{min: X}} and/or {{max: Y}} with finite numbers, e.g. {{max: 10}}")
        constraints[m] = {k: float(v) for k, v in bound.items()}
    variables = data.get("variables") or {}
    fixed_in = data.get("fixed") or {}
    for key, block in (("variables", variables), ("fixed", fixed_in)):
        if not isinstance(block, dict):
            raise InputError(f"{_where(source, key)}: must be a mapping of variable names")
        for vname in block:
            if vname not in VARIABLES:
                raise InputError(f"{_where(source, f'{key}.{vname}')}: unknown variable{_suggest(str(vname), VARIABLES)}"
                                 f"; known: {', '.join(VARIABLES)}")
    both = sorted(set(variables) & set(fixed_in))
    if both:
        raise InputError(f"{_where(source, 'fixed.' + both[0])}: {both[0]} is both swept and fixed; keep one")
    if not variables:
        raise InputError(f"{_where(source, 'variables')}: sweep at least one variable, e.g. c_m_ff: {{values: [100, 200]}}")
    swept = {k: _check_spec(VARIABLES[k], v, _where(source, f"variables.{k}"), search) for k, v in variables.items()}
    fixed = {k: v.default for k, v in VARIABLES.items() if k not in swept}
    for k, v in fixed_in.items():
        fixed[k] = _check_value(VARIABLES[k], v, _where(source, f"fixed.{k}"))
    space = Space(name, search, trials, seed, objectives, swept, fixed, source, constraints)
    if search == "grid" and space.size() > 100000:
        raise InputError(f"{_where(source, 'variables')}: the grid has {space.size()} points; use search: random or "
                         "nsga2 with trials: N")
    return space


def load_space(path: str | os.PathLike) -> Space:
    """Read and validate a YAML space file (InputError, exit 2, on any problem, naming the key and the fix)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"space file {path} not found; see scripts/explore_iris_small.yaml for an example")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    return parse_space(data, str(path))


# ============================================================================================ points
def point_id(values: dict) -> str:
    """Stable short id of a point (hash of every variable's value, swept and fixed)."""
    text = json.dumps({k: values[k] for k in sorted(values)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _axis(spec: dict, kind: str) -> list:
    if "values" in spec:
        return list(spec["values"])
    lo, hi, num = spec["low"], spec["high"], spec["num"]
    xs = np.geomspace(lo, hi, num) if spec.get("log") else np.linspace(lo, hi, num)
    if kind == "int":
        return sorted({int(round(x)) for x in xs})
    return [float(f"{x:.6g}") for x in xs]


def grid_points(space: Space) -> list[dict]:
    names = list(space.swept)
    axes = [_axis(space.swept[n], VARIABLES[n].kind) for n in names]
    return [{**space.fixed, **dict(zip(names, combo))} for combo in itertools.product(*axes)]


def random_points(space: Space) -> list[dict]:
    rng = np.random.default_rng(space.seed)
    out = []
    for _ in range(int(space.trials)):
        p = dict(space.fixed)
        for n, spec in space.swept.items():
            kind = VARIABLES[n].kind
            if "values" in spec:
                p[n] = spec["values"][int(rng.integers(len(spec["values"])))]
                continue
            lo, hi = spec["low"], spec["high"]
            x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if spec.get("log") else rng.uniform(lo, hi)
            if "step" in spec:
                x = lo + round((x - lo) / spec["step"]) * spec["step"]
            p[n] = int(round(x)) if kind == "int" else float(f"{x:.6g}")
        out.append(p)
    return out


# ============================================================================================ energy
def supply_energy(time_s: Sequence[float], rails: Sequence[tuple[str, float, Sequence[float]]],
                  t0: float | None = None, t1: float | None = None) -> dict:
    """Energy (J) the DC rails deliver over [t0, t1] (default: the whole trace).

    ``rails``: (name, voltage V, current A into the source's + terminal, as ngspice reports ``i(vsrc)``). A source
    that delivers power has a negative current, so E = -V * integral(i dt) (trapezoidal on the simulator's own
    time points). Returns {"total_j", "by_rail": {name: J}}."""
    t = np.asarray(time_s, dtype=float)
    lo = t[0] if t0 is None else t0
    hi = t[-1] if t1 is None else t1
    by = {}
    for name, volts, cur in rails:
        i = np.asarray(cur, dtype=float)
        sel = (t >= lo) & (t <= hi)
        tt, ii = t[sel], i[sel]
        # include the window edges exactly (interpolated)
        if tt.size == 0 or tt[0] > lo:
            tt, ii = np.concatenate([[lo], tt]), np.concatenate([[np.interp(lo, t, i)], ii])
        if tt[-1] < hi:
            tt, ii = np.concatenate([tt, [hi]]), np.concatenate([ii, [np.interp(hi, t, i)]])
        by[name] = float(-volts * np.trapezoid(ii, tt))
    return {"total_j": float(sum(by.values())), "by_rail": by}


def inference_energy(design, input_times: Sequence[float], workdir: str | os.PathLike, *, netlist_file: str,
                     timeout_s: float = 600.0) -> dict:
    """Simulate one inference of ``design`` (whole network, input spikes ``input_times`` in model units) with the
    rail currents saved; return energy (J, total and per rail), the window (s) and the earliest output spike (s
    after the first accumulation phase starts; NaN if none). ``netlist_file``: the network netlist as the deck
    includes it (relative to ``workdir``)."""
    from generator.spice import netlist as nl
    from generator.spice.sim import Simulation
    from generator.spice.waveform import crossing_time

    p = design.params
    sim = Simulation(p.corner, workdir)
    deck = nl.render_testbench(design, input_times, netlist_file=netlist_file, save_supply=True,
                               sample_note="energy per inference")
    res = sim.run(deck, name="energy", timeout_s=timeout_s)
    t = np.asarray(res["time"])
    rails = [(node, volts, res[vec]) for node, volts, vec in nl.supply_vectors(p)]
    e = supply_energy(t, rails, 0.0, float(t[-1]))
    sched = nl.phase_schedule(len(design.layers), p)
    fire = sched[-1]["fire"]
    k = len(design.layers)
    cross = [crossing_time(t, np.asarray(res[f"v(s{k}_{i})"]), p.vdd / 2, rising=True, t_start=fire[0],
                           t_stop=fire[1]) for i in range(design.layers[-1].n_out)]
    cross = [c for c in cross if math.isfinite(c)]
    first = (min(cross) - sched[0]["accumulate"][0]) if cross else math.nan
    return {**e, "window_s": [0.0, float(t[-1])], "first_output_spike_s": first, "wall_s": res.wall_s}


# ============================================================================================ one point
class _FileLock:
    """An exclusive lock file (fcntl): two workers never characterise or train the same cache entry at once."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _key(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def circuit_params(values: dict):
    from generator.design import CircuitParams

    return CircuitParams(c_m=values["c_m_ff"] * 1e-15, syn_w=values["syn_w"], syn_l=values["syn_l"],
                         v0=values["v0"], vdd=values["vdd"], t_phase=values["t_phase_ns"] * 1e-9,
                         corner=values["corner"], temp=float(values["temp"])).validate()


def cached_profile(params, cache: Path, timeout_s: float = 300.0):
    """(DeviceProfile, key): characterised once per operating point (every CircuitParams field) into ``cache``."""
    from generator.circuit.characterize import characterize
    from generator.design import DeviceProfile

    key = _key(dataclasses.asdict(params))
    path = cache / "profiles" / f"{key}.json"
    with _FileLock(cache / "profiles" / f"{key}.lock"):
        if not path.is_file():
            characterize(params, timeout_s=max(timeout_s, 60.0)).save(path)
    return DeviceProfile.load(path), key


def cached_model(values: dict, profile, profile_key: str, params, cache: Path) -> Path:
    """A model trained for this point's profile and training settings (cached: trained once per key)."""
    key = _key({"profile": profile_key, **{k: values[k] for k in TRAIN_VARS}})
    final = cache / "models" / key
    with _FileLock(cache / "models" / f"{key}.lock"):
        if (final / "card.json").is_file():
            return final
        import torch

        from generator.circuit.effects import circuit_effects
        from generator.model.train import TrainConfig, train

        torch.set_num_threads(1)
        s = float(values["e_scale"])
        effects = {}
        if values["circuit_effects"]:
            effects = circuit_effects(profile, params)
            if s != 1.0 and effects.get("reversal_table"):
                rt = dict(effects["reversal_table"])
                rt["e_pos"] = [x * s for x in rt["e_pos"]]
                rt["e_neg"] = [x * s for x in rt["e_neg"]]
                effects["reversal_table"] = rt
        cfg = TrainConfig(dataset=values["dataset"], arch=values["arch"], e_pos=profile.e_pos * s,
                          e_neg=profile.e_neg * s, e_dis=profile.e_dis, **effects, epochs=int(values["epochs"]),
                          lr=float(values["lr"]), steps=int(values["steps"]), seed=int(values["seed"]),
                          val_fraction=0.0, name=f"x{key}")
        tmp = cache / "models" / f".{key}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        train(cfg, out=tmp, command=f"imcgen explore (model cache {key})", progress=False, log=None)
        os.replace(tmp, final)
    return final


def _lvs(gds: str, cdl: Path, out: Path) -> str:
    """LVS result: "match", "mismatch", "not run" (no working run_lvs) or "error: ..." (written to lvs.json)."""
    try:
        from generator.signoff.lvs import run_lvs
    except Exception:  # noqa: BLE001 - the module is optional (being written)
        return "not run"
    try:
        rep = run_lvs(gds, cdl)
    except Exception as exc:  # noqa: BLE001 - a broken LVS never fails the point; it is recorded
        atomic_write_text(out / "lvs.json", dump_json({"error": f"{type(exc).__name__}: {exc}"}))
        return f"error: {type(exc).__name__}"
    atomic_write_text(out / "lvs.json", dump_json(_plain(rep.summary())))
    return "match" if rep.match else "mismatch"


def _plain(obj):
    from generator.report import no_nan

    return no_nan(obj)


def evaluate_point(task: dict) -> dict:
    """Run one design point through the flow (inside an executor worker); return its result dict.

    ``task``: {"values": every variable, "id": point id, "dir": point folder, "cache": cache folder}. The result is
    also written to ``<dir>/result.json``; when that file already exists the point is not recomputed. A failure
    is caught, recorded (status "failed", stage, error) and returned: it never stops the sweep."""
    pdir = Path(task["dir"])
    done = pdir / RESULT_FILE
    if done.is_file():
        res = json.loads(done.read_text())
        res["cached"] = True
        return res
    pdir.mkdir(parents=True, exist_ok=True)
    marker = pdir / RUNNING_FILE
    atomic_write_text(marker, f"{os.getpid()}\n")
    values, cache = task["values"], Path(task["cache"])
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    metrics: dict[str, Any] = {}
    stage = "setup"

    def lap(name: str, since: float) -> float:
        now = time.monotonic()
        timings[f"{name}_s"] = round(now - since, 3)
        return now

    try:
        params = circuit_params(values)
        stage, t = "characterize", time.monotonic()
        profile, pkey = cached_profile(params, cache, float(values["timeout_s"]) or 300.0)
        t = lap("characterize", t)
        stage = "train"
        model = cached_model(values, profile, pkey, params, cache)
        from generator.model.train import read_card

        card = read_card(model)
        metrics["model_accuracy"] = float(card["test_accuracy"])
        t = lap("train", t)

        stage = "map"
        from generator.circuit.mapping import map_model

        design = map_model(model, profile, params, scale_pos=values["scale"], scale_neg=values["scale"])
        design.save(pdir / "design.json")
        t = lap("map", t)

        stage = "netlist"
        from generator import verify as V
        from generator.spice.netlist import write_netlist

        spikes = V.load_model_run(model, 1, split="test").times[0][0].tolist()
        paths = write_netlist(design, pdir / "netlist", sample_spikes=spikes, sample_note="test sample 0")
        t = lap("netlist", t)

        stage = "layout"
        from generator.layout.export import write_layout

        info = write_layout(design, pdir / "layout", render=False)
        metrics["area_um2"] = float(info["die_area_um2"])
        t = lap("layout", t)

        stage = "drc"
        from generator.signoff.drc import run_drc

        drc = run_drc(info["paths"]["gds"])
        atomic_write_text(pdir / "signoff" / "drc.json", dump_json({"violations": drc.violations,
                                                                    "by_rule": drc.by_rule}))
        metrics["drc_violations"] = int(drc.violations)
        t = lap("drc", t)
        stage = "lvs"
        metrics["lvs"] = _lvs(info["paths"]["gds"], paths["cdl"], pdir / "signoff") if values["lvs"] else "not run"
        t = lap("lvs", t)

        stage = "verify"
        from generator.execute import get_executor

        opts = V.VerifyOptions(n_samples=int(values["samples"]), mode=values["mode"], plots=False,
                               timeout_s=float(values["timeout_s"]), columns_per_layer=values["columns_per_layer"])
        with get_executor("serial") as ex:
            rep = V.verify(design, model, profile=profile, out_dir=pdir / "verify", options=opts, executor=ex)
        V.check_complete(rep)
        m = rep["metrics"]
        metrics.update(rmse_ns=rep["summary"]["rmse_ns"], class_agreement=m["class_agreement"],
                       circuit_accuracy=m["circuit_accuracy"], n_verified=m["n_simulated"],
                       hidden_rmse_ns=(m["per_layer"][0]["rmse_ns"] if len(m["per_layer"]) > 1 else None))
        t = lap("verify", t)

        stage = "energy"
        e = inference_energy(design, spikes, pdir / "energy", netlist_file=f"../netlist/{paths['netlist'].name}",
                             timeout_s=float(values["timeout_s"]))
        metrics["energy_pj"] = e["total_j"] * 1e12
        metrics["energy_vdd_pj"] = e["by_rail"].get("vdd", 0.0) * 1e12
        metrics["latency_ns"] = e["first_output_spike_s"] * 1e9
        atomic_write_text(pdir / "energy" / "energy.json", dump_json(_plain(e)))
        lap("energy", t)
        result = {"status": "ok"}
    except Exception as exc:  # noqa: BLE001 - record and go on: a failed point never stops the sweep
        result = {"status": "failed", "stage": stage, "error_type": type(exc).__name__,
                  "error": str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__}
        atomic_write_text(pdir / "error.txt", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    result.update(id=task["id"], values=values, metrics=metrics, timings=timings,
                  seconds=round(time.monotonic() - t0, 3), dir=str(pdir))
    atomic_write_text(done, dump_json(_plain(result)))
    marker.unlink(missing_ok=True)
    return result


# ============================================================================================ progress
class _Monitor:
    """Points done / failed / running, read from the points' folders (works for every executor)."""

    def __init__(self, root: Path, total: int, enabled: bool, stream=None):
        self.root, self.total, self.enabled = root, total, enabled
        self.ids: list[str] = []
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._last = None
        self._bar = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def counts(self) -> tuple[int, int, int]:
        done = failed = running = 0
        for pid in list(self.ids):
            d = self.root / pid
            r = d / RESULT_FILE
            if r.is_file():
                try:
                    st = json.loads(r.read_text()).get("status")
                except (OSError, ValueError):
                    continue
                done += st == "ok"
                failed += st != "ok"
            elif (d / RUNNING_FILE).is_file():
                running += 1
        return done, failed, running

    def _show(self, final: bool = False) -> None:
        c = self.counts()
        text = f"explore: {c[0] + c[1]}/{self.total} points  done {c[0]}  failed {c[1]}  running {c[2]}"
        if self._bar is not None:
            self._bar.update(self._task, completed=c[0] + c[1], description=text)
        elif c != self._last or final:
            print(text, file=self.stream, flush=True)
        self._last = c

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._show()

    def __enter__(self):
        if not self.enabled:
            return self
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TimeElapsedColumn

            console = Console(stderr=True)
            if console.is_terminal:
                self._bar = Progress("{task.description}", BarColumn(), TimeElapsedColumn(), console=console)
                self._bar.start()
                self._task = self._bar.add_task("explore", total=self.total)
        except Exception:  # noqa: BLE001 - the display is a convenience only
            self._bar = None
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        self._stop.set()
        self._thread.join()
        self._show(final=True)
        if self._bar is not None:
            self._bar.stop()


# ============================================================================================ the run
def _task(out: Path, values: dict) -> dict:
    pid = point_id(values)
    return {"values": values, "id": pid, "dir": str(out / "points" / pid), "cache": str(out / "cache")}


def _finished(task: dict, retry_failed: bool) -> bool:
    r = Path(task["dir"]) / RESULT_FILE
    if not r.is_file():
        return False
    if retry_failed and json.loads(r.read_text()).get("status") != "ok":
        r.unlink()
        return False
    return True


def _record_crash(task: dict, failed) -> dict:
    """A point whose worker died (the executor's Failed record): written as a failed result."""
    res = {"status": "failed", "stage": "worker", "error_type": failed.error_type, "error": failed.message[:500],
           "id": task["id"], "values": task["values"], "metrics": {}, "timings": {}, "seconds": None,
           "dir": task["dir"]}
    Path(task["dir"]).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(task["dir"]) / RESULT_FILE, dump_json(_plain(res)))
    (Path(task["dir"]) / RUNNING_FILE).unlink(missing_ok=True)
    return res


def _map(ex, tasks: list[dict], mon: _Monitor) -> list[dict]:
    from generator.execute import Failed

    mon.ids.extend(t["id"] for t in tasks if t["id"] not in mon.ids)
    out = []
    for task, r in zip(tasks, ex.map(evaluate_point, tasks, progress=False, label="explore")):
        out.append(_record_crash(task, r) if isinstance(r, Failed) else r)
    return out


def _objective_values(res: dict, objectives) -> list[float] | None:
    vals = []
    for m, _ in objectives:
        v = res.get("metrics", {}).get(m)
        if v is None or not math.isfinite(float(v)):
            return None
        vals.append(float(v))
    return vals


def _run_optuna(space: Space, out: Path, ex, mon: _Monitor, budget: int | None, log) -> list[str]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {}
    for n, spec in space.swept.items():
        kind = VARIABLES[n].kind
        if "values" in spec:
            dists[n] = optuna.distributions.CategoricalDistribution(spec["values"])
        elif kind == "int":
            dists[n] = optuna.distributions.IntDistribution(int(spec["low"]), int(spec["high"]), log=spec["log"],
                                                            step=int(spec.get("step", 1)))
        else:
            dists[n] = optuna.distributions.FloatDistribution(spec["low"], spec["high"], log=spec["log"],
                                                              step=spec.get("step"))
    study = optuna.create_study(storage=f"sqlite:///{(out / 'study.db').resolve()}", study_name=space.name,
                                directions=["maximize" if d == "max" else "minimize" for _, d in space.objectives],
                                load_if_exists=True)
    # the sampler's seed moves on with the trials already in the study: a resumed run must not propose the first
    # run's points again (they would be read back, not recomputed, but they would waste trials)
    seed = space.seed + len(study.trials)
    cons = (lambda t: t.user_attrs.get("constraint", [1.0] * len(space.violations({})))) if space.constraints else None
    study.sampler = (optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(20, int(space.trials) // 2)),
                                                   constraints_func=cons)
                     if space.search == "nsga2" else optuna.samplers.TPESampler(seed=seed, constraints_func=cons))
    TS = optuna.trial.TrialState
    # trials a killed run left RUNNING: close them and ask their points again (a point that had finished is then
    # read back from its result.json, not recomputed)
    for tr in study.get_trials(deepcopy=False, states=(TS.RUNNING,)):
        optuna.trial.Trial(study, tr._trial_id).set_user_attr("stale", True)
        study.tell(tr.number, state=TS.FAIL)
        study.enqueue_trial(tr.params, skip_if_exists=False)
        log(f"explore: trial {tr.number} was left running by an earlier run; asking its point again")
    ids = [t.user_attrs["point"] for t in study.get_trials(deepcopy=False, states=(TS.COMPLETE, TS.FAIL))
           if "point" in t.user_attrs and not t.user_attrs.get("stale")]
    mon.ids.extend(i for i in ids if i not in mon.ids)
    new = 0
    while True:
        done = [t for t in study.get_trials(deepcopy=False, states=(TS.COMPLETE, TS.FAIL))
                if not t.user_attrs.get("stale")]
        left = int(space.trials) - len(done)
        if budget is not None:
            left = min(left, budget - new)
        if left <= 0:
            break
        batch = []
        for _ in range(min(left, max(1, ex.workers))):
            trial = study.ask(dists)
            values = {**space.fixed, **trial.params}
            task = _task(out, values)
            trial.set_user_attr("point", task["id"])
            batch.append((trial, task))
        results = _map(ex, [t for _, t in batch], mon)
        for (trial, task), res in zip(batch, results):
            vals = _objective_values(res, space.objectives) if res.get("status") == "ok" else None
            if space.constraints:
                trial.set_user_attr("constraint", space.violations(res.get("metrics", {})))
            if vals is None:
                trial.set_user_attr("error", str(res.get("error", "missing objective"))[:300])
                study.tell(trial, state=TS.FAIL)
            else:
                study.tell(trial, vals)
            ids.append(task["id"])
        new += len(batch)
    return ids


def explore(space: Space, out: str | os.PathLike, *, executor: str = "serial", workers: int | None = None,
            address: str | None = None, max_points: int | None = None, retry_failed: bool = False,
            progress: bool = True, log=None) -> dict:
    """Evaluate the space's points into ``out`` (resuming what a previous run there finished) and write the
    results table, plots and summary. ``max_points``: evaluate at most this many new points in this run.
    Returns {"rows": [...], "front": [...], "files": {...}, "counts": {...}}."""
    from generator.execute import get_executor

    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / "space.json"
    spec = space.to_dict()
    # what decides the points (and, for Optuna, the study); constraints and (grid/random) objectives only change
    # the analysis, so they may change between runs
    keys = ("search", "trials", "seed", "swept", "fixed") + (("objectives",) if space.search in ("nsga2", "tpe") else ())
    if spec_path.is_file():
        old = json.loads(spec_path.read_text())
        diff = [k for k in keys if json.dumps(old.get(k), sort_keys=True) != json.dumps(_plain(spec[k]), sort_keys=True)]
        if diff:
            raise InputError(f"{out} holds the results of a different space ({', '.join(diff)} differ from its "
                             "space.json); pass a new --out folder, or delete that one to start over")
    atomic_write_text(spec_path, dump_json(_plain(spec)))
    t0 = time.monotonic()
    total = space.n_points()
    mon = _Monitor(out / "points", total, progress)
    with get_executor(executor, workers, address) as ex, mon:
        if space.search in ("grid", "random"):
            tasks = [_task(out, v) for v in (grid_points(space) if space.search == "grid" else random_points(space))]
            uniq = list({t["id"]: t for t in tasks}.values())
            mon.ids.extend(t["id"] for t in uniq)
            pending = [t for t in uniq if not _finished(t, retry_failed)]
            if max_points is not None:
                pending = pending[:max_points]
            if pending:
                _map(ex, pending, mon)
            ids = [t["id"] for t in uniq]
            executor_info = ex.describe()
        else:
            if retry_failed:
                log("explore: --retry-failed applies to grid and random search; an Optuna study keeps its failures")
            ids = _run_optuna(space, out, ex, mon, max_points, log)
            executor_info = ex.describe()
    rows = []
    for pid in dict.fromkeys(ids):  # once per point (two trials may propose the same point)
        r = out / "points" / pid / RESULT_FILE
        if r.is_file():
            rows.append(json.loads(r.read_text()))
    summary = write_results(space, out, rows, executor_info=executor_info, wall_s=time.monotonic() - t0)
    return summary


# ============================================================================================ results
def pareto_mask(points: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """True for the non-dominated rows of ``points`` [N, K] (``directions``: "min"/"max" per column)."""
    x = np.asarray(points, dtype=float).copy()
    for k, d in enumerate(directions):
        if d == "max":
            x[:, k] = -x[:, k]
    n = x.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dominated = np.all(x <= x[i], axis=1) & np.any(x < x[i], axis=1)
        if dominated.any():
            keep[i] = False
    return keep


def _rows_table(space: Space, rows: list[dict]) -> tuple[list[str], list[dict]]:
    names = list(VARIABLES)
    mcols = ["model_accuracy", "circuit_accuracy", "class_agreement", "rmse_ns", "hidden_rmse_ns", "area_um2",
             "energy_pj", "energy_vdd_pj", "latency_ns", "drc_violations", "lvs", "n_verified"]
    cols = ["point", "status", "feasible"] + names + mcols + ["seconds", "stage", "error"]
    table = []
    for r in rows:
        row = {"point": r["id"], "status": r["status"],
               "feasible": r["status"] == "ok" and space.feasible(r.get("metrics", {})),
               **{n: r["values"].get(n) for n in names},
               **{m: r.get("metrics", {}).get(m) for m in mcols}, "seconds": r.get("seconds"),
               "stage": r.get("stage", ""), "error": r.get("error", "")}
        table.append(row)
    return cols, table


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _plot(path: Path, ok: list[dict], xm: str, ym: str, mask: np.ndarray, swept: list[str],
          feasible: np.ndarray | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    xs = np.array([r[xm] for r in ok], dtype=float)
    ys = np.array([r[ym] for r in ok], dtype=float)
    fe = np.ones(len(ok), dtype=bool) if feasible is None else feasible
    ax.scatter(xs[~mask & fe], ys[~mask & fe], c="0.6", s=22, label="dominated")
    if (~fe).any():
        ax.scatter(xs[~fe], ys[~fe], c="0.75", marker="x", s=22, label="violates a constraint")
    order = np.argsort(xs[mask])
    ax.plot(xs[mask][order], ys[mask][order], "-o", c="C3", ms=6, label="Pareto front")
    for r, x, y, m in zip(ok, xs, ys, mask):
        if m:
            label = ", ".join(f"{n}={_fmt(r[n])}" for n in swept)
            ax.annotate(label, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{xm} ({METRICS[xm][0]})" if METRICS[xm][0] else xm)
    ax.set_ylabel(f"{ym} ({METRICS[ym][0]})" if METRICS[ym][0] else ym)
    if xs.size and xs.max() / max(xs.min(), 1e-30) > 20:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{ym} vs {xm}: {int(mask.sum())} of {len(ok)} points on the front", fontsize=9)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def write_results(space: Space, out: Path, rows: list[dict], *, executor_info: dict | None = None,
                  wall_s: float | None = None) -> dict:
    """results.csv, results.json, the three Pareto plots and summary.md from the points' results."""
    cols, table = _rows_table(space, rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in table:
        w.writerow({k: _fmt(v) for k, v in row.items()})
    atomic_write_text(out / "results.csv", buf.getvalue())
    swept = list(space.swept)
    ok = [r for r in table if r["status"] == "ok"]
    feas = [r for r in ok if r["feasible"]]
    files = {"csv": str(out / "results.csv")}
    fronts = {}
    for fname, xm, ym in PLOTS:
        pts = [r for r in ok if r.get(xm) is not None and r.get(ym) is not None]
        if not pts:
            continue
        fe = np.array([r["feasible"] for r in pts], dtype=bool)
        mask = np.zeros(len(pts), dtype=bool)
        if fe.any():
            mask[fe] = pareto_mask(np.array([[r[xm], r[ym]] for r, f in zip(pts, fe) if f]),
                                   [METRICS[xm][1], METRICS[ym][1]])
        files[fname] = str(_plot(out / fname, pts, xm, ym, mask, swept, fe))
        fronts[fname] = [r["point"] for r, m in zip(pts, mask) if m]
    objs = space.objectives
    full = [r for r in feas if all(r.get(m) is not None for m, _ in objs)]
    front = []
    if full:
        mask = pareto_mask(np.array([[r[m] for m, _ in objs] for r in full]), [d for _, d in objs])
        front = [r for r, m in zip(full, mask) if m]
        front.sort(key=lambda r: tuple(-r[m] if d == "max" else r[m] for m, d in objs))
    failed = [r for r in table if r["status"] != "ok"]
    counts = {"points": len(table), "ok": len(ok), "failed": len(failed)}
    cons_text = ", ".join(f"{m} {'>=' if k == 'min' else '<='} {v:g}" for m, b in sorted(space.constraints.items())
                          for k, v in sorted(b.items()))
    md = [f"# Design-space exploration: {space.name}", "",
          f"{counts['points']} points ({counts['ok']} ok, {counts['failed']} failed), search {space.search}, "
          f"swept: {', '.join(swept)}." + (f" Executor: {executor_info}." if executor_info else ""),
          "", f"## Pareto front over {', '.join(f'{m} ({d})' for m, d in objs)}", ""]
    if cons_text:
        md[-1:-1] = [f"Constraints (the circuit must still match the model): {cons_text}; "
                     f"{len(feas)} of {len(ok)} finished points satisfy them and only those enter the fronts.", ""]
    mcols = ["model_accuracy", "class_agreement", "rmse_ns", "area_um2", "energy_pj", "latency_ns", "drc_violations",
             "lvs"]
    head = ["point"] + swept + mcols
    md += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in front:
        md.append("| " + " | ".join(_fmt(r.get(c)) for c in head) + " |")
    if not front:
        md.append("(no point finished with every objective)")
    md += ["", "## Two-metric fronts", ""]
    for fname, xm, ym in PLOTS:
        if fname in fronts:
            md.append(f"- {ym} vs {xm} ([{fname}]({fname})): " + ", ".join(fronts[fname]))
    if ok:
        md += ["", "## Best per metric", ""]
        for m, (unit, d) in METRICS.items():
            cand = [r for r in ok if r.get(m) is not None]
            if cand:
                best = (max if d == "max" else min)(cand, key=lambda r: r[m])
                md.append(f"- {m} ({d}): {_fmt(best[m])} {unit} at {best['point']} ("
                          + ", ".join(f"{n}={_fmt(best[n])}" for n in swept) + ")")
    if failed:
        md += ["", "## Failed points", ""]
        for r in failed:
            md.append(f"- {r['point']} (" + ", ".join(f"{n}={_fmt(r[n])}" for n in swept)
                      + f"): {r['stage']}: {r['error']}")
    md += ["", "Energy per inference: -sum over the DC rails (VDD, V0, biases) of V x i over one whole inference of "
           "test sample 0 in ngspice (input and phase drivers are the testbench's, not counted). Area: die area of "
           "the generated layout. Accuracy: the trained model on the whole test split; class agreement and RMSE: "
           "ngspice vs model on the verified samples.", ""]
    atomic_write_text(out / "summary.md", "\n".join(md))
    files["summary"] = str(out / "summary.md")
    result = {"counts": counts, "front": [r["point"] for r in front], "fronts": fronts, "files": files,
              "executor": executor_info, "wall_s": wall_s, "rows": table}
    atomic_write_text(out / "results.json", dump_json(_plain({k: v for k, v in result.items() if k != "wall_s"})))
    return result


__all__ = ["DEFAULT_OBJECTIVES", "METRICS", "SEARCHES", "Space", "VARIABLES", "evaluate_point", "explore",
           "grid_points", "inference_energy", "load_space", "parse_space", "pareto_mask", "point_id",
           "random_points", "supply_energy", "write_results"]
