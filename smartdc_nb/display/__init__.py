"""Rich HTML reprs (and their plain-text twins) for smartdc_nb objects.

Owners of displayable objects define (through the one seam, so the display loads
only when something is displayed)::

    def _repr_html_(self):
        return smartdc_nb.seam.render_html(self)

A card per kind of object is in :mod:`.cards`, the pieces cards are made of in
:mod:`.parts`, their layout in :mod:`.layout` and :mod:`.values`.

Rendering reads only what an object already holds (never a request), escapes
everything that came from the cloud (jinja2 autoescape), masks credentials,
and embeds one stylesheet scoped under the ``.sdcnb`` root class.
"""

from __future__ import annotations

from .render import card_for, environment, options, render_html, render_text, stylesheet

__all__ = ["card_for", "environment", "options", "render_html", "render_text", "stylesheet"]
