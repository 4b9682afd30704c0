"""Demo data for `make run`: members of each kind, a company, and the two demo KOTRA sites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from idp.config import INSTANCE_DIR
from idp.models import AffiliationMethod, Company, LegacyAccount, Member, OAuthClient
from idp.models.base import DbSession
from idp.services.clients import add_client, reset_secret
from idp.services.legacy_import import CiHasher, check_row
from idp.services.members import add_member, affiliate
from idp.wiring import Provider

DEMO_PASSWORD = "Kotra!demo2026"
DEMO_COMPANY = ("6638501035", "(주)한국이디에스", "Korea Enterprise Data System Co., Ltd.")
DEMO_MEMBERS = [
    # login_id, name, email, affiliation method
    ("demouser1", "홍길동", "demouser1@example.com", None),
    ("demoapprove1", "김승인", "demoapprove1@example.com", AffiliationMethod.APPROVAL_PASSWORD),
    ("democert1", "이인증", "democert1@example.com", AffiliationMethod.CERTIFICATE),
]
DEMO_SITES = {
    "site1": ("demo-site-1", "KOTRA 데모 사이트 1 (설명회 신청)", 5001),
    "site2": ("demo-site-2", "KOTRA 데모 사이트 2 (사업 신청)", 5002),
}
DEMO_CLIENTS_FILE = INSTANCE_DIR / "demo_clients.json"

# Old sites' accounts for trying the conversion (SPEC §6): one person with two old accounts on
# two sites (found together by their CI), an old ID that is also a unified login ID, and a
# personal member. Each old password under another of the old schemes.
DEMO_LEGACY_PASSWORD = "Old!kotra2019"
DEMO_LEGACY = [
    # legacy_id, site, member_type, name, email, mobile, business_number, company, joined, scheme,
    # ci, note
    ("yoonharim", "무역투자24", "master", "윤하림", "harim@example.com", "010-2222-3333",
     "1248100998", "대한무역투자진흥공사", "2021-04-26", "bcrypt", "DEMO-CI-YOON",
     "two old accounts of one person (with harim.yoon)"),
    ("harim.yoon", "해외시장뉴스", "personal", "윤하림", "harim@example.com", "010-2222-3333",
     None, None, "2017-09-12", "pbkdf2_sha256", "DEMO-CI-YOON",
     "two old accounts of one person (with yoonharim)"),
    ("demouser1", "KOTRA 기업회원", "regular", "박충돌", "collide@example.com", "010-4444-5555",
     "2208162517", "(주)충돌무역", "2016-02-03", "mysql41", None,
     "old ID taken by a unified member: choose a new ID"),
    ("oldpersonal1", "무역투자24", "personal", "최개인", "oldpersonal1@example.com",
     "010-6666-7777", None, None, "2012-11-30", "sha256_salted", None, "one personal account"),
]


def _legacy_hash(scheme: str, password: str) -> tuple[str, str | None]:
    """An old hash of `password` as the old sites stored it (demo data only)."""
    import base64
    import hashlib
    import secrets

    import bcrypt

    if scheme == "bcrypt":
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(10, prefix=b"2a")).decode(), None
    if scheme == "pbkdf2_sha256":
        salt, iterations = secrets.token_hex(6), 100_000
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
        return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}", None
    if scheme == "sha256_salted":
        salt = secrets.token_hex(8)
        return hashlib.sha256((salt + password).encode()).hexdigest(), salt
    inner = hashlib.sha1(password.encode()).digest()  # noqa: S324 - MySQL PASSWORD()
    return "*" + hashlib.sha1(inner).hexdigest().upper(), None  # noqa: S324


def seed_legacy(session: DbSession, secret_key: str) -> list[dict[str, Any]]:
    """The demo's old accounts, added when missing (a converted one stays converted)."""
    hasher = CiHasher(secret_key)
    shown = []
    for (legacy_id, site, member_type, name, email, mobile, business_number, company, joined,
         scheme, ci, note) in DEMO_LEGACY:
        exists = session.scalar(select(LegacyAccount.id).where(
            LegacyAccount.site == site, LegacyAccount.legacy_id == legacy_id))
        if exists is None:
            password_hash, salt = _legacy_hash(scheme, DEMO_LEGACY_PASSWORD)
            values = check_row({
                "legacy_id": legacy_id, "site": site, "member_type": member_type, "name": name,
                "email": email, "mobile": mobile, "business_number": business_number,
                "company_name": company, "joined_at": joined, "password_hash": password_hash,
                "password_scheme": scheme, "password_salt": salt, "ci": ci,
            }, hasher)
            session.add(LegacyAccount(**values))
        shown.append({"legacy_id": legacy_id, "site": site, "member_type": member_type,
                      "name": name, "password": DEMO_LEGACY_PASSWORD, "scheme": scheme,
                      "note": note})
    return shown


def seed(session: DbSession, p: Provider, clients_file: Path = DEMO_CLIENTS_FILE) -> dict[str, Any]:
    """Idempotent: creates what is missing, resets the demo sites' secrets, writes the file."""
    company = session.scalar(select(Company).where(Company.business_number == DEMO_COMPANY[0]))
    if company is None:
        company = Company(business_number=DEMO_COMPANY[0], name=DEMO_COMPANY[1],
                          name_en=DEMO_COMPANY[2])
        session.add(company)
        session.flush()
    members = []
    for login_id, name, email, method in DEMO_MEMBERS:
        member = session.scalar(select(Member).where(Member.login_id == login_id))
        if member is None:
            member = add_member(session, p.passwords, p.policy, login_id=login_id, name=name,
                                email=email, password=DEMO_PASSWORD, phone="010-1234-5678")
            member.email_verified = True
            if method is not None:
                affiliate(session, member, company, method)
        members.append({"login_id": login_id, "password": DEMO_PASSWORD, "name": name,
                        "affiliation": method and str(method)})
    legacy = seed_legacy(session, p.settings["secret_key"])
    sites: dict[str, Any] = {}
    for key, (client_id, name, port) in DEMO_SITES.items():
        base = f"http://127.0.0.1:{port}"
        client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        if client is None:
            client, secret = add_client(
                session, client_id=client_id, name=name,
                redirect_uris=[f"{base}/callback"],
                post_logout_redirect_uris=[f"{base}/"],
                backchannel_logout_uri=f"{base}/backchannel-logout",
                grant_types=["authorization_code", "refresh_token"],
                first_party=True, id_token_signed_response_alg=p.settings["keys"]["default_alg"],
                allowed_algs=p.settings["keys"]["allowed_algs"],
            )
        else:
            secret = reset_secret(session, client)
        sites[key] = {
            "client_id": client_id, "client_secret": secret, "name": name,
            "redirect_uri": f"{base}/callback", "post_logout_redirect_uri": f"{base}/",
            "backchannel_logout_uri": f"{base}/backchannel-logout",
        }
    session.commit()
    clients_file.parent.mkdir(parents=True, exist_ok=True)
    clients_file.write_text(json.dumps(sites, ensure_ascii=False, indent=2))
    clients_file.chmod(0o600)  # it holds the demo sites' client secrets
    return {"members": members, "company": DEMO_COMPANY[0], "sites": list(sites),
            "clients_file": str(clients_file), "legacy": legacy}
