"""Nothing is trusted because of where it arrived (issue #11, item 3; decision 0008): the attacks that
worked against the demo, replayed against the four processes on the real broker."""

import asyncio
from datetime import UTC, datetime

import aiormq
import pytest

from moha_contracts import AccountRevoked, Envelope, FormApproved
from tests.e2e.test_flow import open_task_for, submission, submit
from tests.support.events import EventTap, publish_as

pytestmark = pytest.mark.e2e


async def dead_letters(amqp_url: str, queue: str, event_id: str, timeout: float = 20.0) -> str:
    """The reason the queue's consumer gave for dead-lettering the event."""
    async with EventTap(amqp_url, "none") as tap:
        dead = await tap.channel.declare_queue(f"{queue}.dead", passive=True)
        for _ in range(int(timeout / 0.05)):
            message = await dead.get(no_ack=True, fail=False)
            if message is not None and message.message_id == event_id:
                return message.headers["x-moha-error"]
            await asyncio.sleep(0.05)
    raise AssertionError(f"{event_id} never reached {queue}.dead")


def envelope_of(event) -> Envelope:
    return Envelope.wrap(event, correlation_id="forged")


async def test_a_forged_final_approval_changes_nothing_anywhere(platform, client, district, amqp_url):
    sid = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="trust-test").json()[
        "submission_id"
    ]
    task = open_task_for(client, district["supervisor_auth"], sid, 1)
    forged = envelope_of(
        FormApproved(
            task_id=task["task_id"],
            submission_id=sid,
            unit_id=district["unit_a"]["unit_id"],
            revision=1,
            level=1,
            final=True,
            approved_by="nobody",
            approved_at=datetime.now(UTC),
        )
    )
    # The broker's administrator may publish anything anywhere: the messages must still say who sent them.
    await publish_as(amqp_url, forged.model_dump_json().encode(), forged.routing_key, message_id=forged.id)
    for queue in (
        "forms.approvals.form.approved.v1",
        "notifications.approvals.form.approved.v1",
        "approvals.approvals.form.approved.v1",
    ):
        reason = await dead_letters(amqp_url, queue, forged.id)
        assert reason.startswith("untrusted publisher: user_id 'guest'"), reason
    assert submission(client, district["a_auth"], sid)["status"] == "submitted"
    task_now = open_task_for(client, district["supervisor_auth"], sid, 1)
    assert task_now["status"] == "open"
    inbox = client.notifications.get("/inbox", headers=district["a_auth"]).json()
    assert "form_approved" not in [n["kind"] for n in inbox["items"]]


async def test_a_forged_revocation_does_not_shut_an_account_out(platform, client, district, amqp_url):
    account = district["account_b"]
    forged = envelope_of(
        AccountRevoked(
            account_id=account["account_id"],
            unit_id=district["unit_b"]["unit_id"],
            reason="forged",
            revoked_by="nobody",
            revoked_at=datetime.now(UTC),
        )
    )
    await publish_as(amqp_url, forged.model_dump_json().encode(), forged.routing_key, message_id=forged.id)
    reason = await dead_letters(amqp_url, "forms.accounts.account.revoked.v1", forged.id)
    assert reason.startswith("untrusted publisher")
    me = client.forms.get(f"/submissions/trust-none:{district['unit_b']['unit_id']}", headers=district["b_auth"])
    assert me.status_code == 404  # signed in and answered, not 401


async def test_a_service_cannot_publish_another_services_events(platform, district):
    forged = envelope_of(
        FormApproved(
            task_id="t",
            submission_id="s",
            unit_id=district["unit_a"]["unit_id"],
            revision=1,
            level=1,
            final=True,
            approved_by="nobody",
            approved_at=datetime.now(UTC),
        )
    )
    # notifications' own user, on approvals' routing key: the broker refuses it (topic permissions).
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await publish_as(
            platform.broker_url("notifications"),
            forged.model_dump_json().encode(),
            forged.routing_key,
            message_id=forged.id,
        )
    # ...and under approvals' name (user_id), which is not the connection's user.
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
        await publish_as(
            platform.broker_url("notifications"),
            forged.model_dump_json().encode(),
            "notifications.delivery.delivered.v1",
            message_id=forged.id,
            user_id=platform.broker_users["approvals"].name,
        )


async def test_a_decision_about_a_revision_never_submitted_is_dead_lettered(platform, client, district, amqp_url):
    sid = submit(client, district["b_auth"], district["unit_b"]["unit_id"], campaign="trust-test").json()[
        "submission_id"
    ]
    open_task_for(client, district["supervisor_auth"], sid, 1)
    wrong = envelope_of(
        FormApproved(
            task_id=f"{sid}:r7:l1",
            submission_id=sid,
            unit_id=district["unit_b"]["unit_id"],
            revision=7,
            level=1,
            final=True,
            approved_by="x",
            approved_at=datetime.now(UTC),
        )
    )
    # Even from approvals' own user: forms checks it against what it knows.
    await publish_as(
        platform.broker_url("approvals"), wrong.model_dump_json().encode(), wrong.routing_key, message_id=wrong.id
    )
    reason = await dead_letters(amqp_url, "forms.approvals.form.approved.v1", wrong.id)
    assert "has no submitted revision 7" in reason
    reason = await dead_letters(amqp_url, "approvals.approvals.form.approved.v1", wrong.id)
    assert "not an approved task" in reason
    assert submission(client, district["b_auth"], sid)["status"] == "submitted"


def test_a_services_database_user_opens_its_own_database_only(platform):
    """One service's credentials never open another's data (decision 0008). Needs a store with
    authentication on (the native stack's, Compose's MongoDB): AMQP_URL-like, MONGODB_URL is then
    an administrator's, and the launcher gives each service a user of its own."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    from deploy.mongo.users import has_credentials

    if not has_credentials(platform.mongodb_url):
        pytest.skip("the store runs without authentication: every service shares its URL")
    forms_url = platform["forms"].env["MONGODB_URL"]
    own, other = platform["forms"].env["DATABASE"], platform["accounts"].env["DATABASE"]
    with MongoClient(forms_url, serverSelectionTimeoutMS=10_000) as forms:
        forms[own]["trust_probe"].insert_one({"_id": "probe"})  # its own: allowed
        assert forms[own]["trust_probe"].find_one({"_id": "probe"}) == {"_id": "probe"}
        for attempt in (
            lambda: forms[other]["accounts"].find_one(),
            lambda: forms[other]["accounts"].insert_one({"_id": "forged"}),
            lambda: forms.drop_database(other),
        ):
            with pytest.raises(OperationFailure, match="not authorized"):
                attempt()
