"""간편인증 login (issue 6, SPEC §3.3): the member whose verified CI a fresh identity
verification (purpose "login") returned.

The CI is looked up by its keyed hash (member_identities.ci_hash, idp/services/personal_data),
never in clear. An unknown CI, a locked and a withdrawn member get one answer
(InvalidCredentials), like a wrong password; attempts are throttled per client IP (an IPv6
address by its /64) and audited like password sign-ins, with method "identity".
"""

from __future__ import annotations

from sqlalchemy import select, update

from idp.errors import InvalidCredentials, LoginThrottled
from idp.models import Member, MemberIdentity
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.members import SignedIn
from idp.services.personal_data import PersonalData
from idp.services.throttle import Throttle, ip_bucket


def authenticate_identity(session: DbSession, personal_data: PersonalData, throttle: Throttle,
                          *, ci: str, ip: str, client_id: str | None = None) -> SignedIn:
    """The member with this CI, or InvalidCredentials / LoginThrottled. Commits."""
    try:
        attempt = throttle.reserve(ip=ip_bucket(ip))
    except LoginThrottled as exc:
        audit.record(session, "login.throttled", client_id=client_id, ip=ip,
                     retry_after=exc.retry_after, locked=exc.locked, method="identity")
        session.commit()
        raise
    row = session.execute(
        select(Member.id, Member.login_id, Member.status, Member.withdrawn_at)
        .join(MemberIdentity, MemberIdentity.member_id == Member.id)
        .where(MemberIdentity.ci_hash == personal_data.lookup_hash("ci", ci))
    ).first()
    if row is None or row.status != "active" or row.withdrawn_at is not None:
        locked = throttle.failed(attempt)
        audit.record(session, "login.failure", member_id=row.id if row else None,
                     client_id=client_id, ip=ip, method="identity",
                     reason="no_member" if row is None else "inactive")
        for kind in locked:
            audit.record(session, "login.locked", ip=ip, key=kind)
        session.commit()
        raise InvalidCredentials()
    session.execute(update(Member).where(Member.id == row.id).values(last_login_at=utcnow()))
    throttle.succeeded(attempt, forgive=())
    audit.record(session, "login.success", member_id=row.id, client_id=client_id, ip=ip,
                 method="identity")
    session.commit()
    return SignedIn(member_id=row.id, login_id=row.login_id)
