"""The memory-lean DSTD step (`functional._RCDstd`, used by `rcspike_dstd`) against plain autograd.

`_RCDstd` fuses S, the two matmuls and the closed form into one autograd.Function whose backward consumes g~, f~
in place, works in batch chunks and recomputes S (benchmarks/README.md: DSTD's peak tensor memory). These tests
pin its results to a straightforward reference written here (every op differentiated by autograd, float64):
forward v(1) and spike times, dL/dW and dL/dt, to ~1e-10, with the chunking forced down to one sample per
chunk as well as at the default size; plus retain_graph (backward must not consume what a second backward
needs), per-synapse reversal potentials, and a loose check that the peak memory stays below plain autograd's.
TTFS DSTD (`ttfs_dstd`, not fused) is pinned to an equally plain reference.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from generator.model import functional as Fn

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)
F64 = torch.float64


# ------------------------------------------------------------------------------------------------ references
def _grid(m: int, offset: float, t_max: float = 1.0):
    """P_0 = -offset, P_k = k t_max/M - offset, P_M = t_max; widths P_{k+1} - P_k (module docstring)."""
    p = [k * t_max / m - offset for k in range(m)] + [t_max]
    pts = torch.tensor(p, dtype=F64)
    return pts, pts[1:] - pts[:-1]


def _plain_s(t, pts, widths):
    """S[b, m, j] = clip((P_{m+1} - t_j) / dT_m, 0, 1), written out per interval."""
    return torch.stack([((pts[k + 1] - t) / widths[k]).clamp(0.0, 1.0) for k in range(widths.shape[0])], 1)


def _plain_beta_w(w, e_pos, e_neg):
    return torch.where(w >= 0, 1.0 / torch.as_tensor(e_pos, dtype=F64), 1.0 / torch.as_tensor(e_neg, dtype=F64)) * w


def rc_dstd_reference(t_in, w, e_pos, e_neg, m, offset):
    """DSTD v(1) by the backward-unrolled recursion over the M grid intervals, plain autograd throughout."""
    pts, widths = _grid(m, offset)
    s = _plain_s(t_in.clamp(0.0, 1.0), pts, widths)  # [B, M, N]
    g = s @ w.t()
    f = s @ _plain_beta_w(w, e_pos, e_neg).t()
    v = torch.zeros(t_in.shape[0], w.shape[0], dtype=F64)
    for k in range(m):  # v_{k+1} = v_k e^{-f dT} + g dT phi(f dT)
        a = f[:, k] * widths[k]
        ph = torch.where(a > 0, -torch.expm1(-a) / a.clamp_min(1e-300), torch.ones_like(a))
        v = v * torch.exp(-a) + g[:, k] * widths[k] * ph
    return v


def ttfs_dstd_reference(t_in, w, e_pos, e_neg, m, threshold, offset):
    """TTFS DSTD first crossing: grid recursion for v, then per interval the in-interval closed-form candidate."""
    fin = torch.isfinite(t_in)
    t = torch.where(fin, t_in, torch.zeros_like(t_in)).clamp(0.0, 1.0)
    pts, widths = _grid(m, offset)
    s = _plain_s(t, pts, widths) * fin.unsqueeze(1)
    s = torch.cat([s, fin.unsqueeze(1).to(F64)], 1)  # open last interval, every real input active
    g = s @ w.t()
    f = s @ _plain_beta_w(w, e_pos, e_neg).t()
    v = torch.zeros(t.shape[0], w.shape[0], dtype=F64)
    cands = []
    for k in range(m + 1):
        gk, fk = g[:, k], f[:, k]
        width = widths[k] if k < m else math.inf
        d, r = threshold - v, gk - fk * v
        rs = torch.where(r > 0, r, torch.ones_like(r))
        x = fk * d / rs
        ok = (r > 0) & (d > 0) & (x < 1)
        xs = torch.where(ok, x, torch.zeros_like(x)).clamp_min(1e-20)
        sk = torch.where(ok, d / rs * (-torch.log1p(-xs) / xs), torch.zeros_like(x))
        ok = ok & (sk <= width)
        cands.append(torch.where(ok, pts[k] + sk, torch.full_like(sk, math.inf)))
        if k < m:
            a = fk * widths[k]
            ph = torch.where(a > 0, -torch.expm1(-a) / a.clamp_min(1e-300), torch.ones_like(a))
            v = v * torch.exp(-a) + gk * widths[k] * ph
    return torch.stack(cands, 1).min(1).values


# ------------------------------------------------------------------------------------------------ data
def _data(seed, b, n_in, n_out, zeros=True):
    gen = torch.Generator().manual_seed(seed)
    t = torch.rand(b, n_in, generator=gen, dtype=F64) * 1.3 - 0.15  # some before 0 / after 1 (clamped)
    t[0, :3] = torch.tensor([math.inf, 0.0, 1.0], dtype=F64)  # no spike, the phase edges
    w = torch.randn(n_out, n_in, generator=gen, dtype=F64) * (0.8 / n_in**0.5) + 0.6 / n_in
    if zeros:
        w[0, :4] = 0.0  # w = 0 takes beta = 1/E+ (w >= 0)
    return t, w


def _rc_case(t, w, e_pos, e_neg, m, offset, chunk_elems=None, monkeypatch=None):
    if chunk_elems is not None:
        monkeypatch.setattr(Fn, "_DSTD_CHUNK_ELEMS", chunk_elems)
    gen = torch.Generator().manual_seed(5)
    cot = torch.randn(t.shape[0], w.shape[0], generator=gen, dtype=F64)
    out = {}
    for name, fn in (("new", Fn.rcspike_dstd), ("ref", rc_dstd_reference)):
        tt, ww = t.clone().requires_grad_(True), w.clone().requires_grad_(True)
        v = fn(tt, ww, e_pos, e_neg, m, offset)
        ts = Fn.spike_time(v, 6.44)
        dt, dw = torch.autograd.grad((ts * cot).sum(), (tt, ww))
        out[name] = (v.detach(), ts.detach(), dt, dw)
    return out


# ------------------------------------------------------------------------------------------------ RC-Spike
@pytest.mark.parametrize("chunk_elems", [None, 1])
@pytest.mark.parametrize("m,offset_frac", [(10, 0.37), (4, 1.0), (7, 0.0)])
def test_rc_dstd_matches_plain_autograd(monkeypatch, chunk_elems, m, offset_frac):
    """v(1), spike times, dL/dW and dL/dt of rcspike_dstd equal the plain reference to ~1e-10 (float64), with
    one chunk (default size) and one sample per chunk (chunk_elems=1: every chunk loop runs B times)."""
    t, w = _data(11 + m, b=9, n_in=23, n_out=6)
    got = _rc_case(t, w, 1.7, -1.2, m, offset_frac / m, chunk_elems, monkeypatch)
    for a, b, what in zip(got["new"], got["ref"], ("v(1)", "spike time", "dL/dt", "dL/dW")):
        assert a.shape == b.shape, what
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=lambda s: f"{what}: {s}")
    assert got["new"][3].abs().max() > 1e-3 and got["new"][2].abs().max() > 1e-3  # not trivially zero


def test_rc_dstd_per_synapse_reversal(monkeypatch):
    """Per-synapse E± tensors [N_out, N_in] (the circuit's reversal table) take the same fused path."""
    t, w = _data(3, b=6, n_in=17, n_out=5)
    gen = torch.Generator().manual_seed(4)
    e_pos = 1.0 + 2.0 * torch.rand(5, 17, generator=gen, dtype=F64)
    e_neg = -1.0 - 2.0 * torch.rand(5, 17, generator=gen, dtype=F64)
    got = _rc_case(t, w, e_pos, e_neg, 6, 0.05, 3, monkeypatch)
    for a, b in zip(got["new"], got["ref"]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_rc_dstd_float32_matches_reference():
    """float32 (the benchmark's dtype): forward equal to float rounding, weight gradient to float32 tolerance."""
    t, w = _data(8, b=12, n_in=40, n_out=9)
    tt, ww = t.float().requires_grad_(True), w.float().requires_grad_(True)
    v = Fn.rcspike_dstd(tt, ww, 2.0, -2.0, 10, 0.03)
    (v.sum()).backward()
    tr, wr = t.clone().requires_grad_(True), w.clone().requires_grad_(True)
    vr = rc_dstd_reference(tr, wr, 2.0, -2.0, 10, 0.03)
    vr.sum().backward()
    torch.testing.assert_close(v.double(), vr, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ww.grad.double(), wr.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(tt.grad.double(), tr.grad, rtol=1e-4, atol=1e-5)


def test_rc_dstd_retain_graph_and_gradcheck(monkeypatch):
    """A kept graph is not consumed: two backward passes give the same gradients; gradcheck (which backprops
    through one graph many times) passes with the chunk loops active."""
    monkeypatch.setattr(Fn, "_DSTD_CHUNK_ELEMS", 8)
    t, w = _data(21, b=4, n_in=6, n_out=3, zeros=False)  # (gradcheck's finite differences across w = 0 jump)
    tt, ww = t.clone().requires_grad_(True), w.clone().requires_grad_(True)
    v = Fn.rcspike_dstd(tt, ww, 1.7, -1.2, 5, 0.07)
    g1 = torch.autograd.grad(v.sum(), (tt, ww), retain_graph=True)
    g2 = torch.autograd.grad(v.sum(), (tt, ww))
    for a, b in zip(g1, g2):
        assert torch.equal(a, b)
    tg = torch.rand(4, 6, dtype=F64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t, w: Fn.rcspike_dstd(t, w, 1.7, -1.2, 5, 0.07), (tg, ww))
    with pytest.raises(RuntimeError):  # the second backward of a freed graph must fail loudly, not misbehave
        v = Fn.rcspike_dstd(tt, ww, 1.7, -1.2, 5, 0.07)
        v.sum().backward()
        v.sum().backward()


def test_rc_dstd_frozen_weight_and_no_grad():
    """Only dL/dt wanted (a frozen layer) and no_grad evaluation give the reference's values."""
    t, w = _data(2, b=5, n_in=11, n_out=4)
    tt = t.clone().requires_grad_(True)
    v = Fn.rcspike_dstd(tt, w, 1.7, -1.2, 6, 0.1)
    (dt,) = torch.autograd.grad(v.sum(), (tt,))
    tr = t.clone().requires_grad_(True)
    (dtr,) = torch.autograd.grad(rc_dstd_reference(tr, w, 1.7, -1.2, 6, 0.1).sum(), (tr,))
    torch.testing.assert_close(dt, dtr, rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        torch.testing.assert_close(Fn.rcspike_dstd(t, w, 1.7, -1.2, 6, 0.1), v.detach(), rtol=0, atol=0)


def _peak_tensor_bytes(fn) -> int:
    """Peak live CPU tensor bytes allocated while fn() runs, measured as benchmarks/dstd_vs_exact.py does."""
    spec = importlib.util.spec_from_file_location("dstd_vs_exact", REPO / "benchmarks" / "dstd_vs_exact.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench._peak_tensor_bytes(fn)


def test_rc_dstd_peak_memory_below_plain_autograd(monkeypatch):
    """One forward+backward step at a moderate size: the fused step's peak tensor bytes stay near g~ + f~ +
    dL/dW (3 buffers; ~24 -> ~13.6 MiB at the benchmark's size), well below autograd through the same ops
    (`_rcspike_dstd_autograd`, the previous implementation). Chunks of a quarter batch, as at the benchmark's
    size (1000 x 1000, B = 100, M = 10)."""
    b, m, n = 40, 10, 256
    monkeypatch.setattr(Fn, "_DSTD_CHUNK_ELEMS", b * m * n // 4)
    gen = torch.Generator().manual_seed(0)
    t = torch.rand(b, n, generator=gen)
    w = (torch.randn(n, n, generator=gen) * (0.5 / n**0.5) + 1.0 / n).requires_grad_(True)
    pts, widths, _ = Fn.dstd_grid(m, 0.05, torch.float32, "cpu")

    def fused():
        Fn.spike_time(Fn.rcspike_dstd(t, w, 2.0, -2.0, m, 0.05)).sum().backward()
        w.grad = None

    def plain():
        Fn.spike_time(Fn._rcspike_dstd_autograd(t.clamp(0, 1), w, 2.0, -2.0, pts, widths)).sum().backward()
        w.grad = None

    fused(), plain()  # warm-up
    buf = b * m * n * 4  # one [B, M, N] float32 buffer (= the weight's size here within 2x)
    new, old = _peak_tensor_bytes(fused), _peak_tensor_bytes(plain)
    assert new < 0.6 * old, (new, old)
    assert new < 3.6 * buf, (new / buf, old / buf)  # measured 3.10 (autograd: 6.20)


# ------------------------------------------------------------------------------------------------ TTFS
@pytest.mark.parametrize("m,offset_frac", [(20, 0.4), (6, 1.0)])
def test_ttfs_dstd_matches_plain_autograd(m, offset_frac):
    """ttfs_dstd: first-spike times and dL/dW, dL/dt equal the plain per-interval reference to ~1e-10."""
    gen = torch.Generator().manual_seed(40 + m)
    t = torch.rand(6, 15, generator=gen, dtype=F64)
    t[0, 0] = math.inf
    w = torch.rand(4, 15, generator=gen, dtype=F64) * (8.0 / 15) - 0.05
    cot = torch.randn(6, 4, generator=gen, dtype=F64)
    res = []
    for fn in (
        lambda t, w: Fn.ttfs_dstd(t, w, 2.0, -2.0, m, 1.0, offset_frac / m, no_spike=2.0),
        lambda t, w: ttfs_dstd_reference(t, w, 2.0, -2.0, m, 1.0, offset_frac / m).clamp(max=2.0),
    ):
        tt, ww = t.clone().requires_grad_(True), w.clone().requires_grad_(True)
        out = fn(tt, ww)
        res.append((out.detach(), *torch.autograd.grad((torch.where(out < 2.0, out, 0.0) * cot).sum(), (tt, ww))))
    assert bool((res[0][0] < 2.0).any())  # some neurons fire
    for a, b in zip(*res):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
