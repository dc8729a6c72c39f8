"""Reading waveforms: threshold crossings of simulated traces (used by verification and characterisation)."""

from __future__ import annotations

import math

import numpy as np


def crossing_time(t: np.ndarray, v: np.ndarray, level: float, *, rising: bool = True,
                  t_start: float = -math.inf, t_stop: float = math.inf) -> float:
    """First time in [t_start, t_stop] at which ``v`` crosses ``level`` (rising or falling), linearly
    interpolated between the two simulator points around the crossing; NaN when there is none.

    ``t`` in s (any unit: the result is in the same unit). A waveform already past the level at
    ``t_start`` counts as crossing at ``t_start``.
    """
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    if t.shape != v.shape or t.ndim != 1:
        raise ValueError(f"time and value vectors must be 1-D and equally long, got {t.shape} and {v.shape}")
    if t.size == 0:
        return math.nan
    a = max(t_start, t[0])
    b = min(t_stop, t[-1])
    if b < a:
        return math.nan
    inside = (t > a) & (t < b)
    tt = np.concatenate([[a], t[inside], [b]])
    vv = np.concatenate([[np.interp(a, t, v)], v[inside], [np.interp(b, t, v)]])
    above = vv >= level if rising else vv <= level
    if above[0]:
        return float(a)
    idx = np.nonzero(above[1:] & ~above[:-1])[0]
    if idx.size == 0:
        return math.nan
    k = idx[0]
    t0, t1, v0, v1 = tt[k], tt[k + 1], vv[k], vv[k + 1]
    tc = t0 if v1 == v0 else t0 + (level - v0) * (t1 - t0) / (v1 - v0)
    return float(min(max(tc, t_start), t_stop))
