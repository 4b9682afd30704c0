"""Demo data for `make run`: members of each kind, a company, and the two demo KOTRA sites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from idp.config import INSTANCE_DIR
from idp.models import AffiliationMethod, Company, Member, OAuthClient
from idp.models.base import DbSession
from idp.services.clients import add_client, reset_secret
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
            "clients_file": str(clients_file)}
