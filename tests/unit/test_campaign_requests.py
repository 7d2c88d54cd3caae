"""A campaign request that passes its own checks always makes valid campaigns: whatever is wrong in
it is a 422 before the handler runs, never a validation error raised inside it (a 500)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.forms.api import PeriodicRequest
from services.forms.domain.campaigns import half_yearly

VALID = {
    "base_id": "bc-noi-vu",
    "form_code": "1/HC-TB",
    "title": "Báo cáo định kỳ ngành Nội vụ",
    "scope_unit_ids": ["20"],
    "year": 2026,
}


@pytest.mark.parametrize(
    "change",
    [
        {"form_code": ""},
        {"scope_unit_ids": [""]},
        {"scope_unit_ids": ["20", ""]},
        {"title": "Báo cáo\nđịnh kỳ"},
        {"form_code": "x" * 33},
        {"scope_unit_ids": ["u" * 65]},
    ],
)
def test_what_would_make_an_invalid_campaign_is_refused_by_the_request(change):
    with pytest.raises(ValidationError):
        PeriodicRequest.model_validate(VALID | change)


text = st.text(max_size=300)


@given(
    base_id=st.from_regex(r"^[A-Za-z0-9._-]{1,48}$", fullmatch=True),
    form_code=text,
    title=text,
    scope=st.lists(st.text(max_size=70), max_size=3),
    year=st.integers(1990, 2110),
)
def test_a_request_that_passes_makes_two_valid_campaigns(base_id, form_code, title, scope, year):
    try:
        body = PeriodicRequest(base_id=base_id, form_code=form_code, title=title, scope_unit_ids=scope, year=year)
    except ValidationError:
        return
    first, second = half_yearly(body.base_id, body.form_code, body.title, body.scope_unit_ids, body.year)
    assert first.closes_on.month == 6 and second.closes_on.month == 12
