"""Forms' own use cases over the in-memory store (no broker, no MongoDB): who may save, submit, read
and code which submission, the Ministry's own acts (definitions, campaigns), the form's rules, the
reviewers' decisions delivered twice, and a stale version met by `run`. What crosses processes is
in tests/e2e (test_flow, test_drafts_and_exports, test_coding, test_review_chain...)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chassis.auth import Principal
from chassis.errors import Conflict, DomainError, Forbidden, NotFound
from chassis.messaging import Malformed, Retry
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run
from moha_contracts import FormApproved, FormRejected
from services.forms import usecases
from services.forms.domain.campaigns import Campaign
from services.forms.domain.definitions import FieldDef, FormDefinition, Section, SumRule
from services.forms.store import DefinitionStore, FormsUnitOfWork
from services.forms.usecases import AnswersInvalid, Code, ExportRequest, Fill, Forms, Listing, OpenPeriodic
from tests.support.memory_store import MemoryStore

NOW = datetime(2026, 4, 10, 3, tzinfo=UTC)
UNITS = [
    {"_id": "root", "code": "BNV", "name": "Bộ Nội vụ", "level": "central", "path": []},
    {"_id": "p", "code": "01", "name": "Tỉnh", "level": "province", "path": ["root"]},
    {"_id": "q", "code": "02", "name": "Tỉnh khác", "level": "province", "path": ["root"]},
    {"_id": "d", "code": "0101", "name": "Huyện", "level": "district", "path": ["root", "p"]},
    {"_id": "c", "code": "010101", "name": "Xã", "level": "commune", "path": ["root", "p", "d"]},
    {"_id": "c2", "code": "010102", "name": "Xã 2", "level": "commune", "path": ["root", "p", "d"]},
]


def who(account_id: str, unit_id: str, role: str) -> Principal:
    return Principal(account_id=account_id, username=account_id, unit_id=unit_id, role=role)


CENTRAL = who("bnv", "root", "central_admin")
PROVINCE_ADMIN = who("qt-p", "p", "province_admin")
OTHER_PROVINCE_ADMIN = who("qt-q", "q", "province_admin")
DISTRICT = who("gs-d", "d", "district_supervisor")
OTHER_PROVINCE = who("gs-q", "q", "province_supervisor")
UNIT = who("dv-c", "c", "reporting_unit")
OTHER_UNIT = who("dv-c2", "c2", "reporting_unit")

FORM = FormDefinition(
    form_code="T1",
    version=1,
    title="Phiếu thử",
    sections=[
        Section(
            code="A",
            title="Nhân sự",
            fields=[
                FieldDef(code="A1", label="Tổng số", type="integer", required=True, min=0),
                FieldDef(code="A2", label="Nam", type="integer", min=0),
                FieldDef(code="A3", label="Nữ", type="integer", min=0),
                FieldDef(code="A4", label="Ngành", type="code", code_list="vsic2018", code_level=1),
            ],
        )
    ],
    rules=[SumRule(total="A1", parts=["A2", "A3"], message="Tổng số phải bằng nam cộng nữ")],
)
CAMPAIGN = Campaign(
    campaign_id="k",
    form_code="T1",
    title="Đợt thử",
    scope_unit_ids=["p"],
    opens_on=date(2026, 4, 1),
    closes_on=date(2026, 4, 30),
)
GOOD = {"A1": 5, "A2": 2, "A3": 3}


@pytest.fixture
async def forms() -> Forms:
    store = MemoryStore()
    for unit in UNITS:
        await store["units"].insert_one(dict(unit))
    forms = Forms(store, UnitDirectory(store), DefinitionStore(store), now=lambda: NOW)
    await forms.run(usecases.publish_definition, CENTRAL, FORM, "10.0.0.1")
    await forms.run(usecases.open_campaign, CENTRAL, CAMPAIGN, None)
    return forms


def fill(answers: dict, by: Principal = UNIT, unit_id: str = "c", expected_version: int | None = None) -> Fill:
    return Fill(by, "k", "T1", unit_id, answers, expected_version)


async def keys(forms: Forms) -> list[str]:
    return [e["routing_key"].split(".")[-2] for e in await forms.store.events()]  # type: ignore[attr-defined]


async def audited(forms: Forms) -> list[str]:
    return [c["audit"]["action"] async for c in forms.store.commits.find({"audit": {"$ne": None}})]


# The Ministry's own acts ---------------------------------------------------------------------------
async def test_only_the_ministry_publishes_definitions_and_only_the_next_version(forms):
    v2 = FORM.model_copy(update={"version": 2})
    for by in (PROVINCE_ADMIN, DISTRICT, UNIT):
        with pytest.raises(Forbidden):
            await forms.run(usecases.publish_definition, by, v2, None)
    with pytest.raises(Conflict) as skipped:
        await forms.run(usecases.publish_definition, CENTRAL, FORM.model_copy(update={"version": 3}), None)
    assert skipped.value.code == "version_sequence"
    with pytest.raises(Conflict):
        await forms.run(usecases.publish_definition, CENTRAL, FORM, None)  # v1 again
    await forms.run(usecases.publish_definition, CENTRAL, v2, None)
    assert (await usecases.definition(forms, "T1", None)).version == 2
    assert (await usecases.definition(forms, "T1", 1)).version == 1
    rows = await usecases.definition_versions(forms, "T1")
    assert [(r["version"], r["latest"], r["fields"], r["rules"]) for r in rows] == [(1, False, 4, 1), (2, True, 4, 1)]
    assert (await audited(forms)).count("definition_published") == 2


async def test_administrators_open_campaigns_within_their_own_area_once(forms):
    other = CAMPAIGN.model_copy(update={"campaign_id": "k2"})
    for by in (UNIT, DISTRICT, OTHER_PROVINCE_ADMIN):
        with pytest.raises(Forbidden):
            await forms.run(usecases.open_campaign, by, other, None)
    with pytest.raises(DomainError) as unknown:
        await forms.run(usecases.open_campaign, CENTRAL, other.model_copy(update={"form_code": "X"}), None)
    assert unknown.value.code == "unknown_form"
    await forms.run(usecases.open_campaign, PROVINCE_ADMIN, other, "10.0.0.2")
    with pytest.raises(Conflict) as twice:
        await forms.run(usecases.open_campaign, PROVINCE_ADMIN, other, None)
    assert twice.value.code == "duplicate"
    assert (await keys(forms)).count("opened") == 2  # k (the fixture's) and k2, once each
    periodic = await usecases.open_periodic(forms, OpenPeriodic(PROVINCE_ADMIN, "bc", "T1", "Báo cáo", ["p"], 2026))
    assert [c.campaign_id for c in periodic] == ["bc-2026-h1", "bc-2026-h2"]
    assert await forms.run(usecases.visible_campaign, UNIT, "bc-2026-h1") == periodic[0]
    with pytest.raises(NotFound):
        await forms.run(usecases.visible_campaign, OTHER_PROVINCE, "bc-2026-h1")
    items, total = await forms.run(usecases.area_campaigns, DISTRICT, None, Listing(open_only=True))
    assert (total, {i["campaign_id"] for i in items}) == (3, {"k", "k2", "bc-2026-h1"})


# A unit's own form -----------------------------------------------------------------------------
async def test_only_the_unit_itself_saves_and_submits_its_form(forms):
    for by in (OTHER_UNIT, DISTRICT, CENTRAL):
        with pytest.raises(Forbidden):
            await forms.run(usecases.save_draft, fill({"A1": 1}, by=by))
        with pytest.raises(Forbidden):
            await forms.run(usecases.submit, fill(GOOD, by=by))
    draft = await forms.run(usecases.save_draft, fill({"A1": 1}))
    assert (draft.status, draft.version, draft.definition_version) == ("draft", 1, 1)
    again = await forms.run(usecases.save_draft, fill({"A1": 2}))
    assert again.version == 2
    sub = await forms.run(usecases.submit, fill(GOOD))
    assert (sub.status, sub.revision, sub.version) == ("submitted", 1, 3)
    with pytest.raises(Conflict) as waiting:
        await forms.run(usecases.save_draft, fill(GOOD))
    assert waiting.value.code == "already_submitted"
    assert await keys(forms) == ["opened", "draft_started", "submitted"]  # one DraftStarted, not one per save


async def test_a_campaign_accepts_units_in_its_scope_within_its_window(forms):
    outside = {"_id": "x", "code": "0201", "name": "X", "level": "commune", "path": ["root", "q"]}
    await forms.store["units"].insert_one(outside)
    with pytest.raises(Forbidden):
        await forms.run(usecases.save_draft, fill({}, by=who("dv-x", "x", "reporting_unit"), unit_id="x"))
    with pytest.raises(NotFound):
        await forms.run(usecases.save_draft, Fill(UNIT, "nope", "T1", "c", {}))
    late = Forms(forms.store, forms.units, forms.definitions, now=lambda: datetime(2026, 5, 2, tzinfo=UTC))
    with pytest.raises(Conflict) as closed:
        await late.run(usecases.save_draft, fill({}))
    assert closed.value.code == "closed"
    with pytest.raises(DomainError) as wrong:
        await forms.run(usecases.save_draft, Fill(UNIT, "k", "T9", "c", {}))
    assert wrong.value.code == "wrong_form"


async def test_answers_are_checked_by_field_for_a_draft_and_by_every_rule_at_submit(forms):
    with pytest.raises(AnswersInvalid) as negative:
        await forms.run(usecases.save_draft, fill({"A1": -1}))
    assert [e["field"] for e in negative.value.details["errors"]] == ["A1"]
    await forms.run(usecases.save_draft, fill({"A2": 2}))  # a draft may lack the required answer
    with pytest.raises(AnswersInvalid) as missing:
        await forms.run(usecases.submit, fill({"A2": 2}))
    assert "A1" in [e["field"] for e in missing.value.details["errors"]]
    with pytest.raises(AnswersInvalid) as unbalanced:
        await forms.run(usecases.submit, fill({"A1": 6, "A2": 2, "A3": 3}))
    assert [e["field"] for e in unbalanced.value.details["errors"]] == ["A1"]
    checked = await forms.run(usecases.validate, fill({"A1": 6, "A2": 2, "A3": 3}), complete=True)
    assert (checked["valid"], [e["field"] for e in checked["errors"]]) == (False, ["A1"])
    assert (await forms.run(usecases.validate, fill(GOOD), complete=True))["valid"]
    sub = await forms.run(usecases.visible_submission, UNIT, "k:c")
    assert (sub.answers, sub.version) == ({"A2": 2}, 1)  # neither a refused save nor a check wrote


# Reading and coding ------------------------------------------------------------------------------
async def test_a_submission_is_read_by_its_unit_and_those_above_it_only(forms):
    await forms.run(usecases.submit, fill(GOOD))
    for by in (UNIT, DISTRICT, PROVINCE_ADMIN, CENTRAL):
        assert (await forms.run(usecases.visible_submission, by, "k:c")).unit_id == "c"
    for by in (OTHER_UNIT, OTHER_PROVINCE):
        for read in (usecases.visible_submission, usecases.submission_checks):
            with pytest.raises(NotFound):  # as unknown: a guessed id tells nothing
                await forms.run(read, by, "k:c")
    checks = await forms.run(usecases.submission_checks, DISTRICT, "k:c")
    assert [r["holds"] for r in checks["rules"]] == [True]
    area = await forms.run(usecases.area_submissions, DISTRICT, "k", None, None)
    assert [s.id for s, _ in area] == ["k:c"]
    assert await forms.run(usecases.area_submissions, OTHER_UNIT, "k", "c2", None) == []
    with pytest.raises(NotFound):
        await forms.run(usecases.area_submissions, OTHER_UNIT, "k", "c", None)
    items, _ = await forms.run(usecases.unit_campaigns, UNIT, "c", Listing())
    assert items[0]["submission"]["status"] == "submitted"


async def test_supervisors_above_the_unit_code_its_answers_against_the_code_list(forms):
    await forms.run(usecases.save_draft, fill({"A1": 1}))
    with pytest.raises(Conflict) as draft:
        await forms.run(usecases.code_answer, Code(DISTRICT, "k:c", "A4", "A"))
    assert draft.value.code == "not_submitted"
    await forms.run(usecases.submit, fill(GOOD))
    with pytest.raises(Forbidden):
        await forms.run(usecases.code_answer, Code(UNIT, "k:c", "A4", "A"))
    with pytest.raises(NotFound):
        await forms.run(usecases.code_answer, Code(OTHER_PROVINCE, "k:c", "A4", "A"))
    with pytest.raises(DomainError) as not_code:
        await forms.run(usecases.code_answer, Code(DISTRICT, "k:c", "A1", "A"))
    assert not_code.value.code == "not_a_code_field"
    with pytest.raises(AnswersInvalid):
        await forms.run(usecases.code_answer, Code(DISTRICT, "k:c", "A4", "ZZ"))
    with pytest.raises(Conflict) as stale:
        await forms.run(usecases.code_answer, Code(DISTRICT, "k:c", "A4", "A", expected_version=1))
    assert stale.value.code == "stale_version"
    coded = await forms.run(usecases.code_answer, Code(DISTRICT, "k:c", "A4", "A", ip="10.0.0.9"))
    assert [(c["field"], c["code"], c["by"]) for c in coded.coding] == [("A4", "A", "gs-d")]
    assert coded.answers == GOOD  # beside the unit's answers, not over them
    entry = await forms.store.commits.find_one({"audit.action": "answer_coded"})
    assert (entry["audit"]["ip"], entry["audit"]["unit_lineage"]) == ("10.0.0.9", ["root", "p", "d", "c"])


# Reviewers' decisions ----------------------------------------------------------------------------
def rejected(revision: int = 1, unit_id: str = "c") -> FormRejected:
    return FormRejected(
        task_id="t",
        submission_id="k:c",
        unit_id=unit_id,
        revision=revision,
        level=1,
        reason="Thiếu số liệu",
        rejected_by="gs-d",
        rejected_at=NOW,
        campaign_id="k",
    )


def approved(revision: int, final: bool) -> FormApproved:
    return FormApproved(
        task_id="t",
        submission_id="k:c",
        unit_id="c",
        revision=revision,
        level=2 if final else 1,
        final=final,
        approved_by="gs-p",
        approved_at=NOW,
        campaign_id="k",
    )


async def test_a_decision_delivered_twice_moves_the_submission_once_and_a_returned_form_is_resubmitted(forms):
    with pytest.raises(Retry):  # the submission's own commit not seen yet
        await forms.run(usecases.record_decision, rejected())
    await forms.run(usecases.submit, fill(GOOD))
    assert await forms.run(usecases.record_decision, rejected()) is True
    assert await forms.run(usecases.record_decision, rejected()) is False
    sub = await forms.run(usecases.visible_submission, UNIT, "k:c")
    assert (sub.status, sub.return_reason, sub.version, [h["action"] for h in sub.history]) == (
        "returned",
        "Thiếu số liệu",
        2,
        ["submitted", "returned"],
    )
    again = await forms.run(usecases.submit, fill({"A1": 4, "A2": 1, "A3": 3}, expected_version=2))
    assert (again.status, again.revision, again.return_reason) == ("submitted", 2, None)
    assert await forms.run(usecases.record_decision, approved(1, final=True)) is False  # about revision 1: late
    assert await forms.run(usecases.record_decision, approved(2, final=False)) is True
    assert await forms.run(usecases.record_decision, approved(2, final=True)) is True
    assert await forms.run(usecases.record_decision, approved(2, final=True)) is False
    done = await forms.run(usecases.visible_submission, UNIT, "k:c")
    assert (done.status, [h["action"] for h in done.history][-2:]) == ("approved", ["approved_level", "approved"])
    with pytest.raises(Malformed):
        await forms.run(usecases.record_decision, approved(3, final=True))  # a revision it never had
    with pytest.raises(Malformed):
        await forms.run(usecases.record_decision, rejected(2, unit_id="c2"))


# A stale version -----------------------------------------------------------------------------------
def racing(forms: Forms, answers: dict) -> tuple[list[int], object]:
    """Units of work that let another writer save the unit's draft just before their first commit."""
    raced: list[int] = []

    class Racing(FormsUnitOfWork):
        async def commit(self, audit=None):
            if not raced:
                raced.append(1)
                await forms.run(usecases.save_draft, fill(answers))
            await super().commit(audit)

    return raced, lambda: Racing(forms.store)


async def test_a_stale_version_is_read_again_and_decided_again_by_run(forms):
    await forms.run(usecases.save_draft, fill({"A1": 1}))
    raced, make = racing(forms, {"A1": 2})
    sub = await run(make, lambda uow: usecases.submit(uow, forms, fill(GOOD)))
    assert raced and (sub.status, sub.version, sub.answers) == ("submitted", 3, GOOD)
    assert (await forms.run(usecases.visible_submission, UNIT, "k:c")).version == 3


async def test_the_first_save_lost_to_another_is_read_again_not_refused(forms):
    raced, make = racing(forms, {"A1": 2})
    sub = await run(make, lambda uow: usecases.submit(uow, forms, fill(GOOD)))
    assert raced and (sub.status, sub.version) == ("submitted", 2)
    assert await keys(forms) == ["opened", "draft_started", "submitted"]


async def test_a_version_the_caller_names_is_not_retried_over(forms):
    await forms.run(usecases.save_draft, fill({"A1": 1}))
    raced, make = racing(forms, {"A1": 2})
    with pytest.raises(Conflict) as stale:
        await run(make, lambda uow: usecases.submit(uow, forms, fill(GOOD, expected_version=1)))
    assert stale.value.code == "stale_version"
    assert (await forms.run(usecases.visible_submission, UNIT, "k:c")).answers == {"A1": 2}


# Exports and code lists --------------------------------------------------------------------------
async def rows_of(sheet) -> list[list]:
    return [fixed async for fixed, _answers in sheet.rows]


async def test_an_export_holds_the_callers_area_and_is_recorded_before_a_row_leaves(forms):
    await forms.run(usecases.submit, fill(GOOD))
    await forms.run(usecases.save_draft, fill({"A1": 1}, by=OTHER_UNIT, unit_id="c2"))
    sheet = await forms.run(usecases.export, ExportRequest(DISTRICT, "k", "T1", "csv", ip="10.0.0.3"))
    assert sheet.columns == ["A1", "A2", "A3", "A4"]
    assert [r[0] for r in await rows_of(sheet)] == ["k:c", "k:c2"]
    own = await forms.run(usecases.export, ExportRequest(UNIT, "k", "T1", "xlsx", area="d"))
    assert [r[:4] for r in await rows_of(own)] == [["k:c", "010101", "Xã", "Đã gửi"]]
    other = await forms.run(usecases.export, ExportRequest(OTHER_PROVINCE, "k", "T1", "csv"))
    assert await rows_of(other) == []
    assert (await audited(forms)).count("submissions_exported") == 3


async def test_code_lists_are_searched_and_summed_up(forms):
    sectors = await usecases.code_list(forms, "vsic2018", "a", 1)
    assert sectors["entries"] and all(e["level"] == 1 for e in sectors["entries"])
    units = await usecases.code_list(forms, "units", "xã", None)
    assert {e["code"] for e in units["entries"]} >= {"010101"}
    with pytest.raises(NotFound):
        await usecases.code_list(forms, "nope", None, None)
    assert {s["name"] for s in usecases.code_list_summaries()} >= {"vsic2018", "units"}


# What a submission reads (decision 0018, part 4) ---------------------------------------------------
async def test_a_submission_reads_the_campaign_once_and_the_latest_version_once_a_ttl(forms, monkeypatch):
    reads: list[str] = []
    find = forms.store.find

    async def counted(collection, _id):
        reads.append(collection)
        return await find(collection, _id)

    monkeypatch.setattr(forms.store, "find", counted)
    for by, unit in ((UNIT, "c"), (OTHER_UNIT, "c2"), (UNIT, "c")):
        assert (await forms.run(usecases.validate, fill(GOOD, by, unit), complete=True))["valid"]
    # The campaign once (a campaign never changes once opened), the submission every time.
    assert reads.count("campaigns") == 1
    assert reads.count("submissions") == 3
    with pytest.raises(NotFound):  # an unknown campaign is not kept as unknown: it is read again
        await forms.run(usecases.validate, Fill(UNIT, "nope", "T1", "c", GOOD), complete=True)


async def test_a_version_published_on_another_replica_reaches_new_submissions_within_the_ttl(forms):
    clock = [100.0]
    replica = Forms(forms.store, forms.units, DefinitionStore(forms.store, clock=lambda: clock[0]), now=lambda: NOW)

    async def version_for_a_new_submission(w: Forms) -> int:
        return (await w.run(usecases.validate, fill(GOOD), complete=True))["definition_version"]

    assert await version_for_a_new_submission(replica) == 1
    await forms.run(usecases.publish_definition, CENTRAL, FORM.model_copy(update={"version": 2}), None)
    assert await version_for_a_new_submission(forms) == 2  # the publishing replica: at once
    clock[0] += 1.0
    assert await version_for_a_new_submission(replica) == 1  # the other: within the TTL...
    clock[0] += 1.5
    assert await version_for_a_new_submission(replica) == 2  # ...and no later
    # A publisher numbers the next version from the pointer as stored, never from a kept one.
    with pytest.raises(Conflict):
        await replica.run(usecases.publish_definition, CENTRAL, FORM.model_copy(update={"version": 2}), None)
    await replica.run(usecases.publish_definition, CENTRAL, FORM.model_copy(update={"version": 3}), None)
    assert await version_for_a_new_submission(replica) == 3
