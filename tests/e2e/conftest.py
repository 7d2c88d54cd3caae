import time
import uuid

import pytest

from deploy.launch import SERVICES, WEB, Platform, free_port
from tests.e2e.web_fixtures import area, browser, chromium, web  # noqa: F401 - the web front's browser tests' fixtures
from tests.support.platform import Client
from tests.support.smtp import SmtpServer

ADMIN_PASSWORD = "E2e-Admin-Password-1"


@pytest.fixture(scope="session")
def smtp_server():
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def platform(amqp_url, mongo_url, run_id, smtp_server, tmp_path_factory):
    running = Platform(
        amqp_url=amqp_url,  # this run's own vhost: no queue of another run or of a demo is touched
        broker_user_prefix=f"t{run_id}-",
        mongodb_url=mongo_url,
        log_dir=tmp_path_factory.mktemp("logs"),
        database_suffix=f"_e2e_{run_id}",
        ports={name: free_port() for name in (*SERVICES, WEB)},
        extra_env={
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SMTP_PORT": str(smtp_server.port),
            "MAIL_RETRY_BASE_SECONDS": "0.2",
            "MAIL_RETRY_MAX_SECONDS": "1",
            "RETRY_DELAY_MS": "300",
            "SURVEY_BURST_THRESHOLD": "4",
            "LOG_LEVEL": "debug",
            # Session-long tokens (the admin's, module fixtures' people) outlive the default 15
            # minutes in a suite that runs longer; signing in again may meet the throttle that
            # earlier tests' wrong guesses from this address set off.
            "TOKEN_TTL_SECONDS": "7200",
            "MAX_UPLOAD_BYTES": "300000",  # below MAX_BODY_BYTES: the uploads' own streamed cap is what answers
            # test_secrets_in_logs forces unhandled errors; the reminder tests drive the clock ahead
            # (tests/support/faults.py); accounts' hashes take their time asleep, not on the cores.
            "FAULTS": "error-header,reminders-any-day,hashes-asleep",
        },
        wrapper="tests.support.faults",
    )
    running.start()
    yield running
    running.stop()
    running.remove_broker_users()


@pytest.fixture(scope="session")
def client(platform) -> Client:
    return Client(platform)


def admin_auth(client: Client) -> dict[str, str]:
    """The central administrator's token, signed in again well before it runs out (two hours in
    this platform, TOKEN_TTL_SECONDS)."""
    if not client.admin_auth or time.monotonic() - client.admin_signed_in_at > 3600:
        client.admin_auth = client.login("admin", ADMIN_PASSWORD)
        client.admin_signed_in_at = time.monotonic()
    return client.admin_auth


@pytest.fixture
def admin(client) -> dict[str, str]:
    return admin_auth(client)


@pytest.fixture
def district(client, admin):  # noqa: ARG001 - admin also signs the client in for opening campaigns
    """A fresh province → district → two units, with a supervisor and unit accounts, per test."""
    return new_district(client, admin)


def new_district(client: Client, admin: dict[str, str]) -> dict:
    tag = uuid.uuid4().hex[:6]
    province = client.new_unit(admin, "root", f"P{tag}", f"Tỉnh thử {tag}", "province")
    district = client.new_unit(admin, province["unit_id"], f"D{tag}", f"Huyện thử {tag}", "district")
    unit_a = client.new_unit(admin, district["unit_id"], f"A{tag}", f"Xã A {tag}", "commune")
    unit_b = client.new_unit(admin, district["unit_id"], f"B{tag}", f"Xã B {tag}", "commune")
    supervisor = client.new_account(
        admin, district["unit_id"], f"gsv.{tag}", "district_supervisor", f"gsv.{tag}@example.vn"
    )
    account_a = client.new_account(admin, unit_a["unit_id"], f"dva.{tag}", "reporting_unit", f"dva.{tag}@example.vn")
    account_b = client.new_account(admin, unit_b["unit_id"], f"dvb.{tag}", "reporting_unit", f"dvb.{tag}@example.vn")
    return {
        "tag": tag,
        "province": province,
        "district": district,
        "unit_a": unit_a,
        "unit_b": unit_b,
        "supervisor": supervisor,
        "account_a": account_a,
        "account_b": account_b,
        "supervisor_auth": client.login(supervisor["username"], supervisor["initial_password"]),
        "a_auth": client.login(account_a["username"], account_a["initial_password"]),
        "b_auth": client.login(account_b["username"], account_b["initial_password"]),
    }
