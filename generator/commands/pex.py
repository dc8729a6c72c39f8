"""`imcgen pex GDS --out DIR`: parasitic extraction (wiring C to substrate, coupling, line R) of a sky130 GDS.

Writes DIR/pex.json (per net: C to substrate by layer, coupling, series R; the coupling list; the MIM capacitors
with their membrane nets; totals) and DIR/<cell>.pex.spice (the extracted devices plus one C per net to the
substrate net and one per coupled pair, SPICE-safe node names). Exit status: 0 done, 2 bad input (missing file,
a folder, unreadable GDS, an --out that cannot be a folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from generator.commands._common import check_number, check_out_dir, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("pex")
    @handle_errors
    def pex(
        gds: Path = typer.Argument(..., help="GDS (or OASIS) file with one top cell"),
        out: Path = typer.Option(..., "--out", help="folder for pex.json and <cell>.pex.spice (created if missing)"),
        as_json: bool = typer.Option(False, "--json", help="print the totals as one JSON object, last stdout line"),
        no_coupling: bool = typer.Option(False, "--no-coupling", help="skip same-layer lateral coupling"),
        halo: float = typer.Option(None, "--halo", help="lateral coupling search distance in µm (default 2)"),
    ) -> None:
        """Extract wiring parasitics: C to substrate (area + fringe per layer), coupling, resistance of lines."""
        from generator.signoff import pex as P

        check_out_dir(out)
        check_number(halo, "--halo", lo=0.0, lo_open=True, hi=50.0, unit=" µm")
        kw = {} if halo is None else {"halo_um": float(halo)}
        par = P.extract_parasitics(gds, coupling=not no_coupling, **kw)
        out.mkdir(parents=True, exist_ok=True)
        json_path = par.write_json(out / "pex.json")
        spice_path = par.write_spice(out / f"{par.top}.pex.spice")
        d = par.to_dict()["totals"]
        if as_json:
            typer.echo(json.dumps({"ok": True, "top": par.top, **d, "runtime_s": round(par.runtime_s, 3),
                                   "pex_json": str(json_path), "spice": str(spice_path)}, sort_keys=True))
        else:
            typer.echo(f"PEX of {par.top} in {gds}: {d['nets']} nets, C to substrate {d['c_ground_f'] * 1e15:.2f} fF, "
                       f"coupling {d['c_coupling_f'] * 1e15:.2f} fF in {d['n_couplings']} pairs, "
                       f"{par.runtime_s:.2f} s")
            for m in par.mim_caps:
                n = par.nets[m["top_net"]]
                typer.echo(f"  MIM {m['device']:<6} {m['block']:<24} membrane {m['top_net']:<8} wiring C "
                           f"{n.c_total_f * 1e15:7.2f} fF (substrate {n.c_ground_f * 1e15:.2f}, coupling "
                           f"{n.c_coupling_f * 1e15:.2f}), R {n.r_ohm:.0f} ohm")
            typer.echo(f"  wrote {json_path} and {spice_path}")
