"""Forms' survey store on the real store: what it keeps of an answer cannot be set beside the
invitation's change of the same moment, neither by time nor by order (docs/decisions/0013)."""

from datetime import UTC, datetime, timedelta

import pytest

from chassis.auth import Principal
from services.forms.survey.domain import Response
from services.forms.survey.store import FINGERPRINTS, RESPONSES, SurveyUnitOfWork

pytestmark = pytest.mark.integration


def slot(rid: str) -> Response:
    return Response(rid, "par", "P", "lanh_dao_so", "XHH-CCHC-TINH", 1)


def answered(rid: str, score: int) -> Response:
    response = slot(rid)
    response.answer({"Q1": score})
    return response


async def natural_order(store) -> list[str]:
    return [d["_id"] async for d in store[RESPONSES].find({})]


async def test_answers_are_written_in_place_with_no_time_and_no_commit(store):
    surveys = SurveyUnitOfWork(store).responses
    await surveys.add_slots([slot(r) for r in ("r3", "r1", "r4", "r2")])  # shuffled at dispatch
    before = await natural_order(store)
    for rid in ("r1", "r2", "r3"):  # the order people answer in
        assert await surveys.answer(answered(rid, 7))
    assert not await surveys.answer(answered("r1", 1))  # one answer per link
    assert await natural_order(store) == before == ["r3", "r1", "r4", "r2"]  # order says nothing of when
    assert [r.id for r in await surveys.of_survey("par")] == ["r1", "r2", "r3"]  # answered, by id
    assert await surveys.get("r4") is None  # not answered yet: not a response
    kept = await store[RESPONSES].find_one({"_id": "r1"})
    assert kept["answers"] == [{"field": "Q1", "value": 7}]
    assert not [k for k, v in kept.items() if isinstance(v, datetime)]
    assert await store.commits.count_documents({"collection": RESPONSES}) == 0
    assert await store.outbox.count_documents({}) == 0

    # Voiding is a versioned change with its event (the Ministry's act, at its own time).
    uow = SurveyUnitOfWork(store)
    ministry = Principal(account_id="a1", username="bnv", role="central_admin", unit_id="root")
    (await uow.responses.get("r2")).void(ministry, "Can thiệp", datetime.now(UTC))
    await uow.commit()
    assert (await SurveyUnitOfWork(store).responses.get("r2")).status == "voided"
    assert await store.commits.count_documents({"collection": RESPONSES}) == 1


async def test_a_link_invited_before_responses_were_made_at_dispatch_still_answers_once(store):
    surveys = SurveyUnitOfWork(store).responses
    assert await surveys.answer(answered("old", 5))
    assert not await surveys.answer(answered("old", 6))
    assert (await surveys.get("old")).answers == {"Q1": 5}


async def test_fingerprints_are_forgotten_after_the_burst_window(store):
    surveys = SurveyUnitOfWork(store).evidence
    now = datetime.now(UTC)
    await surveys.add_fingerprint("par", "r-old", "address:x", now - timedelta(minutes=11))
    await surveys.add_fingerprint("par", "r-new", "address:x", now - timedelta(minutes=1))
    assert await surveys.forget_fingerprints(now - timedelta(minutes=10)) == 1
    assert [d["response_id"] async for d in store[FINGERPRINTS].find({})] == ["r-new"]
    assert await surveys.recent_from("par", "address:x", now - timedelta(minutes=10)) == ["r-new"]


async def test_flags_about_responses_carry_no_time(store):
    surveys = SurveyUnitOfWork(store).evidence
    await surveys.flag("admin_session:r1", {"survey_id": "par", "response_ids": ["r1"]})
    await surveys.flag("answers_access:par:a1", {"survey_id": "par", "response_ids": []}, at=datetime.now(UTC))
    flags = {f["_id"]: f for f in await surveys.flags("par")}
    assert "at" not in flags["admin_session:r1"] and "at" in flags["answers_access:par:a1"]
