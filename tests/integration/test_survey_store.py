"""Forms' survey store on the real store: what it keeps of an answer cannot be set beside the
invitation's change of the same moment, neither by time nor by order (docs/decisions/0013)."""

from datetime import UTC, datetime, timedelta

import pytest

from moha_contracts import SurveyResponseVoided
from services.forms.survey_store import FINGERPRINTS, RESPONSES, SurveyStore

pytestmark = pytest.mark.integration


def slot(rid: str) -> dict:
    return {
        "_id": rid,
        "survey_id": "par",
        "owner_unit_id": "P",
        "group": "lanh_dao_so",
        "form_code": "XHH-CCHC-TINH",
        "form_version": 1,
    }


def answered(rid: str, score: int) -> dict:
    return {**slot(rid), "answers": [{"field": "Q1", "value": score}], "status": "valid", "void_reason": None}


async def natural_order(store) -> list[str]:
    return [d["_id"] async for d in store[RESPONSES].find({})]


async def test_answers_are_written_in_place_with_no_time_and_no_commit(store):
    surveys = SurveyStore(store)
    await surveys.add_response_slots([slot(r) for r in ("r3", "r1", "r4", "r2")])  # shuffled at dispatch
    before = await natural_order(store)
    for rid in ("r1", "r2", "r3"):  # the order people answer in
        assert await surveys.answer_response(answered(rid, 7))
    assert not await surveys.answer_response(answered("r1", 1))  # one answer per link
    assert await natural_order(store) == before == ["r3", "r1", "r4", "r2"]  # order says nothing of when
    assert [r["_id"] for r in await surveys.responses("par")] == ["r1", "r2", "r3"]  # answered, by id
    assert await surveys.response("r4") is None  # not answered yet: not a response
    kept = await store[RESPONSES].find_one({"_id": "r1"})
    assert kept["answers"] == [{"field": "Q1", "value": 7}]
    assert not [k for k, v in kept.items() if isinstance(v, datetime)]
    assert await store.commits.count_documents({"collection": RESPONSES}) == 0
    assert await store.outbox.count_documents({}) == 0

    # Voiding is a versioned change with its event (the Ministry's act, at its own time).
    event = SurveyResponseVoided(
        response_id="r2",
        survey_id="par",
        owner_unit_id="P",
        group="lanh_dao_so",
        reason="Can thiệp",
        voided_by="a1",
        voided_at=datetime.now(UTC),
    )
    await surveys.void_response(await surveys.response("r2"), {"status": "voided", "void_reason": "Can thiệp"}, event)
    assert (await surveys.response("r2"))["status"] == "voided"


async def test_a_link_invited_before_responses_were_made_at_dispatch_still_answers_once(store):
    surveys = SurveyStore(store)
    assert await surveys.answer_response(answered("old", 5))
    assert not await surveys.answer_response(answered("old", 6))
    assert (await surveys.response("old"))["answers"] == [{"field": "Q1", "value": 5}]


async def test_fingerprints_are_forgotten_after_the_burst_window(store):
    surveys = SurveyStore(store)
    now = datetime.now(UTC)
    await surveys.add_fingerprint("par", "r-old", "address:x", now - timedelta(minutes=11))
    await surveys.add_fingerprint("par", "r-new", "address:x", now - timedelta(minutes=1))
    assert await surveys.forget_fingerprints(timedelta(minutes=10)) == 1
    assert [d["response_id"] async for d in store[FINGERPRINTS].find({})] == ["r-new"]
    assert await surveys.recent_from("par", "address:x", timedelta(minutes=10)) == ["r-new"]


async def test_flags_about_responses_carry_no_time(store):
    surveys = SurveyStore(store)
    await surveys.flag("admin_session:r1", {"survey_id": "par", "response_ids": ["r1"]}, timed=False)
    await surveys.flag("answers_access:par:a1", {"survey_id": "par", "response_ids": []})
    flags = {f["_id"]: f for f in await surveys.flags("par")}
    assert "at" not in flags["admin_session:r1"] and "at" in flags["answers_access:par:a1"]
