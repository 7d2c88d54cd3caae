"""The PAR Index survey's use cases over the in-memory store (no broker, no MongoDB): who may see and
act on which list, the list's life, dispatch, answering through a link, voiding, tamper flags,
progress, and a stale version met by `run`. What crosses processes is in tests/e2e/test_par_survey.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chassis.auth import Principal
from chassis.errors import Conflict, DomainError, Forbidden, NotFound
from chassis.sealing import Sealer
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run
from services.forms.store import DefinitionStore
from services.forms.survey import usecases
from services.forms.survey.domain import response_id
from services.forms.survey.store import RESPONSES, SurveyUnitOfWork
from services.forms.survey.usecases import Answer, OpenSurvey, SurveyWiring
from tests.support.memory_store import MemoryStore

PRIVATE, PUBLIC = Sealer.new_keypair()
NOW = datetime(2027, 2, 1, 3, 0, tzinfo=UTC)
CENTRAL = Principal("bnv", "admin", "root", "central_admin")
PROVINCE = Principal("qt-p", "qt.nghean", "P", "province_admin")
PROVINCE_USER = Principal("cb-p", "cb.nghean", "P", "reporting_unit")
OTHER_PROVINCE = Principal("qt-q", "qt.hatinh", "Q", "province_admin")
MINISTRY = Principal("bo-m", "bo.tc", "M", "reporting_unit")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def env():
    store = MemoryStore()
    for unit in (
        {"_id": "root", "code": "BNV", "name": "Bộ Nội vụ", "level": "central", "path": []},
        {"_id": "P", "code": "P", "name": "Tỉnh Nghệ An", "level": "province", "path": ["root"]},
        {"_id": "Q", "code": "Q", "name": "Tỉnh Hà Tĩnh", "level": "province", "path": ["root"]},
        {"_id": "M", "code": "M", "name": "Bộ Tài chính", "level": "agency", "path": ["root"]},
        {"_id": "D", "code": "D", "name": "Huyện X", "level": "district", "path": ["root", "P"]},
    ):
        await store["units"].insert_one(unit)
    definitions = DefinitionStore(store)
    await definitions.publish_bundled()
    clock = Clock()
    w = SurveyWiring(
        uow=lambda: SurveyUnitOfWork(store),
        tree=UnitDirectory(store),
        questionnaires=definitions,
        sealer=Sealer(public_key=PUBLIC),
        link_base="http://web/s/",
        id_secret="secret",
        fingerprint_salt="salt",
        burst_threshold=3,
        burst_window=timedelta(minutes=10),
        now=clock,
    )
    w.store, w.clock = store, clock  # for the tests' own reads
    return w


async def opened(w: SurveyWiring, owners=("P", "M")):
    cmd = OpenSurvey("par", "Điều tra CCHC 2027", date(2027, 2, 13), date(2027, 3, 3), list(owners))
    return await run(w.uow, lambda uow: usecases.open_survey(uow, w, CENTRAL, cmd))


def person(name, email, group, organisation=""):
    return {"full_name": name, "email": email, "group": group, "position": "", "organisation": organisation}


PEOPLE = [
    person("Nguyễn Văn A", "a@nghean.gov.vn", "dai_bieu_hdnd"),
    person("Trần Thị B", "b@nghean.gov.vn", "Lãnh đạo cấp sở"),
    person("Lê Văn C", "c@nghean.gov.vn", "lanh_dao_phong_so"),
]


async def listed_and_sent(w: SurveyWiring, owner="P", by=PROVINCE, people=PEOPLE):
    await run(w.uow, lambda uow: usecases.import_list(uow, w, by, "par", owner, people))
    return await run(w.uow, lambda uow: usecases.submit_list(uow, w, by, "par", owner))


async def tokens(w: SurveyWiring) -> list[str]:
    sealed = [
        e["data"]["sealed"] for e in await w.store.events() if e["routing_key"].startswith("forms.survey_invitation")
    ]
    return [Sealer(private_key=PRIVATE).open(s)["link"].rsplit("/", 1)[1] for s in sealed]


def answers(score=8):
    return {f"Q{i}": score for i in range(1, 8)} | {"Q8": "Cần đẩy mạnh số hóa hồ sơ"}


def through(token, caller=None, address="10.0.0.1", device="Firefox|vi"):
    return Answer(token=token, answers=answers(), address=address, device=device, caller=caller)


# Opening and seeing a survey --------------------------------------------------------------------
async def test_only_the_ministry_opens_a_survey_of_ministries_and_provinces(env):
    cmd = OpenSurvey("par", "Điều tra", date(2027, 2, 13), date(2027, 3, 3), ["P"])
    with pytest.raises(Forbidden):
        await usecases.open_survey(env.uow(), env, PROVINCE, cmd)
    bad = OpenSurvey("par", "Điều tra", date(2027, 2, 13), date(2027, 3, 3), ["D"])
    with pytest.raises(DomainError) as refused:
        await usecases.open_survey(env.uow(), env, CENTRAL, bad)
    assert refused.value.code == "not_a_survey_owner"
    survey = await opened(env)
    assert survey.owners == {"P": "province", "M": "ministry"} and set(survey.questionnaires) == {
        "province",
        "ministry",
    }
    with pytest.raises(Conflict) as again:
        await opened(env)
    assert again.value.code == "duplicate"


async def test_a_survey_is_seen_by_its_owners_those_under_them_and_the_ministry_only(env):
    await opened(env, owners=("P",))
    for who in (CENTRAL, PROVINCE, Principal("x", "x", "D", "district_admin")):
        assert (await usecases.visible_survey(env.uow(), env, who, "par")).id == "par"
    with pytest.raises(NotFound):
        await usecases.visible_survey(env.uow(), env, OTHER_PROVINCE, "par")
    assert [s.id for s, _ in await usecases.visible_surveys(env.uow(), env, OTHER_PROVINCE)] == []
    assert [(s.id, mine) for s, mine in await usecases.visible_surveys(env.uow(), env, PROVINCE)] == [("par", ["P"])]


# Lists: scope, rows refused, submit and reopen ------------------------------------------------------
async def test_a_list_is_kept_by_its_owner_and_the_ministry_and_unknown_to_anyone_else(env):
    await opened(env)
    for who, owner in ((OTHER_PROVINCE, "P"), (PROVINCE_USER, "P"), (PROVINCE, "M"), (MINISTRY, "P")):
        with pytest.raises(NotFound):
            await usecases.managed_list(env.uow(), who, "par", owner)
    for who, owner in ((PROVINCE, "P"), (MINISTRY, "M"), (CENTRAL, "P")):
        _, lst = await usecases.managed_list(env.uow(), who, "par", owner)
        assert lst.owner_unit_id == owner and lst.version == 0
    assert [lst.owner_unit_id for lst, _ in await usecases.survey_lists(env.uow(), env, CENTRAL, "par")] == ["P", "M"]
    assert [name for _, name in await usecases.survey_lists(env.uow(), env, PROVINCE, "par")] == ["Tỉnh Nghệ An"]


async def test_a_sheet_with_bad_rows_is_refused_whole_with_every_row_named(env):
    await opened(env)
    rows = [*PEOPLE, person("", "not-an-address", "lanh_dao_vu")]
    with pytest.raises(DomainError) as refused:
        await run(env.uow, lambda uow: usecases.import_list(uow, env, PROVINCE, "par", "P", rows))
    assert refused.value.code == "list_rejected"
    assert {e["field"] for e in refused.value.details["errors"]} == {"full_name", "email", "group"}
    assert await env.store.find("respondent_lists", "par:P") is None  # nothing stored


async def test_a_list_sent_is_locked_until_the_ministry_reopens_it_with_a_reason(env):
    await opened(env)
    sent = await listed_and_sent(env)
    assert sent.status == "submitted" and sent.counts()["dai_bieu_hdnd"] == 1
    submitted = [e for e in await env.store.events() if e["routing_key"].startswith("forms.respondent_list")]
    assert submitted and submitted[0]["data"]["counts"]["lanh_dao_so"] == 1
    with pytest.raises(Conflict) as locked:
        await run(env.uow, lambda uow: usecases.import_list(uow, env, PROVINCE, "par", "P", PEOPLE))
    assert locked.value.code == "list_locked"
    with pytest.raises(Forbidden):
        await run(env.uow, lambda uow: usecases.reopen_list(uow, env, PROVINCE, "par", "P", "Sửa"))
    reopened = await run(env.uow, lambda uow: usecases.reopen_list(uow, env, CENTRAL, "par", "P", "Thiếu người"))
    assert reopened.status == "draft" and reopened.history[-1]["reason"] == "Thiếu người"


async def test_after_the_list_deadline_a_list_is_sent_only_once_reopened(env):
    await opened(env)
    env.clock.now = datetime(2027, 2, 14, 3, 0, tzinfo=UTC)
    await run(env.uow, lambda uow: usecases.import_list(uow, env, PROVINCE, "par", "P", PEOPLE))
    with pytest.raises(Conflict) as late:
        await run(env.uow, lambda uow: usecases.submit_list(uow, env, PROVINCE, "par", "P"))
    assert late.value.code == "list_deadline_passed"


async def test_two_writers_of_one_list_the_later_runs_again_from_the_newer_version(env):
    await opened(env)
    await run(env.uow, lambda uow: usecases.import_list(uow, env, PROVINCE, "par", "P", PEOPLE))
    runs = []

    async def submit(uow):
        runs.append(1)
        if len(runs) == 1:  # the Ministry's reviewer imports meanwhile, between our read and write
            await usecases.managed_list(uow, PROVINCE, "par", "P")
            await run(env.uow, lambda other: usecases.import_list(other, env, CENTRAL, "par", "P", PEOPLE[:2]))
        return await usecases.submit_list(uow, env, PROVINCE, "par", "P")

    sent = await run(env.uow, submit, pause=0)
    assert len(runs) == 2 and sent.status == "submitted" and len(sent.respondents) == 2 and sent.version == 3


# Dispatch and answers ----------------------------------------------------------------------------------
async def test_dispatch_invites_each_person_once_and_makes_the_responses_empty_beforehand(env):
    await opened(env)
    await listed_and_sent(env)
    with pytest.raises(Forbidden):
        await usecases.dispatch(env, PROVINCE, "par")
    assert await usecases.dispatch(env, CENTRAL, "par") == {"issued": 3, "already_invited": 0}
    assert await usecases.dispatch(env, CENTRAL, "par") == {"issued": 0, "already_invited": 3}
    links = await tokens(env)
    assert len(links) == 3
    slots = [d async for d in env.store[RESPONSES].find({})]
    assert sorted(d["_id"] for d in slots) == sorted(response_id(t) for t in links)
    assert {d["status"] for d in slots} == {"unanswered"}
    # Made outside the commit log: nothing there names a response.
    assert await env.store.commits.count_documents({"collection": RESPONSES}) == 0


async def test_dispatch_without_its_secret_is_refused_clearly(env):
    await opened(env)
    env.id_secret = ""
    with pytest.raises(DomainError) as refused:
        await usecases.dispatch(env, CENTRAL, "par")
    assert refused.value.code == "survey_secret_missing"


async def test_an_answer_is_kept_apart_from_its_invitation_once_per_link(env):
    await opened(env)
    await listed_and_sent(env)
    await usecases.dispatch(env, CENTRAL, "par")
    token = (await tokens(env))[0]
    link = await run(env.uow, lambda uow: usecases.open_link(uow, env, token))
    assert link.survey.id == "par" and not link.answered
    await usecases.save_draft(env.uow(), env, token, {"Q1": 5})
    assert (await run(env.uow, lambda uow: usecases.open_link(uow, env, token))).saved_answers == {"Q1": 5}

    rid = await usecases.answer(env, through(token))
    assert rid == response_id(token)
    response = await env.store.find(RESPONSES, rid)
    assert response["status"] == "valid" and "at" not in response and "invitation_id" not in str(response)
    invitations = [d async for d in env.store["survey_invitations"].find({"status": "answered"})]
    assert len(invitations) == 1 and "answered_at" not in invitations[0] and rid not in str(invitations[0])
    received = [e for e in await env.store.events() if e["routing_key"].startswith("forms.survey_response.received")]
    assert [e["data"]["invitation_id"] for e in received] == [invitations[0]["_id"]]
    assert await env.store.commits.count_documents({"collection": RESPONSES}) == 0  # 0013
    assert await env.store["survey_drafts"].count_documents({}) == 0

    with pytest.raises(Conflict) as again:
        await usecases.answer(env, through(token))
    assert again.value.code == "already_answered"
    flags = {f["kind"]: f for f, _ in await usecases.flags(env.uow(), CENTRAL, "par")}
    assert flags["token_reuse"]["response_ids"] == [rid] and "at" not in flags["token_reuse"]
    with pytest.raises(NotFound):
        await usecases.answer(env, through("x" * 43))


async def test_answers_close_after_the_answer_deadline(env):
    await opened(env)
    await listed_and_sent(env)
    await usecases.dispatch(env, CENTRAL, "par")
    env.clock.now = datetime(2027, 3, 4, 3, 0, tzinfo=UTC)
    with pytest.raises(Conflict) as closed:
        await usecases.answer(env, through((await tokens(env))[0]))
    assert closed.value.code == "survey_closed"


async def test_a_burst_and_an_administrators_session_are_flagged_without_a_time(env):
    await opened(env)
    await listed_and_sent(env)
    await usecases.dispatch(env, CENTRAL, "par")
    links = await tokens(env)
    rids = [await usecases.answer(env, through(t, caller=PROVINCE if i == 0 else None)) for i, t in enumerate(links)]
    flags = {f["kind"]: (f, s) for f, s in await usecases.flags(env.uow(), CENTRAL, "par")}
    burst, statuses = flags["burst"]
    assert burst["response_ids"] == sorted(rids) and statuses == dict.fromkeys(burst["response_ids"], "valid")
    assert flags["admin_session"][0]["account_id"] == PROVINCE.account_id
    assert all("at" not in f for f, _ in flags.values())
    with pytest.raises(Forbidden):
        await usecases.flags(env.uow(), PROVINCE, "par")


# The Ministry's side ---------------------------------------------------------------------------------
async def test_only_the_ministry_reads_answers_and_a_try_is_flagged_and_audited(env):
    await opened(env)
    await listed_and_sent(env)
    await usecases.dispatch(env, CENTRAL, "par")
    rid = await usecases.answer(env, through((await tokens(env))[0]))
    with pytest.raises(Forbidden):
        await usecases.read_responses(env.uow(), env, PROVINCE, "par", "10.0.0.9")
    found = await usecases.read_responses(env.uow(), env, CENTRAL, "par", "10.0.0.8")
    assert [(r.id, r.answers["Q8"]) for r in found] == [(rid, "Cần đẩy mạnh số hóa hồ sơ")]
    audits = [c["audit"] async for c in env.store.commits.find({"audit.action": "survey_responses_read"})]
    assert sorted((a["outcome"], a["ip"]) for a in audits) == [("ok", "10.0.0.8"), ("refused", "10.0.0.9")]
    access = [f for f, _ in await usecases.flags(env.uow(), CENTRAL, "par") if f["kind"] == "answers_access"]
    assert access[0]["account_id"] == PROVINCE.account_id and access[0]["at"] == NOW


async def test_a_void_keeps_the_response_with_its_reason_event_and_audit_entry(env):
    await opened(env)
    await listed_and_sent(env)
    await usecases.dispatch(env, CENTRAL, "par")
    rid = await usecases.answer(env, through((await tokens(env))[0]))
    with pytest.raises(Forbidden):
        await run(env.uow, lambda uow: usecases.void(uow, env, PROVINCE, "par", rid, "x", None))
    with pytest.raises(NotFound):
        await run(env.uow, lambda uow: usecases.void(uow, env, CENTRAL, "other", rid, "x", None))
    voided = await run(env.uow, lambda uow: usecases.void(uow, env, CENTRAL, "par", rid, "Can thiệp", "10.0.0.8"))
    assert voided.status == "voided" and voided.void_reason == "Can thiệp"
    commit = await env.store.commits.find_one({"collection": RESPONSES})
    assert commit["audit"]["action"] == "survey_response_voided" and commit["audit"]["target_id"] == rid
    assert [e["data"]["reason"] for e in await env.store.events() if e["routing_key"].endswith("voided.v1")] == [
        "Can thiệp"
    ]
    with pytest.raises(Conflict) as again:
        await run(env.uow, lambda uow: usecases.void(uow, env, CENTRAL, "par", rid, "x", None))
    assert again.value.code == "already_voided"
    groups = (await usecases.progress(env.uow(), CENTRAL, "par"))["owners"][0]["groups"]
    assert sum(g["voided"] for g in groups) == 1


async def test_progress_counts_sent_opened_and_answered_and_each_owner_sees_its_own(env):
    await opened(env)
    await listed_and_sent(env)
    await usecases.dispatch(env, CENTRAL, "par")
    first, second, _ = await tokens(env)
    await run(env.uow, lambda uow: usecases.open_link(uow, env, first))
    await usecases.answer(env, through(second))
    mine = await usecases.progress(env.uow(), PROVINCE, "par")
    assert [o["owner_unit_id"] for o in mine["owners"]] == ["P"]
    totals = {k: sum(g[k] for g in mine["owners"][0]["groups"]) for k in ("sent", "opened", "answered")}
    assert totals == {"sent": 3, "opened": 2, "answered": 1}
    assert len((await usecases.progress(env.uow(), CENTRAL, "par"))["owners"]) == 2
    for who, owner in ((OTHER_PROVINCE, None), (PROVINCE, "M")):
        with pytest.raises(NotFound):
            await usecases.progress(env.uow(), who, "par", owner)
