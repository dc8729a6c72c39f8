"""`imcgen drc GDS`: sky130 DRC of a GDS with the project's rule table (or the official deck where installed).

Exit status: 0 clean, 1 violations, 2 could not run (missing file or folder given, cell, tool or deck, a layout
out of the checker's range, or --timeout reached). Layers holding shapes that no rule reads (e.g. 999/7) are
listed as NOT CHECKED in the text output, the --json line and the --report JSON, and warned about on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from generator.commands._common import check_number, check_out_file, handle_errors, warn


def register(app: typer.Typer) -> None:
    @app.command("drc")
    @handle_errors
    def drc(
        gds: Path = typer.Argument(..., help="GDS (or OASIS) file to check"),
        top: str = typer.Option(None, "--top", help="cell to check (default: the single top cell)"),
        as_json: bool = typer.Option(
            False, "--json", help='print {"violations": N, "by_rule": {...}} as the last stdout line'
        ),
        lyrdb: Path = typer.Option(None, "--lyrdb", help="write a KLayout marker database (.lyrdb) to this file"),
        report: Path = typer.Option(None, "--report", help="write the full JSON report (markers, bbox in µm) here"),
        deck: str = typer.Option("project", "--deck", help="project (klayout.db rule table, runs everywhere) or "
                                 "official ($PDK_ROOT/sky130A/libs.tech/klayout/drc/sky130A_mr.drc + klayout binary)"),
        flat: bool = typer.Option(False, "--flat", help="flat instead of hierarchical (deep) processing"),
        timeout: Optional[float] = typer.Option(None, "--timeout", help="stop the check after this many seconds "
                                                "(exit 2; default: no limit)"),
    ) -> None:
        """Design-rule check against the sky130 periphery rules; exit status 1 when there are violations."""
        from generator.signoff import drc as d

        # every input checked before the check runs
        if deck not in ("project", "official"):
            raise d.DrcError(f"--deck {deck!r}: use 'project' or 'official'")
        for option, path, example in (("--lyrdb", lyrdb, "drc.lyrdb"), ("--report", report, "drc.json")):
            if path is not None:
                check_out_file(path, option, example)
        check_number(timeout, "--timeout", lo=0.0, lo_open=True, unit=" s")
        if deck == "project":
            rep = d.run_drc(gds, top=top, deep=not flat, timeout_s=timeout)
        else:
            rep = d.run(gds, top=top, deck=deck, timeout_s=timeout)
        if lyrdb is not None:
            rep.write_lyrdb(lyrdb)
        if report is not None:
            rep.write_json(report)
        unchecked = list(rep.not_checked_layers)
        if unchecked:
            warn(f"{gds}: shapes on layer(s) {', '.join(unchecked)} were NOT CHECKED (no sky130 rule reads them; "
                 "a wrong layer number, or a layer outside the checked set)")
        if not as_json:
            status = "clean" if rep.clean else f"{rep.violations} violations"
            typer.echo(f"DRC ({rep.deck} deck) of {rep.top} in {gds}: {status}, {len(rep.rules_checked)} rules checked"
                       + (f"; NOT CHECKED: layers {', '.join(unchecked)}" if unchecked else ""))
            for name, n in sorted(rep.by_rule.items()):
                typer.echo(f"  {name:<14} {n:>8}  {rep.descriptions.get(name, '')}")
            for layer in unchecked:
                typer.echo(f"  {'not checked':<14} {'':>8}  layer {layer}: no rule reads it")
        else:
            typer.echo(d.summary_line(rep))
        if not rep.clean:
            raise typer.Exit(1)
