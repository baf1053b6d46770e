"""Status badges drawn locally, in the flat style of shields.io (what the Pact Broker
fetches its badges from): a grey label on the left, a coloured message on the right.

Nothing here touches the network: the Pact Broker asks img.shields.io (or serves a
handful of static files); Covenant draws the same two-part badge itself. Every piece
of text that goes into the SVG (names, tags, the ``label`` query parameter) is
escaped for XML, and characters XML 1.0 cannot hold become U+FFFD, so a badge is
always a well-formed document. Text widths are estimated from Verdana's advance
widths at 11 px, the font shields.io measures with.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COLORS", "Badge", "comment_text", "text_width", "xml_text"]

#: shields.io's named colours (the ones the Pact Broker uses, and their neighbours).
COLORS = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "lightgrey": "#9f9f9f",
    "grey": "#555",
}
_LABEL_COLOR = "#555"
_PADDING = 10

#: Verdana 11 px advance widths (px) of the characters names are mostly made of.
_WIDTHS: dict[str, float] = {
    " ": 3.9, "!": 4.3, '"': 5.1, "#": 9.0, "$": 7.0, "%": 11.8, "&": 8.0, "'": 3.0,
    "(": 5.0, ")": 5.0, "*": 7.0, "+": 9.0, ",": 4.0, "-": 5.0, ".": 4.0, "/": 5.0,
    ":": 5.0, ";": 5.0, "<": 9.0, "=": 9.0, ">": 9.0, "?": 6.0, "@": 11.0, "[": 5.0,
    "\\": 5.0, "]": 5.0, "^": 9.0, "_": 7.0, "`": 7.0, "{": 7.0, "|": 5.0, "}": 7.0,
    "~": 9.0,
    "a": 6.6, "b": 6.9, "c": 5.7, "d": 6.9, "e": 6.5, "f": 3.9, "g": 6.9, "h": 7.0,
    "i": 3.0, "j": 3.8, "k": 6.5, "l": 3.0, "m": 10.7, "n": 7.0, "o": 6.7, "p": 6.9,
    "q": 6.9, "r": 4.7, "s": 5.7, "t": 4.3, "u": 7.0, "v": 6.5, "w": 9.0, "x": 6.5,
    "y": 6.5, "z": 5.6,
    "A": 7.5, "B": 7.6, "C": 7.7, "D": 8.5, "E": 7.0, "F": 6.3, "G": 8.5, "H": 8.3,
    "I": 4.6, "J": 5.0, "K": 7.6, "L": 6.1, "M": 9.2, "N": 8.2, "O": 8.7, "P": 6.6,
    "Q": 8.7, "R": 7.6, "S": 7.5, "T": 6.8, "U": 8.1, "V": 7.5, "W": 10.9, "X": 7.5,
    "Y": 6.8, "Z": 7.5,
}  # fmt: skip
_DIGIT_WIDTH = 7.0
_OTHER_WIDTH = 7.5


def text_width(text: str) -> float:
    """How wide ``text`` is in Verdana 11 px, near enough to size a badge."""
    return sum(
        _WIDTHS.get(c, _DIGIT_WIDTH if c.isdigit() else _OTHER_WIDTH) for c in xml_chars(text)
    )


def _xml_char(c: str) -> str:
    """``c`` if XML 1.0 allows it in text (whitespace becomes a space), else U+FFFD."""
    code = ord(c)
    if c in "\t\n\r":
        return " "
    if 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF:
        return c
    return "\ufffd"


def xml_chars(text: str) -> str:
    """``text`` with every character XML 1.0 cannot hold replaced (nothing escaped yet)."""
    return "".join(_xml_char(c) for c in text)


_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}


def xml_text(text: str) -> str:
    """``text`` safe inside an XML element or a quoted attribute value."""
    return "".join(_ESCAPES.get(c, c) for c in xml_chars(text))


def comment_text(text: str) -> str:
    """``text`` safe inside an XML comment (which ends at ``--``): letters, digits and a
    few harmless marks stay; everything else is percent-encoded."""
    return "".join(
        c if (c.isalnum() and c.isprintable()) or c in " ._:/()" else f"%{ord(c):02X}" for c in text
    )


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Badge:
    """A two-part badge: ``label`` on grey, ``message`` on ``color`` (a name of COLORS)."""

    label: str
    message: str
    color: str
    #: Facts for whoever reads the source (versions behind the badge), as an XML comment.
    comment: str | None = None

    def svg(self) -> str:
        left = round(text_width(self.label)) + _PADDING
        right = round(text_width(self.message)) + _PADDING
        width = left + right
        fill = COLORS.get(self.color, COLORS["lightgrey"])
        label, message = xml_text(self.label), xml_text(self.message)
        title = f"{label}: {message}"
        head = f"<!-- {comment_text(self.comment)} -->\n" if self.comment else ""
        return (
            f"{head}"
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20"'
            f' role="img" aria-label="{title}">'
            f"<title>{title}</title>"
            '<linearGradient id="s" x2="0" y2="100%">'
            '<stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
            '<stop offset="1" stop-opacity=".1"/></linearGradient>'
            f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
            '<g clip-path="url(#r)">'
            f'<rect width="{left}" height="20" fill="{_LABEL_COLOR}"/>'
            f'<rect x="{left}" width="{right}" height="20" fill="{fill}"/>'
            f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
            '<g fill="#fff" text-anchor="middle"'
            ' font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
            f'<text x="{_fmt(left / 2)}" y="15" fill="#010101" fill-opacity=".3">{label}</text>'
            f'<text x="{_fmt(left / 2)}" y="14">{label}</text>'
            f'<text x="{_fmt(left + right / 2)}" y="15" fill="#010101" fill-opacity=".3">'
            f"{message}</text>"
            f'<text x="{_fmt(left + right / 2)}" y="14">{message}</text>'
            "</g></svg>"
        )
