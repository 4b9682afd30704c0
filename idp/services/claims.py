"""The token contract: standard claims per scope (OIDC Core §5.4) and the KOTRA claims.

KOTRA claims, released under the `kotra` scope (documented in docs/claims.md):
- `kotra_member_type`: "general" | "simple" | "company_manager"
- `kotra_company`: {business_number, name, affiliation_method, affiliated_at}; absent when the
  member has no affiliation
- `kotra_entitlements`: the services the member may use, from the permission matrix (SPEC §2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from idp.models import Member, MemberType
from idp.models.base import epoch
from idp.models.readmodels import MemberView

SCOPES_SUPPORTED = ["openid", "profile", "email", "phone", "kotra"]

SCOPE_CLAIMS: dict[str, list[str]] = {
    "profile": ["name", "preferred_username", "updated_at"],
    "email": ["email", "email_verified"],
    "phone": ["phone_number", "phone_number_verified"],
    "kotra": ["kotra_member_type", "kotra_company", "kotra_entitlements"],
}

CLAIMS_SUPPORTED = sorted(
    {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
     "at_hash"}
    | {c for claims in SCOPE_CLAIMS.values() for c in claims}
)

# Authentication context classes, weakest first; acr_values is satisfied by an equal or
# stronger class. amr values follow RFC 8176.
ACR_PASSWORD = "urn:kotra:acr:password"
ACR_IDENTITY = "urn:kotra:acr:identity-verification"
ACR_CERTIFICATE = "urn:kotra:acr:certificate"
ACR_LEVELS = {ACR_PASSWORD: 1, "urn:kotra:acr:federated": 1, ACR_IDENTITY: 2, ACR_CERTIFICATE: 3}


def member_kind(member: Member | MemberView) -> str:
    """The column of the permission matrix this member falls in."""
    if member.member_type == MemberType.SIMPLE:
        return "simple"
    if member.member_type == MemberType.COMPANY_MANAGER:
        return "company_manager"
    affiliation = member.affiliation
    if affiliation is None:
        return "general_unaffiliated"
    return f"general_{affiliation.method}"


class EntitlementMatrix:
    """SPEC §2 as data: entitlement -> member kinds, read from config."""

    def __init__(self, matrix: Mapping[str, Iterable[str]]) -> None:
        self._by_kind: dict[str, list[str]] = {}
        for entitlement, kinds in matrix.items():
            for kind in kinds:
                self._by_kind.setdefault(kind, []).append(entitlement)

    def for_member(self, member: Member | MemberView) -> list[str]:
        return list(self._by_kind.get(member_kind(member), []))


def company_claim(member: Member | MemberView) -> dict[str, Any] | None:
    affiliation = member.affiliation
    if affiliation is None:
        return None
    return {
        "business_number": affiliation.company.business_number,
        "name": affiliation.company.name,
        "affiliation_method": affiliation.method,
        "affiliated_at": epoch(affiliation.established_at),
    }


def user_claims(
    member: Member | MemberView, scope: str, matrix: EntitlementMatrix
) -> dict[str, Any]:
    """Claims for the userinfo response and the ID token, limited to the granted scope."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": member.subject}
    if "profile" in scopes:
        claims["name"] = member.name
        if member.login_id:
            claims["preferred_username"] = member.login_id
        claims["updated_at"] = epoch(member.updated_at)
    if "email" in scopes and member.email:
        claims["email"] = member.email
        claims["email_verified"] = bool(member.email_verified)
    if "phone" in scopes and member.phone:
        claims["phone_number"] = member.phone
        claims["phone_number_verified"] = bool(member.phone_verified)
    if "kotra" in scopes:
        claims["kotra_member_type"] = str(member.member_type)
        company = company_claim(member)
        if company is not None:
            claims["kotra_company"] = company
        claims["kotra_entitlements"] = matrix.for_member(member)
    return claims


def acr_satisfies(current: str | None, requested: Iterable[str]) -> bool:
    """Whether the session's acr meets any of the requested values (OIDC Core §3.1.2.1)."""
    wanted = [ACR_LEVELS[v] for v in requested if v in ACR_LEVELS]
    if not wanted:
        return True  # unknown values are voluntary: the issued acr tells the RP what it got
    return ACR_LEVELS.get(current or "", 0) >= min(wanted)
