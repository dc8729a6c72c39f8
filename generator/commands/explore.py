"""CLI: ``imcgen explore SPACE.yaml --out DIR`` (thin wrapper over generator/explore.py).

The space file is validated before any work (an unknown variable, a bad range, an unknown corner: exit 2 with the
fix). Points run through generator/execute.py: ``--executor serial|process|dask``, ``--workers N``, ``--address
tcp://host:8786`` (an existing Dask scheduler; implies dask). Re-running with the same ``--out`` resumes: finished
points are read back, not recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from generator.commands._common import check_out_dir, fail, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("explore")
    @handle_errors
    def explore_cmd(
        space: Path = typer.Argument(..., help="space file (YAML): swept variables, fixed ones, search, objectives"),
        out: Path = typer.Option(..., "--out", help="results folder (points/, cache/, results.csv, plots, "
                                                    "summary.md, study.db); re-run with the same folder to resume"),
        executor: str = typer.Option("process", "--executor", help="serial | process (local pool) | dask"),
        workers: Optional[int] = typer.Option(None, "--workers", help="worker processes (default: the cores; dask "
                                                                      "without --address: a local cluster of N)"),
        address: Optional[str] = typer.Option(None, "--address", help="Dask scheduler, e.g. tcp://host:8786 "
                                                                      "(implies --executor dask)"),
        search: Optional[str] = typer.Option(None, "--search", help="override the space's search: grid | random | "
                                                                    "nsga2 | tpe"),
        trials: Optional[int] = typer.Option(None, "--trials", help="override the space's trials (random/Optuna)"),
        max_points: Optional[int] = typer.Option(None, "--max-points", help="evaluate at most N new points in this "
                                                                            "run (the rest on the next run)"),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="grid/random: evaluate failed points again"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="points done / failed / running on stderr"),
        as_json: bool = typer.Option(False, "--json", help="print a JSON summary as the last stdout line"),
    ) -> None:
        """Design-space exploration: every point through characterise -> train -> map -> netlist + layout -> DRC
        (+ LVS) -> verify -> energy; results.csv, Pareto plots and summary.md in --out."""
        import yaml

        from generator.errors import InputError
        from generator.execute import KINDS
        from generator.explore import SEARCHES, explore, load_space, parse_space

        if executor not in KINDS:
            fail(f"--executor {executor!r}: use one of {', '.join(KINDS)}", as_json=as_json)
        if workers is not None and workers < 1:
            fail(f"--workers {workers}: give at least 1 worker (or omit it for one per core)", as_json=as_json)
        if address is not None and not address.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            fail(f"--address {address!r}: give a Dask scheduler address such as tcp://host:8786", as_json=as_json)
        if max_points is not None and max_points < 1:
            fail(f"--max-points {max_points}: give at least 1", as_json=as_json)
        if search is not None and search not in SEARCHES:
            fail(f"--search {search!r}: use one of {', '.join(SEARCHES)}", as_json=as_json)
        if trials is not None and trials < 1:
            fail(f"--trials {trials}: give at least 1", as_json=as_json)
        check_out_dir(out)
        sp = load_space(space)
        if search is not None or trials is not None:
            data = yaml.safe_load(Path(space).read_text())
            if search is not None:
                data["search"] = search
            if trials is not None:
                data["trials"] = trials
            sp = parse_space(data, str(space))
        try:
            res = explore(sp, out, executor=executor, workers=workers, address=address, max_points=max_points,
                          retry_failed=retry_failed, progress=progress)
        except ImportError as exc:
            raise InputError(f"{exc}; run `make setup`") from None
        c = res["counts"]
        typer.echo(f"{out}: {c['points']} points ({c['ok']} ok, {c['failed']} failed); front: "
                   f"{', '.join(res['front']) or '-'}; see {out / 'summary.md'} and {out / 'results.csv'}")
        if as_json:
            typer.echo(json.dumps({"ok": True, "counts": c, "front": res["front"], "files": res["files"]}))
