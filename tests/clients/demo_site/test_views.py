"""The site's pages (clients/demo_site/views.py): services gated on kotra_entitlements."""

from __future__ import annotations

from tests.clients.demo_site.support import signed_in


def test_service_gating_follows_entitlements(rp, client):
    signed_in(
        rp,
        client,
        kotra_member_type="simple",
        kotra_entitlements=["online_consultation", "seminar_application"],
    )
    refused = client.get("/services/other_service_application")
    assert refused.status_code == 403
    assert "간편회원은 이용할 수 없는 서비스입니다" in refused.get_data(as_text=True)
    allowed = client.get("/services/seminar_application")
    assert allowed.status_code == 200
    assert "신청 가능" in allowed.get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "간편회원" in home and "불가" in home and "가능" in home


def test_service_gating_general_member_with_entitlement(rp, client):
    signed_in(
        rp,
        client,
        kotra_member_type="general",
        kotra_entitlements=["other_service_application"],
        kotra_company={
            "business_number": "1234567890",
            "name": "무역상사",
            "affiliation_method": "approval_password",
            "affiliated_at": 1700000000,
        },
    )
    assert client.get("/services/other_service_application").status_code == 200
    assert client.get("/services/service_mileage").status_code == 403
    assert client.get("/services/no_such_service").status_code == 404
    assert "무역상사" in client.get("/").get_data(as_text=True)


def test_service_page_requires_sign_in(client):
    resp = client.get("/services/seminar_application")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
