"""Documents people send (issue 7: the 사업자등록증 of a new company; SPEC §3.4).

PDF, PNG or JPEG only. The type is read from the content (magic bytes, and the file's
structure minimally sane: a PDF's header and %%EOF trailer, a PNG's IHDR and IEND chunks, a
JPEG's SOI and EOI markers), never from the browser's Content-Type or the file name. The bytes
are sealed with the personal-data key (AES-GCM, idp/services/personal_data.py; the
associated data names the upload's random handle, so a sealed blob moved to another row does
not open) into the `uploads` table: outside any web root, shared by every process, and no
route serves it to the public. Operators read it back with `open_upload`.

    upload = store_upload(session, pd, data, filename="사업자등록증.png", member_id=7,
                          max_bytes=5 * 1024 * 1024)       # UploadRefused(reason)
    data, content_type, filename = open_upload(session, pd, upload.id)
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import struct
import unicodedata
import zlib

from idp.models import Upload
from idp.models.base import DbSession
from idp.services.personal_data import PersonalData, PersonalDataError

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
EXTENSIONS = {PDF: "pdf", PNG: "png", JPEG: "jpg"}
# Why an upload is refused (the page maps each to a message).
REASONS = ("empty", "too_large", "type", "corrupt")
_FILENAME_MAX = 255
_SEAL_KIND = "upload:"


class UploadRefused(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UploadMissing(LookupError):
    """No such upload, or it does not open with this key."""


def _png_sane(data: bytes) -> bool:
    # RFC 2083 / PNG spec §5: the signature, then IHDR (13 bytes, CRC checked), ... IEND.
    if len(data) < 8 + 25 + 12 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
        return False
    ihdr = data[12:29]
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(ihdr) != crc:
        return False
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width < 2**31 and 0 < height < 2**31):
        return False
    return data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _jpeg_sane(data: bytes) -> bool:
    # ITU T.81 / JFIF: SOI (FFD8) then a marker segment, ... EOI (FFD9); some writers pad.
    return len(data) > 4 and data[:3] == b"\xff\xd8\xff" and (
        data.rstrip(b"\x00\r\n")[-2:] == b"\xff\xd9")


def _pdf_sane(data: bytes) -> bool:
    # ISO 32000: "%PDF-1.x" (or 2.0) header; the last %%EOF within the final bytes.
    return (data[:7] in (b"%PDF-1.", b"%PDF-2.") and data[7:8].isdigit()
            and b"%%EOF" in data[-1024:])


def sniff(data: bytes) -> str:
    """The content type of `data` (PDF, PNG or JPEG) or UploadRefused("type"/"corrupt")."""
    if data.startswith(b"%PDF-"):
        kind, sane = PDF, _pdf_sane(data)
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind, sane = PNG, _png_sane(data)
    elif data.startswith(b"\xff\xd8\xff"):
        kind, sane = JPEG, _jpeg_sane(data)
    else:
        raise UploadRefused("type")
    if not sane:
        raise UploadRefused("corrupt")
    return kind


def clean_filename(name: str | None, content_type: str) -> str:
    """The base name a person's browser gave, in NFC, without path or control characters,
    ending in the extension of the type the content has."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(c for c in base if not unicodedata.category(c).startswith("C")).strip()
    stem = os.path.splitext(base)[0].strip(" .") or "document"
    ext = EXTENSIONS[content_type]
    return f"{stem[:_FILENAME_MAX - len(ext) - 1]}.{ext}"


def check_upload(data: bytes, *, max_bytes: int) -> str:
    """The content type, or UploadRefused(empty | too_large | type | corrupt)."""
    if not data:
        raise UploadRefused("empty")
    if len(data) > max_bytes:
        raise UploadRefused("too_large")
    return sniff(data)


def store_upload(session: DbSession, pd: PersonalData, data: bytes, *, filename: str | None,
                 member_id: int | None, max_bytes: int) -> Upload:
    """Check and seal `data` into a new Upload row (the caller commits)."""
    content_type = check_upload(data, max_bytes=max_bytes)
    return seal_upload(session, pd, data, content_type=content_type,
                       filename=clean_filename(filename, content_type), member_id=member_id)


def seal_kind(handle: str) -> str:
    """The associated data an upload is sealed with: bound to its row's random handle."""
    return _SEAL_KIND + handle


def seal_upload(session: DbSession, pd: PersonalData, data: bytes, *, content_type: str,
                filename: str, member_id: int | None) -> Upload:
    """Seal `data` into a new Upload row as given, unchecked (`store_upload` checks first;
    this is for data the provider itself vouches for, e.g. the demo seed's and tests'
    documents). The caller commits."""
    handle = secrets.token_urlsafe(32)
    sealed = pd.seal(base64.b64encode(data).decode("ascii"), seal_kind(handle))
    upload = Upload(handle=handle, content_type=content_type, filename=filename,
                    size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    sealed=sealed.encode("ascii"), member_id=member_id)
    session.add(upload)
    session.flush()
    return upload


def open_upload(session: DbSession, personal_data: PersonalData, upload_id: int
                ) -> tuple[bytes, str, str]:
    """(bytes, content type, file name) of an upload, for operators only; UploadMissing when
    there is none, or it does not open (another key, another row's blob, altered) or does not
    match its SHA-256."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise UploadMissing(str(upload_id))
    try:
        sealed = upload.sealed.decode("ascii") if isinstance(upload.sealed, bytes) else str(
            upload.sealed)
        data = base64.b64decode(personal_data.open(sealed, seal_kind(upload.handle)),
                                validate=True)
    except (PersonalDataError, ValueError):  # (UnicodeDecodeError is a ValueError)
        raise UploadMissing(str(upload_id)) from None
    if hashlib.sha256(data).hexdigest() != upload.sha256:
        raise UploadMissing(str(upload_id))
    return data, upload.content_type, upload.filename
