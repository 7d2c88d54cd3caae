"""Replicas are safe (issue #16, decision 0017): three replicas of each of the four services at once,
thirty units' submissions, decisions and reminders pushed through them round-robin, one replica of
each killed with SIGKILL midway, and in the end every effect exactly once: review tasks, decisions,
notices, e-mails (as mail clients count them: by Message-ID), progress.

Run it alone with `python -m pytest -m replicas`.
"""

import asyncio
import json
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from chassis.clock import today_in_vietnam
from deploy.rabbitmq.provision import Management, vhost_of
from tests.support.events import depths
from tests.support.platform import TLS, eventually
from tests.support.platforms import ADMIN_PASSWORD, separate_platform
from tests.support.workload import (
    RoundRobin,
    build_province,
    confirm_province,
    decide_districts,
    login,
    open_campaign,
    returned,
    submit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.replicas]
SERVICES = ("accounts", "forms", "approvals", "notifications")
REPLICAS = 3
# Thirty units keep a third of the submissions in flight when the replicas die; 80 took 94 s of a
# CI run's two cores for no further case.
DISTRICTS, COMMUNES = 3, 10


class Replicated:
    """Each service's replicas behind one round-robin client, as behind a Kubernetes Service."""

    def __init__(self, platform) -> None:
        for name in SERVICES:
            setattr(self, name, RoundRobin([p.url for p in platform.instances[name]]))


@pytest.fixture
def replicated(broker_admin_url, mongo_url, run_id, tmp_path):
    # Retries at the default pace: a killed replica's inbox claims are taken over after their lease.
    with separate_platform(
        "replicas",
        broker_admin_url,
        mongo_url,
        run_id,
        tmp_path,
        replicas=dict.fromkeys(SERVICES, REPLICAS),
        RETRY_DELAY_MS="2000",
        FAULTS="reminders-any-day",  # the day's reminders are run ahead of the day
    ) as (platform, smtp):
        yield platform, smtp


def test_three_replicas_of_each_service_one_killed_every_effect_once(replicated):
    platform, smtp = replicated
    figures: dict = {"replicas": REPLICAS, "units": DISTRICTS * COMMUNES}
    started = time.monotonic()
    platform.start(SERVICES, ready_timeout=240.0)  # twelve processes starting at once on two cores
    figures["start_s"] = round(time.monotonic() - started, 1)
    http = Replicated(platform)
    admin = login(http, "admin", ADMIN_PASSWORD)
    phase = time.monotonic()
    p = build_province(http, admin, uuid.uuid4().hex[:5], districts=DISTRICTS, communes=COMMUNES)
    open_campaign(http, admin, p, deadline_days=2)  # a reminder is due two days before
    figures["tree_and_accounts_s"] = round(time.monotonic() - phase, 1)
    codes = sorted(p.usernames)

    # Every replica of notifications runs the day's reminders at the same moment.
    runs = []
    threads = [
        threading.Thread(
            target=lambda c=c: runs.append(
                c.post(
                    "/reminders/run", headers=admin, json={"as_of": str(today_in_vietnam()), "campaign_id": p.campaign}
                )
            )
        )
        for c in http.notifications.clients
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in runs), [r.text for r in runs]

    phase = time.monotonic()
    half = len(codes) // 2
    for code in codes[:half]:
        submit(http, p, code)
    # Midway, while forms are being sent and their events handled: one replica of each service dies
    # without a chance to finish anything (a request, a claimed event, an e-mail being sent).
    sending = threading.Thread(target=lambda: [submit(http, p, code) for code in codes[half:]])
    sending.start()
    eventually(lambda: len(p.submissions) >= half + 5, timeout=60, interval=0.05)
    killed = [platform.instances[name][-1] for name in SERVICES]  # not the first: JWKS_URL names it
    for process in killed:
        process.kill()
    figures["killed"] = [f"{k.name} (port {k.port})" for k in killed]
    sending.join()
    decide_districts(http, p)
    confirm_province(http, p)
    figures["requests_s"] = round(time.monotonic() - phase, 1)

    phase = time.monotonic()
    n = len(codes)
    eventually(
        lambda: (
            (
                v := http.approvals.get(
                    f"/progress/{p.campaign}", headers=admin, params={"area": p.province["unit_id"], "units": "false"}
                ).json()
            )["summary"]["counts"].get("confirmed")
            == n
            and v
        ),
        timeout=180,
        interval=1.0,
    )

    # Review tasks and decisions: each level of each revision once.
    for code in codes:
        sid = p.submissions[code]
        tasks = sorted(
            (t["revision"], t["level"], t["status"])
            for t in http.approvals.get(f"/submissions/{sid}/reviews", headers=admin).json()
        )
        expected = (
            [(1, 1, "returned"), (2, 1, "approved"), (2, 2, "approved")]
            if returned(code)
            else [(1, 1, "approved"), (1, 2, "approved")]
        )
        assert tasks == expected, (code, tasks)
        sub = eventually(
            lambda sid=sid, code=code: (
                (s := http.forms.get(f"/submissions/{sid}", headers=p.auth[p.usernames[code]]).json())["status"]
                == "approved"
                and s
            ),
            timeout=120,
            interval=0.5,
        )
        assert [h["action"] for h in sub["history"]] == (
            ["submitted", "returned", "submitted", "approved_level", "approved"]
            if returned(code)
            else ["submitted", "approved_level", "approved"]
        ), (code, sub["history"])

    # Notices and e-mails: one per cause and person. E-mail is counted as a mail client shows it
    # (one per Message-ID: a copy sent again after a crash is the same message).
    def unit_kinds(code: str) -> list[str]:
        return sorted(
            ["account_issued", "reminder_before", "form_approved_level", "form_approved"]
            + (["form_returned"] if returned(code) else [])
        )

    for code in codes:
        username = p.usernames[code]
        eventually(
            lambda username=username, code=code: (
                sorted(n["kind"] for n in http.notifications.get("/inbox", headers=p.auth[username]).json()["items"])
                == unit_kinds(code)
            ),
            timeout=120,
            interval=0.5,
        )

    def mails() -> tuple[Counter, int]:
        ours = [m for m in list(smtp.messages) if m["To"].split("@")[0] in p.auth]
        distinct = {(m["To"].split("@")[0], m["X-MOHA-Template"], m["Message-ID"]) for m in ours}
        return Counter((u, t) for u, t, _ in distinct), len(ours) - len(distinct)

    expected_mail = Counter({(p.usernames[c], k): 1 for c in codes for k in unit_kinds(c)})
    expected_mail.update({(u, "account_issued"): 1 for u in p.supervisors.values()})
    eventually(lambda: mails()[0] == expected_mail, timeout=120, interval=0.5)
    figures["settle_s"] = round(time.monotonic() - phase, 1)
    figures["emails"], figures["email_copies_sent_again"] = sum(expected_mail.values()), mails()[1]

    # Nothing dead-lettered anywhere, and the survivors are all ready.
    with Management(platform.amqp_url) as api:
        queues = api.http.get(f"/api/queues/{vhost_of(platform.amqp_url)}", params={"columns": "name"}).json()
    dead = asyncio.run(depths(platform.amqp_url, [q["name"] for q in queues if q["name"].endswith(".dead")]))
    assert {name: n for name, n in dead.items() if n} == {} and dead
    for name in SERVICES:
        for process in platform.instances[name][:-1]:
            assert httpx.get(process.url + "/health/ready", timeout=5, verify=TLS).status_code == 200
    figures["actions"] = {
        "submissions": n + sum(map(returned, codes)),
        "returns": sum(map(returned, codes)),
        "approvals": 2 * n,
        "reminders": n,
    }
    figures["total_s"] = round(time.monotonic() - started, 1)
    print("replica test figures:", json.dumps(figures, ensure_ascii=False))
