"""`idp personal-data reseal`: moving the sealed personal data (CI/DI and their look-up hashes,
uploaded documents, operators' TOTP keys) to a new IDP_PERSONAL_DATA_KEY (issue 10's runbook,
docs/operations.md §3)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idp.adapters.identity_inicis import InicisIdentityVerifier
from idp.cli import main
from idp.extensions import db
from idp.models import AuditEvent, MemberIdentity, Operator, Upload
from idp.services import find_id
from idp.services.members import add_member
from idp.services.operators import TOTP_SEAL_KIND, add_operator
from idp.services.personal_data import (
    PersonalData,
    PersonalDataError,
    inicis_di,
    inicis_di_key,
    master_key,
)
from idp.services.uploads import open_upload, seal_upload
from tests.conftest import make_app
from tests.helpers import PASSWORD

CI, DI = "ci-" + "A" * 85, "di-" + "B" * 61
CI2 = "ci-" + "C" * 85  # verified by KG이니시스, which reports no DI: we derive one
DOCUMENT = b"%PDF-1.4 business registration certificate"
NEW = base64.b64encode(os.urandom(32)).decode()
NEWER = base64.b64encode(os.urandom(32)).decode()


def _run(args: list[str], database_url: str, *, key: str, stdin: str | None) -> Any:
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": database_url,
           "IDP_PERSONAL_DATA_KEY": key}
    return CliRunner().invoke(main, ["personal-data", "reseal", *args, "--json"], env=env,
                              input=stdin)


def _identity(vendor: str) -> MemberIdentity:
    found = db.session.scalar(select(MemberIdentity).where(MemberIdentity.vendor == vendor))
    assert found is not None
    return found


def _sealed(app: Any) -> list[Any]:
    with app.app_context():
        rows = db.session.scalars(select(MemberIdentity).order_by(MemberIdentity.id))
        return [(r.ci_sealed, r.di_sealed, r.ci_hash, r.di_hash) for r in rows] + [
                db.session.scalar(select(Upload.sealed)),
                db.session.scalar(select(Operator.totp_sealed))]


@pytest.fixture()
def sealed_rows(app: Any) -> dict[str, Any]:
    """A member with a verified identity, an upload and an operator, sealed as a provider
    without IDP_PERSONAL_DATA_KEY seals them (with a key derived from IDP_SECRET_KEY)."""
    with app.app_context():
        p = app.extensions["idp"]
        member = add_member(db.session, p.passwords, p.policy, login_id="reseal01",
                            name="김봉인", email="reseal@example.com", password=PASSWORD)
        db.session.flush()
        pd = p.personal_data
        db.session.add(MemberIdentity(
            member_id=member.id, ci_hash=pd.lookup_hash("ci", CI),
            di_hash=pd.lookup_hash("di", DI), ci_sealed=pd.seal(CI, "ci"),
            di_sealed=pd.seal(DI, "di"), name="김봉인", birthdate=dt.date(1990, 1, 2),
            gender="F", nationality="domestic", carrier=None, method="simple",
            vendor="emulator"))
        other = add_member(db.session, p.passwords, p.policy, login_id="reseal02",
                           name="이봉인", email="reseal2@example.com", password=PASSWORD)
        db.session.flush()
        old_master = master_key("", app.config["SECRET_KEY"])
        di2 = inicis_di(inicis_di_key(old_master), CI2)
        db.session.add(MemberIdentity(
            member_id=other.id, ci_hash=pd.lookup_hash("ci", CI2),
            di_hash=pd.lookup_hash("di", di2), ci_sealed=pd.seal(CI2, "ci"),
            di_sealed=pd.seal(di2, "di"), name="이봉인", birthdate=dt.date(1991, 3, 4),
            gender=None, nationality="domestic", carrier=None, method="simple",
            vendor="inicis"))
        upload = seal_upload(db.session, pd, DOCUMENT, content_type="application/pdf",
                             filename="cert.pdf", member_id=member.id)
        enrolment = add_operator(db.session, p.passwords, p.policy, pd,
                                 login_id="resealop1", name="김운영", password=PASSWORD)
        db.session.commit()
        return {"member_id": member.id, "upload_id": upload.id,
                "totp": enrolment.secret, "secret_key": app.config["SECRET_KEY"]}


def test_data_sealed_under_the_secret_key_moves_to_a_new_personal_data_key(
        app: Any, base_settings: dict[str, Any], migrated: str,
        sealed_rows: dict[str, Any]) -> None:
    before = _sealed(app)

    wrong = _run(["--old-secret-stdin"], migrated, key=NEW, stdin="not-the-old-secret-x\n")
    assert wrong.exit_code == 1
    assert json.loads(wrong.stdout)["error"] == "unreadable"
    assert _sealed(app) == before  # nothing half-done

    done = _run(["--old-secret-stdin"], migrated, key=NEW,
                stdin=sealed_rows["secret_key"] + "\n")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["resealed"] == {"member_identities": 2, "uploads": 1, "operators": 1}
    assert sealed_rows["secret_key"] not in done.output

    # A provider with the new key finds the member by CI, opens the document and the TOTP key;
    # the old key opens nothing any more.
    new_app = make_app(base_settings, personal_data={"key": NEW})
    with new_app.app_context():
        new_pd = new_app.extensions["idp"].personal_data
        found = find_id.find_by_ci(db.session, new_pd, CI)
        assert [f.member_id for f in found] == [sealed_rows["member_id"]]
        ident = _identity("emulator")
        assert ident.di_hash == new_pd.lookup_hash("di", DI)
        assert new_pd.open(ident.di_sealed, "di") == DI
        # KG이니시스's DI is ours, derived again from the new key: the same person verifying
        # again by KG이니시스 brings the DI the row now holds.
        inicis = InicisIdentityVerifier.from_settings(new_app.config["IDP_SETTINGS"])
        again_di = inicis_di(inicis.di_key, CI2)
        assert new_pd.open(_identity("inicis").di_sealed, "di") == again_di
        assert _identity("inicis").di_hash == new_pd.lookup_hash("di", again_di)
        assert open_upload(db.session, new_pd, sealed_rows["upload_id"])[0] == DOCUMENT
        operator = db.session.scalar(select(Operator))
        assert new_pd.open(operator.totp_sealed, TOTP_SEAL_KIND) == sealed_rows["totp"]
        old_pd = PersonalData(master_key("", sealed_rows["secret_key"]))
        with pytest.raises(PersonalDataError):
            old_pd.open(ident.ci_sealed, "ci")
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.event == "personal_data.resealed"))
        assert event is not None
        assert event.detail["resealed"]["member_identities"] == 2
        db.session.remove()
        db.engine.dispose()
    new_app.extensions["idp"].store.close()

    # Twice is harmless: everything is already under the new key.
    after = _sealed(app)
    again = _run(["--old-secret-stdin"], migrated, key=NEW,
                 stdin=sealed_rows["secret_key"] + "\n")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["resealed"] == {"member_identities": 0, "uploads": 0, "operators": 0}
    assert data["already_current"] == {"member_identities": 2, "uploads": 1, "operators": 1}
    assert _sealed(app) == after

    # The next rotation starts from a personal-data key.
    rotated = _run(["--old-key-stdin"], migrated, key=NEWER, stdin=NEW + "\n")
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.stdout)["resealed"]["uploads"] == 1
    with app.app_context():
        newer = PersonalData(master_key(NEWER, ""))
        ident = _identity("emulator")
        assert newer.open(ident.ci_sealed, "ci") == CI
        assert ident.ci_hash == newer.lookup_hash("ci", CI)


@pytest.mark.parametrize(("args", "stdin", "message"), [
    ([], "x\n", "exactly one of"),
    (["--old-key-stdin", "--old-secret-stdin"], "x\n", "exactly one of"),
    (["--old-key-stdin"], "\n", "no old key"),
    (["--old-key-stdin"], "bm90IDMyIGJ5dGVz\n", "base64 of 32 bytes"),
])
def test_the_old_key_is_asked_for_once_and_checked(
        migrated: str, args: list[str], stdin: str, message: str) -> None:
    result = _run(args, migrated, key=NEW, stdin=stdin)
    assert result.exit_code == 1
    assert message in json.loads(result.stdout)["message"]
