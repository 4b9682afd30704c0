"""Every message on the pages has an English translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_is_translated_to_english():
    with (ROOT / "idp/translations/en/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    translated = {m.id for m in catalog if m.id and m.string}
    found = set()
    for sub, method in (("idp", "python"), ("templates", "jinja2")):
        pattern = "**.py" if method == "python" else "**.html"
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / sub, method_map=[(pattern, method)], keywords={"_": None, "_l": None}
        ):
            found.add(message if isinstance(message, str) else message[0])
    assert found, "extraction found nothing"
    assert sorted(found - translated) == []
