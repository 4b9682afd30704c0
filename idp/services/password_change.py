"""A password change an operator requires: the flag, and the new password chosen at login."""

from __future__ import annotations

from sqlalchemy import select

from idp.errors import IdpError, InvalidInput
from idp.models import Member
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.passwords import PasswordPolicy, Passwords


class PasswordUnchanged(IdpError):
    """The new password is the current one."""


def require_password_change(session: DbSession, *, login_id: str,
                            required: bool = True) -> Member:
    """Flag (or unflag) a member: the next login asks for a new password. Commits."""
    member = session.scalar(select(Member).where(Member.login_id == login_id.strip().lower()))
    if member is None:
        raise InvalidInput("login_id", "no member has this login ID")
    member.password_change_required = required
    audit.record(session, "member.password_change_required", member_id=member.id,
                 required=required)
    session.commit()
    return member


def change_required_password(
    session: DbSession, passwords: Passwords, policy: PasswordPolicy, *, member_id: int,
    new_password: str, ip: str | None,
) -> None:
    """Set the new password of a flagged member and clear the flag. Commits.

    Raises InvalidInput when the password breaks the policy (or no change is required), and
    PasswordUnchanged when it is the current one.
    """
    member = session.get(Member, member_id)
    if member is None or not member.password_change_required:
        raise InvalidInput("password", "no password change is required")
    policy.check_password(new_password)
    if passwords.verify(member.password_hash, new_password):
        raise PasswordUnchanged()
    member.password_hash = passwords.hash(new_password)
    member.password_change_required = False
    member.updated_at = utcnow()
    audit.record(session, "member.password_changed", member_id=member.id, ip=ip,
                 reason="required")
    session.commit()
