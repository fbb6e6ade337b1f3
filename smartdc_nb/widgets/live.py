"""The live fleet's widget: its card re-rendered in place after each batch of changes.

It sends nothing to the cloud: the live fleet's thread tells it that something
changed and it re-renders from what is known (at most every
smartdc_nb.live.BATCH seconds).
"""

from __future__ import annotations

from typing import Any

from .html import stylesheet


class LiveWidget:
    """``box`` is the ipywidgets VBox to display; it updates until the live fleet closes."""

    def __init__(self, live: Any):
        import ipywidgets as w

        from ..display.live import render_live

        self.live = live
        self._render = lambda: render_live(live, css=False)
        self.card = w.HTML(self._render())
        self.box = w.VBox([w.HTML(stylesheet()), self.card])
        self.box.add_class("sdcnb-live")
        live.on_change(self.update)

    def update(self) -> None:
        value = self._render()
        if value != self.card.value:
            self.card.value = value

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.box._repr_mimebundle_(**kwargs)
