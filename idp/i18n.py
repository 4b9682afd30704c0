"""Translations: Korean is the source language; English comes from idp/translations/en.

The .po files are the source of truth in git; the .mo files are compiled from them when missing
or older, so a checkout never serves a stale catalog.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def compile_catalogs(root: Path = TRANSLATIONS_DIR) -> list[Path]:
    compiled = []
    for po_path in root.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh)
        tmp = mo_path.with_suffix(".mo.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo_path)  # atomic: concurrent workers never read half a file
        compiled.append(mo_path)
    return compiled
