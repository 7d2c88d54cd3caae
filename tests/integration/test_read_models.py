"""Every read model fed by events, against the real store: its events delivered more than once, in
any order, by several consumers at once (each with a Store of its own, as replicas), end in what
folding them once, in the order they were published, gives (decision 0019)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from chassis import readmodel
from chassis.sessions import SessionDirectory
from chassis.store import Store
from chassis.tree import UnitDirectory
from moha_contracts import (
    BY_TYPE,
    AccountIssued,
    AccountRevoked,
    AccountRoleChanged,
    DraftStarted,
    FormApproved,
    FormRejected,
    FormSubmitted,
    PasswordChanged,
    PasswordReset,
    RecordChanged,
    ReviewTaskClaimed,
    SupervisorAssigned,
    SurveyInvitationIssued,
    SurveyResponseReceived,
    UnitMoved,
    UnitRegistered,
    UnitRenamed,
    UnitRetired,
)
from services.approvals.domain.model import ReviewTask
from services.approvals.domain.progress import fact_of, fold
from services.approvals.handlers import subscribe as subscribe_approvals
from services.approvals.store import ASSIGNMENTS, ApprovalsUnitOfWork, Assignments, CampaignDirectory, ProgressStore
from services.approvals.usecases import Approvals
from services.notifications.store import NotificationStore
from services.personnel.store import CHANGES, RECORDS, RecordStore
from tests.support.deliveries import Handlers, deliver_concurrently, envelopes

pytestmark = pytest.mark.integration

SEEDS = [1, 2, 3]
CONSUMERS = 4


@pytest.fixture
async def stores(mongo_url, run_id) -> AsyncIterator[list[Store]]:
    """Several clients of one database: the replicas of one service."""
    name = f"moha_it_{run_id}_rm_{uuid.uuid4().hex[:6]}"
    opened = [Store(mongo_url, name) for _ in range(CONSUMERS)]
    yield opened
    await opened[0].client.drop_database(name)
    for store in opened:
        await store.close()


@pytest.mark.parametrize("seed", SEEDS)
async def test_supervisors_assignments_end_at_the_latest(stores, seed):
    rng = random.Random(seed)
    supervisors = [f"sup-{n}" for n in range(3)]
    units = [f"u{n}" for n in range(12)]
    events = []
    for version in range(1, 25):
        for supervisor in supervisors:
            events.append(
                SupervisorAssigned(
                    supervisor_id=supervisor,
                    unit_ids=rng.sample(units, rng.randint(0, 4)),
                    assignment_version=version,
                    assigned_by="admin",
                    assigned_at=f"2026-04-01T00:00:{version:02d}Z",
                )
            )
    rng.shuffle(events)  # the versions of different supervisors interleave; each one's stay in order
    events.sort(key=lambda e: e.assignment_version)
    truth = {e.supervisor_id: e.unit_ids for e in events}  # the last of each, in order

    replicas = [Assignments(s) for s in stores]

    async def handle(consumer: int, envelope):
        event = envelope.open(SupervisorAssigned)
        await replicas[consumer].apply(event.supervisor_id, event.unit_ids, event.assignment_version)

    await deliver_concurrently(envelopes(events), handle, consumers=CONSUMERS, rng=rng)
    got = {s: await replicas[0].of(s) for s in supervisors}
    assert got == truth
    assert await stores[0][ASSIGNMENTS].count_documents({}) == len(supervisors)


def unit_events(rng: random.Random, count: int = 40) -> tuple[list, dict[str, dict]]:
    """A small tree's registrations, then renames, moves and retirements in some order; and what
    each unit is after all of them, folded in that order."""
    ids = [f"u{n}" for n in range(6)]
    events: list = [UnitRegistered(unit_id="root", code="00", name="Gốc", level="province", parent_id=None, path=[])]
    events += [
        UnitRegistered(
            unit_id=u, code=f"0{n + 1}", name=f"Đơn vị {n}", level="commune", parent_id="root", path=["root"]
        )
        for n, u in enumerate(ids)
    ]
    at = datetime(2026, 4, 1, tzinfo=UTC)
    for n in range(count):
        unit = rng.choice(ids)
        kind = rng.random()
        if kind < 0.45:
            events.append(
                UnitRenamed(
                    unit_id=unit,
                    name=f"Tên {n}",
                    previous_name="?",
                    reason="đổi tên",
                    renamed_at=at + timedelta(seconds=n),
                )
            )
        elif kind < 0.9:
            parent = rng.choice(["root", *[u for u in ids if u != unit]])
            path = ["root"] if parent == "root" else ["root", parent]
            events.append(
                UnitMoved(
                    unit_id=unit,
                    parent_id=parent,
                    path=path,
                    previous_parent_id=None,
                    reason="sắp xếp",
                    moved_at=at + timedelta(seconds=n),
                )
            )
        else:
            events.append(
                UnitRetired(
                    unit_id=unit,
                    merged_into=rng.choice([None, "root"]),
                    reason="sáp nhập",
                    retired_at=at + timedelta(seconds=n),
                )
            )
    truth: dict[str, dict] = {}
    for event in events:
        if isinstance(event, UnitRegistered):
            truth[event.unit_id] = {
                "code": event.code,
                "level": event.level,
                "name": event.name,
                "parent_id": event.parent_id,
                "path": event.path,
                "status": "active",
                "merged_into": None,
            }
        elif isinstance(event, UnitRenamed):
            truth[event.unit_id]["name"] = event.name
        elif isinstance(event, UnitMoved):
            truth[event.unit_id].update(parent_id=event.parent_id, path=event.path)
        else:
            truth[event.unit_id].update(status="retired", merged_into=event.merged_into)
    return events, truth


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_tree_ends_as_accounts_left_it(stores, seed):
    rng = random.Random(seed)
    events, truth = unit_events(rng)
    replicas = []
    for store in stores:
        handlers = Handlers()
        UnitDirectory(store).subscribe(handlers)
        replicas.append(handlers)

    async def handle(consumer: int, envelope):
        await replicas[consumer].dispatch(envelope, BY_TYPE[envelope.type])

    await deliver_concurrently(envelopes(events), handle, consumers=CONSUMERS, rng=rng)
    tree = UnitDirectory(stores[0])
    got = {}
    for unit_id in truth:
        doc = await tree.get(unit_id)
        got[unit_id] = {
            k: doc.get(k, default)
            for k, default in [
                ("code", None),
                ("level", None),
                ("name", None),
                ("parent_id", None),
                ("path", None),
                ("status", "active"),
                ("merged_into", None),
            ]
        }
    assert got == truth


@pytest.mark.parametrize("seed", SEEDS)
async def test_tokens_end_at_the_latest_line_and_revocations_stay(stores, seed):
    rng = random.Random(seed)
    accounts = [f"acc-{n}" for n in range(4)]
    at = datetime(2026, 4, 1, tzinfo=UTC)
    events: list = []
    for n in range(40):
        account = rng.choice(accounts)
        when = at + timedelta(seconds=n)
        events.append(
            rng.choice(
                [
                    PasswordReset(account_id=account, unit_id="u", reason="quên", reset_by="admin", reset_at=when),
                    PasswordChanged(account_id=account, unit_id="u", changed_at=when),
                    AccountRoleChanged(
                        account_id=account,
                        unit_id="u",
                        role="district_supervisor",
                        previous_role="reporting_unit",
                        reason="điều chuyển",
                        changed_by="admin",
                        changed_at=when,
                    ),
                    *(
                        [
                            AccountRevoked(
                                account_id=account, unit_id="u", reason="nghỉ", revoked_by="admin", revoked_at=when
                            )
                        ]
                        if rng.random() < 0.3
                        else []
                    ),
                ]
            )
        )
    truth: dict[str, dict] = {a: {"revoked": False, "valid_after": None} for a in accounts}
    for event in events:
        if isinstance(event, AccountRevoked):
            truth[event.account_id]["revoked"] = True
        else:
            truth[event.account_id]["valid_after"] = getattr(event, "reset_at", None) or event.changed_at
    replicas = []
    for store in stores:
        handlers = Handlers()
        SessionDirectory(store).subscribe(handlers)
        replicas.append(handlers)

    async def handle(consumer: int, envelope):
        await replicas[consumer].dispatch(envelope, BY_TYPE[envelope.type])

    await deliver_concurrently(envelopes(events), handle, consumers=CONSUMERS, rng=rng)
    got = {}
    for account in accounts:
        doc = await stores[0]["sessions"].find_one({"_id": account}) or {}
        got[account] = {"revoked": bool(doc.get("revoked")), "valid_after": doc.get("valid_after")}
    assert got == truth


@pytest.mark.parametrize("seed", SEEDS)
async def test_notifications_recipients_and_answered_invitations(stores, seed):
    rng = random.Random(seed)
    accounts = [f"acc-{n}" for n in range(5)]
    at = datetime(2026, 4, 1, tzinfo=UTC)
    events: list = [
        AccountIssued(
            account_id=a,
            username=f"user{n}",
            unit_id=f"unit-{n % 2}",
            role="reporting_unit",
            email=f"user{n}@example.vn",
            display_name=f"Người {n}",
            issued_by="admin",
        )
        for n, a in enumerate(accounts)
    ]
    events += [
        SurveyInvitationIssued(
            invitation_id=f"inv-{n}",
            survey_id="par",
            survey_title="PAR Index",
            owner_unit_id="P",
            group="lanh_dao_so",
            answer_deadline=date(2026, 5, 1),
            sealed="x",
            issued_at=at,
        )
        for n in range(4)
    ]
    roles = ["reporting_unit", "district_supervisor", "province_supervisor", "district_admin"]
    for n in range(40):
        account, when = rng.choice(accounts), at + timedelta(seconds=n)
        roll = rng.random()
        if roll < 0.7:
            events.append(
                AccountRoleChanged(
                    account_id=account,
                    unit_id="u",
                    role=rng.choice(roles),
                    previous_role="reporting_unit",
                    reason="đổi",
                    changed_by="admin",
                    changed_at=when,
                )
            )
        elif roll < 0.85:
            events.append(
                AccountRevoked(account_id=account, unit_id="u", reason="nghỉ", revoked_by="admin", revoked_at=when)
            )
        else:
            events.append(
                SurveyResponseReceived(
                    invitation_id=f"inv-{rng.randrange(4)}",
                    survey_id="par",
                    owner_unit_id="P",
                    group="lanh_dao_so",
                    received_at=when,
                )
            )
    truth: dict[str, dict] = {}
    answered = {f"inv-{n}": False for n in range(4)}
    for event in events:
        if isinstance(event, AccountIssued):
            truth[event.account_id] = {
                "unit_id": event.unit_id,
                "role": event.role,
                "status": None,
                "username": event.username,
                "email": event.email,
            }
        elif isinstance(event, AccountRoleChanged):
            truth[event.account_id]["role"] = event.role
        elif isinstance(event, AccountRevoked):
            truth[event.account_id]["status"] = "revoked"
        elif isinstance(event, SurveyResponseReceived):
            answered[event.invitation_id] = True
    replicas = [NotificationStore(s) for s in stores]

    async def handle(consumer: int, envelope):
        # What notifications' handlers do with each event to these read models.
        store, order = replicas[consumer], readmodel.event_order(envelope)
        event = envelope.open(BY_TYPE[envelope.type])
        if isinstance(event, AccountIssued):
            await store.upsert_recipient(
                order,
                event.account_id,
                event.unit_id,
                role=event.role,
                email=event.email,
                username=event.username,
                display_name=event.display_name,
            )
        elif isinstance(event, AccountRoleChanged):
            await store.update_recipient(order, event.account_id, "role", role=event.role)
        elif isinstance(event, AccountRevoked):
            await store.update_recipient(order, event.account_id, "status", status="revoked")
        elif isinstance(event, SurveyInvitationIssued):
            await store.add_survey_invite(
                {
                    "_id": event.invitation_id,
                    "survey_id": event.survey_id,
                    "survey_title": event.survey_title,
                    "sealed": event.sealed,
                    "answer_deadline": event.answer_deadline.isoformat(),
                }
            )
        else:
            await store.survey_answered(event.invitation_id, event.received_at)

    await deliver_concurrently(envelopes(events), handle, consumers=CONSUMERS, rng=rng)
    store = replicas[0]
    got = {}
    for account in accounts:
        doc = await store.recipient(account)
        got[account] = {k: doc.get(k) for k in ("unit_id", "role", "status", "username", "email")}
    assert got == truth
    for unit in ("unit-0", "unit-1"):
        active = {a for a, t in truth.items() if t["unit_id"] == unit and t["status"] != "revoked"}
        assert {r["_id"] for r in await store.recipients_of_unit(unit)} == active
    assert {d["_id"] for d in await store.open_survey_invites("par")} == {i for i, done in answered.items() if not done}


@pytest.mark.parametrize("seed", SEEDS)
async def test_personnel_changes_count_the_latest_correction_in_the_latest_area(stores, seed):
    rng = random.Random(seed)
    at = datetime(2026, 4, 1, tzinfo=UTC)
    tree_events: list = [
        UnitRegistered(unit_id="root", code="00", name="Tỉnh", level="province", parent_id=None, path=[]),
        *[
            UnitRegistered(unit_id=d, code=f"0{n}", name=d, level="district", parent_id="root", path=["root"])
            for n, d in enumerate(("d1", "d2", "d3"), 1)
        ],
        UnitRegistered(unit_id="c", code="10", name="Xã", level="commune", parent_id="d1", path=["root", "d1"]),
    ]
    entries = [f"e{n}" for n in range(6)]
    events: list = [*tree_events]
    seq = {e: 0 for e in entries}
    for n, entry in enumerate(entries):
        seq[entry] = n + 1
        events.append(
            RecordChanged(
                record_id="r1",
                record_kind="cbccvc",
                unit_id="c",
                entry_id=entry,
                seq=n + 1,
                change="entered",
                process="nang_luong",
                changed_at=at,
                timed=True,
                working_days=rng.randint(1, 9),
                on_time=rng.random() < 0.5,
            )
        )
    next_seq = len(entries) + 1
    for n in range(30):
        if rng.random() < 0.6:
            entry = rng.choice(entries)
            events.append(
                RecordChanged(
                    record_id="r1",
                    record_kind="cbccvc",
                    unit_id="c",
                    entry_id=f"x{n}",
                    seq=next_seq,
                    change="corrected",
                    process="nang_luong",
                    changed_at=at,
                    corrects=entry,
                    timed=True,
                    working_days=rng.randint(1, 9),
                    on_time=rng.random() < 0.5,
                )
            )
            next_seq += 1
        else:
            district = rng.choice(["d1", "d2", "d3"])
            events.append(
                UnitMoved(
                    unit_id="c",
                    parent_id=district,
                    path=["root", district],
                    previous_parent_id=None,
                    reason="sắp xếp",
                    moved_at=at + timedelta(seconds=n),
                )
            )
    truth_counts: dict[str, tuple] = {}
    lineage = ["root", "d1", "c"]
    for event in events:
        if isinstance(event, RecordChanged):
            truth_counts[event.corrects or event.entry_id] = (event.working_days, event.on_time)
        elif isinstance(event, UnitMoved):
            lineage = [*event.path, event.unit_id]

    # The record and its entries, as personnel stored them before raising the events.
    await stores[0][RECORDS].insert_one(
        {
            "_id": "r1",
            "kind": "cbccvc",
            "unit_id": "c",
            "lineage": ["root", "d1", "c"],
            "version": 1,
            "entries": [{"entry_id": e, "entered_at": at} for e in entries],
        }
    )
    replicas = []
    for store in stores:
        tree = UnitDirectory(store)
        records = RecordStore(store, definitions=None, tree=tree, cipher=None)  # type: ignore[arg-type]
        handlers = Handlers()
        tree.subscribe(handlers)  # the tree's own handler first, on the same queue, as in personnel

        async def on_unit_moved(envelope, event, records=records):
            await records.follow_unit_move(event.unit_id)

        async def on_record_changed(envelope, event, records=records):
            await records.record_change(event)

        handlers.on(UnitMoved)(on_unit_moved)
        handlers.on(RecordChanged)(on_record_changed)
        replicas.append(handlers)

    async def handle(consumer: int, envelope):
        await replicas[consumer].dispatch(envelope, BY_TYPE[envelope.type])

    await deliver_concurrently(envelopes(events), handle, consumers=CONSUMERS, rng=rng)
    got = {d["_id"]: (d["working_days"], d["on_time"]) async for d in stores[0][CHANGES].find({})}
    assert got == truth_counts
    assert {tuple(d["lineage"]) async for d in stores[0][CHANGES].find({})} == {tuple(lineage)}
    assert (await stores[0][RECORDS].find_one({"_id": "r1"}))["lineage"] == lineage


@pytest.mark.parametrize("seed", SEEDS)
async def test_open_review_tasks_follow_their_unit_to_its_last_place(stores, seed):
    rng = random.Random(seed)
    at = datetime(2026, 4, 1, tzinfo=UTC)
    events: list = [
        UnitRegistered(unit_id="root", code="00", name="Tỉnh", level="province", parent_id=None, path=[]),
        *[
            UnitRegistered(unit_id=d, code=f"0{n}", name=d, level="district", parent_id="root", path=["root"])
            for n, d in enumerate(("d1", "d2", "d3"), 1)
        ],
        UnitRegistered(unit_id="c", code="10", name="Xã", level="commune", parent_id="d1", path=["root", "d1"]),
    ]
    district = "d1"
    for n in range(12):
        district = rng.choice(["d1", "d2", "d3"])
        events.append(
            UnitMoved(
                unit_id="c",
                parent_id=district,
                path=["root", district],
                previous_parent_id=None,
                reason="sắp xếp",
                moved_at=at + timedelta(seconds=n),
            )
        )
    task = ReviewTask.open(
        submission_id="s1",
        campaign_id="k",
        unit_id="c",
        unit_lineage=["root", "d1", "c"],
        revision=1,
        submitted_at=at,
        chain=["d1", "root"],
        review_levels=["district", "province"],
    )
    uow = ApprovalsUnitOfWork(stores[0])
    uow.tasks.add(task)
    await uow.commit()
    replicas = []
    for store in stores:
        handlers = Handlers()
        subscribe_approvals(
            SimpleNamespace(consumers=handlers),  # type: ignore[arg-type]
            Approvals(store, UnitDirectory(store), CampaignDirectory(store), ProgressStore(store)),
        )
        replicas.append(handlers)

    async def handle(consumer: int, envelope):
        await replicas[consumer].dispatch(envelope, BY_TYPE[envelope.type])

    await deliver_concurrently(envelopes(events), handle, consumers=CONSUMERS, rng=rng)
    got = await ApprovalsUnitOfWork(stores[0]).tasks.get(task.id)
    assert (got.unit_lineage, got.chain, got.reviewer_unit_id) == (
        ["root", district, "c"],
        [district, "root"],
        district,
    )


@pytest.mark.parametrize("seed", SEEDS)
async def test_progress_is_the_fold_of_its_facts(stores, seed):
    rng = random.Random(seed)
    at = datetime(2026, 4, 1, tzinfo=UTC)
    events: list = []
    for unit in ("c1", "c2", "c3"):
        events.append(
            DraftStarted(
                submission_id=f"s-{unit}",
                campaign_id="k",
                form_code="1/HC-TB",
                unit_id=unit,
                started_by="x",
                started_at=at,
            )
        )
        for revision in range(1, rng.randint(2, 4)):
            when = at + timedelta(hours=revision)
            events.append(
                FormSubmitted(
                    submission_id=f"s-{unit}",
                    campaign_id="k",
                    form_code="1/HC-TB",
                    unit_id=unit,
                    revision=revision,
                    submitted_by="x",
                    submitted_at=when,
                    answers={},
                )
            )
            events.append(
                ReviewTaskClaimed(
                    task_id=f"t{revision}",
                    submission_id=f"s-{unit}",
                    campaign_id="k",
                    unit_id=unit,
                    revision=revision,
                    level=1,
                    claimed_by="sup",
                    claimed_at=when + timedelta(minutes=1),
                )
            )
            if rng.random() < 0.5:
                events.append(
                    FormRejected(
                        task_id=f"t{revision}",
                        submission_id=f"s-{unit}",
                        unit_id=unit,
                        revision=revision,
                        level=1,
                        reason="sai",
                        rejected_by="sup",
                        rejected_at=when + timedelta(minutes=2),
                        campaign_id="k",
                    )
                )
            else:
                events.append(
                    FormApproved(
                        task_id=f"t{revision}",
                        submission_id=f"s-{unit}",
                        unit_id=unit,
                        revision=revision,
                        level=1,
                        final=rng.random() < 0.5,
                        approved_by="sup",
                        approved_at=when + timedelta(minutes=2),
                        campaign_id="k",
                    )
                )
                break
    published = envelopes(events)
    truth = fold([fact_of(e) for e in events])
    replicas = [ProgressStore(s) for s in stores]

    async def handle(consumer: int, envelope):
        if (fact := fact_of(envelope.open(BY_TYPE[envelope.type]))) is not None:
            await replicas[consumer].record(envelope.id, fact)

    await deliver_concurrently(published, handle, consumers=CONSUMERS, rng=rng)
    got = await replicas[0].of_units("k", ["c1", "c2", "c3"])
    assert {unit: asdict(p) for unit, p in got.items()} == {key[1]: asdict(p) for key, p in truth.items()}
