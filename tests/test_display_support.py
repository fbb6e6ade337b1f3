"""Checking rendered HTML in the display tests (no tests here).

Every rendered output is parsed with html.parser; the checks are on the parsed
elements and text, so markup smuggled in through cloud data would show up as
an element or attribute that the templates never write.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from smartdc_nb import dictionary


#: every element and attribute the templates write; anything else came from data
OUR_TAGS = {"div", "style", "span", "strong", "time", "em", "bdi", "dl", "dt", "dd", "table",
            "thead", "tbody", "tfoot", "tr", "th", "td", "details", "summary", "p"}
OUR_ATTRIBUTES = {"class", "title", "tabindex", "datetime", "colspan", "open"}
OUR_CLASS = re.compile(r"^(sdcnb(-[a-z]+)?|tex2jax_ignore|mathjax_ignore)$")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TITLE = re.compile(rf"^({UUID}|\d{{4}}-\d\d-\d\dT[\d:.]+\+00:00)$")
#: the tooltips a table header may carry: the column dictionary's, for every frame column
HEADER_TIPS = {dictionary.tip(entry.name, kind) for kind, entries in dictionary.FRAMES.items()
               for entry in entries}


class Parsed(HTMLParser):
    """The elements, attributes and text of an HTML fragment."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.comments: list[str] = []
        self._skip = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "style":
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == "style":
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(data)

    def handle_comment(self, data):
        self.comments.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def check_markup(html: str) -> Parsed:
    """Parse ``html`` and assert every element and attribute is one the templates write."""
    parsed = Parsed(html)
    assert parsed.elements[0] == ("div", {"class": "sdcnb tex2jax_ignore mathjax_ignore"})
    assert not parsed.comments
    for tag, attrs in parsed.elements:
        assert tag in OUR_TAGS, f"element <{tag}> came from data"
        assert set(attrs) <= OUR_ATTRIBUTES, f"attributes {set(attrs) - OUR_ATTRIBUTES} on <{tag}>"
        for name in (attrs.get("class") or "").split():
            assert OUR_CLASS.match(name), f"class {name!r} came from data"
        if "title" in attrs and tag == "th":  # our column dictionary, not cloud data
            assert attrs["title"] in HEADER_TIPS, attrs["title"]
        elif "title" in attrs:
            assert TITLE.match(attrs["title"]), attrs["title"]
        if "colspan" in attrs:
            assert attrs["colspan"].isdigit()
    assert len(parsed.tags("style")) == 1
    assert "<script" not in html.lower()
    return parsed


def counted(emu):
    return emu.counters()["total"]
