"""Personnel's use cases over the in-memory store (no broker, no MongoDB): records opened, entered
and moved within the caller's scope, unique values kept unique, a lost version race run again by
`chassis.unit_of_work.run`, and approvals' decision on a move."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from chassis.auth import Principal
from chassis.errors import NotFound
from chassis.personal_data import FieldCipher, new_key
from chassis.store import StaleVersion
from chassis.tree import UnitDirectory
from moha_contracts import MoveApproved
from services.personnel.domain.model import Document, EntryInvalid
from services.personnel.store import DefinitionStore, PersonnelUnitOfWork, RecordStore
from services.personnel.usecases import Records
from tests.support.memory_store import MemoryStore

UNITS = [
    {"_id": "p", "code": "01", "name": "Tỉnh", "level": "province", "path": []},
    {"_id": "d1", "code": "0101", "name": "Huyện 1", "level": "district", "path": ["p"]},
    {"_id": "d2", "code": "0102", "name": "Huyện 2", "level": "district", "path": ["p"]},
]
DAY = date(2026, 3, 2)
DOC = Document("01/QĐ-UBND", DAY.isoformat(), "Ủy ban nhân dân huyện")


def who(unit_id: str, role: str = "district_admin") -> Principal:
    return Principal(account_id=f"acc-{unit_id}", username=f"u-{unit_id}", unit_id=unit_id, role=role)


def person(**overrides: object) -> dict[str, object]:
    return {
        "full_name": "Hoàng Văn Thử",
        "birth_date": "1985-04-12",
        "gender": "Nam",
        "national_id": f"{uuid.uuid4().int % 10**12:012d}",
        "ethnicity": "Nùng",
        "hometown": "Lộc Bình, Lạng Sơn",
        "official_type": "Công chức",
        "salary_step": 2,
        "salary_coefficient": 2.67,
        "education": "Đại học",
        **overrides,
    }


@pytest.fixture
async def records() -> Records:
    store = MemoryStore()
    for unit in UNITS:
        await store["units"].insert_one(dict(unit))
    definitions = DefinitionStore(store)
    await definitions.publish_bundled()
    cipher = FieldCipher.from_settings(f"k1:{new_key()}", new_key())
    records = RecordStore(store, definitions, UnitDirectory(store), cipher)
    return Records(records, definitions, records.tree, lambda: PersonnelUnitOfWork(store, records))


async def opened(records: Records, by: Principal, unit_id: str = "d1", **values: object):
    return await records.open(
        by,
        kind="official",
        unit_id=unit_id,
        process="recruitment",
        document=DOC,
        effective_on=DAY.isoformat(),
        values=person(**values),
    )


async def test_a_record_is_opened_sealed_with_its_event_and_read_back_whole(records):
    record = await opened(records, who("d1"))
    stored = await records.store.store.find("records", record.id)
    assert stored["version"] == 1 and stored["lineage"] == ["p", "d1"] and len(stored["entries"]) == 1
    assert stored["fields"]["national_id"] != record.entries[0].values["national_id"]  # sealed
    assert [e["routing_key"] for e in await records.store.store.events()] == ["personnel.record.changed.v1"]
    again = await records.readable(who("p", "province_admin"), record.id)  # a parent reads its subtree
    assert again.entries[0].values["national_id"] == record.entries[0].values["national_id"]


async def test_a_record_outside_the_callers_subtree_does_not_exist_for_it(records):
    with pytest.raises(NotFound):
        await opened(records, who("d2"), unit_id="d1")
    record = await opened(records, who("d1"))
    with pytest.raises(NotFound):
        await records.readable(who("d2"), record.id)
    with pytest.raises(NotFound):
        await records.correct(
            who("d2"), record.id, record.entries[0].entry_id, values={"salary_step": 3}, document=None,
            effective_on=None, reason="x", expected_version=None,
        )  # fmt: skip
    assert await records.store.store["records"].count_documents({}) == 1


async def test_a_national_id_belongs_to_one_record(records):
    first = await opened(records, who("d1"))
    with pytest.raises(EntryInvalid):
        await opened(records, who("d2"), unit_id="d2", national_id=first.entries[0].values["national_id"])
    assert await records.store.store["records"].count_documents({}) == 1


async def test_a_change_that_lost_a_version_race_is_made_again_over_the_winners(records):
    record = await opened(records, who("d1"))
    store, raced = records.store.store, []

    class Interrupted(PersonnelUnitOfWork):
        async def commit(self, audit=None) -> None:
            if not raced:  # a colleague's correction lands between our read and our write
                raced.append(1)
                await Records(records.store, records.definitions, records.tree, make).correct(
                    who("p", "province_admin"), record.id, record.entries[0].entry_id, values={"salary_step": 3},
                    document=None, effective_on=None, reason="Nhập nhầm bậc lương", expected_version=None,
                )  # fmt: skip
            await super().commit(audit)

    def make() -> PersonnelUnitOfWork:
        return PersonnelUnitOfWork(store, records.store)

    racing = Records(records.store, records.definitions, records.tree, lambda: Interrupted(store, records.store))
    done = await racing.correct(
        who("d1"), record.id, record.entries[0].entry_id, values={"education": "Thạc sĩ"}, document=None,
        effective_on=None, reason="Bổ sung bằng cấp", expected_version=None,
    )  # fmt: skip
    assert done.version == 3 and raced
    stored = await records.readable(who("d1"), record.id)
    assert len(stored.entries) == 3  # both kept: the opening and the two corrections
    assert stored.state((await records.definition("official"))[1]).fields["salary_step"] == 3


async def test_a_caller_that_named_an_older_version_hears_it_changed_and_nothing_is_written(records):
    record = await opened(records, who("d1"))
    entry_id = record.entries[0].entry_id
    await records.correct(
        who("d1"), record.id, entry_id, values={"salary_step": 3}, document=None, effective_on=None,
        reason="Nhập nhầm bậc lương", expected_version=1,
    )  # fmt: skip
    with pytest.raises(StaleVersion):
        await records.correct(
            who("d1"), record.id, entry_id, values={"salary_step": 4}, document=None, effective_on=None,
            reason="Nhập nhầm bậc lương", expected_version=1,
        )  # fmt: skip
    assert (await records.store.store.find("records", record.id))["version"] == 2


async def test_a_move_beyond_the_callers_scope_waits_for_approvals_and_its_approval_moves_the_record(records):
    record = await opened(records, who("d1"))
    moved, move = await records.move(
        who("d1"), record.id, process="transfer", to_unit_id="d2", document=DOC, effective_on=DAY.isoformat(),
        values={}, expected_version=None,
    )  # fmt: skip
    assert moved.unit_id == "d1"  # d2 is not d1's to decide
    approved = MoveApproved(
        task_id="t1",
        move_id=move["move_id"],
        record_id=record.id,
        from_unit_id="d1",
        to_unit_id="d2",
        decider_unit_id="p",
        approved_by="acc-p",
        approved_at=datetime.now(UTC),
    )
    await records.decide_move(approved)
    await records.decide_move(approved)  # the same decision again: nothing more
    stored = await records.store.store.find("records", record.id)
    assert (stored["unit_id"], stored["lineage"]) == ("d2", ["p", "d2"])
    with pytest.raises(NotFound):
        await records.readable(who("d1"), record.id)
