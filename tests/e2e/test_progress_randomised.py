"""Thousands of events about a province's forms, delivered twice and in any order, straight into
approvals' queues as the broker may deliver them: every progress count ends equal to the count
computed from the units' true states, and a rebuild of the read model from scratch gives the same."""

import csv
import io
import os
import random
import time
import uuid
from collections import Counter

import aio_pika
import pytest

from chassis.messaging import again_key
from moha_contracts import (
    DEAD_LETTER_EXCHANGE,
    DraftStarted,
    Envelope,
    FormApproved,
    FormRejected,
    FormSubmitted,
    ReviewTaskClaimed,
)
from services.accounts.domain.imports import unit_id_for
from tests.support.events import drained
from tests.support.lifecycles import lifecycle, scrambled
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e

DISTRICTS, COMMUNES, AGENCIES = 4, 60, 20


@pytest.fixture
def big_province(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"rP{t}", f"Tỉnh ngẫu nhiên {t}", "province")
    rows = []
    for d in range(DISTRICTS):
        rows.append({"code": f"rD{d}{t}", "name": f"Huyện {d}", "level": "district", "parent_code": f"rP{t}"})
        rows += [
            {"code": f"rC{d}-{c}{t}", "name": f"Xã {c}, huyện {d}", "level": "commune", "parent_code": f"rD{d}{t}"}
            for c in range(COMMUNES)
        ]
    rows += [
        {"code": f"rS{s}{t}", "name": f"Sở số {s}", "level": "agency", "parent_code": f"rP{t}"} for s in range(AGENCIES)
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    imported = client.accounts.post(
        "/units/import", content=out.getvalue().encode(), headers={**admin, "Content-Type": "text/csv"}, timeout=120
    )
    assert imported.status_code == 201, imported.text
    campaign = f"rand-{t}"
    opened = client.forms.post(
        "/campaigns",
        headers=admin,
        json={
            "campaign_id": campaign,
            "form_code": "1/HC-TB",
            "title": "Tiến độ ngẫu nhiên",
            "scope_unit_ids": [P["unit_id"]],
            "opens_on": "2026-03-01",
            "closes_on": "2026-04-30",
            "deadlines": {"province": "2026-04-12", "district": "2026-04-20"},
        },
    )
    assert opened.status_code == 201, opened.text
    reporters = {unit_id_for(r["code"]): (1 if r["level"] == "agency" else 2) for r in rows if r["level"] != "district"}
    return {"P": P, "campaign": campaign, "reporters": reporters}


QUEUES = [
    f"approvals.progress.{e.routing_key}{side}"
    for e in (DraftStarted, FormSubmitted, ReviewTaskClaimed, FormApproved, FormRejected)
    for side in ("", ".retry")
]


def progress(client, admin, p):
    return client.approvals.get(
        f"/progress/{p['campaign']}?area={p['P']['unit_id']}&as_of=2026-05-04", headers=admin, timeout=60
    ).json()


async def test_duplicated_and_reordered_events_give_the_true_counts(platform, client, admin, big_province):
    p = big_province
    # The tree and the campaign reach approvals by event first.
    eventually(lambda: progress(client, admin, p).get("summary", {}).get("units") == len(p["reporters"]), timeout=60)

    seed = int(os.environ.get("PROGRESS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    truth, true_events = {}, []
    for unit_id, levels in p["reporters"].items():
        events, truth[unit_id] = lifecycle(rng, p["campaign"], unit_id, levels)
        true_events += events
    deliveries = [Envelope.wrap(e) for e in scrambled(rng, true_events, duplicates=0.35)]
    # Some deliveries are the very same message again (a broker redelivery), not only the same fact.
    deliveries += [rng.choice(deliveries) for _ in range(len(deliveries) // 5)]
    rng.shuffle(deliveries)
    assert len(deliveries) >= 1500, len(deliveries)

    started = time.monotonic()
    # Straight into progress's queues, each event as the service that owns it (consumers check who
    # published): forms' drafts and submissions, approvals' claims and decisions.
    owners = {service: await aio_pika.connect(platform.broker_url(service)) for service in ("forms", "approvals")}
    channels = {service: await connection.channel() for service, connection in owners.items()}
    try:
        channel = channels["approvals"]
        # Into one queue by name: through the dead-letter exchange's way back into a work queue
        # (services may not write to the default exchange, decision 0017).
        back = {owner: await ch.get_exchange(DEAD_LETTER_EXCHANGE, ensure=False) for owner, ch in channels.items()}
        for envelope in deliveries:
            owner = envelope.routing_key.split(".", 1)[0]
            await back[owner].publish(
                aio_pika.Message(
                    envelope.model_dump_json().encode(),
                    message_id=envelope.id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    user_id=platform.broker_users[owner].name,
                ),
                routing_key=again_key(f"approvals.progress.{envelope.routing_key}"),
            )

        expected = Counter(truth.values())

        def settled():
            counts = progress(client, admin, p)["summary"]["counts"]
            return counts if all(counts[s] == expected.get(s, 0) for s in counts) else None

        try:
            eventually(settled, timeout=240, interval=1.0)
        except AssertionError:
            pytest.fail(f"seed {seed}: counts {progress(client, admin, p)['summary']['counts']} != {dict(expected)}")
        # The counts can be right while a late fact (a first submission's date) is still in a
        # retry queue: wait until approvals' queues are empty.
        await drained(channel, QUEUES)
    finally:
        for connection in owners.values():
            await connection.close()
    print(f"seed {seed}: {len(deliveries)} deliveries settled in {time.monotonic() - started:.1f}s")
    view = progress(client, admin, p)
    assert {u["unit_id"]: u["state"] for u in view["units"]} == truth, f"seed {seed}"
    first_sent = {}
    for event in true_events:
        if isinstance(event, FormSubmitted) and event.unit_id not in first_sent:
            first_sent[event.unit_id] = event.submitted_at.isoformat()
    assert {u["unit_id"]: u["first_submitted_at"] for u in view["units"] if u["first_submitted_at"]} == first_sent

    # Rebuilt from scratch: the same figures, unit by unit.
    rebuilt = client.approvals.post("/progress/rebuild", headers=admin, timeout=300)
    assert rebuilt.status_code == 200, rebuilt.text
    again = progress(client, admin, p)
    assert again["summary"] == view["summary"] and again["units"] == view["units"], f"seed {seed}"
