"""Typed SQLAlchemy 2 models, one module per aggregate."""

from idp.models.base import Base
from idp.models.clients import OAuthClient
from idp.models.companies import (
    CompanyDirectoryEntry,
    CompanyNotice,
    CompanyRequest,
    MileageAccount,
    MileageEntry,
    Operator,
    ServiceParticipation,
    Upload,
)
from idp.models.identity import DevMessage, MemberIdentity
from idp.models.interests import HsCode, MemberInterestCountry, MemberInterestItem
from idp.models.legacy import LegacyAccount, LegacyMemberType, LegacyStatus
from idp.models.members import (
    Affiliation,
    AffiliationMethod,
    Company,
    CompanyStatus,
    Member,
    MemberType,
)
from idp.models.outbox import BackchannelLogout, QueuedEmail
from idp.models.policies import MarketingNotice
from idp.models.security import AuditEvent, Consent, KeyValue, KeyValueSetMember, SigningKey
from idp.models.sns import InactivityNotice, SnsLink
from idp.models.terms import MarketingConsent, TermsConsent, TermsDocument
from idp.models.tokens import AuthorizationCode, Token

__all__ = [
    "Affiliation",
    "AffiliationMethod",
    "AuditEvent",
    "AuthorizationCode",
    "BackchannelLogout",
    "Base",
    "Company",
    "CompanyDirectoryEntry",
    "CompanyNotice",
    "CompanyRequest",
    "CompanyStatus",
    "Consent",
    "DevMessage",
    "HsCode",
    "InactivityNotice",
    "KeyValue",
    "KeyValueSetMember",
    "LegacyAccount",
    "LegacyMemberType",
    "LegacyStatus",
    "MarketingConsent",
    "MarketingNotice",
    "Member",
    "MemberIdentity",
    "MemberInterestCountry",
    "MemberInterestItem",
    "MemberType",
    "MileageAccount",
    "MileageEntry",
    "OAuthClient",
    "Operator",
    "QueuedEmail",
    "ServiceParticipation",
    "SigningKey",
    "SnsLink",
    "TermsConsent",
    "TermsDocument",
    "Token",
    "Upload",
]

# Issue 7, the relying parties' API (docs/api.md).
from idp.models.api import IdempotencyRecord  # noqa: E402

__all__ += ["IdempotencyRecord"]
