"""Nothing lost, nothing doubled: a crash between write and publish, a consumer killed while
events wait, an event delivered twice, a malformed message, the mail server away."""

import asyncio
import json
import signal
import uuid

import httpx
import pytest
from pymongo import MongoClient

from tests.e2e.test_flow import ensure_campaign, open_task_for, submission, submit
from tests.support.answers import valid_hc_tb
from tests.support.events import EventTap, publish_as
from tests.support.platform import eventually, logged

pytestmark = pytest.mark.e2e


def forms_db(platform, mongo_url):
    client = MongoClient(mongo_url)
    return client, client[platform["forms"].env["DATABASE"]]


async def test_crash_between_write_and_publish_loses_nothing(platform, client, district, mongo_url):
    ensure_campaign(client, "crash-test")  # before forms is set to die at its next write
    forms = platform["forms"]
    forms.stop()
    forms.start(FAULTS="error-header,reminders-any-day,hashes-asleep,crash-after-commit")
    forms.wait_ready()
    with pytest.raises(httpx.TransportError):
        submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="crash-test")
    assert forms.process.wait(10) == 70  # died by the fault, right after its write

    sid = f"crash-test:{district['unit_a']['unit_id']}"
    mongo, db = forms_db(platform, mongo_url)
    with mongo:
        commit = db["commits"].find_one({"_id": f"submissions:{sid}:1"})
        # The change and its event are stored, in one write, and nothing was published.
        assert commit["set"]["status"] == "submitted"
        assert db["outbox"].find_one({"_id": commit["_id"]}) is not None  # unfinished
        assert [e["type"] for e in commit["events"]] == ["vn.gov.moha.forms.submission.submitted.v1"]

    forms.start()
    forms.wait_ready()
    task = open_task_for(client, district["supervisor_auth"], sid, 1)
    assert task["status"] == "open"
    assert submission(client, district["a_auth"], sid)["status"] == "submitted"
    with MongoClient(mongo_url) as mongo:
        outbox = mongo[forms.env["DATABASE"]]["outbox"]
        eventually(lambda: outbox.find_one({"_id": f"submissions:{sid}:1"}) is None)


async def test_consumer_killed_while_events_wait(platform, client, district):
    approvals = platform["approvals"]
    approvals.stop(signal.SIGKILL)
    sid = submit(client, district["b_auth"], district["unit_b"]["unit_id"], campaign="kill-test").json()[
        "submission_id"
    ]
    await asyncio.sleep(0.5)
    approvals.start()
    approvals.wait_ready()
    task = open_task_for(client, district["supervisor_auth"], sid, 1)
    assert task["revision"] == 1


async def test_event_delivered_twice_has_one_effect(platform, client, district, amqp_url, smtp_server):
    address = district["account_a"]["username"] + "@example.vn"
    async with EventTap(amqp_url, "approvals.form.*.v1") as tap:
        sid = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="dup-test").json()[
            "submission_id"
        ]
        task = open_task_for(client, district["supervisor_auth"], sid, 1)
        client.approvals.post(
            f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=district["supervisor_auth"]
        ).raise_for_status()
        envelope, message = await tap.wait_for("approvals.form.approved.v1", subject=sid)
        before = len(smtp_server.wait_for(address, template="form_approved"))
        # The very same event, twice more, as a broker redelivery would bring it.
        for _ in range(2):
            await publish_as(
                platform.broker_url("approvals"),
                message.body,
                message.routing_key,
                message_id=envelope.id,
                content_type=message.content_type,
            )
    # Not a fixed wait: until each consumer has seen both copies and said it ignored them.
    for service in ("forms", "notifications"):
        eventually(lambda s=service: len(logged(platform[s], "duplicate event ignored", event_id=envelope.id)) >= 2)
    assert len(smtp_server.to(address, "form_approved")) == before == 1
    inbox = client.notifications.get("/inbox", headers=district["a_auth"]).json()
    assert [n["kind"] for n in inbox["items"]].count("form_approved") == 1
    assert submission(client, district["a_auth"], sid)["history"][-1]["action"] == "approved"
    assert len(submission(client, district["a_auth"], sid)["history"]) == 2


async def test_malformed_messages_are_dead_lettered_not_looped(platform, amqp_url):
    queue_name = "approvals.forms.submission.submitted.v1"
    forms = platform.broker_url("forms")  # as forms itself: the check of who sent it passes
    async with EventTap(amqp_url, "none.such") as tap:
        await publish_as(forms, b"{not json", "forms.submission.submitted.v1", message_id="bad-1")
        valid_envelope_bad_data = {
            "id": str(uuid.uuid4()),
            "type": "vn.gov.moha.forms.submission.submitted.v1",
            "source": "/moha/forms",
            "time": "2026-11-22T00:00:00Z",
            "correlationid": "c",
            "schemaversion": "1.0",
            "data": {"submission_id": "x"},
        }
        await publish_as(
            forms, json.dumps(valid_envelope_bad_data).encode(), "forms.submission.submitted.v1", message_id="bad-2"
        )
        dead = await tap.channel.declare_queue(f"{queue_name}.dead", passive=True)
        got = {}
        for _ in range(200):
            message = await dead.get(no_ack=True, fail=False)
            if message is not None:
                got[message.message_id] = message.headers["x-moha-error"]
            if {"bad-1", "bad-2"} <= got.keys():
                break
            await asyncio.sleep(0.05)
        assert got["bad-1"].startswith("malformed: ValidationError")
        assert got["bad-2"].startswith("malformed: ValidationError")
        assert "unit_id" in got["bad-2"]
        # Nothing of them is left in the work queue to loop.
        work = await tap.channel.declare_queue(queue_name, passive=True)
        assert work.declaration_result.message_count == 0
    assert "event dead-lettered" in platform["approvals"].log_path.read_text()


async def test_correlation_id_follows_the_request_through_events(platform, client, district, amqp_url):
    cid = f"test-{uuid.uuid4()}"
    ensure_campaign(client, "cid-test")
    async with EventTap(amqp_url, "forms.submission.submitted.v1") as tap:
        response = client.forms.post(
            "/submissions",
            headers={**district["a_auth"], "X-Correlation-ID": cid},
            json={
                "campaign_id": "cid-test",
                "form_code": "1/HC-TB",
                "unit_id": district["unit_a"]["unit_id"],
                "answers": valid_hc_tb(),
            },
        )
        assert response.headers["X-Correlation-ID"] == cid
        envelope, message = await tap.wait_for(
            "forms.submission.submitted.v1", subject=response.json()["submission_id"]
        )
    assert envelope.correlationid == message.correlation_id == cid
    open_task_for(client, district["supervisor_auth"], response.json()["submission_id"], 1)
    approvals_log = [
        json.loads(line) for line in platform["approvals"].log_path.read_text().splitlines() if cid in line
    ]
    assert any(entry["message"] == "event handled" and entry["correlation_id"] == cid for entry in approvals_log)


async def test_mail_waits_while_smtp_server_is_down(platform, client, district, smtp_server):
    address = district["account_b"]["username"] + "@example.vn"
    smtp_server.stop()
    try:
        sid = submit(client, district["b_auth"], district["unit_b"]["unit_id"], campaign="smtp-down").json()[
            "submission_id"
        ]
        task = open_task_for(client, district["supervisor_auth"], sid, 1)
        client.approvals.post(
            f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=district["supervisor_auth"]
        ).raise_for_status()
        eventually(lambda: "e-mail not delivered" in platform["notifications"].log_path.read_text())
    finally:
        smtp_server.start()
    mail = smtp_server.wait_for(address, template="form_approved")
    assert len(mail) == 1 and mail[0]["Subject"] == "Phiếu của đơn vị đã được duyệt"
