"""KOTRA's company directory (issue 7): the `company_directory` table, loaded by
`idp companies import-directory FILE`, behind the `CompanyDirectory` port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from idp.models import CompanyDirectoryEntry
from idp.models.base import DbSession
from idp.services.ports import DirectoryRecord

FIELDS = ("business_number", "name_ko", "ceo_ko", "name_en", "ceo_en", "corp_number",
          "postcode", "address_ko", "address_en", "phone", "fax", "email", "homepage")


class DatabaseCompanyDirectory:
    def __init__(self, session: Callable[[], DbSession]) -> None:
        self._session = session

    def find(self, business_number: str) -> DirectoryRecord | None:
        row = self._session().scalar(select(CompanyDirectoryEntry).where(
            CompanyDirectoryEntry.business_number == business_number))
        if row is None:
            return None
        return DirectoryRecord(**{f: getattr(row, f) for f in FIELDS})


def build_company_directory(settings: dict[str, Any]) -> DatabaseCompanyDirectory:
    from idp.extensions import db

    return DatabaseCompanyDirectory(lambda: db.session)
