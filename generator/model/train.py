"""Training, evaluation and the trained-model folder (``weights.safetensors`` + ``card.json``).

Why: the hardware side never imports torch; it reads a trained model only through this folder. So the folder
must say everything needed to reproduce the model's behaviour (architecture, reversal potentials E±, discharger
E_dis, solver, spike-time noise, seed, test accuracy, the command that made it) and be rejected loudly when it
is broken (missing file, NaN weights, shapes that do not match the card).

Loss (PAPER.md Eq. 49-53, with the minus sign the text surely means, so the earliest spike wins):

    C = CE(softmax(-t_out / tau_soft), label) + gamma_T * sum_i (t_out_i - t_ref)^2
        + gamma_W * sum_l ||W_l||_2^2 + gamma_V * sum_{l>=1} sum_i (t^(l)_i - 1)^2

(batch means of the per-sample terms). Two recipes:
- ``default`` (RC-Spike, PAPER.md 2.5): Adam lr 1e-4, batch 32, tau_soft 0.07, gamma_T 2.6, t_ref 0.9.
- ``iris`` (circuit experiment, PAPER.md Table 2): Adam lr 1e-3, batch 50, tau_soft 0.07, gamma_T 0.1,
  gamma_W 1e-2 (weight 2-norm, limits synapse currents), gamma_V 0.2 (early-spike penalty over hidden and
  output layers, early spikes are hard for the circuit).
Time is dimensionless (one phase = 1); E± are dimensionless model reversal potentials.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from generator.errors import InputError, RunError
from generator.io import atomic_write_bytes, atomic_write_text, dump_json
from generator.model.card import CardError, canonical_dataset, check_name, validate_card
from generator.model.data import Dataset, load_dataset

WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "card.json"
README_FILE = "README.md"
IDEAL_E = 100.0  # |E±| of the ideal (top-down baseline) model

RECIPES: dict[str, dict[str, float]] = {
    "default": dict(lr=1e-4, batch_size=32, tau_soft=0.07, gamma_t=2.6, t_ref=0.9, gamma_w=0.0, gamma_v=0.0),
    "iris": dict(lr=1e-3, batch_size=50, tau_soft=0.07, gamma_t=0.1, t_ref=0.9, gamma_w=1e-2, gamma_v=0.2),
}

#: evaluation batch (samples): fixed, because the seeded noise draws follow the batching, so the same model gives
#: the same accuracy on every run; small enough that the exact solver's [B, N_in, 2 N_out] tensors stay < 300 MB
EVAL_BATCH = 100


#: the card also records the accuracy on the first HEAD_N test samples, a quick re-check for big test sets
HEAD_N = 1000


class ModelError(InputError):
    """A trained-model folder that cannot be read or does not match its card (message names the file)."""


class TrainingError(RunError):
    """Training diverged (NaN/inf loss or weights); the message says where and what to change."""


@dataclass
class TrainConfig:
    """Everything that defines a training run. ``None`` fields take the recipe's value."""

    dataset: str
    arch: str
    e_pos: float = 2.80
    e_neg: float = -1.53
    e_dis: float | None = None  # None = ideal firing ramp
    switch_step: dict | None = None  # the circuit's selector switch-off step table (functional.switch_step)
    fire_delay: float = 0.0  # the circuit's firing delay (model units, functional.spike_time)
    reversal_table: dict | None = None  # E±(|w|) per synapse (functional.reversal_from_table)
    driven_step: dict | None = None  # extra step of neuron-driven selectors (layers.assign_circuit_effects)
    ideal: bool = False  # |E±| = 100 (top-down baseline)
    recipe: str = "auto"  # "auto" (iris for the iris dataset, else default) | "iris" | "default"
    epochs: int = 50
    lr: float | None = None
    batch_size: int | None = None
    tau_soft: float | None = None
    gamma_t: float | None = None
    t_ref: float | None = None
    gamma_w: float | None = None
    gamma_v: float | None = None
    schedule: str = "constant"  # "constant" | "cosine" (learning rate annealed to lr/100 over the epochs)
    noise_sigma: float = 0.01  # Gaussian spike-time noise (train and test), time units
    solver: str = "dstd"
    steps: int = 10  # DSTD grid points per phase
    eval_solver: str = "exact"
    eval_steps: int = 30
    seed: int = 0
    val_fraction: float = 0.1  # share of the train split held out to pick the best epoch (0: use the train split)
    augment_shift: int = 0  # random image shifts of up to this many pixels (images only)
    data_dir: str | None = None
    name: str | None = None

    def resolved(self) -> "TrainConfig":
        """Copy with the recipe's values filled in for every ``None`` hyperparameter."""
        recipe = self.recipe
        if recipe == "auto":
            recipe = "iris" if self.dataset == "iris" else "default"
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; choose auto, iris or default")
        d = asdict(self)
        d["recipe"] = recipe
        for k, v in RECIPES[recipe].items():
            if d[k] is None:
                d[k] = v
        d["batch_size"] = int(d["batch_size"])
        if self.ideal:
            d["e_pos"], d["e_neg"] = IDEAL_E, -IDEAL_E
        return TrainConfig(**d)

    def validate(self) -> "TrainConfig":
        bad = [f"{k}={v} (must be a finite number)" for k, v in asdict(self).items()
               if isinstance(v, float) and not math.isfinite(v)]
        if not self.e_pos > 0:
            bad.append(f"e_pos={self.e_pos} (must be > 0)")
        if not self.e_neg < 0:
            bad.append(f"e_neg={self.e_neg} (must be < 0)")
        if self.e_dis is not None and not self.e_dis > 0:
            bad.append(f"e_dis={self.e_dis} (must be > 0, or omitted for the ideal ramp)")
        if self.epochs < 1:
            bad.append(f"epochs={self.epochs} (must be >= 1)")
        if self.lr is not None and not self.lr > 0:
            bad.append(f"lr={self.lr} (must be > 0)")
        if self.batch_size is not None and self.batch_size < 1:
            bad.append(f"batch_size={self.batch_size} (must be >= 1)")
        if self.noise_sigma < 0:
            bad.append(f"noise_sigma={self.noise_sigma} (must be >= 0)")
        if self.steps < 1 or self.eval_steps < 1:
            bad.append("steps/eval_steps must be >= 1")
        if not 0 <= self.val_fraction < 1:
            bad.append(f"val_fraction={self.val_fraction} (must be in [0, 1))")
        if self.schedule not in ("constant", "cosine"):
            bad.append(f"schedule={self.schedule!r} (constant or cosine)")
        for check, value, where in ((canonical_dataset, self.dataset, "dataset"),
                                    (check_name, self.name, "name (--name)")):
            if value is not None:
                try:
                    check(value, where)
                except CardError as exc:
                    bad.append(str(exc))
        if bad:
            raise ValueError("invalid training settings: " + "; ".join(bad))
        return self


# --------------------------------------------------------------------------------------------- helpers


def is_mlp(arch: str) -> bool:
    """True for plain MLP specs such as ``5-5-5`` (every token an integer)."""
    return all(tok.strip().isdigit() for tok in arch.split("-"))


def mlp_sizes(arch: str) -> list[int]:
    return [int(tok) for tok in arch.split("-")]


def _inputs_for(arch: str, x: torch.Tensor) -> torch.Tensor:
    """Flatten images for MLPs; keep [N, C, H, W] for conv nets."""
    return x.reshape(x.shape[0], -1) if is_mlp(arch) else x


def _build(card_or_cfg: dict, in_shape: tuple[int, ...] | None, seed: int):
    from generator.model.layers import build_network

    c = card_or_cfg
    return build_network(
        c["arch"], e_pos=c["e_pos"], e_neg=c["e_neg"], e_dis=c.get("e_dis"), model=c.get("model", "rcspike"),
        solver=c["solver"], steps=int(c["steps"]), eval_solver=c["eval_solver"], eval_steps=int(c["eval_steps"]),
        ideal=False, in_shape=None if is_mlp(c["arch"]) else tuple(in_shape), noise_sigma=float(c["noise_sigma"]),
        seed=seed, switch_step=c.get("switch_step"), fire_delay=float(c.get("fire_delay") or 0.0),
        reversal_table=c.get("reversal_table"), driven_step=c.get("driven_step"),
    )


def _set_noise_generator(network, generator: torch.Generator | None) -> None:
    """Give the network's spike-time noise a seeded generator (attribute name per layers.Network)."""
    network.generator = generator


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for pkg in ("imcgen", "safetensors"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image [N, C, H, W] of spike times by up to ``max_shift`` pixels (padding t = 1: no spike)."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    k = max_shift
    padded = F.pad(x, (k, k, k, k), value=1.0)
    dy = torch.randint(0, 2 * k + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * k + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # [N, H]
    cols = (dx[:, None] + torch.arange(w)[None, :])  # [N, W]
    idx_n = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # [N, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def _stratified_holdout(y: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) with ``fraction`` of each class in val (at least 1 per class)."""
    g = torch.Generator().manual_seed(seed + 7919)
    tr, va = [], []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = max(1, int(round(fraction * len(idx))))
        va.append(idx[:k])
        tr.append(idx[k:])
    return torch.sort(torch.cat(tr)).values, torch.sort(torch.cat(va)).values


def loss_terms(outputs: list[torch.Tensor], labels: torch.Tensor, network, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The cost terms (each a scalar tensor); ``outputs`` = spike times of every layer (input excluded)."""
    t_out = outputs[-1]
    ce = F.cross_entropy(-t_out / cfg.tau_soft, labels)
    temp = ((t_out - cfg.t_ref) ** 2).sum(dim=1).mean()
    terms = {"ce": ce, "temp": cfg.gamma_t * temp}
    if cfg.gamma_w:
        terms["weight"] = cfg.gamma_w * sum((p ** 2).sum() for n, p in network.named_parameters() if n.endswith("weight"))
    if cfg.gamma_v:
        terms["early"] = cfg.gamma_v * sum(((t - 1.0) ** 2).reshape(t.shape[0], -1).sum(dim=1).mean() for t in outputs)
    return terms


@torch.no_grad()
def predict(network, x: torch.Tensor, *, noise_seed: int | None = 0, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Output spike times [N, classes] in eval mode (exact solver for MLPs); noise drawn from ``noise_seed``."""
    was_training = network.training
    network.eval()
    gen = torch.Generator().manual_seed(int(noise_seed)) if noise_seed is not None else None
    _set_noise_generator(network, gen)
    try:
        outs = [network(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    finally:
        _set_noise_generator(network, None)
        network.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def accuracy(network, x: torch.Tensor, y: torch.Tensor, *, noise_seed: int | None = 0) -> float:
    """Share of samples whose earliest output spike is the label's neuron."""
    t = predict(network, x, noise_seed=noise_seed)
    return float((t.argmin(dim=1) == y).float().mean()) if len(y) else float("nan")


# --------------------------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    network: Any
    card: dict
    history: list[dict] = field(default_factory=list)


def train(cfg: TrainConfig, *, dataset: Dataset | None = None, out: str | os.PathLike | None = None,
          command: str | None = None, checkpoint_dir: str | os.PathLike | None = None,
          progress: bool = True, log: Callable[[str], None] | None = print) -> TrainResult:
    """Train a network; return it (best epoch by validation accuracy) with its card; save to ``out`` if given.

    ``checkpoint_dir``: the best model so far is written there (a loadable model folder) after every improvement.
    Raises TrainingError on a NaN/inf loss (epoch and batch named).
    """
    cfg = cfg.resolved().validate()
    if dataset is None:
        dataset = load_dataset(cfg.dataset, cfg.data_dir)
    torch.manual_seed(cfg.seed)  # DSTD's random offsets draw from the global generator
    x_all = _inputs_for(cfg.arch, dataset.x_train)
    y_all = dataset.y_train
    if cfg.val_fraction > 0:
        tr, va = _stratified_holdout(y_all, cfg.val_fraction, cfg.seed)
        x_tr, y_tr, x_va, y_va = x_all[tr], y_all[tr], x_all[va], y_all[va]
    else:
        x_tr, y_tr, x_va, y_va = x_all, y_all, x_all, y_all
    if is_mlp(cfg.arch) and mlp_sizes(cfg.arch)[0] != x_tr.shape[1]:
        raise ValueError(f"arch {cfg.arch!r} expects {mlp_sizes(cfg.arch)[0]} inputs but dataset {dataset.name} "
                         f"has {x_tr.shape[1]} (use {x_tr.shape[1]}-...-{dataset.n_classes})")

    card = _card_skeleton(cfg, dataset, command)
    network = _build(card, dataset.in_shape, cfg.seed)
    out_size = _output_size(network, x_tr[:2])
    if out_size < dataset.n_classes:
        # more outputs than classes is allowed: the paper's Iris net is 5-5-5 with 3 classes used (PAPER.md 5.1);
        # the unused neurons only ever appear in the softmax as wrong answers, so they learn to fire late
        raise ValueError(f"arch {cfg.arch!r} has {out_size} outputs but {dataset.name} has {dataset.n_classes} classes")
    opt = torch.optim.Adam(network.parameters(), lr=cfg.lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.lr / 100)
             if cfg.schedule == "cosine" else None)
    g_shuffle = torch.Generator().manual_seed(cfg.seed + 1)
    g_noise = torch.Generator().manual_seed(cfg.seed + 2)
    g_aug = torch.Generator().manual_seed(cfg.seed + 3)
    n = x_tr.shape[0]
    n_batches = math.ceil(n / cfg.batch_size)
    best = (-1.0, math.inf)
    best_state = None
    best_epoch = -1
    history: list[dict] = []
    t0 = time.monotonic()

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=not progress, transient=True)
    with bar:
        task = bar.add_task(f"train {cfg.dataset} {cfg.arch}", total=cfg.epochs * n_batches, info="")
        for epoch in range(1, cfg.epochs + 1):
            network.train()
            _set_noise_generator(network, g_noise)
            perm = torch.randperm(n, generator=g_shuffle)
            tot, tot_n = 0.0, 0
            for b in range(n_batches):
                idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                xb, yb = x_tr[idx], y_tr[idx]
                if cfg.augment_shift and dataset.encoding == "image":
                    shape = (xb.shape[0], *dataset.in_shape)
                    xb = random_shift(xb.reshape(shape), cfg.augment_shift, g_aug).reshape(xb.shape)
                outputs = network.forward_all(xb)
                terms = loss_terms(outputs, yb, network, cfg)
                loss = sum(terms.values())
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"loss became {float(loss.detach())} at epoch {epoch}, batch {b + 1}/{n_batches} "
                        f"(terms: {', '.join(f'{k}={float(v.detach()):.4g}' for k, v in terms.items())}); "
                        f"lower the learning rate (now --lr {cfg.lr:g}) or the noise (--noise {cfg.noise_sigma:g})")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(idx)
                tot_n += len(idx)
                bar.update(task, advance=1, info=f"epoch {epoch} loss {tot / tot_n:.4f}")
            bad = [nm for nm, p in network.named_parameters() if not torch.isfinite(p).all()]
            if bad:
                raise TrainingError(f"weights {bad} became NaN/inf in epoch {epoch}; lower the learning rate "
                                    f"(now --lr {cfg.lr:g})")
            if sched is not None:
                sched.step()
            _set_noise_generator(network, None)
            t_va = predict(network, x_va, noise_seed=cfg.seed)  # eval mode, eval solver, seeded noise
            val_acc = float((t_va.argmin(dim=1) == y_va).float().mean())
            val_loss = float(F.cross_entropy(-t_va / cfg.tau_soft, y_va))
            history.append({"epoch": epoch, "loss": tot / tot_n, "val_accuracy": val_acc, "val_ce": val_loss})
            improved = (val_acc, -val_loss) > (best[0], -best[1])
            if improved:
                best = (val_acc, val_loss)
                best_epoch = epoch
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
                if checkpoint_dir is not None:
                    ck = dict(card, best_epoch=epoch, val_accuracy=val_acc, test_accuracy=None, n_test=None)
                    save_trained_model(checkpoint_dir, network, ck)
            if log:
                log(f"epoch {epoch:4d}/{cfg.epochs}  loss {tot / tot_n:.4f}  val acc {val_acc:.4f}  val ce "
                    f"{val_loss:.4f}{'  *' if improved else ''}  ({time.monotonic() - t0:.0f} s)")

    network.load_state_dict(best_state)
    x_te = _inputs_for(cfg.arch, dataset.x_test)
    correct = (predict(network, x_te, noise_seed=cfg.seed).argmin(dim=1) == dataset.y_test).float()
    test_acc = float(correct.mean())
    head = min(HEAD_N, len(correct))
    card.update(
        test_accuracy=round(test_acc, 6), n_test=int(dataset.y_test.shape[0]), best_epoch=best_epoch,
        test_accuracy_head={"n": head, "accuracy": round(float(correct[:head].mean()), 6)},
        val_accuracy=round(best[0], 6), n_train=int(x_tr.shape[0]), n_val=int(x_va.shape[0]),
    )
    if log:
        log(f"best epoch {best_epoch}: val acc {best[0]:.4f}; test acc {test_acc:.4f} on {card['n_test']} samples")
    if out is not None:
        save_trained_model(out, network, card)
    return TrainResult(network=network, card=card, history=history)


def _output_size(network, x: torch.Tensor) -> int:
    with torch.no_grad():
        was = network.training
        network.eval()
        _set_noise_generator(network, None)
        size = int(network(x).shape[-1])
        network.train(was)
    return size


def default_command(cfg: TrainConfig) -> str:
    """A full ``imcgen train`` command line that reproduces ``cfg`` (used when none was given)."""
    c = cfg
    args = ["imcgen", "train", "--dataset", c.dataset, "--arch", c.arch, "--e-pos", repr(c.e_pos),
            "--e-neg", repr(c.e_neg)]
    if c.e_dis is not None:
        args += ["--e-dis", repr(c.e_dis)]
    if c.ideal:
        args += ["--ideal"]
    args += ["--recipe", c.recipe, "--epochs", str(c.epochs), "--seed", str(c.seed), "--noise", repr(c.noise_sigma),
             "--steps", str(c.steps)]
    for opt, val in (("--lr", c.lr), ("--batch-size", c.batch_size), ("--tau-soft", c.tau_soft),
                     ("--gamma-t", c.gamma_t), ("--t-ref", c.t_ref), ("--gamma-w", c.gamma_w),
                     ("--gamma-v", c.gamma_v)):
        if val is not None:
            args += [opt, repr(val)]
    if c.schedule != "constant":
        args += ["--schedule", c.schedule]
    if c.val_fraction != TrainConfig.val_fraction:
        args += ["--val-fraction", repr(c.val_fraction)]
    if c.augment_shift:
        args += ["--augment-shift", str(c.augment_shift)]
    return shlex.join(args)


def _card_skeleton(cfg: TrainConfig, dataset: Dataset, command: str | None) -> dict:
    sizes = mlp_sizes(cfg.arch) if is_mlp(cfg.arch) else None
    return {
        "name": cfg.name or f"{cfg.dataset}-{cfg.arch}",
        "arch": cfg.arch,
        "sizes": sizes,
        "in_shape": list(dataset.in_shape),
        "dataset": dataset.name,
        "encoding": dataset.encoding,
        "n_classes": dataset.n_classes,
        "model": "rcspike",
        "e_pos": float(cfg.e_pos),
        "e_neg": float(cfg.e_neg),
        "e_dis": None if cfg.e_dis is None else float(cfg.e_dis),
        "switch_step": cfg.switch_step,
        "fire_delay": float(cfg.fire_delay),
        "reversal_table": cfg.reversal_table,
        "driven_step": cfg.driven_step,
        "ideal": bool(cfg.ideal),
        "solver": cfg.solver,
        "steps": int(cfg.steps),
        "eval_solver": cfg.eval_solver,
        "eval_steps": int(cfg.eval_steps),
        "noise_sigma": float(cfg.noise_sigma),
        "seed": int(cfg.seed),
        "test_accuracy": None,
        "n_test": None,
        "train": {
            "recipe": cfg.recipe, "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
            "tau_soft": cfg.tau_soft, "gamma_t": cfg.gamma_t, "t_ref": cfg.t_ref, "gamma_w": cfg.gamma_w,
            "gamma_v": cfg.gamma_v, "schedule": cfg.schedule, "optimizer": "Adam",
            "val_fraction": cfg.val_fraction, "augment_shift": cfg.augment_shift,
        },
        "command": command or default_command(cfg),
        "versions": _versions(),
    }


# --------------------------------------------------------------------------------------------- folder I/O

REQUIRED_CARD_KEYS = ("arch", "dataset", "e_pos", "e_neg", "solver", "steps", "eval_solver", "eval_steps",
                      "noise_sigma", "seed")


def save_trained_model(folder: str | os.PathLike, network, card: dict) -> Path:
    """Write ``weights.safetensors`` (float32, keys ``layers.{k}.weight``) and ``card.json`` atomically."""
    from safetensors.torch import save

    folder = Path(folder)
    tensors = {k: v.detach().to(torch.float32).contiguous().cpu() for k, v in network.state_dict().items()
               if v.is_floating_point()}
    for k, v in tensors.items():
        if not torch.isfinite(v).all():
            raise ModelError(f"refusing to save {folder / WEIGHTS_FILE}: tensor {k} has NaN/inf values")
    card = dict(card)
    if is_mlp(card["arch"]):
        card["sizes"] = mlp_sizes(card["arch"])
    atomic_write_bytes(folder / WEIGHTS_FILE, save(dict(sorted(tensors.items())), metadata={"format": "pt"}))
    atomic_write_text(folder / CARD_FILE, dump_json(card))
    return folder


def read_card(folder: str | os.PathLike) -> dict:
    """Read and check ``card.json`` of a model folder (no torch needed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"trained model folder {folder} not found; train one with `imcgen train ... --out {folder}`")
    path = folder / CARD_FILE
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path} not found: a trained model folder holds {WEIGHTS_FILE} and {CARD_FILE}; "
                         f"retrain with `imcgen train ... --out {folder}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); retrain or restore the file") from None
    if not isinstance(card, dict):
        raise ModelError(f"{path} must hold a JSON object")
    missing = [k for k in REQUIRED_CARD_KEYS if k not in card]
    if missing:
        raise ModelError(f"{path} lacks {missing}; retrain with `imcgen train` to write a complete card")
    return validate_card(card, path)  # the one card validator, shared with the hardware side's reader


def load_trained_model(folder: str | os.PathLike):
    """Load a model folder -> (Network in eval mode, card). Clear ModelError for every kind of damage."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    card = read_card(folder)
    wpath = folder / WEIGHTS_FILE
    if not wpath.is_file():
        raise ModelError(f"{wpath} not found; the model folder is incomplete (retrain with `imcgen train`)")
    try:
        tensors = load_file(str(wpath))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{wpath} is not a readable safetensors file ({exc}); retrain or restore it") from None
    for k, v in tensors.items():
        if not torch.isfinite(v).all():
            raise ModelError(f"{wpath}: tensor {k} holds NaN/inf values; the model is unusable, retrain it")
    if is_mlp(card["arch"]):
        sizes = mlp_sizes(card["arch"])
        if card.get("sizes") is not None and list(card["sizes"]) != sizes:
            raise ModelError(f"{folder / CARD_FILE}: sizes {card['sizes']} disagree with arch {card['arch']!r}")
        for k in range(len(sizes) - 1):
            key = f"layers.{k}.weight"
            want = (sizes[k + 1], sizes[k])
            if key not in tensors:
                raise ModelError(f"{wpath} lacks {key} required by arch {card['arch']!r} in {CARD_FILE}")
            if tuple(tensors[key].shape) != want:
                raise ModelError(f"{wpath}: {key} has shape {tuple(tensors[key].shape)} but the card's arch "
                                 f"{card['arch']!r} needs {want} [out, in]")
    network = _build(card, card.get("in_shape"), int(card["seed"]))
    own = network.state_dict()
    extra = sorted(set(tensors) - set(own))
    lacking = sorted(k for k in own if own[k].is_floating_point() and k not in tensors)
    if extra or lacking:
        raise ModelError(f"{wpath} does not match the card's arch {card['arch']!r}: unexpected {extra}, missing {lacking}")
    for k, v in tensors.items():
        if tuple(own[k].shape) != tuple(v.shape):
            raise ModelError(f"{wpath}: {k} has shape {tuple(v.shape)}, the card's arch needs {tuple(own[k].shape)}")
    network.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in tensors.items()}})
    network.eval()
    return network, card


def set_eval_solver(network, solver: str | None = None, steps: int | None = None) -> None:
    """Override the evaluation solver ("exact" | "dstd") and DSTD points of every spiking layer."""
    for layer in network.layers:
        if hasattr(layer, "eval_solver"):
            if solver is not None:
                if solver not in ("exact", "dstd"):
                    raise ValueError(f"eval solver must be exact or dstd, got {solver!r}")
                layer.eval_solver = solver
            if steps is not None:
                layer.eval_steps = int(steps)


def evaluate_trained_model(folder: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                           dataset: Dataset | None = None, *, limit: int | None = None,
                           eval_solver: str | None = None, eval_steps: int | None = None) -> dict:
    """Re-evaluate a model folder on its dataset's test split -> {"accuracy", "n", "card_accuracy", ...}.

    ``limit``: only the first ``limit`` test samples (their predictions equal those of the full run, since the
    seeded noise is drawn batch by batch in order). ``eval_solver``/``eval_steps`` override the card's.
    """
    network, card = load_trained_model(folder)
    set_eval_solver(network, eval_solver, eval_steps)
    if dataset is None:
        dataset = load_dataset(card["dataset"], data_dir)
    x, y = _inputs_for(card["arch"], dataset.x_test), dataset.y_test
    if limit is not None:
        x, y = x[:limit], y[:limit]
    acc = accuracy(network, x, y, noise_seed=int(card["seed"]))
    solver = eval_solver or card["eval_solver"]
    return {"model": str(folder), "dataset": dataset.name, "accuracy": round(acc, 6), "n": int(y.shape[0]),
            "eval_solver": solver, "card_accuracy": card.get("test_accuracy")}


def write_readme(folder: str | os.PathLike, card: dict) -> Path:
    """A short human README next to the card: what the model is, its accuracy and the exact command."""
    acc = card.get("test_accuracy")
    e_dis = card.get("e_dis")
    split = ""
    if card.get("n_train") is not None:
        held_out = card.get("train", {}).get("val_fraction", 0) > 0
        split = (f" Trained on {card['n_train']} samples; best epoch ({card.get('best_epoch')}) chosen by accuracy on "
                 + (f"{card.get('n_val')} held-out training samples" if held_out else "the training samples")
                 + f" ({card.get('val_accuracy')}).")
    lines = [
        f"# {card.get('name', Path(folder).name)}",
        "",
        f"RC-Spike PNN `{card['arch']}` trained on **{card['dataset']}** (encoding `{card.get('encoding')}`),",
        f"E+ = {card['e_pos']}, E- = {card['e_neg']}, "
        f"E_dis = {'ideal firing ramp' if e_dis is None else e_dis}, spike-time noise sigma = {card['noise_sigma']} "
        f"(train and test), seed {card['seed']}.{split}",
        *([f"The circuit's selector switch-off step is part of the model (measured at C_m = "
           f"{card['switch_step'].get('c_m', 0) * 1e15:g} fF; generator/circuit/switch_charge.py)."]
          if card.get("switch_step") else []),
        *([f"The circuit's firing delay is part of the model: {card['fire_delay']:g} phases "
           "(generator/circuit/firing_delay.py)."] if card.get("fire_delay") else []),
        *(["E+ and E- above are the unit-weight values; each synapse uses E±(|w|) from the measured λ(I) "
           "(card `reversal_table`)."] if card.get("reversal_table") else []),
        "",
        f"Test accuracy: **{acc * 100:.2f} %** on {card.get('n_test')} test samples "
        f"(eval solver `{card['eval_solver']}`"
        + (f" with {card['eval_steps']} points" if card["eval_solver"] == "dstd" else "")
        + f"; reproduce with `imcgen evaluate {Path(folder).as_posix()} --json`).",
        "",
        "Trained with (`scripts/train_models.sh` reruns it):",
        "",
        "```",
        card.get("command", ""),
        "```",
        "",
        "Files: `weights.safetensors` (float32, `layers.{k}.weight` of shape [out, in]) and `card.json`.",
        "",
    ]
    return atomic_write_text(Path(folder) / README_FILE, "\n".join(lines))


def command_line() -> str:
    """The current process's command line as ``imcgen ...`` (for the card)."""
    return shlex.join(["imcgen"] + sys.argv[1:])


__all__ = [
    "RECIPES", "TrainConfig", "TrainResult", "ModelError", "TrainingError", "train", "loss_terms", "predict",
    "accuracy", "random_shift", "save_trained_model", "load_trained_model", "read_card", "evaluate_trained_model",
    "write_readme", "default_command", "command_line", "is_mlp", "mlp_sizes",
]
