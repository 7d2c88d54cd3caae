"""Catching up (issue #16, decision 0017): approvals and notifications started after a hundred-odd
events (a province's tree, its accounts, a campaign, every unit's form) learn them from the event
history, then follow their queues; what they know in the end is what they know on a platform
where they saw everything live, and nothing happened twice."""

import uuid

import pytest

from deploy.launch import Platform
from tests.support.platform import Client, eventually
from tests.support.platforms import ADMIN_PASSWORD, separate_platform
from tests.support.workload import (
    build_province,
    confirm_province,
    decide_districts,
    login,
    open_campaign,
    save_draft,
    snapshot,
    submit,
)

pytestmark = pytest.mark.e2e
LATE = ("approvals", "notifications")


@pytest.fixture
def platforms(broker_admin_url, mongo_url, run_id, tmp_path):
    """Two platforms on vhosts and databases of their own: `live` with every service from the start,
    `late` with accounts and forms only (approvals and notifications are started by the test)."""
    with (
        separate_platform("live", broker_admin_url, mongo_url, run_id, tmp_path) as live,
        separate_platform("late", broker_admin_url, mongo_url, run_id, tmp_path) as late,
    ):
        yield {"live": live, "late": late}


def drive(client: Client, tag: str, before_decisions=lambda: None):
    admin = login(client, "admin", ADMIN_PASSWORD)
    client.admin_auth = admin
    province = build_province(client, admin, tag, districts=2, communes=8)
    open_campaign(client, admin, province)
    for code in province.usernames:
        save_draft(client, province, code)
        submit(client, province, code)
    before_decisions()
    decide_districts(client, province)
    confirm_province(client, province)
    return admin, province


def test_services_started_late_catch_up_from_the_history(platforms):
    tag = uuid.uuid4().hex[:5]
    live, live_smtp = platforms["live"]
    live.start(("accounts", "forms", *LATE))
    live_client = Client(live)
    live_admin, live_p = drive(live_client, tag)

    late, late_smtp = platforms["late"]
    late.start(("accounts", "forms"))
    late_client = Client(late)
    events_before = []

    def start_late():
        # Everything so far was published while approvals and notifications did not exist.
        events_before.append(_history_length(late))
        late.start(LATE)

    late_admin, late_p = drive(late_client, tag, before_decisions=start_late)
    assert events_before[0] >= 120, events_before  # the tree, accounts, drafts and forms: 131 here

    expected = eventually(
        lambda: (
            (s := snapshot(live_client, live_admin, live_p, live_smtp))["progress"]
            .get("summary", {})
            .get("counts", {})
            .get("confirmed")
            == len(live_p.submissions)
            and s
        ),
        timeout=60,
    )
    try:
        eventually(lambda: snapshot(late_client, late_admin, late_p, late_smtp) == expected, timeout=60)
    except AssertionError:
        assert snapshot(late_client, late_admin, late_p, late_smtp) == expected
    # Each e-mail once: one per cause and person, as live (the snapshot counts them per kind).
    assert expected["mails"] and all(
        n == 1 for (_, kind), n in expected["mails"].items() if kind != "form_approved_level"
    )


def _history_length(platform: Platform) -> int:
    """Events in the history: its last offset, plus one (a consumer at `last` gets the last chunk)."""
    import asyncio

    import aio_pika

    async def last() -> int:
        connection = await aio_pika.connect(platform.amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1000)
            history = await channel.get_queue("moha.events.history", ensure=True)
            seen: asyncio.Queue = asyncio.Queue()
            await history.consume(seen.put, arguments={"x-stream-offset": "last"})  # streams want acks
            offset = (await asyncio.wait_for(seen.get(), 10)).headers["x-stream-offset"]
            while True:
                try:
                    offset = (await asyncio.wait_for(seen.get(), 0.5)).headers["x-stream-offset"]
                except TimeoutError:
                    return offset + 1

    return asyncio.run(last())
