"""Tests of generator/model/functional.py against independent references (numpy RK4 integration of the ODE).

The neuron: dv/dt = sum_j w_j (1 - beta_j v) theta(t - t_j), beta = 1/E+ (w >= 0), 1/E- (w < 0), v(0) = 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from generator.model import functional as Fn

torch.set_num_threads(1)  # tiny tensors: a 2nd thread only adds pool contention on a shared machine


# ------------------------------------------------------------------------------------------------ references
def _beta(w: np.ndarray, e_pos: float, e_neg: float) -> np.ndarray:
    return np.where(w >= 0, 1.0 / e_pos, 1.0 / e_neg)


def rk4_v1(t: np.ndarray, w: np.ndarray, e_pos: float, e_neg: float, substeps: int = 40) -> float:
    """v(1) by classical RK4 with `substeps` steps inside each inter-spike interval (so RK4 never straddles a
    switch-on and keeps its 4th order). Independent of the closed form: it only evaluates the right-hand side."""
    beta = _beta(w, e_pos, e_neg)
    tc = np.clip(t, 0.0, 1.0)
    edges = np.unique(np.concatenate([[0.0], tc, [1.0]]))
    v = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        act = tc <= lo
        fa, ga = float(np.sum(beta[act] * w[act])), float(np.sum(w[act]))
        h = (hi - lo) / substeps
        for _ in range(substeps):
            k1 = ga - fa * v
            k2 = ga - fa * (v + 0.5 * h * k1)
            k3 = ga - fa * (v + 0.5 * h * k2)
            k4 = ga - fa * (v + h * k3)
            v += h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return v


def rk4_first_crossing(t, w, e_pos, e_neg, theta=1.0, t_end=6.0, h=2e-4) -> float:
    """First time v reaches theta (TTFS), RK4 with a fixed step aligned to the spike times, crossing located by
    cubic Hermite interpolation inside the step; inf if none before t_end."""
    beta = _beta(w, e_pos, e_neg)
    edges = np.unique(np.concatenate([[0.0], t[np.isfinite(t)], [t_end]]))
    v = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        act = t <= lo
        fa, ga = float(np.sum(beta[act] * w[act])), float(np.sum(w[act]))
        n = max(1, int(math.ceil((hi - lo) / h)))
        hh = (hi - lo) / n
        for i in range(n):
            k1 = ga - fa * v
            k2 = ga - fa * (v + 0.5 * hh * k1)
            k3 = ga - fa * (v + 0.5 * hh * k2)
            k4 = ga - fa * (v + hh * k3)
            vn = v + hh / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            if v < theta <= vn:
                d0, d1 = k1, ga - fa * vn
                lo_s, hi_s = 0.0, 1.0
                for _ in range(60):  # bisection on the Hermite cubic
                    s = 0.5 * (lo_s + hi_s)
                    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
                    val = h00 * v + h10 * hh * d0 + h01 * vn + h11 * hh * d1
                    lo_s, hi_s = (s, hi_s) if val < theta else (lo_s, s)
                return lo + i * hh + 0.5 * (lo_s + hi_s) * hh
            v = vn
    return math.inf


def _problem(b=3, n=12, o=4, seed=0, scale=0.5, mean=0.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(b, n, generator=g, dtype=dtype)
    w = (torch.randn(o, n, generator=g, dtype=dtype) * scale + mean)
    return t, w


E_VALUES = [(1.0, -1.0), (2.8, -1.53), (10.0, -10.0), (100.0, -100.0), (2.0, -7.0)]


# ------------------------------------------------------------------------------------------------ exact solver
@pytest.mark.parametrize("e_pos,e_neg", E_VALUES)
def test_exact_matches_rk4(e_pos, e_neg):
    t, w = _problem(seed=int(e_pos * 10), scale=0.6)
    t[0, :3] = torch.tensor([0.0, 1.0, 0.37])  # spikes on the phase edges
    t[1, 5] = t[1, 6]  # a tie
    v = Fn.rcspike_exact(t, w, e_pos, e_neg)
    ref = np.array([[rk4_v1(t[b].numpy(), w[o].numpy(), e_pos, e_neg) for o in range(w.shape[0])] for b in range(t.shape[0])])
    assert v.shape == (3, 4)
    np.testing.assert_allclose(v.numpy(), ref, rtol=0, atol=5e-8)  # RK4 truncation ~1e-8
    # the non-ideality is actually exercised at small |E|: far from the ideal weighted sum
    ideal = ((1 - t.clamp(0, 1)) @ w.t()).numpy()
    if abs(e_pos) <= 2.8:
        assert np.abs(ref - ideal).max() > 0.02


def test_exact_float32_close_to_float64():
    t, w = _problem(b=4, n=300, o=8, seed=3, scale=0.2)
    v64 = Fn.rcspike_exact(t, w, 1.5, -1.2)
    v32 = Fn.rcspike_exact(t.float(), w.float(), 1.5, -1.2)
    assert v32.dtype == torch.float32
    np.testing.assert_allclose(v32.double().numpy(), v64.numpy(), atol=2e-5)


def test_f_is_nonnegative():
    """beta_ij w_ij >= 0 for every sign of w, hence f = sum beta w theta >= 0 (module docstring proof)."""
    _, w = _problem(o=50, n=50, seed=5, scale=1.0)
    assert (w < 0).any() and (w > 0).any()
    for e_pos, e_neg in E_VALUES + [(math.inf, -math.inf), (0.5, -0.3)]:
        bw = Fn.decay_weight(w, e_pos, e_neg)
        assert (bw >= 0).all()
        assert (bw[w != 0] > 0).all() or math.isinf(e_pos)
    # per-synapse reversal potentials too
    ep = torch.rand(50, 50, dtype=torch.float64) * 5 + 0.5
    en = -(torch.rand(50, 50, dtype=torch.float64) * 5 + 0.5)
    assert (Fn.decay_weight(w, ep, en) >= 0).all()


@pytest.mark.parametrize("e_pos,e_neg", [(0.0, -1.0), (-1.0, -1.0), (1.0, 0.0), (1.0, 2.0), (float("nan"), -1.0)])
def test_bad_reversal_potentials_raise(e_pos, e_neg):
    t, w = _problem()
    with pytest.raises(ValueError, match="e_pos|e_neg"):
        Fn.rcspike_exact(t, w, e_pos, e_neg)


def test_shape_errors_are_clear():
    t, w = _problem()
    with pytest.raises(ValueError, match=r"t_in must be \[B, N_in\]"):
        Fn.rcspike_exact(t[:, :5], w, 1.0, -1.0)
    with pytest.raises(ValueError, match="weight must be"):
        Fn.rcspike_dstd(t, w[0], 1.0, -1.0, 4)


def test_per_synapse_reversal_potentials():
    t, w = _problem(b=2, n=8, o=3, seed=11)
    ep = torch.rand(3, 8, dtype=torch.float64) * 3 + 1
    en = -(torch.rand(3, 8, dtype=torch.float64) * 3 + 1)
    v = Fn.rcspike_exact(t, w, ep, en)
    for o in range(3):
        beta = np.where(w[o].numpy() >= 0, 1 / ep[o].numpy(), 1 / en[o].numpy())
        # RK4 with per-synapse beta: reuse rk4_v1 with E chosen so that 1/E = beta per synapse
        for b in range(2):
            tc = t[b].numpy()
            edges = np.unique(np.concatenate([[0.0], tc, [1.0]]))
            vv = 0.0
            for lo, hi in zip(edges[:-1], edges[1:]):
                act = tc <= lo
                fa, ga = np.sum(beta[act] * w[o].numpy()[act]), np.sum(w[o].numpy()[act])
                vv = ga / fa + (vv - ga / fa) * math.exp(-fa * (hi - lo)) if fa > 0 else vv + ga * (hi - lo)
            assert abs(v[b, o].item() - vv) < 1e-10
    # a tensor E equal everywhere reproduces the float E
    full = Fn.rcspike_exact(t, w, torch.full((3, 8), 2.0, dtype=torch.float64), torch.full((3, 8), -3.0, dtype=torch.float64))
    torch.testing.assert_close(full, Fn.rcspike_exact(t, w, 2.0, -3.0))


@pytest.mark.parametrize("solver", ["exact", "dstd"])
def test_infinite_reversal_potential_is_weighted_sum(solver):
    t, w = _problem(b=5, n=40, o=6, seed=7)
    ideal = (1 - t) @ w.t()
    for e in (math.inf, 1e7):
        if solver == "exact":
            v = Fn.rcspike_exact(t, w, e, -e)
        else:
            v = Fn.rcspike_dstd(t, w, e, -e, steps=3, offset=0.21)
        tol = 1e-12 if math.isinf(e) else 1e-5
        np.testing.assert_allclose(v.numpy(), ideal.numpy(), atol=tol)


@pytest.mark.parametrize("solver", ["exact", "dstd"])
def test_no_nan_in_degenerate_cases(solver):
    def run(t, w, e=1.0):
        t = t.clone().requires_grad_(True)
        w = w.clone().requires_grad_(True)
        if solver == "exact":
            v = Fn.rcspike_exact(t, w, e, -e)
        else:
            v = Fn.rcspike_dstd(t, w, e, -e, steps=5, offset=0.1)
        v.sum().backward()
        for x in (v, t.grad, w.grad):
            assert torch.isfinite(x).all(), (solver, x)
        return v.detach()

    t, w = _problem(b=2, n=10, o=3, seed=2)
    assert (run(t, torch.zeros_like(w)) == 0).all()  # zero weights: f = g = 0
    run(torch.zeros_like(t), w)  # all spikes at 0
    assert (run(torch.ones_like(t), w) == 0).all()  # all spikes at 1: nothing accumulates
    inf_t = t.clone()
    inf_t[:, ::2] = math.inf  # "no spike"
    run(inf_t, w)
    run(t, w, e=math.inf)  # f = 0 identically, g != 0
    run(t, w * 1e3)  # huge f: no overflow
    v = run(torch.zeros_like(t), torch.full_like(w, 50.0))
    np.testing.assert_allclose(v.numpy(), 1.0, atol=1e-9)  # saturates at E+ = 1


def test_no_spikes_equals_spikes_at_one():
    t, w = _problem(b=2, n=6, o=2, seed=4)
    none = torch.full_like(t, math.inf)
    assert (Fn.rcspike_exact(none, w, 2.0, -2.0) == 0).all()


# ------------------------------------------------------------------------------------------------ DSTD
def test_dstd_grid_and_tent_kernel():
    m, off = 5, 0.07
    pts, widths, _ = Fn.dstd_grid(m, off, torch.float64, "cpu")
    np.testing.assert_allclose(pts.numpy(), [-0.07, 0.13, 0.33, 0.53, 0.73, 1.0], atol=1e-15)
    np.testing.assert_allclose(widths.numpy()[-1], 1 / m + off)
    t = torch.rand(20, 30, dtype=torch.float64)
    s = Fn.dstd_cumulative_spikes(t, pts, widths)  # [20, M, 30]
    assert s.shape == (20, m, 30)
    assert ((s >= 0) & (s <= 1)).all()
    assert (s[:, 1:] >= s[:, :-1]).all()  # cumulative: non-decreasing in m
    # tent weights s_m = S_m - S_{m-1} on points 0..M; their weighted mean point is the spike time
    tent = torch.cat([s[:, :1], s[:, 1:] - s[:, :-1], 1 - s[:, -1:]], 1)
    assert ((tent > 1e-12).sum(1) <= 2).all()  # at most two neighbouring points
    np.testing.assert_allclose((tent * pts.view(1, -1, 1)).sum(1).numpy(), t.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="offset"):
        Fn.dstd_grid(4, 0.3, torch.float64, "cpu")


def test_dstd_exact_for_single_sign_weights():
    """With one beta for all active synapses, v(1) = (1 - exp(-beta sum w (1-t))) / beta depends on the spikes
    only through sum w (1 - t), which the tent kernel preserves: DSTD is exact for ANY steps and offset."""
    t, w = _problem(b=3, n=25, o=4, seed=8, scale=0.1)
    w = w.abs()
    v = Fn.rcspike_exact(t, w, 1.3, -1.0)
    for steps, off in ((1, 0.5), (3, 0.01), (7, 1 / 7)):
        np.testing.assert_allclose(Fn.rcspike_dstd(t, w, 1.3, -1.0, steps, off).numpy(), v.numpy(), atol=1e-12)


def _dstd_error(t, w, e, steps, offset_frac):
    v = Fn.rcspike_exact(t, w, e, -e)
    return (Fn.rcspike_dstd(t, w, e, -e, steps, offset=offset_frac / steps) - v).abs().mean().item()


@pytest.mark.parametrize("e", [1.0, 4.0])
def test_dstd_converges_as_steps_minus_two(e):
    t, w = _problem(b=16, n=200, o=16, seed=9, scale=0.12, mean=0.01)
    steps = np.array([8, 16, 32, 64, 128])
    err = np.array([_dstd_error(t, w, e, int(m), 0.37) for m in steps])
    slope = np.polyfit(np.log(steps), np.log(err), 1)[0]
    assert -2.4 < slope < -1.6, (slope, err)
    assert err[-1] < 1e-3
    # O(1/|E|): a larger |E| gives a smaller error
    assert _dstd_error(t, w, 4 * e, 16, 0.37) < 0.5 * _dstd_error(t, w, e, 16, 0.37)


def test_dstd_random_offset_has_no_first_order_bias():
    """Averaged over random offsets, DSTD has no O(1/M) bias: the mean error falls ~M^-2, and the grid-offset
    draws are spread uniformly over (0, 1/M]."""
    t, w = _problem(b=8, n=60, o=6, seed=1, scale=0.15, mean=0.02)
    e = 1.0
    v = Fn.rcspike_exact(t, w, e, -e)
    gen = torch.Generator().manual_seed(0)
    mean_err = []
    for m in (4, 8, 16):
        draws = torch.stack([Fn.rcspike_dstd(t, w, e, -e, m, generator=gen) for _ in range(200)])
        mean_err.append((draws.mean(0) - v).abs().mean().item())
        assert draws.std(0).max() > 0  # the offset really varies
    ratio = np.array(mean_err[:-1]) / np.array(mean_err[1:])
    assert (ratio > 2.8).all(), (mean_err, ratio)  # ~4 per doubling, 2 would be first order
    offs = np.array([Fn.draw_offset(10, gen) for _ in range(2000)])
    assert offs.min() > 0 and offs.max() <= 0.1
    assert abs(offs.mean() - 0.05) < 0.003


# ------------------------------------------------------------------------------------------------ gradients
def test_gradcheck_exact():
    t, w = _problem(b=2, n=6, o=3, seed=12)
    t.requires_grad_(True)
    w.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t, w: Fn.rcspike_exact(t, w, 1.7, -1.2), (t, w))


def test_gradcheck_dstd():
    t, w = _problem(b=2, n=6, o=3, seed=13)
    t.requires_grad_(True)
    w.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t, w: Fn.rcspike_dstd(t, w, 1.7, -1.2, 4, offset=0.11), (t, w))


def test_gradcheck_ttfs_and_spike_time():
    t, w = _problem(b=2, n=5, o=3, seed=14, scale=1.0, mean=1.5)
    t.requires_grad_(True)
    w.requires_grad_(True)
    out = Fn.ttfs_exact(t, w, 2.0, -2.0)
    assert torch.isfinite(out).all()
    assert torch.autograd.gradcheck(lambda t, w: Fn.ttfs_exact(t, w, 2.0, -2.0), (t, w))
    assert torch.autograd.gradcheck(lambda t, w: Fn.ttfs_dstd(t, w, 2.0, -2.0, 6, offset=0.05), (t, w))
    v = torch.tensor([0.1, 0.4, 0.8], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: Fn.spike_time(v, 6.44), (v,))


# ------------------------------------------------------------------------------------------------ firing phase
def test_spike_time_ideal_and_discharger():
    v = torch.tensor([-0.5, 0.0, 0.3, 0.7, 1.0, 1.5], dtype=torch.float64)
    np.testing.assert_allclose(Fn.spike_time(v).numpy(), [1, 1, 0.7, 0.3, 0, 0])
    e_dis = 6.44
    t = Fn.spike_time(v, e_dis).numpy()
    beta = 1 / e_dis
    alpha = -math.log1p(-beta) / beta
    for v0, tt in zip(v.numpy(), t):
        # independent: RK4 of dv/dt = alpha (1 - beta v) from v0 until v = 1
        x, s, h = v0, 0.0, 1e-4
        while x < 1.0 and s < 1.0:
            f = lambda y: alpha * (1 - beta * y)
            k1 = f(x); k2 = f(x + h / 2 * k1); k3 = f(x + h / 2 * k2); k4 = f(x + h * k3)
            xn = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            if xn >= 1.0:
                s += h * (1.0 - x) / (xn - x)
                x = 1.0
                break
            x, s = xn, s + h
        assert abs(min(s, 1.0) - tt) < 1e-6, (v0, s, tt)
    # v = 0 still fires at the end of the phase; a huge e_dis is the ideal ramp
    assert abs(Fn.spike_time(torch.tensor([0.0]), 6.44).item() - 1.0) < 1e-6
    np.testing.assert_allclose(Fn.spike_time(v, 1e9).numpy(), Fn.spike_time(v).numpy(), atol=1e-6)
    # the RC discharge is slower near threshold: an intermediate v fires later than with the ideal ramp
    assert (t[2:4] > Fn.spike_time(v).numpy()[2:4]).all()
    with pytest.raises(ValueError, match="e_dis"):
        Fn.spike_time(v, 0.8)


# ------------------------------------------------------------------------------------------------ TTFS
@pytest.mark.parametrize("e_pos,e_neg", [(2.0, -2.0), (4.0, -1.5), (100.0, -100.0)])
def test_ttfs_exact_matches_rk4(e_pos, e_neg):
    t, w = _problem(b=3, n=10, o=4, seed=21, scale=1.0, mean=0.9)
    t[2, 3] = math.inf  # one missing input
    out = Fn.ttfs_exact(t, w, e_pos, e_neg, threshold=1.0)
    fired = 0
    for b in range(3):
        for o in range(4):
            ref = rk4_first_crossing(t[b].numpy(), w[o].numpy(), e_pos, e_neg)
            if math.isinf(ref):
                assert math.isinf(out[b, o].item())
            else:
                fired += 1
                assert abs(out[b, o].item() - ref) < 1e-6, (b, o, out[b, o].item(), ref)
    assert fired >= 6
    # a neuron that never reaches threshold: all weights negative
    assert torch.isinf(Fn.ttfs_exact(t, -w.abs(), e_pos, e_neg)).all()
    assert (Fn.ttfs_exact(t, -w.abs(), e_pos, e_neg, no_spike=9.0) == 9.0).all()


def test_ttfs_dstd_converges_to_exact():
    t, w = _problem(b=6, n=40, o=8, seed=22, scale=0.6, mean=0.3)
    ex = Fn.ttfs_exact(t, w, 2.0, -2.0)
    both = torch.isfinite(ex)
    assert both.sum() >= 20
    errs = []
    for m in (10, 20, 40, 80):
        d = Fn.ttfs_dstd(t, w, 2.0, -2.0, m, offset=0.4 / m)
        ok = both & torch.isfinite(d)
        assert ok.sum() >= both.sum() - 2  # a neuron that only grazes threshold may flip
        errs.append((d[ok] - ex[ok]).abs().mean().item())
    assert errs[-1] < 2e-3 and errs[-1] < errs[0] / 8, errs


# ------------------------------------------------------------------------------------------------ hand-written backward passes
def _closed_form_reference(g, f, w, dim):
    """The RC-Spike closed form written plainly, differentiated by autograd (the reference for _RCClosedForm)."""
    a = f * w
    c = g * w * (-torch.expm1(-a) / a)
    tail = torch.flip(torch.cumsum(torch.flip(a, (dim,)), dim), (dim,)) - a
    return (c * torch.exp(-tail)).sum(dim)


@pytest.mark.parametrize("dim", [1, -2])
def test_closed_form_backward_matches_autograd(dim):
    """_RCClosedForm (used by rcspike_exact and rcspike_dstd): value and all three gradients equal autograd of
    the plain expression, for per-interval widths of any broadcast shape (the exact solver's [B, N, 1])."""
    gen = torch.Generator().manual_seed(31)
    g = torch.randn(3, 7, 5, generator=gen, dtype=torch.float64).requires_grad_(True)
    f = (torch.rand(3, 7, 5, generator=gen, dtype=torch.float64) * 3 + 0.01).requires_grad_(True)
    for w0 in (torch.rand(1, 7, 1, generator=gen, dtype=torch.float64) * 0.3 + 0.01,
               torch.rand(3, 7, 1, generator=gen, dtype=torch.float64) * 0.3 + 0.01):
        w = w0.clone().requires_grad_(True)
        weights = torch.randn(3, 5, generator=gen, dtype=torch.float64)
        out = Fn._RCClosedForm.apply(g, f, w, dim)
        ref = _closed_form_reference(g, f, w, dim)
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-13)
        got = torch.autograd.grad((out * weights).sum(), (g, f, w))
        exp = torch.autograd.grad((ref * weights).sum(), (g, f, w))
        for a, b in zip(got, exp):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        assert torch.autograd.gradcheck(lambda g, f, w: Fn._RCClosedForm.apply(g, f, w, dim), (g, f, w))


def test_grid_solution_gradcheck_conv_layout():
    """rcspike_grid_solution with the conv layer's layout ([B, M, C, H, W], dim=1) and slice views of one tensor."""
    gen = torch.Generator().manual_seed(32)
    gf = torch.rand(2, 4, 6, 2, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
    widths = torch.tensor([0.2, 0.25, 0.25, 0.3], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: Fn.rcspike_grid_solution(x[:, :, :3], x[:, :, 3:], widths, dim=1), (gf,))


def test_scan_adjoint_gradcheck():
    """_scan_v (TTFS recursion v_{k+1} = v_k d_k + c_k, hand-written adjoint) against finite differences and
    against the plain autograd loop, along a middle dim."""
    gen = torch.Generator().manual_seed(33)
    d = (torch.rand(2, 9, 4, generator=gen, dtype=torch.float64) * 0.9 + 0.05).requires_grad_(True)
    c = torch.randn(2, 9, 4, generator=gen, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda d, c: Fn._scan_v(d, c, 1), (d, c))
    ref = [torch.zeros(2, 4, dtype=torch.float64)]
    for k in range(8):
        ref.append(ref[-1] * d[:, k] + c[:, k])
    ref = torch.stack(ref, 1)
    torch.testing.assert_close(Fn._scan_v(d, c, 1), ref, rtol=1e-14, atol=1e-14)


def test_prefix_sums_and_decay_weight_gradients():
    gen = torch.Generator().manual_seed(34)
    x = torch.randn(3, 11, 5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(Fn._cumsum(x, 1), torch.cumsum(x, 1))
    torch.testing.assert_close(Fn._cumsum_(x.clone(), -2), torch.cumsum(x, 1))
    torch.testing.assert_close(Fn._cumsum(x, 1, reverse=True), torch.flip(torch.cumsum(torch.flip(x, (1,)), 1), (1,)))
    xr = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: Fn._PrefixSum.apply(x, 1), (xr,))
    w = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    w = torch.where(w.abs() < 0.05, torch.full_like(w, 0.1), w).requires_grad_(True)  # no weight at the kink
    assert torch.autograd.gradcheck(lambda w: Fn.decay_weight(w, 1.7, -0.8), (w,))
    torch.testing.assert_close(Fn.decay_weight(w, 1.7, -0.8), Fn.synapse_beta(w, 1.7, -0.8) * w)
    # learnable reversal potentials still get their gradient (autograd path)
    ep = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    Fn.decay_weight(w, ep, -0.8).sum().backward()
    assert ep.grad is not None and ep.grad.item() != 0


def test_ttfs_first_hit_equals_min_over_all_candidates():
    """ttfs_exact evaluates the crossing only in the first interval whose end reaches threshold; the result must
    equal the earliest valid candidate over all intervals (Eq. 29), firing and non-firing neurons alike."""
    t, w = _problem(b=5, n=80, o=12, seed=35, scale=0.05, mean=0.03)
    w[3:6] *= 0.6  # slow: cross only after the last input (open interval)
    w[6:] *= 3.0  # fast: cross between two inputs
    w[:3] = -w[:3].abs()  # never fire
    out = Fn.ttfs_exact(t, w, 2.0, -1.5)
    ts, idx = torch.sort(t, 1)
    beta_w = Fn.decay_weight(w, 2.0, -1.5)
    cum = torch.cat([w.t(), beta_w.t()], 1)[idx].cumsum(1)
    g, f = cum[..., :12], cum[..., 12:]
    dt = torch.diff(ts, dim=1, append=ts[:, -1:]).unsqueeze(-1)
    a = f * dt
    v = [torch.zeros(5, 12, dtype=torch.float64)]
    for k in range(79):
        v.append(v[-1] * torch.exp(-a[:, k]) + g[:, k] * dt[:, k] * Fn.phi(a[:, k]))
    v = torch.stack(v, 1)
    width = torch.cat([dt[:, :-1], torch.full_like(dt[:, -1:], math.inf)], 1)
    ref = Fn._first_crossing(ts.unsqueeze(-1), width, v, g, f, 1.0, dim=1)
    assert torch.isinf(ref[:, :3]).all() and torch.isfinite(ref).sum() >= 30
    assert (ref < ts[:, -1:]).sum() >= 10  # crossings between two inputs ...
    assert (torch.isfinite(ref) & (ref > ts[:, -1:])).sum() >= 10  # ... and in the open last interval
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
