"""nn.Module layers over `functional.py`: RC-Spike linear/conv layers, a TTFS linear layer, spike pooling, and a
network builder from spec strings ("5-5-5", "784-400-400-10", "c64-c64-p-c128-c128-p-c256-c256-p-512-10").

All tensors are spike times in normalised units (one phase = 1; PAPER.md §2). A spiking layer takes input spike
times in [0, 1] and returns output spike times in [0, 1] (RC-Spike) or [0, inf] (TTFS).

Solvers: in `train()` mode a layer uses `solver` ("dstd" with `steps` intervals and a fresh random grid offset
per call, or "exact"); in `eval()` mode `eval_solver` ("exact", or "dstd" with `eval_steps` and the fixed
mid-cell offset 0.5/eval_steps, so evaluation is deterministic).

Weight init (RC-Spike), chosen so that a fresh network neither saturates at t = 0 nor at t = 1:
W ~ Normal(mean = init_mean / N_in, std = init_std / sqrt(N_in)), defaults init_mean = 1.0, init_std = 0.5.
Reasoning: with |E| large, v(1) ~ sum_j w_j (1 - t_j); for inputs spread uniformly on [0, 1] that has mean
N_in * mean / 2 = 0.5 and std ~ sqrt(N_in / 3) * std = 0.29, so t_out = 1 - v(1) starts centred near 0.5 with a
wide spread; sparse image inputs (most pixels dark, t = 1) shift the first layer towards later spikes but leave
them spread (checked in tests/test_02_layers.py on a fresh 784-400-10 network with MNIST-like sparse inputs).
"""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import functional as Fn

Rev = Union[float, Tensor]

__all__ = [
    "RCSpikeLinear",
    "RCSpikeConv2d",
    "TTFSLinear",
    "SpikePool2d",
    "Network",
    "build_network",
    "IDEAL_E",
]

#: |E±| used for the "ideal" top-down baseline (PAPER.md §6: an ANN trained as RC-Spike with |E±| = 100).
IDEAL_E = 100.0

_SOLVERS = ("exact", "dstd")


def _curve_table(table: dict, name: str, curves: tuple, scalars: dict) -> dict:
    """Parse a table of curves over ``log_w`` (ascending, >= 2 finite points, equal lengths) plus ``scalars``
    (name -> default); a ValueError names the table and shows what was given. Other keys pass through."""
    try:
        out = {k: [float(x) for x in table[k]] for k in ("log_w",) + curves}
        out.update({k: float(table.get(k, default)) for k, default in scalars.items()})
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"{name} must be {{'log_w': [...], " + ", ".join(f"'{k}': [...]" for k in curves)
                         + f"}} (equal-length lists), got {table!r}") from None
    xs = out["log_w"]
    if not (len(xs) >= 2 and all(len(out[k]) == len(xs) for k in curves)
            and all(math.isfinite(x) for k in ("log_w",) + curves for x in out[k])
            and all(b > a for a, b in zip(xs, xs[1:]))):
        raise ValueError(f"{name} needs >= 2 finite points, ascending log_w and equal lengths; got {table!r}")
    return {**{k: v for k, v in table.items() if k not in out}, **out}


def check_switch_step(step: Optional[dict]) -> Optional[dict]:
    """Validate a switch-off step table (see functional.switch_step_per_synapse); None passes through."""
    if step is None:
        return None
    out = _curve_table(step, "switch_step", ("pos", "neg"), {"w_min": 0.0, "t_on_max": 1.0})
    if not (out["w_min"] >= 0 and 0 < out["t_on_max"] <= 1):
        raise ValueError(f"switch_step needs w_min >= 0 and 0 < t_on_max <= 1; got {step!r}")
    return out


def check_reversal_table(table: Optional[dict]) -> Optional[dict]:
    """Validate an E±(ln|w|) table (functional.reversal_from_table); None passes through."""
    if table is None:
        return None
    out = _curve_table(table, "reversal_table", ("e_pos", "e_neg"), {})
    if not (min(out["e_pos"]) > 0 and max(out["e_neg"]) < 0):
        raise ValueError(f"reversal_table needs e_pos > 0 > e_neg; got {table!r}")
    return out


def driven_switch_step(step: Optional[dict], driven: Optional[dict], fanout: int) -> Optional[dict]:
    """The switch-off step table of a layer whose inputs come from neurons with ``fanout`` (its own number of
    neurons): ``step`` with both magnitudes raised by ``driven``'s extra step at that fan-out (interpolated in log
    fan-out, held at the ends; generator/circuit/driven_edge.py). No ``driven`` or no ``step``: ``step``."""
    if step is None or driven is None:
        return step
    x = math.log(max(int(fanout), 1))
    fx = [math.log(f) for f in driven["fanout"]]
    extra = {k: float(np.interp(x, fx, driven[k])) for k in ("pos", "neg")}
    return {**step, "pos": [v + extra["pos"] for v in step["pos"]], "neg": [v + extra["neg"] for v in step["neg"]],
            "driven_extra": extra}


def assign_circuit_effects(network: "Network", effects: dict) -> None:
    """Give every fully connected RC-Spike layer of ``network`` the circuit effects (generator/circuit/effects.py):
    E±(|w|), the switch-off step (the first layer's inputs are ideal edges; later layers are driven by neurons, so
    their step includes ``driven_step`` at their fan-out) and the firing delay."""
    k = 0
    for layer in network.layers:
        if isinstance(layer, RCSpikeLinear):
            step = check_switch_step(effects.get("switch_step"))
            if k > 0:
                step = driven_switch_step(step, effects.get("driven_step"), layer.out_features)
            layer.switch_step = step
            layer.fire_delay = float(effects.get("fire_delay") or 0.0)
            layer.reversal_table = check_reversal_table(effects.get("reversal_table"))
        if isinstance(layer, _SPIKING):
            k += 1


def _check_solver(name: str, value: str) -> str:
    if value not in _SOLVERS:
        raise ValueError(f"{name} must be one of {_SOLVERS}, got {value!r}")
    return value


class _SpikingBase(nn.Module):
    """Shared state: reversal potentials, solver choice, DSTD settings, init."""

    def __init__(
        self,
        e_pos: Rev,
        e_neg: Rev,
        *,
        solver: str,
        steps: int,
        eval_solver: str,
        eval_steps: int,
        e_dis: Optional[float] = None,
        init_mean: float = 1.0,
        init_std: float = 0.5,
        switch_step: Optional[dict] = None,
        fire_delay: float = 0.0,
        reversal_table: Optional[dict] = None,
    ) -> None:
        super().__init__()
        self.solver = _check_solver("solver", solver)
        self.reversal_table = check_reversal_table(reversal_table)
        self.switch_step = check_switch_step(switch_step)
        self.fire_delay = float(fire_delay)
        if not (math.isfinite(self.fire_delay) and abs(self.fire_delay) < 0.5):
            raise ValueError(f"fire_delay must be a finite time well inside the phase (|d| < 0.5), got {fire_delay}")
        self.eval_solver = _check_solver("eval_solver", eval_solver)
        if int(steps) < 1 or int(eval_steps) < 1:
            raise ValueError(f"steps and eval_steps must be >= 1, got {steps}, {eval_steps}")
        self.steps = int(steps)
        self.eval_steps = int(eval_steps)
        self.e_dis = None if e_dis is None else float(e_dis)
        if self.e_dis is not None and not self.e_dis > 1.0:
            raise ValueError(f"e_dis must be > 1 or None (ideal ramp), got {e_dis}")
        self.init_mean = float(init_mean)
        self.init_std = float(init_std)
        #: optional torch.Generator for the training-time DSTD offsets (None = the global RNG)
        self.generator: Optional[torch.Generator] = None
        for name, e in (("e_pos", e_pos), ("e_neg", e_neg)):
            if isinstance(e, Tensor):
                self.register_buffer(name, e.detach().clone().float())
            else:
                setattr(self, name, float(e))
        if not (bool((torch.as_tensor(self.e_pos) > 0).all()) and bool((torch.as_tensor(self.e_neg) < 0).all())):
            raise ValueError(f"need e_pos > 0 > e_neg, got e_pos={e_pos}, e_neg={e_neg}")

    def _rev(self, w: Tensor):
        if self.reversal_table is not None:  # E±(|w|) per synapse (functional.reversal_from_table)
            return Fn.reversal_from_table(w, self.reversal_table)
        ep = self.e_pos.to(w.dtype) if isinstance(self.e_pos, Tensor) else self.e_pos
        en = self.e_neg.to(w.dtype) if isinstance(self.e_neg, Tensor) else self.e_neg
        return ep, en

    def _mode(self):
        """(solver, steps, offset) for the current mode; offset None = random (training)."""
        if self.training:
            return self.solver, self.steps, None
        return self.eval_solver, self.eval_steps, 0.5 / self.eval_steps

    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        fan_in = self.weight[0].numel()
        with torch.no_grad():
            w = torch.randn(self.weight.shape, generator=generator, dtype=torch.float32)
            w = w * (self.init_std / math.sqrt(fan_in)) + self.init_mean / fan_in
            self.weight.copy_(w.to(self.weight.dtype))

    def extra_repr(self) -> str:
        ep = "tensor" if isinstance(self.e_pos, Tensor) else f"{self.e_pos:g}"
        en = "tensor" if isinstance(self.e_neg, Tensor) else f"{self.e_neg:g}"
        return (
            f"e_pos={ep}, e_neg={en}, solver={self.solver}, steps={self.steps}, "
            f"eval_solver={self.eval_solver}, eval_steps={self.eval_steps}, e_dis={self.e_dis}"
            + (", switch_step" if self.switch_step is not None else "")
            + (f", fire_delay={self.fire_delay:g}" if self.fire_delay else "")
            + (", reversal_table" if self.reversal_table is not None else "")
        )


class RCSpikeLinear(_SpikingBase):
    """Fully connected RC-Spike layer: t_in [B, in] -> t_out [B, out] (both in [0, 1]).

    `.weight` [out, in] (normalised currents). `membrane(t_in)` gives v(1) [B, out] before the firing phase.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        e_pos: Rev,
        e_neg: Rev,
        *,
        solver: str = "dstd",
        steps: int = 10,
        eval_solver: str = "exact",
        eval_steps: int = 30,
        e_dis: Optional[float] = None,
        init_mean: float = 1.0,
        init_std: float = 0.5,
        generator: Optional[torch.Generator] = None,
        switch_step: Optional[dict] = None,
        fire_delay: float = 0.0,
        reversal_table: Optional[dict] = None,
    ) -> None:
        super().__init__(
            e_pos, e_neg, solver=solver, steps=steps, eval_solver=eval_solver, eval_steps=eval_steps,
            e_dis=e_dis, init_mean=init_mean, init_std=init_std, switch_step=switch_step, fire_delay=fire_delay,
            reversal_table=reversal_table,
        )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.reset_parameters(generator)

    def membrane(self, t_in: Tensor) -> Tensor:
        if t_in.dim() != 2 or t_in.shape[1] != self.in_features:
            raise ValueError(f"expected input spike times [B, {self.in_features}], got {tuple(t_in.shape)}")
        w = self.weight
        ep, en = self._rev(w)
        solver, steps, offset = self._mode()
        if solver == "exact":
            return Fn.rcspike_exact(t_in, w, ep, en)
        return Fn.rcspike_dstd(t_in, w, ep, en, steps, offset, generator=self.generator)

    def forward(self, t_in: Tensor) -> Tensor:
        v = self.membrane(t_in)
        if self.switch_step is not None:  # the circuit's selector switch-off step at t = 1 (functional.switch_step)
            v = v + Fn.switch_step(t_in, self.weight, self.switch_step)
        return Fn.spike_time(v, self.e_dis, self.fire_delay)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, " + super().extra_repr()


class RCSpikeConv2d(_SpikingBase):
    """2-D convolutional RC-Spike layer: t_in [B, C, H, W] -> t_out [B, out_ch, H', W'].

    Zero padding means "no spike" (t = 1), as in a physical array whose padded inputs never fire.
    DSTD: the cumulative spike variables S [B, M, C, H, W] are made on the image and convolved with
    [W; beta W] (one conv2d with the M grid intervals folded into the batch; S = 0 is exactly "no spike", so
    zero padding is right). Exact: im2col (unfold) and `rcspike_exact` per output position.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        *,
        e_pos: Rev,
        e_neg: Rev,
        solver: str = "dstd",
        steps: int = 10,
        eval_solver: str = "exact",
        eval_steps: int = 30,
        e_dis: Optional[float] = None,
        init_mean: float = 1.0,
        init_std: float = 0.5,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        super().__init__(
            e_pos, e_neg, solver=solver, steps=steps, eval_solver=eval_solver, eval_steps=eval_steps,
            e_dis=e_dis, init_mean=init_mean, init_std=init_std,
        )
        self.in_ch, self.out_ch = int(in_ch), int(out_ch)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        self.weight = nn.Parameter(torch.empty(self.out_ch, self.in_ch, self.kernel_size, self.kernel_size))
        self.reset_parameters(generator)

    def out_shape(self, h: int, w: int) -> tuple:
        k, s, p = self.kernel_size, self.stride, self.padding
        return self.out_ch, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1

    def membrane(self, t_in: Tensor) -> Tensor:
        if t_in.dim() != 4 or t_in.shape[1] != self.in_ch:
            raise ValueError(f"expected input spike times [B, {self.in_ch}, H, W], got {tuple(t_in.shape)}")
        w = self.weight
        ep, en = self._rev(w)
        solver, steps, offset = self._mode()
        b, _, h, wd = t_in.shape
        _, ho, wo = self.out_shape(h, wd)
        t = t_in.to(w.dtype).clamp(0.0, 1.0)
        if solver == "exact":
            cols = 1.0 - F.unfold(1.0 - t, self.kernel_size, padding=self.padding, stride=self.stride)
            cols = cols.transpose(1, 2).reshape(b * ho * wo, -1)  # [B*L, C*k*k]
            w2 = w.reshape(self.out_ch, -1)
            ep2 = ep.reshape(self.out_ch, -1) if isinstance(ep, Tensor) and ep.dim() == 4 else ep
            en2 = en.reshape(self.out_ch, -1) if isinstance(en, Tensor) and en.dim() == 4 else en
            v = Fn.rcspike_exact(cols, w2, ep2, en2)  # [B*L, out]
            return v.view(b, ho * wo, self.out_ch).transpose(1, 2).reshape(b, self.out_ch, ho, wo)
        if offset is None:
            offset = Fn.draw_offset(steps, self.generator)
        points, widths, _ = Fn.dstd_grid(steps, offset, t.dtype, t.device)
        m = widths.shape[0]
        s = ((points[1:].view(1, m, 1, 1, 1) - t.unsqueeze(1)) / widths.view(1, m, 1, 1, 1)).clamp(0.0, 1.0)
        kern = torch.cat([w, Fn.decay_weight(w, ep, en)], 0)  # [2 out, C, k, k]
        gf = F.conv2d(s.reshape(b * m, self.in_ch, h, wd), kern, stride=self.stride, padding=self.padding)
        gf = gf.view(b, m, 2 * self.out_ch, ho, wo)
        return Fn.rcspike_grid_solution(gf[:, :, : self.out_ch], gf[:, :, self.out_ch :], widths, dim=1)

    def forward(self, t_in: Tensor) -> Tensor:
        return Fn.spike_time(self.membrane(t_in), self.e_dis)

    def extra_repr(self) -> str:
        return (
            f"{self.in_ch}, {self.out_ch}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, " + super().extra_repr()
        )


class TTFSLinear(_SpikingBase):
    """Fully connected TTFS layer (PAPER.md §2.3): first threshold crossing, no phases.

    t_in [B, in] (times >= 0, +inf = no spike) -> t_out [B, out] (+inf, or `no_spike` if given, where the
    neuron never fires). DSTD grid over [0, t_max] (inputs beyond t_max are treated as arriving at t_max).
    Init: Normal(init_mean/N_in, init_std/sqrt(N_in)) with init_mean = 4, init_std = 1: with inputs spread over
    [0, 1] the summed drive reaches threshold 1 around t ~ 0.7, so most neurons fire at first (checked in tests).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        e_pos: Rev,
        e_neg: Rev,
        *,
        solver: str = "dstd",
        steps: int = 20,
        eval_solver: str = "exact",
        eval_steps: int = 60,
        threshold: float = 1.0,
        t_max: float = 1.0,
        no_spike: float = math.inf,
        init_mean: float = 4.0,
        init_std: float = 1.0,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        super().__init__(
            e_pos, e_neg, solver=solver, steps=steps, eval_solver=eval_solver, eval_steps=eval_steps,
            e_dis=None, init_mean=init_mean, init_std=init_std,
        )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.threshold = float(threshold)
        self.t_max = float(t_max)
        self.no_spike = float(no_spike)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.reset_parameters(generator)

    def forward(self, t_in: Tensor) -> Tensor:
        if t_in.dim() != 2 or t_in.shape[1] != self.in_features:
            raise ValueError(f"expected input spike times [B, {self.in_features}], got {tuple(t_in.shape)}")
        w = self.weight
        ep, en = self._rev(w)
        solver, steps, offset = self._mode()
        if solver == "exact":
            return Fn.ttfs_exact(t_in, w, ep, en, self.threshold, no_spike=self.no_spike)
        return Fn.ttfs_dstd(
            t_in, w, ep, en, steps, self.threshold, None if offset is None else offset * self.t_max,
            t_max=self.t_max, no_spike=self.no_spike, generator=self.generator,
        )


class SpikePool2d(nn.Module):
    """Min-pooling of spike times (= max-pooling of intensities, since t = 1 - x): [B, C, H, W] -> pooled."""

    def __init__(self, kernel_size: int = 2, stride: Optional[int] = None) -> None:
        super().__init__()
        self.kernel_size = int(kernel_size)
        self.stride = int(stride) if stride is not None else self.kernel_size

    def forward(self, t_in: Tensor) -> Tensor:
        return -F.max_pool2d(-t_in, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


_SPIKING = (RCSpikeLinear, RCSpikeConv2d, TTFSLinear)


class Network(nn.Module):
    """A stack of spiking layers (and pools). `.layers` is the ModuleList in order; a 4-D tensor is flattened
    before the first fully connected layer. Gaussian spike-time noise N(0, noise_sigma) is added to the output
    of every spiking layer in train AND eval mode (PAPER.md §2.5), drawn from `.generator` when set.
    The noisy times are not clipped here; each solver clips its inputs to the phase.
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        arch: str = "",
        noise_sigma: float = 0.0,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.arch = arch
        if noise_sigma < 0:
            raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}")
        self.noise_sigma = float(noise_sigma)
        self.generator = generator

    def forward_all(self, t_in: Tensor) -> list:
        """Spike times after every entry of `.layers` (input excluded)."""
        x = t_in
        outs = []
        for layer in self.layers:
            if isinstance(layer, (RCSpikeLinear, TTFSLinear)) and x.dim() > 2:
                x = x.flatten(1)
            x = layer(x)
            if self.noise_sigma > 0 and isinstance(layer, _SPIKING):
                noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype, device=x.device)
                x = x + self.noise_sigma * noise
            outs.append(x)
        return outs

    def forward(self, t_in: Tensor) -> Tensor:
        return self.forward_all(t_in)[-1]

    @property
    def spiking_layers(self) -> list:
        return [m for m in self.layers if isinstance(m, _SPIKING)]

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, noise_sigma={self.noise_sigma}"


_CONV = re.compile(r"^c(\d+)$")


def build_network(
    arch: str,
    *,
    e_pos: Rev,
    e_neg: Rev,
    e_dis: Optional[float] = None,
    model: str = "rcspike",
    solver: str = "dstd",
    steps: int = 10,
    eval_solver: str = "exact",
    eval_steps: int = 30,
    ideal: bool = False,
    in_shape: Optional[Sequence[int]] = None,
    noise_sigma: float = 0.0,
    seed: int = 0,
    switch_step: Optional[dict] = None,
    fire_delay: float = 0.0,
    reversal_table: Optional[dict] = None,
    driven_step: Optional[dict] = None,
) -> Network:
    """Build a Network from a spec string.

    MLP: "5-5-5", "784-400-400-10" (first number = inputs). CNN: the paper's VGG7
    "c64-c64-p-c128-c128-p-c256-c256-p-512-10" with in_shape=(C, H, W): cN = 3x3 conv (stride 1, pad 1) with N
    channels, p = 2x2 min-pool of spike times, a number = fully connected layer of that width.
    ideal=True sets E± = ±100 (the top-down baseline). model="ttfs" builds TTFSLinear layers (MLP only), the
    k-th (0-based) with a DSTD range t_max = k + 1. Weights are initialised from `seed`. ``switch_step``: the
    circuit's selector switch-off step (functional.switch_step), fully connected RC-Spike layers only;
    ``fire_delay``: the circuit's firing delay (model units, functional.spike_time), same layers;
    ``reversal_table``: E±(|w|) per synapse (functional.reversal_from_table), same layers; ``driven_step``: the
    extra step of neuron-driven selectors (see :func:`assign_circuit_effects`).
    """
    if model not in ("rcspike", "ttfs"):
        raise ValueError(f"model must be 'rcspike' or 'ttfs', got {model!r}")
    if ideal:
        e_pos, e_neg = IDEAL_E, -IDEAL_E
    tokens = [tok.strip() for tok in str(arch).split("-")]
    if not tokens or any(not tok for tok in tokens):
        raise ValueError(f"bad arch {arch!r}: expected e.g. '784-400-10' or 'c64-c64-p-512-10'")
    gen = torch.Generator().manual_seed(int(seed))
    common = dict(solver=solver, steps=steps, eval_solver=eval_solver, eval_steps=eval_steps, generator=gen)
    if model == "rcspike":
        common["e_dis"] = e_dis

    layers: list = []
    if tokens[0].isdigit():
        n_in = int(tokens[0])
        if in_shape is not None and math.prod(in_shape) != n_in:
            raise ValueError(f"arch {arch!r} takes {n_in} inputs but in_shape {tuple(in_shape)} has {math.prod(in_shape)}")
        shape: tuple = (n_in,)
        tokens = tokens[1:]
        if not tokens:
            raise ValueError(f"arch {arch!r} has no layers after the input size")
    else:
        if in_shape is None or len(in_shape) != 3:
            raise ValueError(f"arch {arch!r} starts with a conv/pool layer: give in_shape=(C, H, W)")
        shape = tuple(int(x) for x in in_shape)
    n_fc = 0
    for tok in tokens:
        conv = _CONV.match(tok)
        if conv or tok == "p":
            if switch_step is not None or fire_delay or reversal_table is not None:
                raise ValueError(f"switch_step/fire_delay/reversal_table are modelled for fully connected layers "
                                 f"only, not {tok!r} in {arch!r}")
            if model == "ttfs":
                raise ValueError(f"model='ttfs' supports MLP specs only, got {arch!r}")
            if len(shape) != 3:
                raise ValueError(f"arch {arch!r}: '{tok}' after a fully connected layer is not supported")
            if conv:
                layer = RCSpikeConv2d(shape[0], int(conv.group(1)), 3, 1, 1, e_pos=e_pos, e_neg=e_neg, **common)
                shape = layer.out_shape(shape[1], shape[2])
            else:
                layer = SpikePool2d(2)
                shape = (shape[0], shape[1] // 2, shape[2] // 2)
            layers.append(layer)
        elif tok.isdigit():
            n_in, n_out = math.prod(shape), int(tok)
            if model == "ttfs":
                if switch_step is not None or fire_delay or reversal_table is not None:
                    raise ValueError("switch_step/fire_delay/reversal_table belong to the RC-Spike circuit, not "
                                     "model='ttfs'")
                layers.append(TTFSLinear(n_in, n_out, e_pos, e_neg, t_max=float(n_fc + 1), **common))
            else:
                step = switch_step if n_fc == 0 else driven_switch_step(switch_step, driven_step, n_out)
                layers.append(RCSpikeLinear(n_in, n_out, e_pos, e_neg, switch_step=step,
                                            fire_delay=fire_delay, reversal_table=reversal_table, **common))
            shape = (n_out,)
            n_fc += 1
        else:
            raise ValueError(f"bad token {tok!r} in arch {arch!r}: use a number, 'cN' or 'p'")
    return Network(layers, arch=str(arch), noise_sigma=noise_sigma)
