"""The `imcgen` command line: one Typer app; each area registers its commands from generator/commands/.

Commands: characterize, train, evaluate, map, netlist, gds, drc, lvs, verify, build (see `imcgen --help`).
"""

from __future__ import annotations

import importlib

import typer

from generator.commands._common import ImcgenGroup

#: ImcgenGroup: every command's ImcgenError becomes ``error: ...`` on stderr and the error's exit code (2 bad
#: input, 1 a failed check or run) in this one place (generator/commands/_common.py)
app = typer.Typer(
    cls=ImcgenGroup,
    help="imcgen: trained physical neural network (RC-Spike PNN) -> verified sky130 charge-domain IMC array.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: modules under generator/commands/ that each define ``register(app)``; imported lazily so a broken area
#: names itself instead of breaking every command.
COMMAND_MODULES = ("model", "characterize", "netlist", "layout", "signoff", "lvs", "pex", "flow", "explore", "check")


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"generator.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"generator.commands.{name}":
                continue  # area not present in this build
            raise
        mod.register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
