"""Notifications over the real SMTP server: each template once per event, reminders driven by a
controllable clock (the day a pass runs for), three replicas sending each reminder once, notices to
an administrator's subtree, and an address the server refuses for good."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import aio_pika
import httpx
import pytest
from pymongo import MongoClient

from chassis.workdays import is_working_day
from deploy.launch import ServiceProcess, free_port
from tests.e2e.test_flow import submit
from tests.support.events import EventTap, drained
from tests.support.platform import TLS, eventually

pytestmark = pytest.mark.e2e
# Other tests' bulk issuances queue hundreds of e-mails ahead of these: wait for the mailer.
WAIT = 120.0


@pytest.fixture
def area(client, admin):
    """Province P (a province supervisor, a department S) and district D (a supervisor and an
    administrator, communes U1 and U2), every account with an address."""
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"nP{t}", f"Tỉnh nhắc hạn {t}", "province")
    D = client.new_unit(admin, P["unit_id"], f"nD{t}", "Huyện nhắc hạn", "district")
    units = {
        "U1": client.new_unit(admin, D["unit_id"], f"nU1{t}", "Xã Một", "commune"),
        "U2": client.new_unit(admin, D["unit_id"], f"nU2{t}", "Xã Hai", "commune"),
        "S": client.new_unit(admin, P["unit_id"], f"nS{t}", "Sở Nội vụ thử", "agency"),
    }
    people = {
        "U1": (units["U1"], "reporting_unit"),
        "U2": (units["U2"], "reporting_unit"),
        "S": (units["S"], "reporting_unit"),
        "sup_D": (D, "district_supervisor"),
        "sup_P": (P, "province_supervisor"),
        "admin_D": (D, "district_admin"),
    }
    accounts, auth, email = {}, {}, {}
    for name, (unit, role) in people.items():
        email[name] = f"n.{name.lower()}.{t}@example.vn"
        accounts[name] = client.new_account(admin, unit["unit_id"], f"n.{name.lower()}.{t}", role, email[name])
        auth[name] = client.login(accounts[name]["username"], accounts[name]["initial_password"])
    return {"t": t, "P": P, "D": D, "units": units, "accounts": accounts, "auth": auth, "email": email}


def open_campaign(client, admin, area, name, district_deadline, province_deadline):
    today = datetime.now(UTC).date()
    campaign = f"{name}-{area['t']}"
    response = client.forms.post(
        "/campaigns",
        headers=admin,
        json={
            "campaign_id": campaign,
            "form_code": "1/HC-TB",
            "title": f"Đợt {campaign}",
            "scope_unit_ids": [area["P"]["unit_id"]],
            "opens_on": str(today - timedelta(days=5)),
            "closes_on": str(today + timedelta(days=40)),
            "deadlines": {"district": str(district_deadline), "province": str(province_deadline)},
        },
    )
    assert response.status_code == 201, response.text
    client.campaigns.add((campaign, "1/HC-TB"))
    return campaign


async def settle(amqp_url):
    """What the reminders read (campaigns, submissions, the tree) has reached notifications."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await drained(
            channel,
            [
                f"notifications.{key}"
                for key in (
                    "forms.campaign.opened.v1",
                    "forms.submission.submitted.v1",
                    "accounts.unit.registered.v1",
                    "accounts.account.issued.v1",
                )
            ],
        )


def working_deadlines(start):
    """Two deadlines five days apart, both working days, so that no deadline moves (a deadline on a
    day off ends with the next working day) and the days below count as written."""
    day = start
    while not (is_working_day(day) and is_working_day(day + timedelta(days=5))):
        day += timedelta(days=1)
    return day, day + timedelta(days=5)


def run(client, admin, day, campaign):
    response = client.notifications.post(
        "/reminders/run", json={"as_of": str(day), "campaign_id": campaign}, headers=admin, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_account_issued_and_password_reset_are_each_told_once(client, admin, area, smtp_server):
    issued = smtp_server.wait_for(area["email"]["U1"], template="account_issued", timeout=WAIT)
    assert issued[0]["Subject"] == "Tài khoản của bạn trên Hệ thống điều tra, báo cáo của Bộ Nội vụ"
    body = issued[0].get_content()
    assert area["accounts"]["U1"]["username"] in body
    assert area["accounts"]["U1"]["initial_password"] not in body  # never by e-mail
    reset = client.accounts.post(
        f"/accounts/{area['accounts']['U1']['account_id']}/reset-password",
        json={"reason": "Cán bộ mới nhận bàn giao"},
        headers=admin,
    )
    assert reset.status_code == 200, reset.text
    mail = smtp_server.wait_for(area["email"]["U1"], template="password_reset", timeout=WAIT)
    assert "Lý do: Cán bộ mới nhận bàn giao" in mail[0].get_content()
    assert len(smtp_server.to(area["email"]["U1"], "account_issued")) == 1
    assert len(smtp_server.to(area["email"]["U1"], "password_reset")) == 1


async def test_reminders_follow_the_clock_and_skip_those_who_submitted(client, admin, area, smtp_server, amqp_url):
    district_deadline, province_deadline = working_deadlines(datetime.now(UTC).date() + timedelta(days=20))
    campaign = open_campaign(client, admin, area, "nhac", district_deadline, province_deadline)
    sent = eventually(
        lambda: (
            (r := submit(client, area["auth"]["U1"], area["units"]["U1"]["unit_id"], campaign=campaign)).status_code
            != 404
            and r
        )
    )
    assert sent.status_code == 201, sent.text
    await settle(amqp_url)

    def reminders(name):
        return [m for m in smtp_server.to(area["email"][name], "reminder_before") if campaign in m["Subject"]]

    assert run(client, admin, district_deadline - timedelta(days=10), campaign)["unit_reminders"] == 0
    assert run(client, admin, district_deadline - timedelta(days=5), campaign)["unit_reminders"] == 1  # U2 only
    eventually(lambda: reminders("U2"), timeout=WAIT)
    assert "còn 5 ngày" in reminders("U2")[0]["Subject"]
    assert run(client, admin, district_deadline - timedelta(days=5), campaign)["unit_reminders"] == 0  # not twice
    assert run(client, admin, district_deadline - timedelta(days=4), campaign)["unit_reminders"] == 0
    assert run(client, admin, district_deadline - timedelta(days=2), campaign)["unit_reminders"] == 1
    eventually(lambda: len(reminders("U2")) == 2, timeout=WAIT)
    # The district's deadline day is five days before the province's: U2's last call, and S's first.
    assert run(client, admin, province_deadline - timedelta(days=5), campaign)["unit_reminders"] == 2
    eventually(lambda: reminders("S") and len(reminders("U2")) == 3, timeout=WAIT)
    assert any("hôm nay là hạn cuối" in m["Subject"] for m in reminders("U2"))
    # Past the district's deadline: its supervisors get the list of its late units, once.
    after = run(client, admin, district_deadline + timedelta(days=3), campaign)
    assert (after["unit_reminders"], after["overdue_lists"]) == (1, 1)  # S: two days left; D's list
    overdue = smtp_server.wait_for(area["email"]["sup_D"], template="reminder_overdue", timeout=WAIT)
    content = overdue[-1].get_content()
    assert campaign in content and "Xã Hai" in content and "Xã Một" not in content
    assert reminders("U1") == []  # U1 submitted: never reminded
    assert smtp_server.to(area["email"]["sup_P"], "reminder_overdue") == []
    assert smtp_server.to(area["email"]["admin_D"], "reminder_overdue") == []  # supervisors only
    late = run(client, admin, province_deadline + timedelta(days=1), campaign)
    assert (late["unit_reminders"], late["overdue_lists"]) == (0, 1)  # S, to the province
    to_province = smtp_server.wait_for(area["email"]["sup_P"], template="reminder_overdue", timeout=WAIT)
    assert "Sở Nội vụ thử" in to_province[0].get_content()


async def test_three_replicas_send_each_reminder_once(platform, client, admin, area, smtp_server, amqp_url, tmp_path):
    today = datetime.now(UTC).date()
    deadline = today + timedelta(days=20)
    campaign = open_campaign(client, admin, area, "ba", deadline, deadline)
    replicas = [
        ServiceProcess(
            "notifications",
            free_port(),
            platform["notifications"].env,
            tmp_path / f"notifications-{i}.log",
            wrapper=platform["notifications"].wrapper,  # its faults too: the reminders of a day ahead
        )
        for i in (2, 3)
    ]
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        await settle(amqp_url)
        urls = [platform["notifications"].url] + [r.url for r in replicas]

        def run_on(url):
            return httpx.post(
                url + "/reminders/run",
                json={"as_of": str(deadline - timedelta(days=2)), "campaign_id": campaign},
                headers=admin,
                timeout=60,
                verify=TLS,
            ).json()

        with ThreadPoolExecutor(6) as pool:  # every replica, twice, at once
            results = list(pool.map(run_on, urls * 2))
        assert all("unit_reminders" in r for r in results), results
    finally:
        for replica in replicas:
            replica.stop()
    for name in ("U1", "U2", "S"):
        eventually(
            lambda n=name: [m for m in smtp_server.to(area["email"][n], "reminder_before") if campaign in m["Subject"]],
            timeout=WAIT,
        )
    # Any second copy would be queued by now (the runs above returned): wait until the queue is empty.
    with MongoClient(platform.mongodb_url) as mongo:
        queue = mongo[platform["notifications"].env["DATABASE"]]["mail_queue"]
        eventually(lambda: queue.count_documents({}) == 0, timeout=WAIT)
    for name in ("U1", "U2", "S"):
        mails = [m for m in smtp_server.to(area["email"][name], "reminder_before") if campaign in m["Subject"]]
        assert len(mails) == 1, (name, len(mails))


def test_a_notice_reaches_the_senders_subtree_only(client, area, smtp_server):
    auth = area["auth"]
    notice = {
        "title": "Lịch tập huấn phần mềm",
        "body": "Đề nghị các đơn vị cử cán bộ dự tập huấn.",
        "links": [{"title": "Công văn số 12/SNV", "url": "https://sonoivu.example.vn/cv-12.pdf"}],
    }
    assert client.notifications.post("/notices", json=notice, headers=auth["U1"]).status_code == 403
    outside = client.notifications.post(
        "/notices", json={**notice, "area_unit_id": area["P"]["unit_id"]}, headers=auth["admin_D"]
    )
    assert outside.status_code == 404
    bad_link = client.notifications.post(
        "/notices", json={**notice, "links": [{"title": "x", "url": "javascript:1"}]}, headers=auth["admin_D"]
    )
    assert bad_link.status_code == 422
    sent = client.notifications.post("/notices", json=notice, headers=auth["admin_D"])
    assert sent.status_code == 202, sent.text
    notice_id = sent.json()["notice_id"]
    status = eventually(
        lambda: (
            (s := client.notifications.get(f"/notices/{notice_id}", headers=auth["admin_D"]).json())["status"] == "sent"
            and s
        ),
        timeout=WAIT,
    )
    assert (status["recipients"], status["emailed"]) == (2, 2)  # U1 and U2
    assert status["message"].startswith("Đã gửi thông báo tới 2 tài khoản")
    for name in ("U1", "U2"):
        mail = smtp_server.wait_for(area["email"][name], template="notice", timeout=WAIT)
        assert len(mail) == 1 and "https://sonoivu.example.vn/cv-12.pdf" in mail[0].get_content()
        inbox = client.notifications.get("/inbox", headers=auth[name]).json()["items"]
        assert any(n["kind"] == "notice" and "Lịch tập huấn" in n["title"] for n in inbox)
    assert smtp_server.to(area["email"]["S"], "notice") == []
    assert client.notifications.get(f"/notices/{notice_id}", headers=auth["U1"]).status_code == 404


async def failure_of(tap, account_id, template, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        await tap.drain()
        for envelope, _ in tap.seen:
            if envelope.data["account_id"] == account_id and envelope.data["template"] == template:
                return envelope.data
        await asyncio.sleep(0.1)
    raise AssertionError(f"no NotificationFailed for {account_id} ({template})")


async def test_an_address_refused_for_good_is_marked_and_not_retried(client, admin, area, amqp_url):
    t = uuid.uuid4().hex[:6]
    async with EventTap(amqp_url, "notifications.delivery.failed.v1") as tap:
        account = client.new_account(
            admin, area["units"]["U2"]["unit_id"], f"n.refuse.{t}", "reporting_unit", f"refuse.{t}@example.vn"
        )
        first = await failure_of(tap, account["account_id"], "account_issued")
        assert first["attempts"] == 1 and "550" in first["error"]  # refused: not retried
        client.accounts.post(
            f"/accounts/{account['account_id']}/reset-password", json={"reason": "Thử"}, headers=admin
        ).raise_for_status()
        second = await failure_of(tap, account["account_id"], "password_reset")
        assert "refused earlier" in second["error"] and second["attempts"] == 1


def test_a_title_on_two_lines_is_refused_and_a_long_vietnamese_subject_arrives_whole(client, area, smtp_server):
    auth = area["auth"]["admin_D"]
    notice = {"title": "Lịch tập huấn\nBcc: ai-do@example.vn", "body": "Đề nghị các đơn vị cử cán bộ dự tập huấn."}
    for bad in (
        notice,
        {
            **notice,
            "title": "Lịch tập huấn",
            "links": [{"title": "Công văn\r\nsố 12", "url": "https://sonoivu.example.vn/cv-12.pdf"}],
        },
    ):
        refused = client.notifications.post("/notices", json=bad, headers=auth)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]["errors"][0]
        assert error["type"] == "single_line" and error["message"].startswith("Chỉ được viết trên một dòng")
    # Long enough to be folded, with the pairs that lost their blank ("đãđược", "Hộihọc").
    title = (
        "Hội nghị tập huấn nghiệp vụ đã được tổ chức tại hội trường của Hội học sinh, sinh viên tỉnh, "
        "đề nghị các đơn vị cử cán bộ tham dự đầy đủ"
    )
    sent = client.notifications.post("/notices", json={**notice, "title": title}, headers=auth)
    assert sent.status_code == 202, sent.text
    mail = smtp_server.wait_for(area["email"]["U1"], template="notice", timeout=WAIT)
    assert mail[0]["Subject"] == f"Thông báo: {title}"


def test_a_notice_nobody_can_receive_says_so(client, admin, area):
    t = uuid.uuid4().hex[:6]
    empty = client.new_unit(admin, area["D"]["unit_id"], f"nE{t}", "Xã chưa có tài khoản", "commune")
    auth = area["auth"]["admin_D"]
    notice = {"title": "Lịch tập huấn", "body": "Đề nghị cử cán bộ dự tập huấn.", "area_unit_id": empty["unit_id"]}
    # 404 until notifications has the new unit (UnitRegistered on its way).
    sent = eventually(
        lambda: (r := client.notifications.post("/notices", headers=auth, json=notice)).status_code == 202 and r,
        timeout=WAIT,
    )
    status = eventually(
        lambda: (
            (s := client.notifications.get(f"/notices/{sent.json()['notice_id']}", headers=auth).json())["status"]
            != "sending"
            and s
        ),
        timeout=WAIT,
    )
    assert (status["status"], status["recipients"], status["emailed"]) == ("no_recipients", 0, 0), status
    assert status["message"].startswith("Không ai nhận được thông báo này")
