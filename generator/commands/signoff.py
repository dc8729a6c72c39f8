"""`imcgen drc GDS`: sky130 DRC of a GDS with the project's rule table (or the official deck where installed).

Exit status: 0 clean, 1 violations, 2 could not run (missing file, cell, tool or deck).
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("drc")
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
    ) -> None:
        """Design-rule check against the sky130 periphery rules; exit status 1 when there are violations."""
        from generator.signoff import drc as d

        try:
            if deck == "project":
                rep = d.run_drc(gds, top=top, deep=not flat)
            else:
                rep = d.run(gds, top=top, deck=deck)
        except d.DrcError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if lyrdb is not None:
            rep.write_lyrdb(lyrdb)
        if report is not None:
            rep.write_json(report)
        if not as_json:
            status = "clean" if rep.clean else f"{rep.violations} violations"
            typer.echo(f"DRC ({rep.deck} deck) of {rep.top} in {gds}: {status}, {len(rep.rules_checked)} rules checked")
            for name, n in sorted(rep.by_rule.items()):
                typer.echo(f"  {name:<14} {n:>8}  {rep.descriptions.get(name, '')}")
        else:
            typer.echo(d.summary_line(rep))
        if not rep.clean:
            raise typer.Exit(1)
