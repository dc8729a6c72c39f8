"""Jinja2 access to the SPICE templates (generator/resources.py finds them).

Netlist text lives only in templates; Python passes data. ``StrictUndefined`` makes a missing variable an
error instead of an empty string in a netlist.

Every value a template prints (``{{ ... }}``) passes :func:`finalize` first, so a netlist is safe by
construction: a number must be finite, and any other value (names, nets, paths, notes) may not hold a newline,
carriage return or any other control character, so no value can ever end a SPICE line and start a new one
(``.control`` / ``shell ...``) whatever text reached it. Multi-line text belongs in templates (``{% include %}``,
macros), never in a variable; a multi-line macro's output is printed with ``{{ m(...)|safe }}`` (Markup: text made
by a template from checked values).
"""

from __future__ import annotations

import functools
import math
import numbers
import re

import jinja2
import markupsafe

from generator.errors import InputError
from generator.resources import templates_dir

#: characters no printed template value may hold: C0 controls (newline, CR, tab, ...), DEL, C1 controls
#: (NEL, ...) and the Unicode line/paragraph separators
UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class TemplateValueError(InputError):
    """A value that would change a netlist's line structure (or a non-finite number) reached a template."""


def finalize(value):
    """Jinja2 ``finalize`` hook: pass finite numbers and single-line text, reject everything else."""
    if isinstance(value, bool) or value is None or isinstance(value, markupsafe.Markup):
        return value
    if isinstance(value, numbers.Number):
        if isinstance(value, numbers.Real) and not math.isfinite(value):
            raise TemplateValueError(f"a SPICE template was given the number {value!r}; netlist values must be "
                                     "finite (check the design, profile and options that produced it)")
        return value
    text = value if isinstance(value, str) else str(value)
    m = UNSAFE_RE.search(text)
    if m:
        raise TemplateValueError(
            f"refusing to write {text[:60]!r}{'...' if len(text) > 60 else ''} into a SPICE netlist: it holds the "
            f"control character {m.group()!r} (a newline would start a new SPICE line, e.g. a .control block); "
            "names must be plain identifiers (letters, digits, '_', '-', '.') - fix the model card's or design's "
            "name, or the path or option that holds it")
    return value


@functools.lru_cache(maxsize=None)
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=finalize,
    )


def environment() -> jinja2.Environment:
    """The shared Jinja2 environment (StrictUndefined, trim_blocks, keep_trailing_newline, :func:`finalize`)."""
    return _environment(str(templates_dir()))


def render(template_name: str, **ctx) -> str:
    """Render ``templates/<template_name>`` with ``ctx``; an undefined variable raises jinja2.UndefinedError, an
    unsafe value :class:`TemplateValueError`."""
    try:
        template = environment().get_template(template_name)
    except jinja2.TemplateNotFound:
        raise FileNotFoundError(f"SPICE template {template_name!r} not found in {templates_dir()}") from None
    return template.render(**ctx)
