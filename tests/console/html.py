# SPDX-License-Identifier: GPL-3.0-or-later
"""Find parts of the console's pages: a form field's block with its errors, an element by id."""

from __future__ import annotations

from html.parser import HTMLParser


class _Collector(HTMLParser):
    """Collect the text inside the element with a given id."""

    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=True)
        self.element_id = element_id
        self.depth = 0
        self.found = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            if tag not in ("input", "br", "img", "meta", "link"):
                self.depth += 1
        elif dict(attrs).get("id") == self.element_id:
            self.found = True
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in ("input", "br", "img", "meta", "link"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)


def element_text(page: str, element_id: str) -> str:
    """Return the text of the element with this id (an AssertionError if there is none)."""
    parser = _Collector(element_id)
    parser.feed(page)
    assert parser.found, f"no element with id {element_id!r} on the page"
    return " ".join(" ".join(parser.text).split())


def field_block(page: str, name: str) -> str:
    """Return the text of a form field's block: its label, help and the errors shown right next to it."""
    return element_text(page, f"field-{name}")
