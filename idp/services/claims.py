"""The token contract: standard claims per scope (OIDC Core §5.4) and the KOTRA claims.

KOTRA claims, released under the `kotra` scope (documented in docs/claims.md):
- `kotra_member_type`: "general" | "simple" | "company_manager"
- `kotra_company`: {business_number, name, affiliation_method, affiliated_at}; absent when the
  member has no affiliation. For a company manager: {business_number, name, role: "manager"}
  of the company it manages (members.managed_company_id)
- `kotra_entitlements`: the services the member may use, from the permission matrix (SPEC §2)
- `kotra_sns_provider`: for a simple member, the SNS it signs in with (naver | kakao | google |
  facebook; issue 9)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from idp.models import Member, MemberType
from idp.models.base import epoch
from idp.models.readmodels import MemberView

SCOPES_SUPPORTED = ["openid", "profile", "email", "phone", "kotra"]

SCOPE_CLAIMS: dict[str, list[str]] = {
    "profile": ["name", "preferred_username", "updated_at"],
    "email": ["email", "email_verified"],
    "phone": ["phone_number", "phone_number_verified"],
    "kotra": ["kotra_member_type", "kotra_company", "kotra_entitlements",
              "kotra_sns_provider"],
}

CLAIMS_SUPPORTED = sorted(
    {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
     "at_hash"}
    | {c for claims in SCOPE_CLAIMS.values() for c in claims}
)

# Authentication context classes (OIDC Core §2 `acr`), weakest first: the one place that
# names them and orders them. A request for a class is met by that class or a stronger one.
# amr values follow RFC 8176.
ACR_PASSWORD = "urn:kotra:acr:password"
ACR_FEDERATED = "urn:kotra:acr:federated"
ACR_IDENTITY = "urn:kotra:acr:identity-verification"
ACR_CERTIFICATE = "urn:kotra:acr:certificate"
ACR_LEVELS: dict[str, int] = {
    ACR_PASSWORD: 1, ACR_FEDERATED: 1, ACR_IDENTITY: 2, ACR_CERTIFICATE: 3,
}


def acr_level(acr: str | None) -> int:
    """The strength of an authentication context class (0: none we know)."""
    return ACR_LEVELS.get(acr or "", 0)


@dataclass(frozen=True)
class AcrRequest:
    """The authentication context a relying party asked for.

    `acr_values` (OIDC Core §3.1.2.1) is voluntary: the login is asked to reach it, and the
    ID token's `acr` tells the relying party what it got. The `acr` claim requested as
    essential with `values` through the `claims` parameter (§5.5.1.1) is a requirement: a
    login that cannot reach it is a failed authentication.
    """

    values: tuple[str, ...] = ()
    essential: bool = False

    @property
    def needed(self) -> str | None:
        """The weakest requested class we know (reaching any one requested value is enough)."""
        known = [v for v in self.values if v in ACR_LEVELS]
        return min(known, key=acr_level) if known else None

    def met_by(self, acr: str | None) -> bool:
        needed = self.needed
        if needed is None:
            # Nothing we know was asked: a voluntary request is met by any login; an essential
            # one can never be (we cannot issue a value we do not define).
            return not (self.essential and self.values)
        return acr_level(acr) >= acr_level(needed)

    def reachable(self, acrs: Iterable[str]) -> bool:
        """Whether a login by one of the methods reaching `acrs` would meet the request."""
        return any(self.met_by(acr) for acr in acrs)

    def issued(self, acr: str) -> str:
        """The `acr` to issue for a login that reached `acr`.

        For an essential request the value must be one of the requested values (§5.5.1.1):
        the strongest requested class the login meets. Otherwise the login's own class.
        """
        if not self.essential:
            return acr
        met = [v for v in self.values if v in ACR_LEVELS and acr_level(v) <= acr_level(acr)]
        return max(met, key=acr_level) if met else acr

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


def company_claim(member: MemberView) -> dict[str, Any] | None:
    """`kotra_company`: the company a company manager manages, or a member's affiliation."""
    if member.member_type == MemberType.COMPANY_MANAGER:
        managed = member.managed_company
        if managed is None:
            return None
        return {"business_number": managed.business_number, "name": managed.name,
                "role": "manager"}
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
    member: MemberView, scope: str, matrix: EntitlementMatrix
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
        if member.sns_provider:
            claims["kotra_sns_provider"] = member.sns_provider
    return claims


def acr_satisfies(current: str | None, requested: Iterable[str]) -> bool:
    """Whether `current` meets voluntary `acr_values` (OIDC Core §3.1.2.1)."""
    return AcrRequest(tuple(requested)).met_by(current)
