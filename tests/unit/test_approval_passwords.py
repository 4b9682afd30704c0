import pytest

from idp.services.approval_passwords import WeakApprovalPassword, check_new_approval_password


@pytest.mark.parametrize("value", ["000000", "123456", "111111", "654321", "123123", "121212",
                                   "111222", "987654", "112233"])
def test_trivial_approval_passwords_are_refused(value):
    with pytest.raises(WeakApprovalPassword) as exc:
        check_new_approval_password(value)
    assert exc.value.reason == "trivial"


@pytest.mark.parametrize("value", ["12345", "1234567", "12345a", "１２３４５６", ""])
def test_only_six_ascii_digits(value):
    with pytest.raises(WeakApprovalPassword) as exc:
        check_new_approval_password(value)
    assert exc.value.reason == "format"


@pytest.mark.parametrize("value", ["482915", "903817", "570264"])
def test_ordinary_ones_pass(value):
    assert check_new_approval_password(value) == value
