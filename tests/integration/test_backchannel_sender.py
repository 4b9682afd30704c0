"""The BackchannelSender port's contract, run against every implementation of it.

The real adapter talks to a relying party on a local socket; the fake is told how that
relying party answers. Both must report the same outcome for the same answer, so the fake the
outbox tests use cannot drift from the real thing without a test here failing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from idp.adapters.backchannel import HttpBackchannelSender, RecordingBackchannelSender
from idp.services.ports import BackchannelSender
from tests.backchannel_receiver import Receiver, backchannel_receiver

TOKEN = "eyJ.a-logout-token.sig"


class HttpRig:
    """The real sender and a real relying party (its status set per test)."""

    def __init__(self, receiver: Receiver) -> None:
        self.sender = HttpBackchannelSender(timeout=1)
        self.receiver = receiver
        self.uri = receiver.uri

    def rp_answers(self, status: int | None) -> None:
        if status is None:
            self.uri = "http://127.0.0.1:9/unreachable"  # discard port: connection refused
        else:
            self.receiver.status = status

    def tokens_received(self) -> list[str]:
        return [item["token"] for item in self.receiver.received]


class FakeRig:
    def __init__(self) -> None:
        self.sender = RecordingBackchannelSender()
        self.uri = "http://127.0.0.1:1/backchannel-logout"

    def rp_answers(self, status: int | None) -> None:
        self.sender.answer(self.uri, status)

    def tokens_received(self) -> list[str]:
        return [s.logout_token for s in self.sender.sent]


@pytest.fixture(params=["http", "fake"])
def rig(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeRig()
        return
    with backchannel_receiver() as receiver:
        yield HttpRig(receiver)


def _check_port(sender: Any) -> BackchannelSender:
    port: BackchannelSender = sender  # type-checks that each adapter fits the Protocol
    return port


@pytest.mark.parametrize(("status", "delivered"), [(200, True), (204, True), (400, False),
                                                   (503, False)])
def test_the_relying_partys_answer_decides_delivery(rig, status, delivered):
    rig.rp_answers(status)
    result = _check_port(rig.sender).send(rig.uri, TOKEN)
    assert (result.delivered, result.status) == (delivered, status)
    assert (result.error is None) == delivered
    assert rig.tokens_received() == [TOKEN]  # the token, as the form field logout_token


def test_an_unreachable_relying_party_is_a_failure_not_an_exception(rig):
    rig.rp_answers(None)
    result = rig.sender.send(rig.uri, TOKEN)
    assert not result.delivered and result.status is None and result.error


def test_a_hanging_relying_party_costs_at_most_the_timeout():
    with backchannel_receiver() as receiver:
        receiver.hang()
        sender = HttpBackchannelSender(timeout=0.5)
        started = time.monotonic()
        result = sender.send(receiver.uri, TOKEN)
        assert time.monotonic() - started < 2
        assert not result.delivered and "Timeout" in (result.error or "")


def test_the_http_sender_posts_a_form_and_follows_no_redirect():
    with backchannel_receiver() as receiver:
        receiver.status = 302  # a redirect is not an acknowledgement (§2.8: 200)
        result = HttpBackchannelSender(timeout=1).send(receiver.uri, TOKEN)
        assert not result.delivered and result.status == 302
        assert receiver.received[0]["ctype"] == "application/x-www-form-urlencoded"

