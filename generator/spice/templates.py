"""Jinja2 access to the SPICE templates (generator/resources.py finds them).

Netlist text lives only in templates; Python passes data. ``StrictUndefined`` makes a missing variable an
error instead of an empty string in a netlist. 
"""

from __future__ import annotations

import functools

import jinja2

from generator.resources import templates_dir


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
