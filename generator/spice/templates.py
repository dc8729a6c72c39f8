"""Jinja2 access to the SPICE templates in the repository's top-level ``templates/`` folder.

Netlist text lives only in templates; Python passes data. ``StrictUndefined`` makes a missing variable an
error instead of an empty string in a netlist. ``IMCGEN_TEMPLATES`` overrides the folder (e.g. an installed copy).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    """The ``templates/`` folder next to the ``generator`` package (repo checkout or editable install)."""
    override = os.environ.get("IMCGEN_TEMPLATES")
    candidates = [Path(override)] if override else []
    here = Path(__file__).resolve().parent  # generator/spice
    candidates += [here.parent.parent / "templates", here.parent / "templates"]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        f"SPICE templates folder not found (looked in {[str(c) for c in candidates]}); run from a checkout of the "
        "repository (`pip install -e .`) or set IMCGEN_TEMPLATES to the templates/ folder"
    )


@functools.lru_cache(maxsize=None)
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def environment() -> jinja2.Environment:
    """The shared Jinja2 environment (StrictUndefined, trim_blocks, keep_trailing_newline)."""
    return _environment(str(templates_dir()))


def render(template_name: str, **ctx) -> str:
    """Render ``templates/<template_name>`` with ``ctx``; an undefined variable raises jinja2.UndefinedError."""
    try:
        template = environment().get_template(template_name)
    except jinja2.TemplateNotFound:
        raise FileNotFoundError(f"SPICE template {template_name!r} not found in {templates_dir()}") from None
    return template.render(**ctx)
