"""Demo data for `make run`: members of each kind, a company, and the two demo KOTRA sites."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from idp.config import INSTANCE_DIR
from idp.models import AffiliationMethod, Company, LegacyAccount, Member, OAuthClient
from idp.models.base import DbSession, utcnow
from idp.services.clients import add_client, reset_secret
from idp.services.legacy_import import CiHasher, check_row
from idp.services.members import add_member, affiliate
from idp.services.terms import (
    DEFAULT_TITLES,
    MARKETING,
    PRIVACY,
    PRIVACY_OPTIONAL,
    SERVICE,
    current_documents,
    missing_consents,
    publish,
    record_consents,
)
from idp.wiring import Provider

DEMO_PASSWORD = "Kotra!demo2026"
DEMO_COMPANY = ("6638501035", "(주)한국이디에스", "Korea Enterprise Data System Co., Ltd.")
DEMO_MEMBERS = [
    # login_id, name, email, affiliation method
    ("demouser1", "홍길동", "demouser1@example.com", None),
    ("demoapprove1", "김승인", "demoapprove1@example.com", AffiliationMethod.APPROVAL_PASSWORD),
    ("democert1", "이인증", "democert1@example.com", AffiliationMethod.CERTIFICATE),
]
# 간편인증 login for the demo members (issue 6): the person each one is, as the identity
# emulator sees them (idp/adapters/identity_emulator.py derives the same CI and DI from
# name + birthdate + mobile). Enter these in the emulated popup to sign in without a password.
DEMO_IDENTITIES = {
    # login_id: (birthdate YYYYMMDD, gender, mobile)
    "demouser1": ("19850301", "M", "01012345678"),
    "demoapprove1": ("19800515", "M", "01023456789"),
    "democert1": ("19781120", "F", "01034567890"),
}
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


def seed_identities(session: DbSession, p: Provider) -> list[dict[str, Any]]:
    """The demo members' verified identities (added when missing), as the identity emulator
    derives them, so that 간편인증 login finds them by CI."""
    from idp.adapters.identity_emulator import emulator_ci_di
    from idp.models import MemberIdentity

    shown = []
    for login_id, (birth, gender, mobile) in DEMO_IDENTITIES.items():
        member = session.scalar(select(Member).where(Member.login_id == login_id))
        if member is None:
            continue
        born = dt.datetime.strptime(birth, "%Y%m%d").date()
        ci, di = emulator_ci_di(member.name, born, mobile)
        has = session.scalar(select(MemberIdentity.id).where(
            MemberIdentity.member_id == member.id))
        if has is None:
            pd = p.personal_data
            session.add(MemberIdentity(
                member_id=member.id, ci_hash=pd.lookup_hash("ci", ci),
                di_hash=pd.lookup_hash("di", di), ci_sealed=pd.seal(ci, "ci"),
                di_sealed=pd.seal(di, "di"), name=member.name, birthdate=born, gender=gender,
                nationality="domestic", carrier="SKT", method="mobile", vendor="emulator"))
            session.flush()
        shown.append({"login_id": login_id, "name": member.name, "birthdate": birth,
                      "mobile": mobile})
    return shown


def seed(session: DbSession, p: Provider, clients_file: Path = DEMO_CLIENTS_FILE) ->\
 dict[str, Any]:
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
    identities = seed_identities(session, p)
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
    company_console = seed_company_console(session, p)  # issue 7: the 기업정보 관리 tab
    session.commit()
    mileage_api = seed_mileage_api(session, p)  # issue 7: the service and mileage API
    clients_file.parent.mkdir(parents=True, exist_ok=True)
    clients_file.write_text(json.dumps(sites, ensure_ascii=False, indent=2))
    clients_file.chmod(0o600)  # it holds the demo sites' client secrets
    result: dict[str, Any] = {
        "members": members, "company": DEMO_COMPANY[0], "sites": list(sites),
        "clients_file": str(clients_file), "legacy": legacy, "identities": identities}
    result["company_directory"] = seed_company_directory(session)  # issue 7, registries
    result.update(seed_operator_review(session, p))  # issue 7: the operator console
    result["npki"] = seed_npki(p)  # issue 7, NPKI verifier: the demo certificates
    result["mileage_api"] = mileage_api  # issue 7: the service and mileage API
    result["company_console"] = company_console  # issue 7: the 기업정보 관리 tab
    result["affiliation"] = seed_affiliation(session, p)  # issue 7, affiliation
    return result


# Issue 7, affiliation: the demo company's approval password (승인 비밀번호), so a person can
# join it from MY KOTRA 소속기업 관리 or the sign-up's 소속기업 tab (docs/affiliation.md).
DEMO_APPROVAL_PASSWORD = "582046"


def seed_affiliation(session: DbSession, p: Provider) -> dict[str, str]:
    """Give the demo company an approval password when it has none (idempotent)."""
    company = session.scalar(select(Company).where(Company.business_number == DEMO_COMPANY[0]))
    if company is not None and not company.approval_password_hash:
        company.approval_password_hash = p.passwords.hash(DEMO_APPROVAL_PASSWORD)
        company.approval_password_changed_at = utcnow()
        session.commit()
    return {"business_number": DEMO_COMPANY[0], "approval_password": DEMO_APPROVAL_PASSWORD}


# Version 1 of each of the manual's terms items (회원가입 STEP1 약관동의), with text based on
# the manual's screens. Demo text, not KOTRA's legal wording: production publishes its own
# with `idp terms publish`.
DEMO_TERMS: list[tuple[str, bool, str]] = [
    (SERVICE, True, """제 1 장 총칙

제1조(목적)
이 약관은 KOTRA에 의해 구축 및 운영되는 모든 웹사이트(이하 "KOTRA 웹사이트"라고 함) 이용에\
 관한 KOTRA와 이용자의 권리·의무 및 책임사항에 대해 규정함을 목적으로 합니다.

제2조(용어의 정의)
이 약관에서 사용하는 용어의 정의는 다음 각 항과 같으며, 본 약관에서 정의하지 않은 용어는\
 개별서비스의 별도 약관 및 이용규정에서 정의합니다.
1. "회원"이란 KOTRA 웹사이트에 개인정보를 제공하여 회원등록을 한 자로서, KOTRA 웹사이트의\
 정보를 지속적으로 제공받으며 서비스를 이용할 수 있는 자를 말합니다.
2. "아이디(ID)"란 회원의 식별과 서비스 이용을 위하여 회원이 정하고 KOTRA가 승인하는 문자와\
 숫자의 조합을 말합니다.
3. "비밀번호"란 회원이 부여받은 아이디와 일치된 회원임을 확인하고 회원의 비밀을 보호하기\
 위해 회원이 정한 문자, 숫자, 특수문자의 조합을 말합니다.

제3조(약관의 효력과 변경)
KOTRA는 이 약관을 개정하는 경우 적용일자 및 개정사유를 명시하여 시행일자 이전에 공지하며,\
 회원은 개정된 약관에 동의하여야 서비스를 계속 이용할 수 있습니다."""),
    (PRIVACY, True, """1. 개인정보의 수집, 이용 목적 : KOTRA 통합 회원관리, 서비스제공, 민원처리

2. 수집하는 개인정보의 항목
 - 필수 입력항목 : 성명(한글), 아이디, 비밀번호, 이메일, 휴대전화, 생년월일, 성별,\
 연계정보(CI), 중복가입확인정보(DI)

3. 개인정보의 보유 및 이용기간 : 회원 탈퇴 시까지(개인회원 : 2년 단위 재동의, 기업회원 :\
 5년 단위 재동의)

4. 귀하는 개인정보 수집·이용에 대한 동의를 거부할 권리가 있습니다. 다만, 필수항목에 대한\
 동의를 거부하실 경우 회원가입 및 서비스 이용이 제한됩니다.

필수항목에 대한 개인정보 수집·이용에 동의하십니까?"""),
    (MARKETING, False, """1. 개인정보의 수집, 이용 목적 : KOTRA 사업 및 행사 안내,\
 설명회·세미나 초청, 맞춤형 정보 제공

2. 수집하는 개인정보의 항목
 - 성명(한글), 전화번호, 이메일, 휴대전화

3. 개인정보의 보유 및 이용기간 : 회원 탈퇴 시까지(개인회원 : 2년 단위 재동의, 기업회원 :\
 5년 단위 재동의)

4. 개인정보의 마케팅 활용 동의를 거부하시더라도 회원 가입 시 제한은 없습니다.
 다만, 마케팅 활용 서비스 안내 및 참여에 제한이 있을 수 있습니다.

마케팅 활용을 위한 개인정보 수집·이용에 동의하십니까?"""),
    (PRIVACY_OPTIONAL, False, """1. 개인정보의 수집, 이용 목적 : 맞춤형 서비스 제공(관심\
 품목·지역 정보 안내)

2. 수집하는 개인정보의 항목
 - 선택 입력항목 : 성명(영문), 팩스, 휴대전화, 부서, 직위, 주소(영문), 개인관심 품목,\
 개인관심 지역, 관심산업 분야

3. 개인정보의 보유 및 이용기간 : 회원 탈퇴 시까지(개인회원 : 2년 단위 재동의, 기업회원 :\
 5년 단위 재동의)

4. 개인정보 수집·이용 동의 거부 권리 및 동의 거부 따른 불이익 내용 또는 제한사항
 위의 개인정보 수집·이용에 대한 동의를 거부할 권리가 있습니다.
 - 선택항목의 수집·이용에 동의하지 않을 경우는 회원으로 가입하여 기본적인 서비스를\
 제공받을 수 있으나, 맞춤형 서비스제공 등의 추가적인 서비스를 제공받을 수 없음을 양지하여\
 주시기 바랍니다.

5. 인터넷 서비스 이용과정에서 아래 개인정보 항목이 자동으로 생성되어 수집될 수 있습니다.
 - KOTRA 홈페이지 : 쿠키정보, IP주소, 서비스 이용기록, 방문기록"""),
]


def seed_terms(session: DbSession, *, now: dt.datetime) -> list[str]:
    """Idempotent: version 1 of every kind that has none, and the demo members' agreement to
    the current required documents (as if they had signed up), so they sign in straight
    away; publishing a version 2 shows the re-consent step. Returns the kinds published.
    The caller commits."""
    have = {doc.kind for doc in current_documents(session)}
    published = []
    for kind, required, body in DEMO_TERMS:
        if kind in have:
            continue
        title_ko, title_en = DEFAULT_TITLES[kind]
        publish(session, kind=kind, version=1, title_ko=title_ko, title_en=title_en,
                body=body, required=required, now=now)
        published.append(kind)
    member_ids = session.scalars(select(Member.id).where(
        Member.login_id.in_([login_id for login_id, *_ in DEMO_MEMBERS])))
    for member_id in member_ids:
        missing = missing_consents(session, member_id, now=now)
        if missing:
            record_consents(session, member_id, agreed={d.kind: True for d in missing},
                            marketing={}, source="demo", now=now)
    return published


# Issue 7, the operator console (docs/operators.md): a demo operator with a fixed TOTP key (so
# the README can give it) and one registration waiting for review, with a small PDF.
DEMO_OPERATOR = ("demoops1", "김심사", "Kotra!ops2026")
DEMO_OPERATOR_TOTP = "KOTRADEMOOPERATORKEYABCDEFGHIJKL"  # base32, 160 bits; demo only
DEMO_PENDING_COMPANY = ("6178180005", "(주)데모신규무역", "Demo New Trading Co., Ltd.")
DEMO_DOCUMENT = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                 b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                 b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 420 297]/Contents 4 0 R"
                 b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
                 b"4 0 obj<</Length 98>>stream\nBT /F1 16 Tf 40 230 Td (Business Registration "
                 b"Certificate) Tj 0 -30 Td (617-81-80005 - demo) Tj ET\nendstream endobj\n"
                 b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
                 b"trailer<</Root 1 0 R>>\n%%EOF\n")


# What the company form (idp/services/company_profile.py: PROFILE_KEYS, as clean_info stores
# them) holds for a demo company: the registration's keys, so the console edits it as it is.
DEMO_COMPANY_PROFILE: dict[str, Any] = {
    "company_type": "small", "classification": "corporation", "trade_kind": "trading",
    "main_product": "소프트웨어", "phone": "02-3460-7114", "email": "info@demo.example",
    "startup": False, "venture": True, "foreign_invested": False, "postcode": "06792",
    "address": "서울특별시 서초구 헌릉로 13", "address_en": "13 Heolleung-ro, Seocho-gu, Seoul",
    "export_country": "US"}


def seed_operator_review(session: DbSession, p: Provider) -> dict[str, Any]:
    """The demo operator and a pending registration (idempotent)."""

    from idp.models import CompanyRequest, Operator
    from idp.services.companies import create_manager
    from idp.services.operators import TOTP_SEAL_KIND, otpauth_uri
    from idp.services.uploads import store_upload

    login_id, name, password = DEMO_OPERATOR
    if session.scalar(select(Operator.id).where(Operator.login_id == login_id)) is None:
        session.add(Operator(login_id=login_id, name=name, password_hash=p.passwords.hash(
            password), totp_sealed=p.personal_data.seal(DEMO_OPERATOR_TOTP, TOTP_SEAL_KIND)))
    number, company_name, company_name_en = DEMO_PENDING_COMPANY
    if session.scalar(select(Company.id).where(Company.business_number == number)) is None:
        applicant = session.scalar(select(Member).where(Member.login_id == "demouser1"))
        company = Company(business_number=number, name=company_name, name_en=company_name_en,
                          status="pending", ceo_name="이대표", ceo_name_en="LEE DAEPYO",
                          profile={**DEMO_COMPANY_PROFILE, "main_product": "식품",
                                   "email": "info@demo-new.example"})
        session.add(company)
        session.flush()
        create_manager(session, company, p.passwords.hash(DEMO_PASSWORD))
        upload = store_upload(session, p.personal_data, DEMO_DOCUMENT,
                              filename="사업자등록증.pdf",
                              member_id=applicant.id if applicant else None,
                              max_bytes=len(DEMO_DOCUMENT))
        session.add(CompanyRequest(kind="registration", company_id=company.id,
                                   member_id=applicant.id if applicant else None,
                                   document_id=upload.id, data={}, status="pending"))
    session.commit()
    return {"operator": {"login_id": login_id, "password": password,
                         "otpauth_uri": otpauth_uri(DEMO_OPERATOR_TOTP, login_id)},
            "pending_company": number}


# --- Issue 7, registries: KOTRA's company directory and the tax office emulator's numbers ---

DEMO_DIRECTORY_FILE = Path(__file__).parent / "data" / "demo_company_directory.csv"


def seed_company_directory(session: DbSession, path: Path = DEMO_DIRECTORY_FILE
                           ) -> dict[str, Any]:
    """Load the demo directory through `idp companies import-directory`'s service (an
    upsert: re-seeding changes nothing) and name the tax office emulator's demo numbers."""
    from idp.services.business_numbers import format_business_number
    from idp.services.company_directory_import import import_directory
    from idp.web.nts_emulator import DEMO_CLOSED, DEMO_SUSPENDED, DEMO_UNREGISTERED

    report = import_directory(session, path, actor="demo seed", commit=False)
    session.commit()
    return {**report.as_dict(), "file": str(path),
            "suspended": [format_business_number(n) for n in DEMO_SUSPENDED],
            "closed": [format_business_number(n) for n in DEMO_CLOSED],
            "unregistered": [format_business_number(n) for n in DEMO_UNREGISTERED]}

# --- issue 7, NPKI verifier (docs/npki.md) ---------------------------------------------------

def seed_npki(p: Provider) -> dict[str, Any] | None:
    """The demo PKI's certificate files and passwords for `idp demo seed` to print (written
    when missing; None when the settings use no demo PKI, e.g. with real trust anchors)."""
    from idp.adapters.npki_revocation import demo_dir
    from idp.npki_pki import demo_summary, ensure_demo_pki

    folder = demo_dir(p.settings)
    if folder is None:
        return None
    ensure_demo_pki(folder)
    summary = demo_summary(folder)
    if summary is None:
        return None
    return {"folder": str(folder), "readme": str(folder / "README.txt"),
            "people": [{"name": person["name"], "kind": person["kind"],
                        "business_number": person.get("business_number"),
                        "password": person["password"],
                        "files": {k: str(folder / v) for k, v in person["files"].items()}}
                       for person in summary["people"]]}


# Issue 7, the service and mileage API (docs/api.md): the demo sites call it with their own
# client credentials, and the demo company starts with some mileage to use.
DEMO_API_SCOPES = ("kotra.services.read", "kotra.services.write", "kotra.mileage.read",
                   "kotra.mileage.write")
DEMO_MILEAGE = 50_000


def seed_mileage_api(session: DbSession, p: Provider) -> dict[str, Any]:
    """Allow the demo sites client_credentials with the API's scopes; credit the demo company
    once (the idempotency key makes re-seeding a no-op)."""
    from idp.services.mileage import allow_api_access, earn

    for client_id, _name, _port in DEMO_SITES.values():
        allow_api_access(session, client_id, list(DEMO_API_SCOPES))
    session.commit()
    earn(session, client_id=DEMO_SITES["site1"][0], business_number=DEMO_COMPANY[0],
         amount=DEMO_MILEAGE, reason="데모 초기 마일리지", service="데모",
         idempotency_key="demo-seed-initial-mileage")
    return {"scopes": " ".join(DEMO_API_SCOPES), "business_number": DEMO_COMPANY[0],
            "initial_mileage": DEMO_MILEAGE, "openapi": f"{p.issuer}/api/openapi.json"}


# Issue 7, the company console (docs/company-console.md): the demo company's manager signs in
# on the login page's 기업정보 관리 tab with the business number and this password.
DEMO_COMPANY_PASSWORD = "Kotra!company2026"
# (DEMO_APPROVAL_PASSWORD: the one of seed_affiliation above.)


def seed_company_console(session: DbSession, p: Provider) -> dict[str, Any]:
    """The demo company's manager principal (company login password) and approval password,
    when the company has none yet (idempotent)."""
    from idp.services.companies import create_manager, manager_of

    company = session.scalar(select(Company).where(Company.business_number == DEMO_COMPANY[0]))
    if company is None:
        return {}
    if manager_of(session, company) is None:
        create_manager(session, company, p.passwords.hash(DEMO_COMPANY_PASSWORD))
    if company.approval_password_hash is None:
        company.approval_password_hash = p.passwords.hash(DEMO_APPROVAL_PASSWORD)
    if not company.profile:  # the company form's required fields, so 기업정보 수정 saves
        company.profile = dict(DEMO_COMPANY_PROFILE)
        company.ceo_name = company.ceo_name or "김데모"
        company.ceo_name_en = company.ceo_name_en or "KIM DEMO"
    session.flush()
    return {"business_number": company.business_number, "password": DEMO_COMPANY_PASSWORD,
            "approval_password": DEMO_APPROVAL_PASSWORD}
