"""The HS nomenclature and each member's interests (issue 6: 회원정보 입력 관심정보, MY KOTRA).

`hs_codes` holds the HS 2022 nomenclature at 2, 4 and 6 digits, shipped with the code
(idp/data/hs2022.tsv, loaded by `idp hs load-builtin`, which `idp db upgrade` runs), and,
when an operator imports it, the Korea Customs Service's 10-digit HSK list (`idp hs import`).
Rows are only ever inserted or updated, never deleted: a member's interest in a code that a
later nomenclature retires stays readable. `version` is raised on every row a load changes,
so a process can tell in one indexed read whether its search index is stale
(idp/services/hs.py).

A member's interests are two small sets, replaced as a whole by
idp/services/interests.save_interests. The HS code is not a foreign key on purpose (see
above: codes are validated when chosen, and outlive nomenclature revisions).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base


class HsCode(Base):
    __tablename__ = "hs_codes"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    # Number of digits: 2 (류 chapter), 4 (호 heading), 6 (소호 subheading), 10 (HSK).
    level: Mapped[int] = mapped_column(SmallInteger)
    parent: Mapped[str | None] = mapped_column(String(10), index=True)
    name_ko: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    # Normalised "code name_ko name_en" (idp.services.hs.search_text): what search matches.
    search_text: Mapped[str] = mapped_column(Text)
    # Where the row came from: "hs2022" (shipped) or "hsk" (an operator's import).
    source: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer, index=True)


class MemberInterestItem(Base):
    """One HS code a member is interested in (관심품목)."""

    __tablename__ = "member_interest_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    hs_code: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (UniqueConstraint("member_id", "hs_code"),)


class MemberInterestCountry(Base):
    """One country a member is interested in (관심국가), ISO 3166-1 alpha-2."""

    __tablename__ = "member_interest_countries"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    country: Mapped[str] = mapped_column(String(2))
    position: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (UniqueConstraint("member_id", "country"),)
