"""CLI: ``imcgen train`` and ``imcgen evaluate`` (thin wrappers over generator/model/train.py).

Time is in phase units (one phase = 1, T = 1 µs in the circuit); E± and E_dis are dimensionless model
reversal potentials (E+ = 1/(V_th λ_N), E- = -1/(V_th λ_P), E_dis = 1/(V_th λ_dis)).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from generator.commands._common import check_number, check_out_dir, fail, handle_errors

DEFAULT_E_POS = 2.80  # PAPER.md Table 2 (λ_N = 0.41 1/V, V_th = 0.872 V)
DEFAULT_E_NEG = -1.53  # PAPER.md Table 2 (λ_P = 0.75 1/V)


def _invoked_command(ctx: typer.Context) -> str:
    """The command as given (options set on the command line, in declaration order), e.g. for a model card.

    Rebuilt from the parsed parameters rather than sys.argv so it is right however the app is invoked.
    """
    import shlex

    from click.core import ParameterSource

    args = ["imcgen", ctx.info_name or "train"]
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = ctx.params[param.name]
        opt = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            if value:
                args.append(opt)
        elif value is not None:
            args += [opt, str(value)]
    return shlex.join(args)


def _profile_effects(prof, path: Path, c_m_ff: float) -> dict:
    """The circuit effects the model takes from a profile (generator/circuit/effects.py) at C_m = c_m_ff fF."""
    import dataclasses

    from generator.circuit.effects import circuit_effects
    from generator.design import CircuitParams
    from generator.errors import DesignError

    try:
        params = dataclasses.replace(CircuitParams(corner=prof.corner, temp=prof.temp), c_m=c_m_ff * 1e-15)
        return circuit_effects(prof, params)
    except (DesignError, ValueError) as exc:
        fail(f"{path}: {exc} (or pass --no-circuit-effects)")


def register(app: typer.Typer) -> None:
    @app.command("train")
    @handle_errors
    def train_cmd(
        ctx: typer.Context,
        dataset: str = typer.Option(..., "--dataset", help="iris | digits | mnist | fashion-mnist | cifar10"),
        arch: str = typer.Option(..., "--arch", help="layer sizes, e.g. 5-5-5 or 784-400-10 (first = inputs)"),
        out: Path = typer.Option(..., "--out", help="output model folder (weights.safetensors + card.json)"),
        e_pos: Optional[float] = typer.Option(None, "--e-pos", help="positive reversal potential E+ (dimensionless; default 2.80)"),
        e_neg: Optional[float] = typer.Option(None, "--e-neg", help="negative reversal potential E- (dimensionless, < 0; default -1.53)"),
        e_dis: Optional[float] = typer.Option(None, "--e-dis", help="firing-phase discharger reversal potential E_dis (dimensionless); omit for an ideal ramp"),
        ideal: bool = typer.Option(False, "--ideal", help="ideal model |E±| = 100 (top-down baseline)"),
        device_profile: Optional[Path] = typer.Option(None, "--device-profile", help="DeviceProfile JSON (imcgen characterize): takes E+, E-, E_dis and the circuit effects (E±(|w|), switch-off step, firing delay) from it"),
        circuit_effects: bool = typer.Option(True, "--circuit-effects/--no-circuit-effects", help="with --device-profile: model the circuit effects measured in the profile: E±(|w|) per synapse, the selector switch-off step, the firing delay"),
        c_m_ff: float = typer.Option(140.0, "--c-m", help="membrane capacitance C_m (fF) the switch-off step is scaled to (the circuit's; default 140, the paper's)"),
        recipe: str = typer.Option("auto", "--recipe", help="auto | iris (PAPER.md Table 2) | default (RC-Spike: lr 1e-4, batch 32, gamma_T 2.6)"),
        epochs: int = typer.Option(50, "--epochs", help="training epochs"),
        seed: int = typer.Option(0, "--seed", help="seed of initialisation, shuffling, noise and DSTD offsets"),
        noise: float = typer.Option(0.01, "--noise", help="Gaussian spike-time noise sigma, train and test (phase units, 1 = T)"),
        steps: int = typer.Option(10, "--steps", help="DSTD time points per phase (training solver)"),
        solver: str = typer.Option("dstd", "--solver", help="training solver: dstd | exact"),
        eval_solver: str = typer.Option("exact", "--eval-solver", help="evaluation solver: exact | dstd"),
        eval_steps: int = typer.Option(30, "--eval-steps", help="DSTD time points per phase when --eval-solver dstd"),
        lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate (default from the recipe)"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="mini-batch size (samples; default from the recipe)"),
        tau_soft: Optional[float] = typer.Option(None, "--tau-soft", help="softmax temperature on spike times (phase units)"),
        gamma_t: Optional[float] = typer.Option(None, "--gamma-t", help="temporal penalty weight on (t_out - t_ref)^2"),
        t_ref: Optional[float] = typer.Option(None, "--t-ref", help="reference output spike time (phase units)"),
        gamma_w: Optional[float] = typer.Option(None, "--gamma-w", help="weight 2-norm penalty (limits synapse currents)"),
        gamma_v: Optional[float] = typer.Option(None, "--gamma-v", help="early-spike penalty weight on (t - 1)^2, hidden and output layers"),
        schedule: str = typer.Option("constant", "--schedule", help="learning-rate schedule: constant | cosine (to lr/100)"),
        val_fraction: float = typer.Option(0.1, "--val-fraction", help="share of the train split held out to choose the best epoch (0: train split)"),
        augment_shift: int = typer.Option(0, "--augment-shift", help="random image shifts up to this many pixels (images only)"),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="dataset folder (default $IMCGEN_DATA, else ~/.cache/imcgen)"),
        checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="write the best model so far here after each improvement"),
        threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch default)"),
        name: Optional[str] = typer.Option(None, "--name", help="model name for the card (default dataset-arch)"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bar or per-epoch lines"),
        as_json: bool = typer.Option(False, "--json", help="print a JSON summary as the last line"),
    ) -> None:
        """Train an RC-Spike PNN and write a model folder (weights.safetensors + card.json + README.md)."""
        import torch

        from generator.design import DeviceProfile
        from generator.errors import InputError
        from generator.model.train import TrainConfig, train, write_readme

        # everything checked before the (long) training: the output folder first, so a model is never lost
        check_out_dir(out)
        if checkpoint_dir is not None:
            check_out_dir(checkpoint_dir, "--checkpoint-dir")
        check_number(c_m_ff, "--c-m", lo=0.0, lo_open=True, unit=" fF")
        if threads > 0:
            torch.set_num_threads(threads)
        effects: dict = {}
        if device_profile is not None:
            if e_pos is not None or e_neg is not None or e_dis is not None:
                fail("give either --device-profile or --e-pos/--e-neg/--e-dis, not both")
            prof = DeviceProfile.load(device_profile)
            e_pos, e_neg, e_dis = prof.e_pos, prof.e_neg, prof.e_dis
            if circuit_effects:
                effects = _profile_effects(prof, device_profile, c_m_ff)
        cfg = TrainConfig(
            dataset=dataset, arch=arch, e_pos=DEFAULT_E_POS if e_pos is None else e_pos,
            e_neg=DEFAULT_E_NEG if e_neg is None else e_neg, e_dis=e_dis, **effects, ideal=ideal, recipe=recipe,
            epochs=epochs, lr=lr, batch_size=batch_size, tau_soft=tau_soft, gamma_t=gamma_t, t_ref=t_ref,
            gamma_w=gamma_w, gamma_v=gamma_v, schedule=schedule, noise_sigma=noise, solver=solver, steps=steps,
            eval_solver=eval_solver, eval_steps=eval_steps, seed=seed, val_fraction=val_fraction,
            augment_shift=augment_shift, data_dir=None if data_dir is None else str(data_dir), name=name,
        )
        try:
            cfg.resolved().validate()
        except ValueError as exc:  # InputErrors (e.g. CardError) pass through unchanged
            if isinstance(exc, InputError):
                raise
            raise InputError(str(exc)) from None
        try:
            res = train(cfg, out=out, command=_invoked_command(ctx), checkpoint_dir=checkpoint_dir,
                        progress=not quiet, log=None if quiet else typer.echo)
        except ValueError as exc:  # settings that disagree with the dataset (arch sizes, ...)
            if isinstance(exc, InputError):
                raise
            raise InputError(str(exc)) from None
        write_readme(out, res.card)
        card = res.card
        typer.echo(f"wrote {out}: test accuracy {card['test_accuracy']:.4f} on {card['n_test']} samples")
        if as_json:
            typer.echo(json.dumps({"model": str(out), "accuracy": card["test_accuracy"], "n": card["n_test"],
                                   "val_accuracy": card["val_accuracy"], "best_epoch": card["best_epoch"]}))

    @app.command("evaluate")
    @handle_errors
    def evaluate_cmd(
        model: Path = typer.Argument(..., help="trained model folder (weights.safetensors + card.json)"),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="dataset folder (default $IMCGEN_DATA, else ~/.cache/imcgen)"),
        eval_solver: Optional[str] = typer.Option(None, "--eval-solver", help="override the card's evaluation solver: exact | dstd"),
        eval_steps: Optional[int] = typer.Option(None, "--eval-steps", help="override the card's DSTD time points per phase"),
        limit: Optional[int] = typer.Option(None, "--limit", help="evaluate only the first N test samples"),
        as_json: bool = typer.Option(False, "--json", help="print {\"accuracy\": ..., \"n\": ...} as the last line"),
    ) -> None:
        """Re-evaluate a trained model on its dataset's test split (eval mode, the card's solver, noise and seed)."""
        from generator.errors import InputError
        from generator.model.train import evaluate_trained_model

        if limit is not None and limit < 1:
            fail(f"--limit {limit}: give a number of test samples >= 1 (or omit it for all)")
        if eval_steps is not None and eval_steps < 1:
            fail(f"--eval-steps {eval_steps}: give a number of DSTD points >= 1")
        if eval_solver is not None and eval_solver not in ("exact", "dstd"):
            fail(f"--eval-solver {eval_solver!r}: use exact or dstd")
        try:
            res = evaluate_trained_model(model, data_dir=data_dir, limit=limit, eval_solver=eval_solver,
                                         eval_steps=eval_steps)
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(str(exc)) from None
        card_acc = res.get("card_accuracy") if limit is None else None
        typer.echo(f"{model}: test accuracy {res['accuracy']:.4f} on {res['n']} {res['dataset']} samples"
                   + (f" (card: {card_acc:.4f})" if card_acc is not None else ""))
        if as_json:
            typer.echo(json.dumps({"accuracy": res["accuracy"], "n": res["n"], "card_accuracy": card_acc,
                                   "dataset": res["dataset"], "eval_solver": res["eval_solver"],
                                   "model": str(model)}))
