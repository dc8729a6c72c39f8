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
- `rcspike_dstd`   DSTD v(1) (Eq. 36-40, 45-47): tent kernel on an M-interval grid, two matmuls, closed form on
  the grid. Exact and DSTD share the closed form and its hand-written adjoint (`_closed_form_forward/backward`;
  `_RCClosedForm`, and for DSTD the fused, memory-lean `_RCDstd`); benchmarks/dstd_vs_exact.py compares them.
- `spike_time`     firing phase: ideal ramp t = clip(1 - v), or the discharger RC ramp (Eq. 82-85).
- `reversal_from_table`  beyond the paper: E± per synapse as a function of |w| (the stacks' λ depends on current).
- `switch_step`    beyond the paper: the membrane step at t = 1 from every conducting synapse whose selector opens
  (the charge the stack's inner node draws; measured by generator/circuit/switch_charge.py).
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


class _DecayWeight(torch.autograd.Function):
    """beta * w with beta recomputed from the sign of w in the backward pass (autograd would save beta, a tensor
    of the weight's size). Only for reversal potentials that need no gradient."""

    @staticmethod
    def forward(ctx, weight, bp, bn):
        ctx.save_for_backward(weight, bp, bn)
        return torch.where(weight >= 0, bp, bn).mul_(weight)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        weight, bp, bn = ctx.saved_tensors
        return torch.where(weight >= 0, bp, bn).mul_(grad), None, None


def decay_weight(weight: Tensor, e_pos: Rev, e_neg: Rev) -> Tensor:
    """beta * w (>= 0 elementwise, see the module docstring): the contribution of a synapse to f."""
    bp = torch.reciprocal(_as_rev(e_pos, weight, "e_pos"))
    bn = torch.reciprocal(_as_rev(e_neg, weight, "e_neg"))
    if bp.requires_grad or bn.requires_grad or torch.broadcast_shapes(bp.shape, bn.shape, weight.shape) != weight.shape:
        return torch.where(weight >= 0, bp, bn) * weight
    return _DecayWeight.apply(weight, bp, bn)


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


def _cumsum(x: Tensor, dim: int, exclusive: bool = False, reverse: bool = False) -> Tensor:
    """Prefix sums along dim by a loop of slice adds into a new tensor (inclusive, or exclusive: y_0 = 0).

    torch.cumsum along a non-innermost dim of a large [B, N, C] tensor walks memory with stride C in its inner
    loop (measured 1.3 s for [20, 1000, 2000] float32 on one thread); N adds of contiguous [B, C] slices do the
    same work in ~0.2 s. Summation is sequential in x's dtype (torch.cumsum accumulates float32 in double:
    the results differ by a few ulp of the running sum). reverse=True sums from the end (suffix sums).
    """
    y = torch.empty_like(x)
    xs, ys = x.movedim(dim, 0), y.movedim(dim, 0)
    n = xs.shape[0]
    order = range(n - 1, -1, -1) if reverse else range(n)
    prev = None
    for k in order:
        if prev is None:
            if exclusive:
                ys[k].zero_()
            else:
                ys[k].copy_(xs[k])
        else:
            torch.add(ys[prev], xs[prev] if exclusive else xs[k], out=ys[k])
        prev = k
    return y


def _cumsum_(x: Tensor, dim: int) -> Tensor:
    """In-place inclusive prefix sums along dim (x_k += x_{k-1}); returns x."""
    xs = x.movedim(dim, 0)
    for k in range(1, xs.shape[0]):
        xs[k].add_(xs[k - 1])
    return x


class _PrefixSum(torch.autograd.Function):
    """Inclusive cumulative sum along dim with `_cumsum` in both directions (backward = suffix sums)."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return _cumsum(x, dim)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        return _cumsum(grad, ctx.dim, reverse=True), None


def _closed_form_parts(f: Tensor, w: Tensor):
    """xc = max(f w, 1e-20) and em = expm1(-xc) in (-1, 0] for v = sum_m g_m w_m phi(a_m) E_m, a_m = f_m w_m."""
    xc = (f * w).clamp_min_(_TINY)
    return xc, torch.neg(xc).expm1_()


def _tail_exp_(xc: Tensor, dim: int) -> Tensor:
    """E_m = exp(-sum_{q>m} a_q), in place in xc's buffer: exp(prefix - total) of the running sum of xc.

    The tail sum total - prefix is >= 0 up to rounding (a few ulp of the total), so no clamp is needed
    (exp of a rounding-level positive number is 1 + O(ulp)).
    """
    cs = _cumsum_(xc, dim)
    return cs.sub_(cs.narrow(dim, cs.shape[dim] - 1, 1).clone()).exp_()


def _closed_form_forward(g: Tensor, f: Tensor, w: Tensor, dim: int) -> Tensor:
    xc, em = _closed_form_parts(f, w)
    phi_a = em.div_(xc).neg_()  # phi(a), em's buffer
    e_tail = _tail_exp_(xc, dim)  # xc's buffer
    return phi_a.mul_(e_tail).mul_(w).mul_(g).sum(dim)  # sum g w phi(a) E: two buffers of g's size


def _closed_form_backward(grad: Tensor, g: Tensor, f: Tensor, w: Tensor, dim: int, need_w: bool):
    """(dv/dg, dv/df, dv/dw) * grad for v = sum_m c_m E_m, c_m = g_m w_m phi(a_m):

        dv/dg_m = w_m phi(a_m) E_m
        dv/df_m = w_m (g_m w_m phi'(a_m) E_m - P_m),   P_m = sum_{k<m} c_k E_k   (a_m enters every E_k, k < m)
        dv/dw_m = g_m e^{-a_m} E_m - f_m P_m           (d/dw [w phi(f w)] = e^{-a})
    with phi'(x) = (e^{-x} - phi(x)) / x (same formula and accuracy as autograd of phi; 0 at the 1e-20 clamp).
    The intermediates are recomputed (not saved by the forward), every step runs in place, and P_m is a running
    slice sum subtracted as it goes: at most three buffers of g's size are alive at once, two once the tail
    factors are done (autograd of the same expression keeps about ten).
    """
    gx = grad.unsqueeze(dim)
    xc, em = _closed_form_parts(f, w)
    q = torch.div(em, xc)  # -phi(a)
    e_a = em + 1.0 if need_w else None  # e^{-a}
    dphi = em.add_(1.0).add_(q).div_(xc)  # phi'(a) = (e^{-a} - phi(a)) / a, em's buffer
    e_tail = _tail_exp_(xc, dim)  # xc's buffer
    q.neg_().mul_(e_tail).mul_(w)  # w phi E
    acc = dphi.mul_(g).mul_(e_tail).mul_(w)  # g w phi' E, then minus P: dv/df / w
    if need_w:
        e_a.mul_(g).mul_(e_tail)  # g e^{-a} E, then minus f P
    del xc, e_tail
    accs, gs, qs = acc.movedim(dim, 0), g.movedim(dim, 0), q.movedim(dim, 0)
    ws = e_a.movedim(dim, 0) if need_w else None
    fs = f.movedim(dim, 0)
    p_run = torch.zeros_like(accs[0])  # P_m, one slice
    for m in range(accs.shape[0]):
        if m > 0:
            accs[m].sub_(p_run)
            if need_w:
                ws[m].sub_(fs[m] * p_run)
        p_run.addcmul_(gs[m], qs[m])  # + c_m E_m
    dw = e_a.mul_(gx).sum_to_size(w.shape) if need_w else None
    df = acc.mul_(w).mul_(gx)
    dg = q.mul_(gx)
    return dg, df, dw


class _RCClosedForm(torch.autograd.Function):
    """v = sum_m g_m w_m phi(f_m w_m) exp(-sum_{q>m} f_q w_q) along `dim`; g, f, w broadcastable, f, w >= 0.

    Autograd of the same expression saves ~8 intermediates and runs ~25 backward ops; this saves only the inputs
    (views, no new memory) and recomputes the few intermediates it needs. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, g, f, w, dim):
        ctx.dim = dim
        ctx.save_for_backward(g, f, w)
        return _closed_form_forward(g, f, w, dim)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        g, f, w = ctx.saved_tensors
        dg, df, dw = _closed_form_backward(grad, g, f, w, ctx.dim, ctx.needs_input_grad[2])
        return dg.sum_to_size(g.shape), df.sum_to_size(f.shape), dw, None


class _RCClosedFormGF(torch.autograd.Function):
    """As `_RCClosedForm`, with g and f the two halves of one tensor's last dim (gf = [..., g | f]): the gradient
    comes back as one tensor (no zero-filled slice gradients to add up)."""

    @staticmethod
    def forward(ctx, gf, w, dim, n):
        ctx.dim, ctx.n = dim, n
        ctx.save_for_backward(gf, w)
        return _closed_form_forward(gf[..., :n], gf[..., n:], w, dim)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        gf, w = ctx.saved_tensors
        n = ctx.n
        dg, df, dw = _closed_form_backward(grad, gf[..., :n], gf[..., n:], w, ctx.dim, ctx.needs_input_grad[1])
        return torch.cat([dg, df], -1), dw, None, None


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
    tail sum is computed as total - prefix; since f dt >= 0 every exponent is <= 0 (up to rounding). The sum
    and its gradient are `_RCClosedFormGF` (hand-written backward, the same code DSTD uses on its M intervals).
    Cost O(B N_in N_out) time and memory, memory-bound (no matmul).
    """
    t = _check_inputs(t_in, weight).clamp(0.0, 1.0)
    n_out = weight.shape[0]
    ts, idx = torch.sort(t, dim=1)  # [B, N]
    table = torch.cat([weight.t(), decay_weight(weight, e_pos, e_neg).t()], 1)  # [N, 2 N_out], contiguous rows
    b, n = idx.shape
    rows = table.index_select(0, idx.reshape(-1)).view(b, n, 2 * n_out)  # [B, N, 2 N_out]: sorted rows
    cum = _PrefixSum.apply(rows, 1)  # g_k | f_k
    dt = torch.diff(ts, dim=1, append=torch.ones_like(ts[:, :1])).unsqueeze(-1)  # [B, N, 1]
    return _RCClosedFormGF.apply(cum, dt, 1, n_out)


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
    x = points[1:, None] - t.unsqueeze(-2)
    if x.requires_grad:
        return (x / widths[:, None]).clamp(0.0, 1.0)
    return x.div_(widths[:, None]).clamp_(0.0, 1.0)  # no graph: one buffer


def rcspike_grid_solution(g: Tensor, f: Tensor, widths: Tensor, dim: int = -2) -> Tensor:
    """v at the end of the grid, given per-interval drive g and decay f along `dim` (Eq. 39-40), f >= 0.

    v = sum_m g_m dT_m phi(f_m dT_m) exp(-sum_{q>m} f_q dT_q)

    Computed by `_RCClosedForm` (hand-written backward: saves only g and f, no intermediates).
    """
    shape = [1] * g.dim()
    shape[dim] = widths.shape[0]
    return _RCClosedForm.apply(g, f, widths.view(shape), dim)


#: elements per batch chunk of the fused DSTD step's working tensors ([b, M, N_in] or [b, M, N_out]): 2^18
#: (1 MiB in float32) keeps them small next to g~, f~ and the weight gradient, and the chunked matmuls
#: ([N_out, b M] x [b M, N_in], b M >= 256 rows at the benchmark's sizes) as fast as one.
_DSTD_CHUNK_ELEMS = 1 << 18


def _beta_of(weight: Tensor, bp: Tensor, bn: Tensor) -> Tensor:
    """torch.where(weight >= 0, bp, bn), bit for bit, as h bp + (1 - h) bn with h = [weight >= 0] in {0, 1}
    (x * 1, x * 0 and x + 0 are exact). On the CPU torch.where with a bool mask runs ~4 ms per 1M elements,
    these five plain elementwise ops ~0.5 ms."""
    h = torch.ge(weight, 0, out=torch.empty_like(weight))
    beta = h * bp
    return beta.add_(h.neg_().add_(1.0).mul_(bn))


def _keep_graph() -> bool:
    """True if the running backward pass keeps the graph (retain_graph / create_graph, gradcheck): then saved
    buffers must not be consumed. Unknown (no such torch API) counts as True (the safe answer)."""
    fn = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if fn is None else bool(fn())


def _batch_chunks(b: int, per_row: int):
    """Slices of range(b), each of about _DSTD_CHUNK_ELEMS / per_row rows (at least one)."""
    step = max(1, _DSTD_CHUNK_ELEMS // max(1, per_row))
    return [slice(i, min(i + step, b)) for i in range(0, b, step)]


class _RCDstd(torch.autograd.Function):
    """The whole RC-Spike DSTD step, t [B, N] (clamped) and W [N_out, N] -> v(1) [B, N_out], with a backward
    that keeps the step's peak tensor memory near g~ + f~ + dL/dW (three [B, M, N_out] / [N_out, N] buffers).

    Forward: S [B, M, N] (tent kernel), f~ = S (beta W)^T (beta W freed at once), g~ = S W^T, S freed; the
    closed form in batch chunks. Saves t, W, bp, bn (inputs, no new memory) and g~, f~.
    Backward, per batch chunk: the closed-form adjoint (`_closed_form_backward`, the same code as
    `_RCClosedForm`) is written over g~, f~ in place (dL/dg~, dL/df~); S is recomputed per chunk (elementwise,
    cheap) for dL/dW = sum_c dg~_c^T S_c + beta * sum_c df~_c^T S_c (dL/dg~ freed before the second sum) and for
    dL/dt = -sum_m (dL/dS) [0 <= S_m <= 1] / dT_m, dL/dS = dg~ W + df~ (beta W). Equal to autograd of
    S -> two matmuls -> `_RCClosedForm` up to float rounding (chunked matmul sums; tests/test_08_dstd_memory.py).
    g~ and f~ are held on ctx (not save_for_backward) so they can be consumed and freed mid-backward; when the
    graph is kept (retain_graph, gradcheck) backward works on copies instead. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, t, weight, bp, bn, points, widths):
        s = dstd_cumulative_spikes(t, points, widths)  # [B, M, N]
        wd = _beta_of(weight, bp, bn).mul_(weight)  # beta W
        f = F.linear(s, wd)  # [B, M, N_out]
        del wd
        g = F.linear(s, weight)
        del s
        w = widths.view(1, -1, 1)
        b, m, n_out = g.shape
        v = torch.cat([_closed_form_forward(g[c], f[c], w, 1) for c in _batch_chunks(b, m * n_out)], 0)
        ctx.save_for_backward(t, weight, bp, bn, points, widths)
        ctx.g, ctx.f = g, f
        return v

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        t, weight, bp, bn, points, widths = ctx.saved_tensors
        need_t, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_t or need_w):
            return None, None, None, None, None, None
        if _keep_graph():
            dg, df = ctx.g.clone(), ctx.f.clone()
        else:  # consumed here: the buffers become dL/dg~, dL/df~ and are freed as soon as they are used
            dg, df = ctx.g, ctx.f
            del ctx.g, ctx.f
        w = widths.view(1, -1, 1)
        b, m, n_out = dg.shape
        n_in = t.shape[1]
        for c in _batch_chunks(b, m * n_out):
            dgc, dfc, _ = _closed_form_backward(grad[c], dg[c], df[c], w, 1, False)
            dg[c].copy_(dgc)
            df[c].copy_(dfc)
            del dgc, dfc
        chunks = _batch_chunks(b, m * max(n_in, n_out))
        dt = None
        if need_t:
            wd = _beta_of(weight, bp, bn).mul_(weight)
            dt = torch.empty_like(t)
            for c in chunks:
                x = points[1:, None] - t[c].unsqueeze(-2)  # as dstd_cumulative_spikes, before the clamp
                x.div_(widths[:, None])
                ds = torch.matmul(dg[c], weight).add_(torch.matmul(df[c], wd))  # dL/dS_c [b, M, N]
                ds.mul_((x >= 0) & (x <= 1)).div_(widths[:, None])
                torch.sum(ds, -2, out=dt[c]).neg_()
                del x, ds
            del wd
        dw = None
        if need_w:
            dw = _dstd_weight_grad(dg, t, points, widths, chunks)
            del dg
            dd = _dstd_weight_grad(df, t, points, widths, chunks)
            del df
            bpx, bnx = bp.expand_as(weight), bn.expand_as(weight)
            for r in _batch_chunks(weight.shape[0], weight.shape[1]):  # beta by row blocks: no weight-sized temp
                dw[r].addcmul_(dd[r], _beta_of(weight[r], bpx[r], bnx[r]))
        return dt, dw, None, None, None, None


def _dstd_weight_grad(d: Tensor, t: Tensor, points: Tensor, widths: Tensor, chunks) -> Tensor:
    """sum_c d_c^T S_c over batch chunks ([B, M, N_out], S recomputed per chunk) -> [N_out, N_in]."""
    out = None
    for c in chunks:
        sc = dstd_cumulative_spikes(t[c], points, widths)
        a, bm = d[c].reshape(-1, d.shape[-1]).t(), sc.reshape(-1, sc.shape[-1])
        out = torch.mm(a, bm) if out is None else out.addmm_(a, bm)
        del sc, a, bm  # (bm is a view of sc: both must go before the next chunk is made)
    return out


def _rcspike_dstd_autograd(t: Tensor, weight: Tensor, e_pos: Rev, e_neg: Rev, points: Tensor, widths: Tensor):
    """rcspike_dstd by plain autograd through S, the two matmuls and `_RCClosedForm` (E± that need gradients)."""
    s = dstd_cumulative_spikes(t, points, widths)  # [B, M, N]
    g = F.linear(s, weight)  # [B, M, N_out]
    f = F.linear(s, decay_weight(weight, e_pos, e_neg))
    return _RCClosedForm.apply(g, f, widths.view(1, -1, 1), 1)


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
    `generator` if given). Work: S [B, M, N_in] (elementwise), then the paper's two matmuls S @ W^T and
    S @ (beta W)^T giving g~ and f~ [B, M, N_out], then the closed form on the grid (O(B M N_out)). Forward and
    backward are one autograd.Function (`_RCDstd`, hand-written backward) that keeps the step's peak tensor
    memory near three [B, M, N_out]-or-weight-sized buffers (benchmarks/dstd_vs_exact.py); reversal potentials
    that need gradients take plain autograd instead (same values).
    Error vs `rcspike_exact`: O(M^-2 |E|^-1); exact for f = 0.
    """
    t = _check_inputs(t_in, weight).clamp(0.0, 1.0)
    if offset is None:
        offset = draw_offset(steps, generator)
    points, widths, _ = dstd_grid(steps, offset, t.dtype, t.device)
    bp = torch.reciprocal(_as_rev(e_pos, weight, "e_pos"))
    bn = torch.reciprocal(_as_rev(e_neg, weight, "e_neg"))
    if bp.requires_grad or bn.requires_grad or torch.broadcast_shapes(bp.shape, bn.shape, weight.shape) != weight.shape:
        return _rcspike_dstd_autograd(t, weight, e_pos, e_neg, points, widths)
    return _RCDstd.apply(t, weight, bp, bn, points, widths)


# ----------------------------------------------------------------------------------------------------------------
# Firing phase
# ----------------------------------------------------------------------------------------------------------------
def spike_time(v: Tensor, e_dis: Optional[float] = None, delay: float = 0.0) -> Tensor:
    """Output spike time from v(1) (Eq. 26-27, 82-85), clipped to the firing phase [0, 1].

    ``delay`` (model units, beyond the paper): the circuit's comparator and output-logic delay, added to the
    clipped crossing time (a neuron already above threshold fires at ``delay``); the sum is clipped to 1 again
    (generator/circuit/firing_delay.py measures it).

    e_dis None (or inf): ideal linear ramp dv/dt = 1 to threshold 1, t = clip(1 - v, 0, 1).
    Finite e_dis (> 1; the paper's circuit has 6.44): the discharger current has its own CLM, dv/dt =
    alpha (1 - beta v) with beta = 1/e_dis and alpha = -ln(1 - beta)/beta (so v goes 0 -> 1 in exactly one
    phase), giving t = 1 - ln(1 - beta v) / ln(1 - beta); v -> 1 gives t = 0 and v = 0 gives t = 1 as before.
    """
    if e_dis is None or math.isinf(float(e_dis)):
        t = (1.0 - v).clamp(0.0, 1.0)
        return t if not delay else (t + delay).clamp(0.0, 1.0)
    e_dis = float(e_dis)
    if not e_dis > 1.0:
        raise ValueError(
            f"e_dis must be > 1 (the discharger must reach threshold within one phase), got {e_dis:g}; "
            "use None for the ideal ramp"
        )
    beta = 1.0 / e_dis
    vc = v.clamp(max=1.0)  # v >= 1 fires at t = 0 anyway; keeps the log argument >= 1 - beta > 0
    t = 1.0 - torch.log1p(-beta * vc) / math.log1p(-beta)
    t = t.clamp(0.0, 1.0)
    return t if not delay else (t + delay).clamp(0.0, 1.0)


def _interp(x: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """Piecewise-linear y(x) through the points (xs ascending, held constant beyond the ends); differentiable."""
    xc = x.clamp(float(xs[0]), float(xs[-1]))
    i = torch.searchsorted(xs, xc.detach().contiguous()).clamp(1, len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (xc - x0) / (x1 - x0)


def reversal_from_table(weight: Tensor, table: dict) -> tuple[Tensor, Tensor]:
    """Per-synapse E+ and E- [out, in] from a table of E±(ln|w|) (piecewise linear, held at the ends).

    ``table`` = {"log_w": [...], "e_pos": [...] (> 0), "e_neg": [...] (< 0)}: the circuit's reversal potentials
    depend on the synapse current, i.e. on |w| (generator/circuit/mapping.py: reversal_table). Computed from
    ``weight.detach()``: the solvers treat E± as constants, so training follows dv/dw at fixed E (the E(|w|)
    slope is a small correction; the forward pass is exact).
    """
    w = weight.detach()
    xs = torch.as_tensor(table["log_w"], dtype=w.dtype, device=w.device)
    logw = torch.log(w.abs().clamp(min=_TINY))
    e_pos = _interp(logw, xs, torch.as_tensor(table["e_pos"], dtype=w.dtype, device=w.device))
    e_neg = _interp(logw, xs, torch.as_tensor(table["e_neg"], dtype=w.dtype, device=w.device))
    return e_pos, e_neg


def switch_step_per_synapse(weight: Tensor, step: dict) -> Tensor:
    """The membrane step (model units) each synapse adds at t = 1 if its input spiked, [out, in] like ``weight``.

    ``step`` = {"log_w": [...], "pos": [...], "neg": [...], "w_min": w0}: the measured step of a conducting NMOS
    stack (w > 0, raises v) and the magnitude for a PMOS stack (w < 0, lowers v), tabulated against ln |w|
    (piecewise linear, held at the ends); |w| < w_min is a synapse the mapping turns off (no step). Why ln |w|:
    the stack's inner node recharges like a subthreshold source follower, by about n U_T ln(1 + tau I / (C_x n U_T))
    (generator/circuit/switch_charge.py measures it).
    """
    xs = torch.as_tensor(step["log_w"], dtype=weight.dtype, device=weight.device)
    up = torch.as_tensor(step["pos"], dtype=weight.dtype, device=weight.device)
    down = torch.as_tensor(step["neg"], dtype=weight.dtype, device=weight.device)
    w_min = float(step.get("w_min", 0.0))
    mag = weight.abs()
    logw = torch.log(mag.clamp(min=max(w_min, _TINY)))
    s = torch.where(weight > 0, _interp(logw, xs, up), -_interp(logw, xs, down))
    return torch.where(mag >= w_min, s, torch.zeros_like(s))


def switch_step(t_in: Tensor, weight: Tensor, step: Optional[dict]) -> Tensor:
    """Sum of the selector switch-off steps at t = 1 (model units) [B, out] for input spikes ``t_in`` [B, in].

    Only synapses whose input spiked within the accumulation phase conduct when the selectors open: t_j <
    ``step["t_on_max"]`` (default 1; the circuit needs a spike edge to be complete before the phase ends, so
    generator/circuit/switch_charge.py sets it to 1 - edge time / T).
    ``step`` None (the paper's model) gives zeros. Differentiable in ``weight`` (not in ``t_in``: the indicator
    t_j < 1 is a step function whose derivative is zero almost everywhere).
    """
    if step is None:
        return t_in.new_zeros(t_in.shape[0], weight.shape[0])
    on = (t_in < float(step.get("t_on_max", 1.0))).to(weight.dtype)
    return on @ switch_step_per_synapse(weight, step).t()


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


class _Scan(torch.autograd.Function):
    """v_0 = 0, v_{k+1} = v_k d_k + c_k along `dim` (same-shape decay/charge); hand-written adjoint.

    Forward: one fused multiply-add per step into a preallocated output (autograd of the loop would allocate
    two tensors, record two nodes and save two tensors per step, then stack them). Backward: the adjoint
    recursion lam_k = grad_k + lam_{k+1} d_k (one op per step), then grad_c_k = lam_{k+1} and
    grad_d_k = lam_{k+1} v_k, vectorised. Saves decay and v only.
    """

    @staticmethod
    def forward(ctx, decay, charge, dim):
        v = torch.empty_like(charge)
        dd, cc, vv = decay.movedim(dim, 0), charge.movedim(dim, 0), v.movedim(dim, 0)
        vv[0].zero_()
        for k in range(cc.shape[0] - 1):
            torch.addcmul(cc[k], vv[k], dd[k], out=vv[k + 1])
        ctx.dim = dim
        ctx.save_for_backward(decay, v)
        return v

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        decay, v = ctx.saved_tensors
        dim = ctx.dim
        lam = torch.empty_like(v)
        dd, gg, ll, vv = decay.movedim(dim, 0), grad.movedim(dim, 0), lam.movedim(dim, 0), v.movedim(dim, 0)
        n = vv.shape[0]
        ll[n - 1].copy_(gg[n - 1])
        for k in range(n - 2, -1, -1):
            torch.addcmul(gg[k], ll[k + 1], dd[k], out=ll[k])
        gc = torch.zeros_like(v)
        gc.movedim(dim, 0)[:-1].copy_(ll[1:])
        gd = torch.zeros_like(v)
        torch.mul(ll[1:], vv[:-1], out=gd.movedim(dim, 0)[:-1])
        return gd, gc, None


def _scan_v(decay: Tensor, charge: Tensor, dim: int) -> Tensor:
    """v_0 = 0, v_{k+1} = v_k decay_k + charge_k along dim; returns [v_0..v_{K-1}] (K = size along dim)."""
    if decay.shape == charge.shape and decay.dtype == charge.dtype:
        return _Scan.apply(decay, charge, dim)
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
    recursion v_{k+1} = v_k e^{-f_k dt_k} + g_k dt_k phi(f_k dt_k) (`_Scan`: a loop over N_in of fused
    [B, N_out] steps, hand-written adjoint). v is monotone inside an interval (one exponential), so the crossing
    lies in the first interval k with v_{k+1} >= threshold, or else in the open last interval: a vectorised
    first-hit search picks k, and the closed-form candidate (Eq. 28) is evaluated there only ([B, N_out]),
    instead of one candidate per interval ([B, N_in, N_out]) and a min: same result, the same gradient
    (a min passes its gradient to the chosen candidate only).
    """
    t = _check_inputs(t_in, weight).clamp_min(0.0)
    n_out = weight.shape[0]
    ts, idx = torch.sort(t, dim=1)
    fin = torch.isfinite(ts)
    tmax = torch.where(fin, ts, torch.zeros_like(ts)).amax(1, keepdim=True)
    ts = torch.where(fin, ts, tmax)  # missing spikes sit (weightless) at the last real one
    table = torch.cat([weight.t(), decay_weight(weight, e_pos, e_neg).t()], 1)  # [N, 2 N_out], contiguous rows
    b, n = idx.shape
    rows = table.index_select(0, idx.reshape(-1)).view(b, n, 2 * n_out)
    cum = _PrefixSum.apply(rows * fin.unsqueeze(-1).to(table.dtype), 1)
    g, f = cum[..., :n_out], cum[..., n_out:]
    dt = torch.diff(ts, dim=1, append=ts[:, -1:]).unsqueeze(-1)  # last entry unused by the scan
    a = f * dt
    v = _scan_v(torch.exp(-a), g * dt * phi(a), dim=1)  # v at each sorted spike time
    n = v.shape[1]
    with torch.no_grad():  # the interval holding the first crossing (no candidate search over all N)
        if n > 1:
            hit = v[:, 1:] >= threshold  # [B, N-1, N_out]: v at the end of interval k reached threshold
            first = hit.to(torch.uint8).argmax(1)  # first such k (argmax returns the first maximum)
            any_hit = hit.gather(1, first.unsqueeze(1)).squeeze(1)
            k = torch.where(any_hit, first, torch.full_like(first, n - 1))
        else:
            any_hit = torch.zeros(v.shape[0], n_out, dtype=torch.bool, device=v.device)
            k = torch.zeros(v.shape[0], n_out, dtype=torch.long, device=v.device)
    k1 = k.unsqueeze(1)
    start = ts.gather(1, k).unsqueeze(1)  # [B, 1, N_out]
    width = torch.where(any_hit, dt.squeeze(-1).gather(1, k), torch.full_like(start[:, 0], math.inf)).unsqueeze(1)
    out = _first_crossing(start, width, v.gather(1, k1), g.gather(1, k1), f.gather(1, k1), float(threshold), dim=1)
    # v is monotone inside an interval, so a hit interval holds the crossing; only rounding can put s past its end
    out = torch.where(any_hit & torch.isinf(out), (start + width).squeeze(1), out)
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
