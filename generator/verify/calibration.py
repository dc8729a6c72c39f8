"""Calibration of the current scale(s) (PAPER.md Algorithms 5-6) on a calibration subset taken from the TRAINING
split, so it is disjoint from the reported (test) samples.

* ``bottom-up``: one global current scale (scale_pos = scale_neg): a secant on the mean signed error then a
  1 % walk (default), or a coarse-to-fine grid down to 1 % steps;
* ``top-down``: separate positive/negative scales, 2-D coarse-to-fine grid down to 1 % steps.

Each evaluation re-maps the model with the scales and simulates the calibration samples; the objective is the
RMSE (ns) of the output-layer spike times, as in the paper. The module is called ``calibration`` (not
``calibrate``) so that the package's ``calibrate`` function does not shadow it.

Units: scales dimensionless; objectives and biases in ns; timeouts in s.
"""

from __future__ import annotations

import functools
import math
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from generator.circuit.mapping import design_from_weights, map_model, read_trained_model
from generator.design import CircuitParams, Design, DeviceProfile, Parasitic
from generator.errors import DesignError
from generator.execute import Executor
from generator.verify.jobs import build_jobs, collect, run_job
from generator.verify.metrics import calibration_objective, calibration_residuals
from generator.verify.model_side import ModelSide, model_times_for_design
from generator.verify.options import VerifyError, VerifyOptions

_ALL_FAILED = "calibration failed: no current scale gave a simulated result (every evaluation failed)"
_ALL_FAILED_2D = "calibration failed: no (scale_pos, scale_neg) gave a simulated result"


# ============================================================================================ searches
def _key(*scales: float) -> tuple[float, ...]:
    return tuple(round(float(s), 4) for s in scales)


def search_scale_1d(evaluate: Callable[[list[float]], list[float]], *, start: float = 1.0, coarse_step: float = 0.04,
                    coarse_points: int = 9, fine_step: float = 0.01, fine_radius: int = 3,
                    lo: float = 0.3, hi: float = 3.0, max_shifts: int = 6) -> tuple[float, float, list[tuple]]:
    """Coarse-to-fine grid search of one global current scale (bottom-up, PAPER.md Algorithm 6).

    ``evaluate(scales) -> objectives`` evaluates a batch (so the caller can run the batch in parallel);
    NaN/inf objectives mean "failed". A coarse grid of ``coarse_points`` around ``start`` (shifted while the
    best point is at its edge), then every ``fine_step`` (1 %) within ``fine_radius`` steps of the best.
    Returns (best scale, its objective, [(scale, objective), ...] in evaluation order).
    """
    seen: dict[tuple, float] = {}
    history: list[tuple] = []

    def run(cands: list[float]) -> None:
        todo = [c for c in dict.fromkeys(_key(c)[0] for c in cands) if lo <= c <= hi and _key(c) not in seen]
        if not todo:
            return
        vals = evaluate(todo)
        for c, val in zip(todo, vals):
            val = float(val) if val is not None and np.isfinite(val) else math.inf
            seen[_key(c)] = val
            history.append((c, val))

    def best() -> tuple[float, float]:
        k = min(seen, key=lambda s: (seen[s], abs(s[0] - start), s[0]))
        return k[0], seen[k]

    half = (coarse_points - 1) // 2
    centre = start
    for _ in range(max_shifts + 1):
        run([centre + coarse_step * i for i in range(-half, half + 1)])
        b, _ = best()
        grid = sorted(s[0] for s in seen)
        if b not in (grid[0], grid[-1]) or b <= lo or b >= hi:
            break
        centre = b + (coarse_step * half if b == grid[-1] else -coarse_step * half)
    b, _ = best()
    run([b + fine_step * i for i in range(-fine_radius, fine_radius + 1)])
    b, val = best()
    if not math.isfinite(val):
        raise VerifyError(_ALL_FAILED)
    return b, val, history


def search_scale_secant(evaluate: Callable[[list[float]], list[tuple[float, float]]], *, start: float = 1.0,
                        probe: float = 0.03, step: float = 0.01, lo: float = 0.3, hi: float = 3.0,
                        max_walk: int = 12, trust: float = 0.3) -> tuple[float, float, list[tuple]]:
    """Global current scale in few evaluations (bottom-up): root of the mean signed spike-time error, then a
    line search on the 1 % lattice to the local RMSE minimum.

    ``evaluate(scales) -> [(rmse, bias), ...]``: bias = mean(circuit - model) spike time; more current makes
    spikes earlier, so the bias falls monotonically with the scale. Two probes at start ± ``probe`` give the
    secant root s*, kept within ``trust`` of ``start`` (a nearly flat bias, as when the error is dominated by a
    spike-time dependent pattern rather than by the scale, puts the root far off: MNIST's went to 0.33); s* and
    its 1 % neighbours are evaluated. Then, from the best point, steps double while the RMSE keeps falling
    (1, 2, 4, 8 % ...) and halve back to 1 % around the best point: a minimum 20 % away costs ~8 evaluations, not
    20 (a 1 %-step walk stopped by ``max_walk`` 12 steps short of it). At most ``max_walk`` evaluations after the
    root. Falls back to :func:`search_scale_1d` when the probes fail or do not bracket a usable slope.
    Returns (best scale, its RMSE, [(scale, rmse), ...]).
    """
    seen: dict[float, tuple[float, float]] = {}
    history: list[tuple] = []

    def run(cands: list[float]) -> None:
        todo = [c for c in dict.fromkeys(round(float(c), 4) for c in cands) if lo <= c <= hi and c not in seen]
        if not todo:
            return
        for c, val in zip(todo, evaluate(todo)):
            r, b = (val if isinstance(val, (tuple, list)) else (val, math.nan))
            r = float(r) if r is not None and np.isfinite(r) else math.inf
            seen[c] = (r, float(b) if b is not None else math.nan)
            history.append((c, r))

    def snap(x: float) -> float:
        return min(max(round(round(x / step) * step, 4), lo), hi)

    s0, s1 = round(start - probe, 4), round(start + probe, 4)
    run([s0, s1])
    b0, b1 = seen.get(s0, (math.inf, math.nan))[1], seen.get(s1, (math.inf, math.nan))[1]
    if not (np.isfinite(b0) and np.isfinite(b1)) or b1 == b0 or (b0 - b1) * (s1 - s0) <= 0:
        best, val, hist = search_scale_1d(lambda sc: [v[0] if isinstance(v, (tuple, list)) else v
                                                      for v in evaluate(sc)], start=start, lo=lo, hi=hi)
        return best, val, history + list(hist)
    root = min(max(s0 - b0 * (s1 - s0) / (b1 - b0), start - trust), start + trust)
    centre = snap(root)
    run([centre - step, centre, centre + step])

    def best_point() -> float:
        return min(seen, key=lambda c: (seen[c][0], abs(c - centre)))

    budget = len(history) + max_walk
    best = best_point()
    run([best - step, best + step])
    d = step  # the largest step tried downhill
    if best_point() != best:  # expand: double the step while the RMSE keeps falling
        direction = 1 if best_point() > best else -1
        best = best_point()
        while len(history) < budget:
            nxt = snap(best + direction * 2 * d)
            if nxt in seen:
                break
            d *= 2
            run([nxt])
            if seen[nxt][0] >= seen[best][0]:
                break
            best = nxt
    d = round(d / 2, 4)
    while d >= step and len(history) < budget:  # refine: halve back to the 1 % lattice around the best point
        best = best_point()
        run([best - d, best + d])
        d = round(d / 2, 4)
    best = min(seen, key=lambda c: (seen[c][0], abs(c - start)))
    if not math.isfinite(seen[best][0]):
        raise VerifyError(_ALL_FAILED)
    return best, seen[best][0], history


def search_scale_2d(evaluate: Callable[[list[tuple[float, float]]], list[float]], *, start=(1.0, 1.0),
                    steps: Sequence[float] = (0.1, 0.03, 0.01), radii: Sequence[int] = (3, 2, 1),
                    lo: float = 0.3, hi: float = 3.0, max_shifts: int = 4) -> tuple[tuple[float, float], float, list]:
    """Coarse-to-fine 2-D grid search of (scale_pos, scale_neg) (top-down, PAPER.md Algorithm 5).

    At each level, a (2r+1)^2 grid of spacing ``step`` around the best point so far (re-centred while the best
    lies on the grid's edge); the last level is 1 % steps. Returns ((pos, neg), objective, history).
    """
    seen: dict[tuple, float] = {}
    history: list[tuple] = []

    def run(cands: list[tuple[float, float]]) -> None:
        todo = [c for c in dict.fromkeys(_key(*c) for c in cands)
                if lo <= c[0] <= hi and lo <= c[1] <= hi and c not in seen]
        if not todo:
            return
        vals = evaluate(todo)
        for c, val in zip(todo, vals):
            val = float(val) if val is not None and np.isfinite(val) else math.inf
            seen[c] = val
            history.append((c[0], c[1], val))

    def best() -> tuple[tuple[float, float], float]:
        k = min(seen, key=lambda s: (seen[s], abs(s[0] - start[0]) + abs(s[1] - start[1]), s))
        return k, seen[k]

    centre = _key(*start)
    for step, r in zip(steps, radii):
        for _ in range(max_shifts + 1):
            run([(centre[0] + step * i, centre[1] + step * j) for i in range(-r, r + 1) for j in range(-r, r + 1)])
            b, _ = best()
            on_edge = (abs(b[0] - centre[0]) >= r * step - 1e-9) or (abs(b[1] - centre[1]) >= r * step - 1e-9)
            centre = b
            if not on_edge:
                break
    b, val = best()
    if not math.isfinite(val):
        raise VerifyError(_ALL_FAILED_2D)
    return b, val, history


def search_scale_gauss_newton(evaluate: Callable[[list[tuple[float, float]]], list[tuple[float, np.ndarray | None]]],
                              *, start=(1.0, 1.0), h: float = 0.05, max_iter: int = 4, max_step: float = 0.3,
                              tol: float = 0.005, lo: float = 0.3, hi: float = 3.0,
                              polish: float = 0.01) -> tuple[tuple[float, float], float, list]:
    """Top-down (scale_pos, scale_neg) by Gauss-Newton on the spike-time residuals, then a 3x3 polish.

    Why: the 2-D grid (:func:`search_scale_2d`) needs ~80 whole-network simulations; the residuals (one signed
    spike-time error per output neuron and sample) are smooth in the two scales, so a finite-difference Jacobian
    from 3 evaluations per iteration and a least-squares step converge in 2-3 iterations. The final 3x3 grid of
    ``polish`` (1 %) steps around the best point guards against a kink (a neuron that stops firing). At most 21
    evaluations in all. ``evaluate(pairs)`` returns (RMSE ns, residuals ns or None) per pair.
    Returns ((pos, neg), RMSE, history [(pos, neg, RMSE)]).
    """
    seen: dict[tuple, tuple[float, np.ndarray | None]] = {}
    history: list[tuple] = []

    def run(cands: list[tuple[float, float]]) -> list[tuple[float, np.ndarray | None]]:
        keys = [_key(min(max(a, lo), hi), min(max(b, lo), hi)) for a, b in cands]
        todo = [k for k in dict.fromkeys(keys) if k not in seen]
        if todo:
            for k, (val, res) in zip(todo, evaluate(todo)):
                val = float(val) if val is not None and np.isfinite(val) else math.inf
                seen[k] = (val, res)
                history.append((k[0], k[1], val))
        return [seen[k] for k in keys]

    x = np.array(_key(*start), dtype=float)
    for _ in range(max_iter):
        (v0, r0), (_, r1), (_, r2) = run([tuple(x), (x[0] + h, x[1]), (x[0], x[1] + h)])
        if any(r is None or len(r) != len(r0 if r0 is not None else []) for r in (r0, r1, r2)) or not len(r0):
            break  # a failed or partial evaluation: no Jacobian; the polish below still searches
        jac = np.stack([(r1 - r0) / h, (r2 - r0) / h], axis=1)
        step, *_ = np.linalg.lstsq(jac, -r0, rcond=None)
        step = np.clip(step, -max_step, max_step)
        x = np.clip(x + step, lo, hi)
        if np.max(np.abs(step)) < tol:
            break
    run([tuple(x)])
    b = min(seen, key=lambda s: (seen[s][0], abs(s[0] - start[0]) + abs(s[1] - start[1]), s))
    run([(b[0] + polish * i, b[1] + polish * j) for i in (-1, 0, 1) for j in (-1, 0, 1)])
    b = min(seen, key=lambda s: (seen[s][0], abs(s[0] - start[0]) + abs(s[1] - start[1]), s))
    if not math.isfinite(seen[b][0]):
        raise VerifyError(_ALL_FAILED_2D)
    return b, seen[b][0], history


# ============================================================================================ the objective
def evaluate_scales(weights, card, profile, params, model_times, mode, executor, workroot, *, timeout_s, clip,
                    columns_per_layer, pairs: list[tuple[float, float]], log: list,
                    model_times_for: Callable[[Design], list[np.ndarray]] | None = None,
                    parasitics: Sequence[Parasitic] = (),
                    residuals: list | None = None, settings: str = "converged",
                    column_seed: int = 0) -> list[tuple[float, float]]:
    """Calibration objective for each (scale_pos, scale_neg): output-layer RMSE (ns) on the calibration samples
    (column mode: RMSE over the simulated columns of every layer), with the mean signed error (ns, circuit -
    model): [(rmse, bias), ...]. Runs all pairs x samples in one map; ``timeout_s`` (s) per deck.

    ``model_times_for(design)``: the model's spike times for that design (per-synapse E± depend on the scaled
    currents); None = ``model_times`` for every pair. Mapping errors and failed simulations are appended to
    ``log``; the work folder ``workroot`` is removed afterwards. ``parasitics``: post-layout capacitors every
    candidate design carries (generator/verify/post_layout.py; they depend on the drawing, not on the scales).
    ``residuals``: when a list, each pair's signed errors (ns; :func:`calibration_residuals`, None when nothing
    ran) are appended to it. ``settings``, ``column_seed``: :func:`generator.verify.jobs.build_jobs`."""
    jobs, owner = [], []
    times_of: dict[int, list[np.ndarray]] = {}
    designs_of: dict[int, Design] = {}
    for pi, (sp, sn) in enumerate(pairs):
        try:
            d = design_from_weights(weights, card, profile, params, scale_pos=sp, scale_neg=sn, clip=clip)
            d.parasitics = list(parasitics)
        except DesignError as exc:
            log.append({"scale_pos": sp, "scale_neg": sn, "error": str(exc).splitlines()[0]})
            continue
        times_of[pi] = model_times_for(d) if model_times_for is not None else model_times
        designs_of[pi] = d
        js = build_jobs(d, times_of[pi], mode, workroot, timeout_s=timeout_s, columns_per_layer=columns_per_layer,
                        tag=f"p{sp:.4f}_n{sn:.4f}_", settings=settings,
                        column_seed=column_seed)
        jobs += js
        owner += [pi] * len(js)
    results = executor.map(run_job, jobs, label="calibration") if jobs else []
    n = model_times[0].shape[0]
    out = []
    for pi, (sp, sn) in enumerate(pairs):
        sel = [(j, r) for j, r, o in zip(jobs, results, owner) if o == pi]
        if not sel:
            out.append((math.inf, math.nan))
            if residuals is not None:
                residuals.append(None)
            continue
        col = collect(designs_of[pi], [j for j, _ in sel], [r for _, r in sel], n)
        if col.failures:
            log.append({"scale_pos": sp, "scale_neg": sn, "failed_jobs": len(col.failures),
                        "first_failure": col.failures[0]})
        out.append(calibration_objective(times_of[pi], col, mode, params.t_phase))
        if residuals is not None:
            residuals.append(calibration_residuals(times_of[pi], col, mode, params.t_phase))
    shutil.rmtree(workroot, ignore_errors=True)
    return out


def _first_failure(log: list) -> str:
    """The first failed calibration simulation (or mapping) in ``log``, in words, for an error message."""
    for entry in log:
        f = entry.get("first_failure")
        if f:
            words = (f.get("ngspice") or "").strip().replace("\n", " | ")
            return (f"first failure at scales +{entry['scale_pos']:g}/-{entry['scale_neg']:g}: {f['error_type']}: "
                    f"{f['message']}" + (f"; ngspice said: {words}" if words else ""))
        if entry.get("error"):
            return f"first failure at scales +{entry['scale_pos']:g}/-{entry['scale_neg']:g}: {entry['error']}"
    return "no simulation ran"


# ============================================================================================ calibrate
def calibrate(side: ModelSide, profile: DeviceProfile, params: CircuitParams, options: VerifyOptions, *,
              executor: Executor, workroot: Path, mode: str, parasitics: Sequence[Parasitic] = ()) -> dict:
    """Find the current scale(s) on ``options.calib_samples`` TRAINING samples (disjoint from the verified test
    samples), simulating in ``mode`` (network | column, settled) with the model side ``side``.

    ``model_e="per-synapse"``: every candidate scale is compared with the model run with that design's own
    per-synapse E± (:func:`model_times_for_design`). ``workroot``: scratch folder of the calibration decks
    (removed after every batch).

    Returns {"scale_pos", "scale_neg", "rmse_ns" (calibration objective), "history", "samples" (train
    indices), "failures"}. Raises :class:`VerifyError` (with the first failure's words) when no scale gave a
    simulated result.
    """
    model_dir = side.model_dir
    flow, n_samples, search = options.flow, options.calib_samples, options.search
    weights, card = read_trained_model(model_dir)
    # the circuit parameters map_model settles (e.g. the discharger bias V_b_dis for the model's E_dis), so
    # that every calibration design differs from the final one by its current scales only
    params = map_model(model_dir, profile, params, clip=True).params
    run = side.run(n_samples, split="train", data_dir=options.data_dir)
    log: list = []
    # per-synapse E± depend on each candidate design's currents: the model side is re-run per design
    times_for = (functools.partial(model_times_for_design, model_dir, run.times[0], profile=profile,
                                   e_dis=side.e_dis, effects=side.effects) if side.model_e == "per-synapse" else None)
    kw = dict(timeout_s=options.timeout_s, clip=options.clip, columns_per_layer=options.columns_per_layer, log=log,
              model_times_for=times_for, parasitics=parasitics, settings=options.sim_settings,
              column_seed=options.column_seed)

    try:
        if flow == "bottom-up":
            def objective(scales):
                return evaluate_scales(weights, card, profile, params, run.times, mode, executor, workroot,
                                       pairs=[(s, s) for s in scales], **kw)

            if search == "secant":
                best, val, hist = search_scale_secant(objective)
            else:
                best, val, hist = search_scale_1d(lambda sc: [v[0] for v in objective(sc)])
            sp = sn = best
            history = [[s, v] for s, v in hist]
        else:
            def objective(pairs):
                res: list = []
                vals = evaluate_scales(weights, card, profile, params, run.times, mode, executor, workroot,
                                       pairs=list(pairs), residuals=res, **kw)
                return [(v[0], r) for v, r in zip(vals, res)]

            if search == "secant":
                (sp, sn), val, hist = search_scale_gauss_newton(objective)
            else:
                (sp, sn), val, hist = search_scale_2d(lambda pairs: [v for v, _ in objective(pairs)])
            history = [[a, b, v] for a, b, v in hist]
    except VerifyError:
        head = _ALL_FAILED.split(" (")[0] if flow == "bottom-up" else _ALL_FAILED_2D
        n_failed = sum(e.get("failed_jobs", 0) + (1 if e.get("error") else 0) for e in log)
        raise VerifyError(f"{head}: {n_failed} calibration simulation(s) failed on {n_samples} "
                          f"training sample(s); {_first_failure(log)}. Fix: raise --timeout, check the model and "
                          "profile, or give the scale (--scale) to skip calibration") from None
    return {"scale_pos": sp, "scale_neg": sn, "rmse_ns": val, "history": history, "n_samples": n_samples,
            "search": search if flow == "bottom-up" else ("gauss-newton-2d" if search == "secant" else "grid-2d"),
            "samples": [int(i) for i in run.indices], "split": "train", "evaluations": len(history),
            "failures": log[:20]}
