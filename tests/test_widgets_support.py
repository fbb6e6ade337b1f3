"""Helpers for the widget panel tests (no tests here).

The panels are driven as a person would (``button.click()``, setting widget
values) against the emulator over HTTP; tests wait on the panel's own futures
(``panel.wait()``), never on a blind sleep.
"""

from __future__ import annotations

import html
import re
from typing import Any, Iterator

import pytest

#: panel options for tests: the emulator's transitions take 0.1-0.5 s
FAST: dict[str, Any] = {"interval": 0.05, "max_interval": 0.2, "timeout": 30}
HOSTILE = "<img src=x onerror=alert(1)>$x^2$&amp;"
BADGE = re.compile(r'class="sdcnb-badge sdcnb-(\w+)">([^<]*)<')


def words(markup: str) -> str:
    """The text a reader sees in some HTML (tags dropped, entities decoded, spaces joined)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def badges(markup: str) -> list[str]:
    """The words of the state badges in some HTML, in order."""
    return [html.unescape(word) for _tone, word in BADGE.findall(markup)]


def enabled(panel: Any) -> set[str]:
    return {name for name, button in panel.buttons.items() if not button.disabled}


def widgets_in(root: Any) -> Iterator[Any]:
    """Every widget in a widget tree (boxes' children, depth first)."""
    todo = [root]
    while todo:
        widget = todo.pop()
        yield widget
        todo.extend(getattr(widget, "children", ()))


def html_values(panel: Any) -> list[str]:
    """The value of every HTML widget in the panel (what the browser would be given)."""
    import ipywidgets

    return [w.value for w in widgets_in(panel.widget) if isinstance(w, ipywidgets.HTML)]


def posts(emu, query: dict | None = None) -> list[dict]:
    """The logged POST/PUT/DELETE requests (optionally only those with ``query``)."""
    return [r for r in emu.requests if r["method"] in ("POST", "PUT", "DELETE")
            and (query is None or r["query"] == query)]


@pytest.fixture
def opened(emu):
    """``opened(panel)``: wait for the panel's first load, clear the request log, return it;
    every panel is closed after the test (once what it was doing is done)."""
    panels = []

    def keep(panel: Any) -> Any:
        panels.append(panel)
        panel.wait()
        emu.clear_requests()
        return panel

    yield keep
    for panel in panels:
        try:
            panel.wait(timeout=FAST["timeout"])  # a failed test may leave an action running
        finally:
            panel.close()


def yes_while_the_machine_is_not_answered(emu, panel, machine_id: str):
    """Click Yes while the cloud never answers a read of the machine; returns the panel's last
    log entry and the seconds until its job ended. Nothing may be sent."""
    return yes_while_not_answered(emu, panel, machine_id + "$")


def yes_while_not_answered(emu, panel, path: str):
    """Click Yes while the cloud never answers a read of ``path`` (a regular expression);
    returns the panel's last log entry and the seconds until its job ended. Nothing may be
    sent."""
    import time

    emu.faults.add(path=path, method="GET", hold=True)  # never answered
    emu.clear_requests()
    started = time.monotonic()
    panel.confirm.yes.click()
    panel.wait(timeout=150)
    took = time.monotonic() - started
    emu.faults.clear()
    assert posts(emu) == []
    return panel.log.entries[-1], took



def click_while_not_answered(emu, panel, button: str, path: str, method: str = "GET"):
    """Click ``button`` while the cloud never answers ``method`` requests to ``path`` (a
    regular expression); returns the panel's last log entry and the seconds until the panel
    was idle again."""
    import time

    emu.faults.add(path=path, method=method, hold=True)  # never answered
    emu.clear_requests()
    started = time.monotonic()
    panel.buttons[button].click()
    panel.wait(timeout=250)
    took = time.monotonic() - started
    emu.faults.clear()
    return panel.log.entries[-1], took
