"""Closed-form RC-Spike / TTFS neuron solutions and DSTD: pure, batched, autograd-friendly torch functions.

Units: time is normalised to one phase (t in [0, 1] for the accumulation phase, 1 = T_circ, e.g. 1 µs);
membrane potential v is normalised to the firing threshold (v = 1 is V_th_circ, e.g. 0.872 V); weights are
normalised currents (w = 1 charges C_m by V_th_circ in one phase); reversal potentials E± are in units of the
threshold (PAPER.md §2, §5.5). Everything here is dimensionless.

The neuron (PAPER.md Eq. 8-11), accumulation phase 0 <= t <= 1, v(0) = 0:

    dv/dt = -f(t) v + g(t),   f(t) = sum_j beta_ij w_ij theta(t - t_j),   g(t) = sum_j w_ij theta(t - t_j)
    beta_ij = 1/E+ (w_ij >= 0),   1/E- (w_ij < 0),   E+ > 0 > E-.

**f >= 0 always.** Each term beta_ij w_ij is >= 0: for w >= 0, beta = 1/E+ > 0 so beta w >= 0; for w < 0,
beta = 1/E- < 0 so beta w > 0 (a product of two negatives). f is a sum of such terms times theta >= 0, hence
f >= 0, and every interval's decay exp(-f dt) lies in (0, 1]. All closed forms below rely on this: they only
ever evaluate exp of non-positive numbers (no overflow for large f), and the factor (1 - exp(-f dt)) / f is
evaluated as dt * phi(f dt), phi(x) = -expm1(-x)/x with a Taylor branch near 0 (no 0/0 as f -> 0; f = 0 exactly,
i.e. |E±| = inf, is allowed and gives the ideal weighted sum). `tests/test_01_functional.py` checks f >= 0.

Functions:
- `rcspike_exact`  exact v(1) (Eq. 21-25): sort once per sample, cumulative sums give f_k, g_k, then
  v(1) = sum_k g_k dt_k phi(f_k dt_k) exp(-sum_{q>k} f_q dt_q), all as [B, N_in, N_out] tensors.
- `rcspike_dstd`   DSTD v(1) (Eq. 36-40, 45-47): tent kernel on an M-interval grid, two matmuls (fused into one),
  closed form on the grid.
- `spike_time`     firing phase: ideal ramp t = clip(1 - v), or the discharger RC ramp (Eq. 82-85).
- `ttfs_exact`, `ttfs_dstd`  first threshold crossing of the same ODE without phases (Eq. 28-33, 41-44).

The DSTD grid (our reading of Eq. 34-35 and 47, as agreed for this project): dtau = 1/M, points
P_0 = -offset, P_m = m/M - offset (m = 1..M-1), P_M = 1, offset in (0, 1/M]. So there are M intervals, all of
width 1/M except the last, [P_{M-1}, 1], of width 1/M + offset. A spike at t is split linearly ("tent kernel")
between the two grid points around it; its cumulative spike variable on interval m is then
S_m(t) = clip((P_{m+1} - t) / (P_{m+1} - P_m), 0, 1), the fraction of the interval during which the spike counts
as active. Linear splitting keeps the mean arrival time, so for f = 0 (ideal) DSTD is exact for every offset;
for f > 0 the error is O(dtau^2 / |E|) (Theorem 1).
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

Rev = Union[float, Tensor]

#: arguments are clamped to at least this before dividing (x / x style 0/0 guard); far below any value that
#: matters (phi(x) = 1 - x/2 + ..., so the clamp changes phi by < 1e-20), far above the float32 subnormals.
_TINY = 1e-20


def phi(x: Tensor) -> Tensor:
    """phi(x) = (1 - exp(-x)) / x for x >= 0, with phi(0) = 1; finite everywhere, gradients included.

    (1 - exp(-f dt)) / f = dt * phi(f dt) is the charge an interval adds per unit drive, without 0/0 at f = 0.
    -expm1(-x)/x is accurate to a few ulp for every x > 0 (expm1 has full relative precision near 0), so the only
    guard needed is x = 0: x is clamped to >= 1e-20 (that loses d phi/dx = -1/2 below 1e-20, which in the
    RC-Spike solution is always multiplied by g = 0: f = 0 with finite E± means no active non-zero weight).
    """
    xc = x.clamp_min(_TINY)
    return torch.expm1(-xc).div_(xc).neg_() if not xc.requires_grad else -torch.expm1(-xc) / xc


def psi(x: Tensor) -> Tensor:
    """psi(x) = -log(1 - x) / x for 0 <= x < 1, psi(0) = 1 (TTFS: time to threshold in units of d / r)."""
    xc = x.clamp_min(_TINY)
    return -torch.log1p(-xc) / xc


def _as_rev(e: Rev, like: Tensor, name: str) -> Tensor:
    """A reversal potential as a tensor of `like`'s dtype/device; E+ must be > 0 and E- < 0 (inf allowed)."""
    et = torch.as_tensor(e, dtype=like.dtype, device=like.device)
    if torch.isnan(et).any():
        raise ValueError(f"{name} contains NaN; give a finite or infinite reversal potential")
    if name == "e_pos" and not bool((et > 0).all()):
        raise ValueError(f"e_pos must be > 0 (got {e!r}); the positive reversal potential E+ lies above rest")
    if name == "e_neg" and not bool((et < 0).all()):
        raise ValueError(f"e_neg must be < 0 (got {e!r}); the negative reversal potential E- lies below rest")
    return et


def synapse_beta(weight: Tensor, e_pos: Rev, e_neg: Rev) -> Tensor:
    """beta_ij = 1/E+ where w_ij >= 0 and 1/E- where w_ij < 0 (Eq. 11); E± float or broadcastable to weight.

    |E±| = inf gives beta = 0 (the ideal, linear synapse).
    """
    bp = torch.reciprocal(_as_rev(e_pos, weight, "e_pos"))
    bn = torch.reciprocal(_as_rev(e_neg, weight, "e_neg"))
    return torch.where(weight >= 0, bp, bn)


def decay_weight(weight: Tensor, e_pos: Rev, e_neg: Rev) -> Tensor:
    """beta * w (>= 0 elementwise, see the module docstring): the contribution of a synapse to f."""
    return synapse_beta(weight, e_pos, e_neg) * weight


def _check_inputs(t_in: Tensor, weight: Tensor) -> Tensor:
    if not isinstance(t_in, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("t_in and weight must be torch tensors")
    if weight.dim() != 2:
        raise ValueError(f"weight must be [N_out, N_in], got shape {tuple(weight.shape)}")
    if t_in.dim() != 2 or t_in.shape[1] != weight.shape[1]:
        raise ValueError(
            f"t_in must be [B, N_in] with N_in = {weight.shape[1]} (weight {tuple(weight.shape)}), "
            f"got shape {tuple(t_in.shape)}"
        )
    if not weight.is_floating_point():
        raise TypeError(f"weight must be float32 or float64, got {weight.dtype}")
    return t_in.to(weight.dtype)


def _rev_cumsum_exclusive(a: Tensor, dim: int) -> Tensor:
    """R_k = sum_{q > k} a_q along dim, computed from the end (no cancellation)."""
    r = torch.flip(torch.cumsum(torch.flip(a, (dim,)), dim), (dim,))
    return r - a


# ----------------------------------------------------------------------------------------------------------------
# RC-Spike, exact
# ----------------------------------------------------------------------------------------------------------------
def rcspike_exact(t_in: Tensor, weight: Tensor, e_pos: Rev, e_neg: Rev) -> Tensor:
    """Exact membrane potential v(1) at the end of the accumulation phase (PAPER.md Eq. 21-25).

    t_in: [B, N_in] input spike times (clamped to [0, 1]: a spike before 0 is active the whole phase, one at or
    after 1 never; +inf = no spike). weight: [N_out, N_in]. e_pos > 0 > e_neg: floats or tensors broadcastable
    to [N_out, N_in]. Returns v(1): [B, N_out].

    Per sample the spikes are sorted once; gathering the rows of [W; beta W]^T in that order and a cumulative sum
    give g_k, f_k ([B, N_in, N_out]) on each interval [t_k, t_{k+1}) (t_N = 1). Then

        v(1) = sum_k g_k dt_k phi(f_k dt_k) exp(-sum_{q>k} f_q dt_q)

    which is the backward recursion v_{k+1} = v_k e^{-f_k dt_k} + g_k (1 - e^{-f_k dt_k}) / f_k unrolled. The
    tail sum is computed as total - prefix (clamped at 0); since f dt >= 0 every exponent is <= 0.
    Cost O(B N_in N_out) time and memory, memory-bound (no matmul).
    """
    t = _check_inputs(t_in, weight).clamp(0.0, 1.0)
    n_out = weight.shape[0]
    ts, idx = torch.sort(t, dim=1)  # [B, N]
    table = torch.cat([weight, decay_weight(weight, e_pos, e_neg)], 0).t()  # [N, 2 N_out]
    cum = table[idx].cumsum(1)  # [B, N, 2 N_out]: g_k | f_k
    g, f = cum[..., :n_out], cum[..., n_out:]
    dt = torch.diff(ts, dim=1, append=torch.ones_like(ts[:, :1])).unsqueeze(-1)  # [B, N, 1]
    a = f * dt
    c = g * dt * phi(a)
    ca = a.cumsum(1)
    tail = (ca[:, -1:, :] - ca).clamp_min(0.0)  # sum_{q>k} a_q
    return (c * torch.exp(-tail)).sum(1)


# ----------------------------------------------------------------------------------------------------------------
# DSTD
# ----------------------------------------------------------------------------------------------------------------
def draw_offset(steps: int, generator: Optional[torch.Generator] = None) -> float:
    """A DSTD grid offset drawn uniformly from (0, 1/steps] (training: a fresh one on every call)."""
    u = torch.rand((), generator=generator, dtype=torch.float64).item()
    return (1.0 - u) / steps


def dstd_grid(steps: int, offset: Optional[float], dtype: torch.dtype, device, *, t_max: float = 1.0):
    """The DSTD grid: (points [M+1], widths [M], offset). See the module docstring.

    points P_0 = -offset, P_m = m t_max/M - offset (m = 1..M-1), P_M = t_max; offset in [0, t_max/M]
    (None = uniform random draw). t_max = 1 for RC-Spike (the accumulation phase).
    """
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    dtau = t_max / steps
    if offset is None:
        offset = draw_offset(steps) * t_max
    offset = float(offset)
    if not (0.0 <= offset <= dtau * (1 + 1e-12)):
        raise ValueError(f"offset must lie in [0, {dtau:g}] (= t_max/steps), got {offset:g}")
    p = torch.arange(steps + 1, dtype=torch.float64) * dtau - offset
    p[-1] = t_max
    points = p.to(dtype=dtype, device=device)
    widths = (p[1:] - p[:-1]).to(dtype=dtype, device=device)
    return points, widths, offset


def dstd_cumulative_spikes(t: Tensor, points: Tensor, widths: Tensor) -> Tensor:
    """Cumulative DSTD spike variables S[..., m, j] = clip((P_{m+1} - t_j) / (P_{m+1} - P_m), 0, 1).

    t: [..., N] (clamped to the grid range by the caller) -> S: [..., M, N]. S_m is the sum of the tent-kernel
    weights of spike j on grid points 0..m (Eq. 38, 45-47), i.e. the share of interval m in which it is active.
    Piecewise linear in t, so gradients reach the spike times.
    """
    return ((points[1:, None] - t.unsqueeze(-2)) / widths[:, None]).clamp(0.0, 1.0)


def rcspike_grid_solution(g: Tensor, f: Tensor, widths: Tensor, dim: int = -2) -> Tensor:
    """v at the end of the grid, given per-interval drive g and decay f along `dim` (Eq. 39-40), f >= 0.

    v = sum_m g_m dT_m phi(f_m dT_m) exp(-sum_{q>m} f_q dT_q)
    """
    shape = [1] * g.dim()
    shape[dim] = widths.shape[0]
    w = widths.view(shape)
    a = f * w
    c = g * w * phi(a)
    return (c * torch.exp(-_rev_cumsum_exclusive(a, dim))).sum(dim)


def rcspike_dstd(
    t_in: Tensor,
    weight: Tensor,
    e_pos: Rev,
    e_neg: Rev,
    steps: int,
    offset: Optional[float] = None,
    *,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """DSTD approximation of v(1) (PAPER.md Eq. 36-40, 45-47): [B, N_in] x [N_out, N_in] -> [B, N_out].

    steps = M grid intervals; offset in [0, 1/M] fixes the grid, None draws it uniformly from (0, 1/M] (with
    `generator` if given). Work: S [B, M, N_in] (elementwise), then ONE matmul S @ [W; beta W]^T giving
    g~ and f~ [B, M, N_out] (the paper's two matmuls, fused), then the closed form on the grid (O(B M N_out)).
    Error vs `rcspike_exact`: O(M^-2 |E|^-1); exact for f = 0.
    """
    t = _check_inputs(t_in, weight).clamp(0.0, 1.0)
    if offset is None:
        offset = draw_offset(steps, generator)
    points, widths, _ = dstd_grid(steps, offset, t.dtype, t.device)
    n_out = weight.shape[0]
    s = dstd_cumulative_spikes(t, points, widths)  # [B, M, N]
    gf = F.linear(s, torch.cat([weight, decay_weight(weight, e_pos, e_neg)], 0))  # [B, M, 2 N_out]
    return rcspike_grid_solution(gf[..., :n_out], gf[..., n_out:], widths, dim=1)


# ----------------------------------------------------------------------------------------------------------------
# Firing phase
# ----------------------------------------------------------------------------------------------------------------
def spike_time(v: Tensor, e_dis: Optional[float] = None) -> Tensor:
    """Output spike time from v(1) (Eq. 26-27, 82-85), clipped to the firing phase [0, 1].

    e_dis None (or inf): ideal linear ramp dv/dt = 1 to threshold 1, t = clip(1 - v, 0, 1).
    Finite e_dis (> 1; the paper's circuit has 6.44): the discharger current has its own CLM, dv/dt =
    alpha (1 - beta v) with beta = 1/e_dis and alpha = -ln(1 - beta)/beta (so v goes 0 -> 1 in exactly one
    phase), giving t = 1 - ln(1 - beta v) / ln(1 - beta); v -> 1 gives t = 0 and v = 0 gives t = 1 as before.
    """
    if e_dis is None or math.isinf(float(e_dis)):
        return (1.0 - v).clamp(0.0, 1.0)
    e_dis = float(e_dis)
    if not e_dis > 1.0:
        raise ValueError(
            f"e_dis must be > 1 (the discharger must reach threshold within one phase), got {e_dis:g}; "
            "use None for the ideal ramp"
        )
    beta = 1.0 / e_dis
    vc = v.clamp(max=1.0)  # v >= 1 fires at t = 0 anyway; keeps the log argument >= 1 - beta > 0
    t = 1.0 - torch.log1p(-beta * vc) / math.log1p(-beta)
    return t.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------
# TTFS (no phases: first threshold crossing)
# ----------------------------------------------------------------------------------------------------------------
def _first_crossing(start: Tensor, width: Tensor, v0: Tensor, g: Tensor, f: Tensor, threshold: float, dim: int):
    """Earliest threshold crossing over intervals along `dim`: start/width broadcast to v0/g/f.

    In an interval starting at `start` with v = v0, v(s) = g/f + (v0 - g/f) e^{-f s}; it reaches threshold
    theta after s = (d / r) psi(f d / r), d = theta - v0 > 0, r = g - f v0 > 0 (the slope), if f d / r < 1
    (asymptote g/f above theta) and s <= width. Returns (time, found) with time = +inf where none.
    """
    d = threshold - v0
    r = g - f * v0
    r_ok = r > 0
    r_safe = torch.where(r_ok, r, torch.ones_like(r))
    x = f * d / r_safe
    ok = r_ok & (d > 0) & (x < 1)
    x_safe = torch.where(ok, x, torch.zeros_like(x))
    s = torch.where(ok, d / r_safe * psi(x_safe), torch.zeros_like(x))
    ok = ok & (s <= width)
    cand = torch.where(ok, start + s, torch.full_like(s, math.inf))
    t, _ = cand.min(dim)
    return t


def _scan_v(decay: Tensor, charge: Tensor, dim: int) -> Tensor:
    """v_0 = 0, v_{k+1} = v_k decay_k + charge_k along dim; returns [v_0..v_{K-1}] (K = size along dim)."""
    decay = decay.movedim(dim, 0)
    charge = charge.movedim(dim, 0)
    v = torch.zeros_like(charge[0])
    out = [v]
    for k in range(charge.shape[0] - 1):
        v = v * decay[k] + charge[k]
        out.append(v)
    return torch.stack(out, 0).movedim(0, dim)


def ttfs_exact(
    t_in: Tensor,
    weight: Tensor,
    e_pos: Rev,
    e_neg: Rev,
    threshold: float = 1.0,
    *,
    no_spike: float = math.inf,
) -> Tensor:
    """Exact first-spike time of the TTFS neuron (PAPER.md Eq. 28-33): [B, N_in] -> [B, N_out].

    Same ODE as RC-Spike, integrated from t = 0 without a phase end; the output is the first time v reaches
    `threshold` (> 0), or `no_spike` (default +inf) if it never does. Inputs: times >= 0 (negative clamped to 0),
    +inf = no input spike. Sort once, cumulative sums for f_k, g_k, v at the spike times by the stable forward
    recursion v_{k+1} = v_k e^{-f_k dt_k} + g_k dt_k phi(f_k dt_k) (a loop over N_in of [B, N_out] steps),
    then one vectorised candidate per interval (last interval open-ended) and a min.
    """
    t = _check_inputs(t_in, weight).clamp_min(0.0)
    n_out = weight.shape[0]
    ts, idx = torch.sort(t, dim=1)
    fin = torch.isfinite(ts)
    tmax = torch.where(fin, ts, torch.zeros_like(ts)).amax(1, keepdim=True)
    ts = torch.where(fin, ts, tmax)  # missing spikes sit (weightless) at the last real one
    table = torch.cat([weight, decay_weight(weight, e_pos, e_neg)], 0).t()
    cum = (table[idx] * fin.unsqueeze(-1).to(table.dtype)).cumsum(1)
    g, f = cum[..., :n_out], cum[..., n_out:]
    dt = torch.diff(ts, dim=1, append=ts[:, -1:]).unsqueeze(-1)  # last entry unused by the scan
    a = f * dt
    v = _scan_v(torch.exp(-a), g * dt * phi(a), dim=1)  # v at each sorted spike time
    width = torch.cat([dt[:, :-1], torch.full_like(dt[:, -1:], math.inf)], 1)
    out = _first_crossing(ts.unsqueeze(-1), width, v, g, f, float(threshold), dim=1)
    if not math.isinf(no_spike):
        out = torch.where(torch.isinf(out), torch.full_like(out, no_spike), out)
    return out


def ttfs_dstd(
    t_in: Tensor,
    weight: Tensor,
    e_pos: Rev,
    e_neg: Rev,
    steps: int,
    threshold: float = 1.0,
    offset: Optional[float] = None,
    *,
    t_max: float = 1.0,
    no_spike: float = math.inf,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """DSTD first-spike time of the TTFS neuron (PAPER.md Eq. 41-44): [B, N_in] -> [B, N_out].

    Grid as in `dstd_grid` over [-offset, t_max] (inputs clamped to [0, t_max]; +inf = no spike), plus one
    open-ended interval after t_max in which every real input is active. v on the grid by the recursion of
    Eq. 43 (M steps), candidates per interval by the exact in-interval solution, output the earliest.
    """
    t = _check_inputs(t_in, weight)
    fin = torch.isfinite(t)
    t = torch.where(fin, t, torch.zeros_like(t)).clamp(0.0, t_max)
    if offset is None:
        offset = draw_offset(steps, generator) * t_max
    points, widths, _ = dstd_grid(steps, offset, t.dtype, t.device, t_max=t_max)
    n_out = weight.shape[0]
    finf = fin.to(t.dtype).unsqueeze(-2)
    s = dstd_cumulative_spikes(t, points, widths) * finf  # [B, M, N]
    s = torch.cat([s, finf], 1)  # final open interval: all real spikes active
    gf = F.linear(s, torch.cat([weight, decay_weight(weight, e_pos, e_neg)], 0))  # [B, M+1, 2 N_out]
    g, f = gf[..., :n_out], gf[..., n_out:]
    w_all = torch.cat([widths, widths.new_full((1,), math.inf)]).view(1, -1, 1)
    w_fin = torch.cat([widths, widths.new_zeros(1)]).view(1, -1, 1)
    a = f * w_fin
    v = _scan_v(torch.exp(-a), g * w_fin * phi(a), dim=1)
    out = _first_crossing(points.view(1, -1, 1), w_all, v, g, f, float(threshold), dim=1)
    if not math.isinf(no_spike):
        out = torch.where(torch.isinf(out), torch.full_like(out, no_spike), out)
    return out
