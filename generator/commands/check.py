"""`imcgen check [MODELS...]`: regenerate each model's CDL and GDS and prove they still equal the reviewed
references (XOR per layer, DRC, LVS, netlist diff; generator/signoff/check.py). For CI.

References live in ``GOLDEN/<model>/<model>.gds`` (or ``.gds.gz``) and ``GOLDEN/<model>/<model>.cdl`` (or
``.cdl.gz`` next to a ``.gds.gz``); GOLDEN defaults to ``layouts/`` of the working folder. MODELS are names under
``--models-dir`` (default ``trained_models/``) or model folders; default: every model there with a reference,
MNIST-size ones (:data:`RECIPES` ``heavy``) only with ``--all``. ``--update`` rewrites the references on purpose and
prints what changed. Exit status: 0 all checks passed, 1 a check failed, 2 bad input (unknown model, missing or
unreadable reference, bad option).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import typer

from generator.commands._common import (check_number, check_out_dir, check_out_file, handle_errors, profile_option,
                                        resolve_profile, warn)
from generator.errors import InputError


@dataclass(frozen=True)
class Recipe:
    """What the check does differently for a model (its C_m and neuron pitch come from its card's ``circuit``,
    as for every command)."""

    heavy: bool = False  #: checked only with --all or when named
    lvs_skip: str = ""  #: reason LVS is not run (reported as "not run: reason", never as a pass)


#: per committed model: the options its reference was drawn with (layouts/README.md)
RECIPES = {
    "mnist": Recipe(heavy=True,
                    lvs_skip="LVS of the 784-400-10 array (317,600 synapse cells) does not finish on 2 cores yet; "
                             "run `imcgen lvs` on a bigger machine"),
}


@dataclass
class Case:
    name: str
    model_dir: Path
    ref_dir: Path
    recipe: Recipe

    def ref_gds(self) -> Optional[Path]:
        for ext in (".gds", ".gds.gz", ".oas"):
            p = self.ref_dir / f"{self.name}{ext}"
            if p.is_file():
                return p
        return None

    def ref_cdl(self) -> Optional[Path]:
        for ext in (".cdl", ".cdl.gz"):
            p = self.ref_dir / f"{self.name}{ext}"
            if p.is_file():
                return p
        return None

    def new_ref_paths(self) -> tuple[Path, Path]:
        """Where --update writes: the existing reference's names, else ``<name>.gds`` / ``<name>.cdl``."""
        gds = self.ref_gds() or self.ref_dir / f"{self.name}.gds"
        gz = gds.suffix == ".gz"
        cdl = self.ref_cdl() or self.ref_dir / f"{self.name}.cdl{'.gz' if gz else ''}"
        return gds, cdl


def _is_model(p: Path) -> bool:
    return p.is_dir() and (p / "card.json").is_file()


def resolve_cases(models: List[str], models_dir: Path, golden: Path, *, all_: bool, update: bool) -> List[Case]:
    """The models to check, each with its reference folder; InputError for anything unknown or missing."""
    if not golden.is_dir() and not update:
        raise InputError(f"--golden {golden} is not a folder; pass the folder holding <model>/<model>.gds "
                         "(run from the checkout for layouts/, or write references with --update)")
    cases = []
    if models:
        for m in models:
            p = Path(m)
            if _is_model(p):
                name, mdir = p.resolve().name, p
            elif _is_model(models_dir / m):
                name, mdir = m, models_dir / m
            else:
                known = sorted(q.name for q in models_dir.glob("*") if _is_model(q)) if models_dir.is_dir() else []
                raise InputError(f"unknown model {m!r}: not a model folder (weights.safetensors + card.json) and not "
                                 f"a model in {models_dir}/ (known: {', '.join(known) or 'none'})")
            cases.append(Case(name, mdir, golden / name, RECIPES.get(name, Recipe())))
    else:
        if not models_dir.is_dir():
            raise InputError(f"--models-dir {models_dir} is not a folder; run from the checkout or name the models")
        for q in sorted(models_dir.iterdir()):
            if not _is_model(q):
                continue
            case = Case(q.name, q, golden / q.name, RECIPES.get(q.name, Recipe()))
            if case.ref_gds() is None or (case.recipe.heavy and not all_):
                continue
            cases.append(case)
        if not cases:
            raise InputError(f"no model in {models_dir}/ has a reference in {golden}/ (<model>/<model>.gds); name "
                             "the models, or write references with `imcgen check MODEL --update`")
    for c in cases:
        if update:
            continue
        if c.ref_gds() is None:
            raise InputError(f"no reference GDS for {c.name!r}: expected {c.ref_dir / (c.name + '.gds')} (or "
                             f".gds.gz); write it on purpose with `imcgen check {c.name} --update`")
        if c.ref_cdl() is None:
            raise InputError(f"no reference netlist for {c.name!r}: expected {c.ref_dir / (c.name + '.cdl')}; write "
                             f"it on purpose with `imcgen check {c.name} --update` (and review the commit)")
    return cases


def regenerate(case: Case, out_dir: Path, profile: Path, *, c_m_ff: Optional[float] = None,
               neuron_pitch: Optional[float] = None) -> tuple[Path, Path]:
    """Map the model and write ``out_dir/<name>.gds`` and ``<name>.cdl`` exactly as the references were made
    (the card's circuit; ``c_m_ff`` fF / ``neuron_pitch`` µm override it)."""
    from generator.circuit.mapping import default_params, map_model, read_trained_model
    from generator.design import DeviceProfile
    from generator.io import atomic_write_text
    from generator.layout.export import file_stem, write_layout
    from generator.spice.netlist import render_cdl

    prof = DeviceProfile.load(profile)
    params = default_params(read_trained_model(case.model_dir)[1], prof, c_m_ff=c_m_ff)
    design = map_model(case.model_dir, prof, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = write_layout(design, out_dir, neuron_pitch=neuron_pitch, render=False)
    gds = Path(info["paths"]["gds"])
    want = out_dir / f"{case.name}.gds"
    if gds != want:
        gds.replace(want)
        Path(info["paths"]["json"]).unlink(missing_ok=True)
    (out_dir / f"{file_stem(design.name)}_layout.json").unlink(missing_ok=True)
    cdl = atomic_write_text(out_dir / f"{case.name}.cdl", render_cdl(design))
    return want, cdl


def _update(case: Case, gds: Path, cdl: Path, out_dir: Path, results: list, opts: dict) -> None:
    """Rewrite the references from the regenerated files; record (and print) what changed."""
    from generator.signoff import check as C

    ref_gds, ref_cdl = case.new_ref_paths()
    for kind, new, ref in (("xor", gds, ref_gds), ("netlist", cdl, ref_cdl)):
        t0 = time.perf_counter()
        if ref.is_file():
            try:
                res = (C.xor_result(case.name, ref, new, out_dir, **opts) if kind == "xor"
                       else C.netlist_result(case.name, ref, new, out_dir))
                changed = res.status == "fail"
                what = res.message if changed else "unchanged"
            except InputError as exc:  # an unreadable reference is what --update is for
                changed, what = True, f"replaced an unreadable reference ({exc})"
                res = C.CheckResult(case.name, kind, "updated")
        else:
            changed, what = True, "new reference"
            res = C.CheckResult(case.name, kind, "updated")
        data = new.read_bytes()
        if kind == "netlist":
            write = changed or C.read_text(ref, "reference netlist").encode() != data
        else:  # same geometry but other bytes: keep a plain reference byte-equal to what `imcgen gds` writes
            write = changed or (ref.suffix != ".gz" and ref.read_bytes() != data)
        if write:
            C.write_maybe_gz(ref, data)
        res.status = "updated" if changed else "pass"
        if changed:
            verb = "wrote" if what == "new reference" else "rewrote"
            res.figures = f"{verb} {ref}" + (f"; changed: {res.figures}" if res.figures else "")
        else:
            res.figures = "unchanged"
        res.message = what if changed else ""
        res.seconds = time.perf_counter() - t0
        typer.echo(f"{case.name}: {ref}: " + (what if changed else "unchanged"), err=True)
        results.append(res)


def register(app: typer.Typer) -> None:
    @app.command("check")
    @handle_errors
    def check(
        models: Optional[List[str]] = typer.Argument(None, help="model names (under --models-dir) or model folders; "
                                                     "default: every model with a reference in --golden"),
        all_: bool = typer.Option(False, "--all", help="also the MNIST-size models (minutes; LVS not run there)"),
        golden: Path = typer.Option(Path("layouts"), "--golden", help="reference folder: <model>/<model>.gds[.gz] "
                                    "and <model>.cdl[.gz]"),
        models_dir: Path = typer.Option(Path("trained_models"), "--models-dir", help="where model names are looked up"),
        update: bool = typer.Option(False, "--update", help="rewrite the references from the regenerated files on "
                                    "purpose and print what changed (DRC and LVS still run)"),
        out: Optional[Path] = typer.Option(None, "--out", help="folder for the regenerated files and the XOR / DRC / "
                                           "LVS databases (<model>/...); default: a temporary folder, kept when a "
                                           "check fails"),
        junit: Optional[Path] = typer.Option(None, "--junit", help="write JUnit XML here (one testcase per model x "
                                             "check)"),
        markdown: Optional[Path] = typer.Option(None, "--markdown", help="write the Markdown summary here (e.g. "
                                                "$GITHUB_STEP_SUMMARY)"),
        deck: str = typer.Option("project", "--deck", help="DRC deck: project (imcgen's rule table) or official "
                                 "(open_pdks' sky130A_mr.drc under $PDK_ROOT)"),
        labels: bool = typer.Option(False, "--labels", help="XOR: also compare text labels (string, layer, position)"),
        cell_names: bool = typer.Option(False, "--cell-names", help="XOR: also compare the cell names"),
        no_lvs: bool = typer.Option(False, "--no-lvs", help="skip LVS (reported as not run)"),
        profile: Optional[Path] = profile_option(),
        c_m: Optional[float] = typer.Option(None, "--c-m", help="membrane capacitance in fF the references were drawn "
                                            "with (default: the model's recipe, else 140)"),
        neuron_pitch: Optional[float] = typer.Option(None, "--neuron-pitch", help="neuron pitch in µm the references "
                                                     "were drawn with (default: the model's recipe, else 12)"),
        as_json: bool = typer.Option(False, "--json", help='print {"passed": bool, "checks": [...]} as the last '
                                     "stdout line"),
    ) -> None:
        """Regenerate each model's netlist and GDS; XOR against the reference GDS, DRC, LVS and a netlist diff.

        Exit 1 when any check fails, 2 for bad input (unknown model, missing or unreadable reference)."""
        from generator.signoff import check as C

        # every option before any work
        if deck not in ("project", "official"):
            raise InputError(f"--deck {deck!r} is unknown; use project or official")
        if deck == "official":
            from generator.signoff.drc import official_deck_path

            official_deck_path()
        if out is not None:
            check_out_dir(out)
        for option, path, example in (("--junit", junit, "check.xml"), ("--markdown", markdown, "check.md")):
            if path is not None:
                check_out_file(path, option, example)
        check_number(c_m, "--c-m", lo=0.0, lo_open=True, hi=1e6, unit=" fF")
        check_number(neuron_pitch, "--neuron-pitch", lo=1.0, hi=1000.0, unit=" µm")
        prof = resolve_profile(profile)
        cases = resolve_cases(models or [], models_dir, golden, all_=all_, update=update)
        if not update:  # a corrupted reference is bad input (exit 2), found before any work
            for c in cases:
                C.read_layout(c.ref_gds(), "reference GDS")
                C.read_text(c.ref_cdl(), "reference netlist")

        tmp = out is None
        root = Path(tempfile.mkdtemp(prefix="imcgen-check-")) if tmp else Path(out)
        results: list = []
        times: dict = {}
        xor_opts = {"labels": labels, "cell_names": cell_names}
        for case in cases:
            t0 = time.perf_counter()
            d = root / case.name
            if d.exists():
                shutil.rmtree(d)  # no stale databases from an earlier run
            tg = time.perf_counter()
            try:
                gds, cdl = regenerate(case, d, prof, c_m_ff=c_m, neuron_pitch=neuron_pitch)
            except Exception as exc:  # noqa: BLE001 - a generator that crashes is a failed check, reported
                import traceback

                tb = "".join(traceback.format_exception(exc)[-6:])
                results.append(C.CheckResult(case.name, "generate", "fail", figures=f"{type(exc).__name__}: {exc}",
                                             message=tb, seconds=time.perf_counter() - tg))
                results += [C.CheckResult(case.name, k, "not run", figures="the generator failed",
                                          message="the generator failed (see generate)") for k in C.CHECKS]
                times[case.name] = time.perf_counter() - t0
                continue
            results.append(C.CheckResult(case.name, "generate", "pass", figures=f"{gds.name}, {cdl.name}",
                                         seconds=time.perf_counter() - tg,
                                         artifacts={"gds": str(gds), "cdl": str(cdl)}))
            if update:
                _update(case, gds, cdl, d, results, xor_opts)
            else:
                results.append(C.xor_result(case.name, case.ref_gds(), gds, d, **xor_opts))
            results.append(C.drc_result(case.name, gds, d, deck=deck))
            skip = "--no-lvs" if no_lvs else case.recipe.lvs_skip
            results.append(C.lvs_result(case.name, gds, cdl, d, skip_reason=skip))
            if not update:
                results.append(C.netlist_result(case.name, case.ref_cdl(), cdl, d))
            times[case.name] = time.perf_counter() - t0
        order = {c: i for i, c in enumerate(("generate", *C.CHECKS))}
        names = [k.name for k in cases]
        results.sort(key=lambda r: (names.index(r.model), order.get(r.check, 99)))

        ok = C.passed(results)
        if tmp and ok:  # the temporary folder goes away: name no file in it
            for r in results:
                r.artifacts = {}
        md = C.markdown(results, times=times, title="imcgen check --update" if update else "imcgen check")
        if markdown is not None:
            from generator.io import atomic_write_text

            atomic_write_text(markdown, md)
        if junit is not None:
            from generator.io import atomic_write_text

            atomic_write_text(junit, C.junit_xml(results))
        typer.echo(md)
        if tmp:
            if ok:
                shutil.rmtree(root, ignore_errors=True)
            else:
                warn(f"regenerated files and XOR / DRC / LVS databases kept in {root}")
        if as_json:
            typer.echo(json.dumps(C.json_summary(results, out=None if tmp and ok else str(root),
                                                 seconds={k: round(v, 3) for k, v in times.items()}),
                                  sort_keys=False))
        if not ok:
            raise typer.Exit(1)
