"""Read an HTML report the way a person does: the text of one element (by id), tags gone, entities decoded.

Block elements (cells, rows, divs) are separated by a space, inline ones (code, links) are not, as
a browser shows them."""

from __future__ import annotations

from html.parser import HTMLParser

INLINE = {"a", "abbr", "b", "code", "em", "i", "small", "span", "strong", "sub", "sup"}  # no break around these
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _ElementText(HTMLParser):
    def __init__(self, element_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.element_id, self.depth, self.found = element_id, 0, False
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        if self.depth:
            self.depth += 1
            if tag not in INLINE:
                self.parts.append(" ")
        elif dict(attrs).get("id") == self.element_id:
            self.depth, self.found = 1, True

    def handle_endtag(self, tag):
        if self.depth and tag not in VOID:
            self.depth -= 1
            if tag not in INLINE:
                self.parts.append(" ")

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def element_text(page: str, element_id: str) -> str | None:
    """The text inside the element with ``id`` (whitespace folded), or None when the page has none."""
    parser = _ElementText(element_id)
    parser.feed(page)
    parser.close()
    return " ".join("".join(parser.parts).split()) if parser.found else None
