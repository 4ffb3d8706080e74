"""One comparison form for VAT numbers, however a source or a bookkeeper wrote them."""

from __future__ import annotations

import pytest

from connectors.vatnumber import normalise


def test_vat_numbers_are_normalised_or_left_off() -> None:
    # Moved from test_eboekhouden_common.py: the form is shared by every target now.
    assert normalise("NL 0000.99.998 B57", "NL") == "NL000099998B57"
    assert normalise("000099998B57", "NL") == "NL000099998B57"
    assert normalise("NL123456789B99", "NL") == ""
    assert normalise("", "NL") == ""


@pytest.mark.parametrize(
    "written",
    [
        "NL004495445B01",
        "nl004495445b01",
        "NL 0044.95.445.B01",
        "004495445B01",
        " 0044 95 445 B01 ",
        "NL-004495445-B01",
    ],
)
def test_dutch_forms_with_or_without_prefix_dots_and_spaces_are_one_number(written: str) -> None:
    assert normalise(written, "NL") == "NL004495445B01"


@pytest.mark.parametrize(
    "written",
    ["BE0403170701", "BE 0403.170.701", "be0403 170 701", "0403.170.701", "0403170701", "403170701"],
)
def test_belgian_forms_including_the_old_nine_digits_are_one_number(written: str) -> None:
    assert normalise(written, "BE") == "BE0403170701"


def test_a_prefixed_number_keeps_its_own_country_whatever_the_partys() -> None:
    assert normalise("BE 0403.170.701", "NL") == "BE0403170701"


def test_greece_is_prefixed_el_as_in_vies() -> None:
    assert normalise("094259216", "GR") == "EL094259216"


@pytest.mark.parametrize(
    ("written", "country"),
    [
        ("NL004495446B01", "NL"),  # wrong check digit
        ("0403170702", "BE"),
        ("004495445B01", ""),  # no prefix and no country: cannot tell
        ("BTW nummer volgt", "NL"),
        ("NL", "NL"),
    ],
)
def test_what_is_no_valid_vat_number_is_left_off(written: str, country: str) -> None:
    assert normalise(written, country) == ""
