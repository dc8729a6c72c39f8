"""`imcgen lvs GDS NETLIST`: layout versus schematic of a whole network (generator/signoff/lvs.py).

NETLIST is the ``.cdl`` written by ``imcgen netlist`` (or the folder holding it). Exit status: 0 match,
1 mismatch, 2 could not run (a missing or unreadable file, a folder without exactly one .cdl, a bad --report path).
"""

from __future__ import annotations

from pathlib import Path

import typer

from generator.commands._common import check_out_file, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("lvs")
    @handle_errors
    def lvs(
        gds: Path = typer.Argument(..., help="layout: GDS, GDS.gz or OASIS with one top cell (imcgen gds)"),
        netlist: Path = typer.Argument(..., help="CDL reference (<name>.cdl from imcgen netlist) or its folder"),
        as_json: bool = typer.Option(False, "--json", help='print {"match": bool, "devices": {type: n}, '
                                     '"mismatches": [...]} as the last stdout line'),
        report: Path = typer.Option(None, "--report", help="write the LVS database (.lvsdb, KLayout's netlist "
                                    "browser) to this file"),
        json_report: Path = typer.Option(None, "--json-report", help="write the full JSON report here"),
    ) -> None:
        """Compare the extracted layout with the CDL netlist (devices, W/L, MIM C, connectivity); exit 1 on mismatch."""
        from generator.signoff import lvs as v

        for option, path, example in (("--report", report, "lvs.lvsdb"), ("--json-report", json_report, "lvs.json")):
            if path is not None:
                check_out_file(path, option, example)
        rep = v.run_lvs(gds, netlist)
        if report is not None:
            rep.write_lvsdb(report)
        if json_report is not None:
            rep.write_json(json_report)
        if as_json:
            typer.echo(v.summary_line(rep))
        else:
            typer.echo(rep.text())
        if not rep.match:
            raise typer.Exit(1)
