"""restyle sits beside upscale, not above it: neither imports the other (issue 24, item 5)."""

from __future__ import annotations

from pathlib import Path

from tests.vidx.test_options import imports_of

ROOT = Path(__file__).resolve().parents[3]


def test_restyle_does_not_import_upscale() -> None:
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "vidx").rglob("*.py")
    }
    leaks = {
        str(p.relative_to(ROOT)): sorted(imports_of(p, "vidx", modules))
        for p in (ROOT / "vidx" / "restyle").rglob("*.py")
    }
    assert {p: [i for i in found if "upscale" in i] for p, found in leaks.items()} == {
        p: [] for p in leaks
    }
