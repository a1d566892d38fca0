"""How words fit: Kivy's own line layout, read without drawing, so that layouts can keep
every word whole (a word broken over two lines is never acceptable; smaller text is)."""

from __future__ import annotations

import re

from kivy.metrics import sp


def words_of(text: str) -> list[str]:
    """Words as Kivy wraps them: at ordinary spaces and line ends, never at a no-break space."""
    return [w for w in re.split(r"[ \t\n]+", text) if w]


def layout_lines(text: str, font_size: float, width: float | None, bold: bool = False) -> list[str]:
    """The lines Kivy would wrap `text` into at `width` (laid out without drawing)."""
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(text=text, font_size=font_size, bold=bold, text_size=(width, None))
    core.render()
    return ["".join(w.text for w in line.words) for line in core._cached_lines]


def text_height(text: str, font_size: float, width: float, bold: bool = False) -> float:
    """How tall `text` is when wrapped at `width` (laid out without drawing)."""
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(text=text, font_size=font_size, bold=bold, text_size=(width, None))
    return float(core.render()[1])  # laid out, not drawn: the texture is not made


def breaks_a_word(text: str, font_size: float, width: float, bold: bool = False) -> bool:
    words = set(words_of(text))
    return any(token not in words for line in layout_lines(text, font_size, width, bold)
               for token in words_of(line))


def widest_word(text: str, font_size: float, bold: bool = False) -> float:
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(font_size=font_size, bold=bold)
    return max((float(core.get_extents(word)[0]) for word in set(words_of(text))), default=0.0)


def fit_font(text: str, font_size: float, width: float, bold: bool = False) -> float:
    """`font_size`, or smaller so that the longest word fits `width` (an address is one
    long word: smaller beats broken)."""
    widest = widest_word(text, font_size, bold)
    return font_size if widest <= width or widest <= 0 else font_size * width / widest * 0.98


def text_size_px(text: str, base_sp: float, scale: float, fit_width: float, bold: bool) -> float:
    size = float(sp(base_sp) * scale)
    return fit_font(text, size, fit_width, bold) if fit_width > 0 else size
