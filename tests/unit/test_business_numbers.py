import pytest

from idp.services.business_numbers import (
    InvalidNumber,
    format_business_number,
    format_corp_number,
    is_business_number,
    normalise_business_number,
    normalise_corp_number,
)


@pytest.mark.parametrize("value", ["124-81-00998", "2208162517", "663-85-01035", "1208200275",
                                   " 124 81 00998 "])
def test_valid_business_numbers(value):
    assert is_business_number(value)


@pytest.mark.parametrize("value", ["1234567890", "124-81-00999", "12481009", "124810099８",
                                   "", None, "abcdefghij", "12481009981"])
def test_invalid_business_numbers(value):
    with pytest.raises(InvalidNumber):
        normalise_business_number(value)


def test_every_wrong_check_digit_is_refused():
    assert [d for d in range(10) if is_business_number(f"124810099{d}")] == [8]


def test_display_forms():
    assert format_business_number("1248100998") == "124-81-00998"
    assert format_corp_number("1101110000000") == "110111-0000000"


def test_corp_number_check_digit():
    # weights 1,2,1,2,... over 12 digits: 1+2+0+2+1+2+0+0+0+0+0+0 = 8 -> check 2
    assert normalise_corp_number("110111-0000002") == "1101110000002"
    with pytest.raises(InvalidNumber):
        normalise_corp_number("1101110000003")
