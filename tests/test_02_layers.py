"""Tests of generator/model/layers.py: layer semantics, conv via DSTD/unfold, pooling, the network builder."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from generator.model import functional as Fn
from generator.model.layers import (
    IDEAL_E,
    Network,
    RCSpikeConv2d,
    RCSpikeLinear,
    SpikePool2d,
    TTFSLinear,
    build_network,
)

torch.set_num_threads(1)  # small tensors: a 2nd thread only adds pool contention on a shared machine


def _sparse_images(b: int, n: int, seed: int = 0) -> torch.Tensor:
    """MNIST-like spike times t = 1 - x: ~20 % bright pixels, the rest dark (t = 1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, n, generator=g)
    bright = torch.rand(b, n, generator=g) < 0.2
    return torch.where(bright, 0.3 * x, torch.ones_like(x))  # bright: x in [0.7, 1] -> t in [0, 0.3]


def test_linear_train_eval_semantics():
    torch.manual_seed(0)
    layer = RCSpikeLinear(20, 7, 2.8, -1.53, steps=4, eval_steps=30, e_dis=6.44)
    assert layer.weight.shape == (7, 20)
    t = torch.rand(5, 20)
    layer.train()
    a, b = layer(t), layer(t)
    assert a.shape == (5, 7) and ((a >= 0) & (a <= 1)).all()
    assert not torch.equal(a, b)  # a fresh random grid offset per call
    layer.eval()
    c = layer(t)
    torch.testing.assert_close(c, layer(t), rtol=0, atol=0)  # deterministic
    ref = Fn.spike_time(Fn.rcspike_exact(t, layer.weight, 2.8, -1.53), 6.44)
    torch.testing.assert_close(c, ref)
    layer.eval_solver = "dstd"
    d = layer(t)
    ref_d = Fn.spike_time(Fn.rcspike_dstd(t, layer.weight, 2.8, -1.53, 30, 0.5 / 30), 6.44)
    torch.testing.assert_close(d, ref_d)
    assert (d - c).abs().max() < 5e-3  # DSTD at 30 steps ~ exact
    with pytest.raises(ValueError, match="solver"):
        RCSpikeLinear(3, 2, 1.0, -1.0, solver="euler")
    with pytest.raises(ValueError, match="e_pos > 0 > e_neg"):
        RCSpikeLinear(3, 2, -1.0, -1.0)
    with pytest.raises(ValueError, match=r"\[B, 20\]"):
        layer(torch.rand(5, 21))


def test_linear_gradients_reach_weights_and_inputs():
    layer = RCSpikeLinear(12, 4, 2.0, -2.0, steps=5)
    t = torch.rand(6, 12, requires_grad=True)
    out = layer(t)
    out.sum().backward()
    assert torch.isfinite(layer.weight.grad).all() and layer.weight.grad.abs().sum() > 0
    assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_per_synapse_reversal_potential_buffer():
    ep = torch.full((4, 6), 3.0)
    layer = RCSpikeLinear(6, 4, ep, -2.0)
    assert "e_pos" in dict(layer.named_buffers())
    layer.eval()
    t = torch.rand(3, 6)
    ref = Fn.spike_time(Fn.rcspike_exact(t, layer.weight, 3.0, -2.0))
    torch.testing.assert_close(layer(t), ref)


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (1, 0)])
def test_conv_shape_and_agreement_with_linear_on_patches(stride, padding):
    torch.manual_seed(1)
    conv = RCSpikeConv2d(3, 5, 3, stride, padding, e_pos=2.0, e_neg=-1.5, eval_steps=16)
    t = torch.rand(2, 3, 7, 6, dtype=torch.float64)
    conv = conv.double()
    ho = (7 + 2 * padding - 3) // stride + 1
    wo = (6 + 2 * padding - 3) // stride + 1
    # reference: every output position is an RC-Spike neuron over its patch, padded inputs never spike (t = 1)
    tp = F.pad(t, (padding,) * 4, value=1.0)
    patches = tp.unfold(2, 3, stride).unfold(3, 3, stride)  # [B, C, Ho, Wo, 3, 3]
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(2 * ho * wo, 27)
    w2 = conv.weight.reshape(5, 27)
    conv.eval()
    for solver, ref_v in (
        ("exact", Fn.rcspike_exact(patches, w2, 2.0, -1.5)),
        ("dstd", Fn.rcspike_dstd(patches, w2, 2.0, -1.5, 16, 0.5 / 16)),
    ):
        conv.eval_solver = solver
        out = conv(t)
        assert out.shape == (2, 5, ho, wo)
        ref = Fn.spike_time(ref_v).view(2, ho, wo, 5).permute(0, 3, 1, 2)
        torch.testing.assert_close(out, ref)
    conv.train()
    out = conv(t)
    assert out.shape == (2, 5, ho, wo) and torch.isfinite(out).all()


def test_spike_pool_is_min_pool():
    t = torch.tensor([[[[0.9, 0.2, 0.5, 0.6], [0.3, 0.8, 0.7, 0.4], [1.0, 1.0, 0.1, 0.0], [1.0, 0.95, 0.3, 0.3]]]])
    out = SpikePool2d(2)(t)
    torch.testing.assert_close(out, torch.tensor([[[[0.2, 0.4], [0.95, 0.0]]]]))


def test_network_forward_all_lengths_and_keys():
    net = build_network("5-5-5", e_pos=2.8, e_neg=-1.53, seed=3)
    assert net.arch == "5-5-5" and len(net.layers) == 2
    outs = net.forward_all(torch.rand(4, 5))
    assert [o.shape for o in outs] == [(4, 5), (4, 5)]
    net.eval()
    torch.testing.assert_close(net(torch.zeros(2, 5)), net.forward_all(torch.zeros(2, 5))[-1])
    net.train()
    assert sorted(net.state_dict()) == ["layers.0.weight", "layers.1.weight"]
    # same seed -> same weights; different seed -> different
    assert torch.equal(build_network("5-5-5", e_pos=2.8, e_neg=-1.53, seed=3).layers[0].weight, net.layers[0].weight)
    assert not torch.equal(build_network("5-5-5", e_pos=2.8, e_neg=-1.53, seed=4).layers[0].weight, net.layers[0].weight)

    cnn = build_network("c4-c4-p-c8-p-16-10", e_pos=2.0, e_neg=-2.0, in_shape=(1, 8, 8), steps=3)
    outs = cnn.forward_all(torch.rand(2, 1, 8, 8))
    assert [tuple(o.shape) for o in outs] == [(2, 4, 8, 8), (2, 4, 8, 8), (2, 4, 4, 4), (2, 8, 4, 4), (2, 8, 2, 2), (2, 16), (2, 10)]
    # MLP on image-shaped input: flattened
    mlp = build_network("64-10", e_pos=2.0, e_neg=-2.0, in_shape=(1, 8, 8))
    assert mlp(torch.rand(3, 1, 8, 8)).shape == (3, 10)


def test_vgg7_spec_builds_and_runs():
    net = build_network("c64-c64-p-c128-c128-p-c256-c256-p-512-10", e_pos=3.3, e_neg=-3.3, in_shape=(3, 32, 32), steps=2)
    kinds = [type(m).__name__ for m in net.layers]
    assert kinds == ["RCSpikeConv2d"] * 2 + ["SpikePool2d"] + ["RCSpikeConv2d"] * 2 + ["SpikePool2d"] + ["RCSpikeConv2d"] * 2 + ["SpikePool2d", "RCSpikeLinear", "RCSpikeLinear"]
    assert net.layers[9].weight.shape == (512, 256 * 4 * 4)
    with torch.no_grad():
        out = net(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 10) and ((out >= 0) & (out <= 1)).all()


@pytest.mark.parametrize(
    "arch,kw",
    [("5-x-5", {}), ("5", {}), ("c4-10", {}), ("784-10", {"in_shape": (1, 28, 27)}), ("5--5", {}), ("c4-10", {"model": "ttfs", "in_shape": (1, 4, 4)})],
)
def test_bad_arch_raises(arch, kw):
    with pytest.raises(ValueError, match="arch|model"):
        build_network(arch, e_pos=2.0, e_neg=-2.0, **kw)


def test_ideal_switch():
    net = build_network("6-4", e_pos=2.8, e_neg=-1.53, ideal=True)
    layer = net.layers[0]
    assert layer.e_pos == IDEAL_E == 100.0 and layer.e_neg == -100.0
    net.eval()
    t = torch.rand(50, 6, dtype=torch.float64)
    layer.double()
    out = net(t)
    hard_sigmoid = (1 - (1 - t) @ layer.weight.t()).clamp(0, 1)
    assert (out - hard_sigmoid).abs().max() < 0.02  # |E| = 100 ~ the ideal weighted sum (error ~ v^2/2E)
    real = build_network("6-4", e_pos=2.8, e_neg=-1.53).double().eval()
    real.layers[0].weight.data.copy_(layer.weight.data * 3)
    layer.weight.data.mul_(3)
    assert (real(t) - net(t)).abs().max() > 0.02  # and finite |E| is not


def test_noise_train_and_eval_with_generator():
    net = build_network("8-6-3", e_pos=2.0, e_neg=-2.0, noise_sigma=0.05)
    net.eval()
    t = torch.rand(4, 8)
    assert not torch.equal(net(t), net(t))  # noise in eval too
    net.generator = torch.Generator().manual_seed(5)
    a = net.forward_all(t)
    net.generator = torch.Generator().manual_seed(5)
    b = net.forward_all(t)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    clean = build_network("8-6-3", e_pos=2.0, e_neg=-2.0).eval()
    clean.load_state_dict(net.state_dict())
    diff = (a[-1] - clean(t)).std()
    assert 0.02 < diff < 0.2
    with pytest.raises(ValueError, match="noise_sigma"):
        Network([], noise_sigma=-1)


@pytest.mark.parametrize("e", [2.8, 100.0])
def test_fresh_784_400_10_spike_times_spread(e):
    """Weight init: a fresh 784-400-10 network neither saturates at 0 nor at 1 (MNIST-like sparse inputs)."""
    net = build_network("784-400-10", e_pos=e, e_neg=-e, seed=0)
    with torch.no_grad():
        outs = net.forward_all(_sparse_images(128, 784))
    for o in outs:
        q10, q90 = o.quantile(0.1).item(), o.quantile(0.9).item()
        assert (o <= 0).float().mean() < 0.1 and (o >= 1).float().mean() < 0.3, (e, q10, q90)
        assert q90 - q10 > 0.15, (e, q10, q90)
    # uniform inputs with |E| large: centred near 0.5
    with torch.no_grad():
        u = net.forward_all(torch.rand(128, 784))
    if e == 100.0:
        assert 0.3 < u[0].mean() < 0.7


def test_ttfs_layer_and_network():
    layer = TTFSLinear(10, 4, 2.0, -2.0, steps=20, eval_steps=60)
    t = torch.rand(8, 10, dtype=torch.float64)
    layer.double().eval()
    ex = layer(t)
    torch.testing.assert_close(ex, Fn.ttfs_exact(t, layer.weight, 2.0, -2.0))
    assert torch.isfinite(ex).float().mean() > 0.5  # init makes most neurons fire
    layer.eval_solver = "dstd"
    d = layer(t)
    both = torch.isfinite(ex) & torch.isfinite(d)
    assert (d[both] - ex[both]).abs().mean() < 0.02
    net = build_network("10-6-3", e_pos=2.0, e_neg=-2.0, model="ttfs", steps=20)
    assert [type(m).__name__ for m in net.layers] == ["TTFSLinear"] * 2
    assert net.layers[1].t_max == 2.0
    assert net(torch.rand(5, 10)).shape == (5, 3)
