"""Fixtures of the demo site's unit tests: a fake issuer and site 1 built against it.

`app`, `rp` and `client` here are the demo site's, not the provider's (tests/conftest.py).
"""

from __future__ import annotations

import pytest

from clients.demo_site import create_app
from tests.clients.demo_site.support import CLIENT, FakeIssuer


@pytest.fixture(scope="module")
def issuer():
    fake = FakeIssuer()
    yield fake
    fake.close()


@pytest.fixture
def app(issuer, monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    issuer.keys = issuer.keys[:2]
    application = create_app(1, issuer.url, dict(CLIENT))
    application.config["TESTING"] = True
    yield application
    application.extensions["demo_site"].close()


@pytest.fixture
def rp(app):
    return app.extensions["demo_site"]


@pytest.fixture
def client(app):
    return app.test_client()
