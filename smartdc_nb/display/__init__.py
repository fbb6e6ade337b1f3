"""Rich HTML reprs (and their plain-text twins) for smartdc_nb objects.

Owners of displayable objects define::

    def _repr_html_(self):
        from smartdc_nb.display import render_html
        return render_html(self)

Rendering reads only what an object already holds (never a request), escapes
everything that came from the cloud (jinja2 autoescape), masks credentials,
and embeds one stylesheet scoped under the ``.sdcnb`` root class.
"""

from __future__ import annotations

from .render import card_for, environment, options, render_html, render_text, stylesheet

__all__ = ["card_for", "environment", "options", "render_html", "render_text", "stylesheet"]
