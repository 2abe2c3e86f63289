"""The viewer's colours meet WCAG AA (4.5:1 for text) on every background text can sit on.

Read from the stylesheet the browser actually gets: `viewer.css` with pygments' rules appended
by the static-file loader. Pygments' defaults are overridden in `viewer.css` by more specific
rules, so a code colour counts only when its rule wins the cascade for that token class; every
other `color` declaration is some page text's colour. Backgrounds are the page's own (white,
the soft grey of headers and the timeline's lanes), the diff's tinted rows, the selection and
note tints, and pygments' code background. Every colour is checked against every background:
stricter than where each one happens to land today, and robust to the next template change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from prtrace_viewer.static_files import load_static

AA_TEXT = 4.5

# The backgrounds text sits on, as custom properties of `:root` in viewer.css.
BACKGROUND_PROPERTIES = ("--bg", "--soft", "--add-bg", "--del-bg", "--hunk-bg", "--selected-bg", "--note-bg")

_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_VAR = re.compile(r"var\(\s*(--[\w-]+)\s*\)")
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_TOKEN_SELECTOR = re.compile(r"\.hl\s+(span)?\.([\w-]+)")
_NOT_A_COLOUR = {"inherit", "currentcolor", "transparent", "initial", "unset"}


class StylesheetShapeError(AssertionError):
    """The stylesheet holds something this reader cannot judge (say, an `rgb()` colour)."""


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of a `#rgb` or `#rrggbb` colour."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2.x contrast ratio, from 1 to 21."""
    light, dark = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _rules(css: str) -> Iterator[tuple[list[str], dict[str, str]]]:
    """(selectors, declarations) per rule, in source order; rules inside `@media` count too
    (the at-rule's own header is skipped by the pattern)."""
    for selectors, body in _RULE.findall(_COMMENT.sub("", css)):
        declarations: dict[str, str] = {}
        for declaration in body.split(";"):
            name, colon, value = declaration.partition(":")
            if colon:
                declarations[name.strip().lower()] = value.strip()
        yield [s.strip() for s in selectors.split(",") if s.strip()], declarations


def _colour(value: str, properties: dict[str, str]) -> str | None:
    """The value as a hex colour with `var()` resolved; None for inherit/currentColor."""
    value = _VAR.sub(lambda m: properties[m.group(1)], value).strip()
    value = value.replace("!important", "").strip()
    if value.lower() in _NOT_A_COLOUR:
        return None
    if not _HEX.fullmatch(value):
        raise StylesheetShapeError(f"a colour this test cannot read: {value!r}")
    return value


class Palette:
    """The served stylesheet's text colours and backgrounds."""

    def __init__(self, css: str) -> None:
        rules = list(_rules(css))
        self.properties: dict[str, str] = {}
        for selectors, declarations in rules:
            if selectors == [":root"]:
                self.properties.update({k: v for k, v in declarations.items() if k.startswith("--")})
        self.page: dict[str, set[str]] = {}  # colour -> the selectors that use it
        # token class -> (specificity, source order, colour) of each rule setting its colour
        won: dict[str, tuple[tuple[int, int, int], int, str | None]] = {}
        self.code_background: str | None = None
        for order, (selectors, declarations) in enumerate(rules):
            if selectors == [".hl"] and "background" in declarations:
                self.code_background = _colour(declarations["background"], self.properties)
            if "color" not in declarations:
                continue
            colour = _colour(declarations["color"], self.properties)  # None: inherited
            for selector in selectors:
                token = _TOKEN_SELECTOR.fullmatch(selector)
                if token is None:
                    if colour is not None:
                        self.page.setdefault(colour, set()).add(selector)
                    continue
                specificity = (0, 2, 1 if token.group(1) else 0)
                current = won.get(token.group(2))
                if current is None or (specificity, order) >= current[:2]:
                    won[token.group(2)] = (specificity, order, colour)
        # a token that inherits its colour shows the surrounding text's, judged as page text
        self.code = {name: colour for name, (_, _, colour) in won.items() if colour is not None}

    def backgrounds(self) -> dict[str, str]:
        found = {name: _colour(self.properties[name], self.properties) for name in BACKGROUND_PROPERTIES}
        found[".hl"] = self.code_background
        return {name: colour for name, colour in found.items() if colour is not None}


@pytest.fixture(scope="module")
def palette() -> Palette:
    return Palette(load_static()["viewer.css"].body.decode())


def test_the_formula_gives_wcag_s_known_ratios() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#fff", "#ffffff") == pytest.approx(1.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def test_the_served_stylesheet_holds_the_code_rules_and_every_background(palette: Palette) -> None:
    assert {"c", "k", "s", "nd", "ow", "nl"} <= palette.code.keys()  # pygments' rules were appended
    backgrounds = palette.backgrounds()
    assert set(BACKGROUND_PROPERTIES) | {".hl"} == backgrounds.keys()
    assert backgrounds["--bg"].lower() in ("#fff", "#ffffff")
    assert palette.page, "no page text colours found"


def test_every_code_colour_meets_aa_on_every_background(palette: Palette) -> None:
    short = [
        f".hl .{token} {colour} on {name} {background}: {contrast(colour, background):.2f}"
        for token, colour in sorted(palette.code.items())
        for name, background in palette.backgrounds().items()
        if contrast(colour, background) < AA_TEXT
    ]
    assert short == []


def test_every_page_text_colour_meets_aa_on_every_background(palette: Palette) -> None:
    short = [
        f"{colour} ({', '.join(sorted(users)[:3])}) on {name} {background}: {contrast(colour, background):.2f}"
        for colour, users in sorted(palette.page.items())
        for name, background in palette.backgrounds().items()
        if contrast(colour, background) < AA_TEXT
    ]
    assert short == []


def test_an_overridden_pygments_colour_is_judged_by_the_rule_that_wins() -> None:
    css = (
        ":root { --bg: #fff; --soft: #fff; --add-bg: #fff; --del-bg: #fff; --hunk-bg: #fff;"
        " --selected-bg: #fff; --note-bg: #fff; }\n"
        ".hl span.c { color: #111111; }\n"
        ".hl { background: #f8f8f8; }\n"
        ".hl .c { color: #bbbbbb; font-style: italic }\n"
        ".hl .k { color: #222222 }\n"
        ".hl .k { color: #333333 }\n"
        ".hl span.w { color: inherit; }\n"
        ".hl .w { color: #bbbbbb }\n"
    )
    found = Palette(css)
    assert found.code == {"c": "#111111", "k": "#333333"}
    assert found.backgrounds()[".hl"] == "#f8f8f8"
