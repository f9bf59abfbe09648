"""The 26 built-in styles, listed and labelled; their names and the ``--style`` grammar (``7``,
``blue-swirl``, blends) are :mod:`vidx.values.styles`, below the options that check a spec.

The ``multistyle26`` network (see :mod:`vidx.restyle.style`) takes a ``(26,)`` weight vector;
a spec picks one style or a weighted blend, each part a number or a name.
"""

from __future__ import annotations

import numpy as np

from vidx.values.styles import (  # noqa: F401 - the grammar and the names, also reached from here
    NUM_STYLES,
    STYLE_INDEX,
    STYLES,
    StyleInfo,
    parse_style,
    style_index,
)


def list_styles() -> list[StyleInfo]:
    """The 26 built-in styles, index order (what ``vidx styles`` lists)."""
    return list(STYLES)


def style_label(weights: np.ndarray) -> str:
    """Canonical spec of a weight vector: ``"5"`` or ``"3:0.5,12:0.5"``."""
    used = [(i, float(w)) for i, w in enumerate(weights) if w > 0]
    if len(used) == 1:
        return str(used[0][0])
    return ",".join(f"{i}:{w:.4g}" for i, w in used)
