"""The development outbox: every email and SMS "sent" in development and testing, newest first
(issue 6). `make run` users read their SMS codes and emails here; browser tests read
/dev/outbox.json. Registered only when IDP_ENV is development or testing (idp/__init__.py):
in production the paths do not exist (404), and the outbox adapter itself is refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from idp.extensions import db
from idp.models.identity import DevMessage

bp = Blueprint("dev_outbox", __name__)

KST = dt.timezone(dt.timedelta(hours=9), "KST")
LIMIT = 200  # the newest messages; older ones stay in the table


def _messages() -> list[DevMessage]:
    query = select(DevMessage).order_by(DevMessage.id.desc()).limit(LIMIT)
    to = request.args.get("to", "").strip()
    if to:
        query = query.where(DevMessage.recipient == to)
    return list(db.session.scalars(query))


def kst(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")


def as_json(m: DevMessage) -> dict[str, Any]:
    return {"id": m.id, "channel": m.channel, "recipient": m.recipient, "subject": m.subject,
            "body": m.body, "created_at": m.created_at.replace(tzinfo=dt.UTC).isoformat()}


@bp.route("/dev/outbox")
def outbox() -> str:
    """Every message, newest first (?to= one recipient)."""
    return render_template("dev/outbox.html", messages=_messages(), kst=kst,
                           to=request.args.get("to", ""))


@bp.route("/dev/outbox.json")
def outbox_json() -> BaseResponse:
    """The same as JSON: {"messages": [...]} newest first."""
    resp = jsonify({"messages": [as_json(m) for m in _messages()]})
    resp.headers["Cache-Control"] = "no-store"
    return resp
