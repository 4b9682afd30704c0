"""Uploads (idp/services/uploads.py) and the company form's rules
(idp/services/company_profile.py), without the web layer."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest

from idp.extensions import db
from idp.models import Upload
from idp.services import company_profile as cp
from idp.services import uploads
from idp.services.personal_data import PersonalData


def png(width: int = 1, height: int = 1, *, bad_crc: bool = False, end: bool = True) -> bytes:
    def chunk(kind: bytes, data: bytes, crc_delta: int = 0) -> bytes:
        crc = (zlib.crc32(kind + data) + crc_delta) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr, 1 if bad_crc else 0)
    body += chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return body + (chunk(b"IEND", b"") if end else b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 16 + b"\xff\xd9"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.mark.parametrize(("data", "kind"), [
    (png(), uploads.PNG), (JPEG, uploads.JPEG), (JPEG + b"\x00\x00", uploads.JPEG),
    (PDF, uploads.PDF), (b"%PDF-2.0\n" + b"x" * 5000 + b"\n%%EOF", uploads.PDF),
])
def test_sniff_accepts_sane_pdf_png_jpeg(data, kind):
    assert uploads.sniff(data) == kind


@pytest.mark.parametrize(("data", "reason"), [
    (b"GIF89a", "type"), (b"<html>", "type"), (b"PK\x03\x04 a zip", "type"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "type"),  # JPEG 2000
    (png(bad_crc=True), "corrupt"), (png(end=False), "corrupt"), (png(0, 1), "corrupt"),
    (b"\x89PNG\r\n\x1a\n", "corrupt"),
    (JPEG[:-2], "corrupt"), (b"\xff\xd8\xff", "corrupt"),
    (b"%PDF-1.4 no end", "corrupt"), (b"%PDF-x.4\n%%EOF", "corrupt"),
    (PDF + b"x" * 2000, "corrupt"),  # the %%EOF is not near the end
])
def test_sniff_refuses_other_types_and_broken_files(data, reason):
    with pytest.raises(uploads.UploadRefused) as caught:
        uploads.sniff(data)
    assert caught.value.reason == reason


def test_check_upload_limits_the_size():
    with pytest.raises(uploads.UploadRefused, match="empty"):
        uploads.check_upload(b"", max_bytes=10)
    with pytest.raises(uploads.UploadRefused, match="too_large"):
        uploads.check_upload(PDF, max_bytes=len(PDF) - 1)
    assert uploads.check_upload(PDF, max_bytes=len(PDF)) == uploads.PDF


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("사업자등록증.png", uploads.PNG, "사업자등록증.png"),
    ("C:\\fakepath\\scan.PNG", uploads.PNG, "scan.png"),
    ("../../etc/passwd", uploads.PDF, "passwd.pdf"),
    ("evil.exe", uploads.JPEG, "evil.jpg"),  # the content's type names the extension
    ("a\x00b\u202e.pdf", uploads.PDF, "ab.pdf"),
    ("", uploads.PDF, "document.pdf"), (None, uploads.PNG, "document.png"),
    ("x" * 400 + ".pdf", uploads.PDF, "x" * 251 + ".pdf"),
])
def test_file_names_are_cleaned(name, kind, expected):
    assert uploads.clean_filename(name, kind) == expected


def test_uploads_are_sealed_and_bound_to_their_row(app: Any):
    with app.app_context():
        pd: PersonalData = app.extensions["idp"].personal_data
        one = uploads.store_upload(db.session, pd, PDF, filename="a.pdf", member_id=None,
                                   max_bytes=1000)
        two = uploads.store_upload(db.session, pd, png(), filename="b.png", member_id=None,
                                   max_bytes=1000)
        db.session.commit()
        assert b"%PDF" not in one.sealed and len(one.handle) >= 40
        assert uploads.open_upload(db.session, pd, one.id) == (PDF, uploads.PDF, "a.pdf")
        # A sealed blob moved to another row does not open there.
        two.sealed = one.sealed
        db.session.commit()
        with pytest.raises(uploads.UploadMissing):
            uploads.open_upload(db.session, pd, two.id)
        with pytest.raises(uploads.UploadMissing):
            uploads.open_upload(db.session, pd, 999_999)
        other_key = PersonalData(b"k" * 32)
        with pytest.raises(uploads.UploadMissing):
            uploads.open_upload(db.session, other_key, one.id)
        with pytest.raises(uploads.UploadRefused):
            uploads.store_upload(db.session, pd, b"GIF89a", filename="x", member_id=None,
                                 max_bytes=1000)
        assert db.session.query(Upload).count() == 2


def test_the_review_reads_what_the_registration_stored_and_refuses_an_altered_one(app: Any):
    from idp.services import company_review

    with app.app_context():
        pd: PersonalData = app.extensions["idp"].personal_data
        stored = uploads.store_upload(db.session, pd, PDF, filename="등록증.pdf",
                                      member_id=None, max_bytes=1000)
        db.session.commit()
        doc = company_review.open_document(db.session, pd, stored.id)
        assert (doc.content, doc.content_type, doc.filename, doc.inline) == (
            PDF, uploads.PDF, "등록증.pdf", True)
        stored.sha256 = "0" * 64  # the row no longer matches its blob
        db.session.commit()
        with pytest.raises(company_review.DocumentUnavailable):
            company_review.open_document(db.session, pd, stored.id)
        with pytest.raises(company_review.DocumentUnavailable):
            company_review.open_document(db.session, pd, 999_999)


def valid(**overrides: str) -> dict[str, str]:
    form = {"name": "(주)한국이디에스", "name_en": "Korea EDS", "ceo_name": "홍길동",
            "ceo_name_en": "Hong Gildong", "company_type": "small",
            "classification": "corporation", "trade_kind": "both", "main_product": "반도체",
            "phone": "02-1234-5678", "email": "eds@example.com"}
    form.update(overrides)
    return form


def test_clean_info_splits_columns_and_profile():
    info = cp.clean_info(valid(corp_number="110111-1234569", annual_sales="12,000",
                               venture="yes", export_country="us", remarks="첫 줄\n둘째 줄"),
                         now_year=2026)
    assert info.columns == {"name": "(주)한국이디에스", "name_en": "Korea EDS",
                            "ceo_name": "홍길동", "ceo_name_en": "Hong Gildong",
                            "corp_number": "1101111234569"}
    assert set(info.profile) == set(cp.PROFILE_KEYS)
    assert info.profile["annual_sales"] == 12000 and info.profile["venture"] is True
    assert info.profile["startup"] is None and info.profile["export_country"] == "US"
    assert info.profile["remarks"] == "첫 줄\n둘째 줄"
    assert cp.display_values(info.columns, info.profile)["venture"] == "yes"


def test_clean_info_lists_every_wrong_field():
    with pytest.raises(cp.InfoErrors) as caught:
        cp.clean_info({"name": "x\x00", "name_en": "한글", "phone": "abc",
                       "founded_year": "2027", "employees": "-1", "company_type": "x"},
                      now_year=2026)
    errors = caught.value.errors
    assert errors["name"] == "invalid" and errors["name_en"] == "english"
    assert errors["ceo_name"] == "required" and errors["phone"] == "invalid"
    assert errors["founded_year"] == "invalid" and errors["employees"] == "invalid"
    assert errors["company_type"] == "choice" and errors["email"] == "required"


def test_required_fields_are_the_manuals_starred_ones():
    required = {f.key for f in cp.FIELDS if f.required}
    assert required == {"name", "name_en", "ceo_name", "ceo_name_en", "company_type",
                        "classification", "trade_kind", "main_product", "phone", "email"}


def test_only_some_keys_can_be_checked():
    info = cp.clean_info({"phone": "1600-7119"}, now_year=2026, keys=("phone", "fax"))
    assert info.profile == {"phone": "1600-7119", "fax": None} and info.columns == {}
