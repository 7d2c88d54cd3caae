"""Each web page's time beside the API call it wraps, at the demo's size.

    python -m bench.pages [--requests N] [--units U] [--web URL --accounts URL ...]

Starts the four services and the web front (deploy.launch.Platform) on free loopback ports with
databases of their own, on the broker and store of AMQP_URL / MONGODB_URL, and loads the demo
(Lạng Sơn: 556 units, 545 unit accounts, the census campaign). U units of Thành phố Lạng Sơn send
their form, so the queue, the progress and the inbox are not empty. Then, for each page, N
requests one after another as a signed-in person: the page's server time (its Server-Timing
header: everything the web front did, the services' calls included) and, beside it, the wall
time of the API call the page is built on, made directly with the same person's token. Prints
p50/p95 and writes bench/results/pages.json. Target: every page's p95 under 300 ms.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from chassis.messaging import broker_user
from deploy.demo import load_demo
from deploy.launch import ROOT, SERVICES, WEB, Platform, free_port
from deploy.rabbitmq.provision import Management, with_vhost
from tests.support.answers import valid_hc_tb

RESULTS = ROOT / "bench" / "results" / "pages.json"
CAMPAIGN = "dtcshc-demo"
ADMIN_PASSWORD = "Bench-Pages-Admin-1"


def new_password(initial: str) -> str:
    return initial + "-Bench2026"


class Person:
    """One person signed in to the web front (cookies, CSRF) and to the APIs (token)."""

    def __init__(self, web: str, urls: dict[str, str], username: str, password: str) -> None:
        self.web = httpx.Client(base_url=web, timeout=30.0, follow_redirects=False)
        self.api = {name: httpx.Client(base_url=url, timeout=30.0) for name, url in urls.items()}
        found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', self.web.get("/dang-nhap").text)
        assert found, "the sign-in page carries a CSRF token"
        self.csrf = found.group(1)
        signed = self.web.post("/dang-nhap", data={"username": username, "password": password, "csrf_token": self.csrf})
        assert signed.status_code == 303, signed.text[:500]
        if signed.headers["location"].startswith("/doi-mat-khau"):
            changed = self.web.post(
                "/doi-mat-khau",
                data={
                    "current_password": password,
                    "new_password": new_password(password),
                    "confirm_password": new_password(password),
                    "csrf_token": self.csrf,
                },
            )
            assert changed.status_code == 303, changed.text[:500]
            password = new_password(password)
        token = self.api["accounts"].post("/auth/token", json={"username": username, "password": password})
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def page(self, method: str, path: str, **kw: Any) -> float:
        if method == "POST":
            kw.setdefault("data", {})["csrf_token"] = self.csrf
        response = self.web.request(method, path, **kw)
        assert response.status_code < 400, f"{path}: {response.status_code} {response.text[:300]}"
        timing = re.search(r"app;dur=([0-9.]+)", response.headers.get("server-timing", ""))
        return float(timing.group(1)) if timing else float("nan")

    def call(self, service: str, method: str, path: str, **kw: Any) -> float:
        started = time.perf_counter()
        response = self.api[service].request(method, path, headers=self.headers, **kw)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code < 400, f"{service} {path}: {response.status_code} {response.text[:300]}"
        return elapsed


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "n": len(ordered)}


def measure(n: int, page, api) -> dict[str, Any]:
    for _ in range(3):  # warm: connections, the definitions the web front keeps
        page(), api()
    pages, apis = [], []
    for _ in range(n):
        pages.append(page())
        apis.append(api())
    return {"page_ms": percentiles(pages), "api_ms": percentiles(apis)}


def send_forms(urls: dict[str, str], credentials: list[list[str]], units: int) -> list[str]:
    """The first U units of Thành phố Lạng Sơn (codes 178-…) send a valid form."""
    chosen = [row for row in credentials if row[3].startswith("178-")][:units]

    def one(row: list[str]) -> str:
        username, password, _role, code = row[:4]
        accounts = httpx.Client(base_url=urls["accounts"], timeout=60.0)
        token = accounts.post("/auth/token", json={"username": username, "password": password}).json()
        changed = accounts.post(
            "/auth/password",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            json={"current_password": password, "new_password": new_password(password)},
        ).json()
        headers = {"Authorization": f"Bearer {changed['access_token']}"}
        me = accounts.get("/me", headers=headers).json()
        sent = httpx.post(
            urls["forms"] + "/submissions",
            headers=headers,
            timeout=60.0,
            json={"campaign_id": CAMPAIGN, "form_code": "1/HC-TB", "unit_id": me["unit_id"], "answers": valid_hc_tb()},
        )
        assert sent.status_code == 201, sent.text
        return sent.json()["submission_id"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, chosen))


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    run_id = uuid.uuid4().hex[:6]
    # A vhost and broker users of this run's own (decision 0008): another platform on the broker,
    # a test run or a colleague's benchmark, keeps its queues and its users' passwords.
    admin_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    vhost = f"moha-benchpages-{run_id}"
    with Management(admin_url) as api:
        api.ensure_vhost(vhost)
        api.grant_all(broker_user(admin_url), vhost)
        api.declare_exchanges(vhost)
    platform = Platform(
        amqp_url=with_vhost(admin_url, vhost),
        broker_user_prefix=f"bp{run_id}-",
        mongodb_url=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"),
        log_dir=tmp,
        database_suffix=f"_benchpages_{run_id}",
        ports={name: free_port() for name in (*SERVICES, WEB)},
        extra_env={"BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD, "LOG_LEVEL": "warning", "SMTP_PORT": str(free_port())},
    )
    try:
        platform.start()
        urls = {name: platform[name].url for name in SERVICES}
        started = time.perf_counter()
        logins = load_demo(urls, admin_password=ADMIN_PASSWORD, credentials_path=tmp / "credentials.csv")
        credentials = list(csv.reader(io.StringIO((tmp / "credentials.csv").read_text(encoding="utf-8-sig"))))[1:]
        sent = send_forms(urls, credentials, args.units)
        print(f"Demo loaded and {len(sent)} forms sent in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        web = platform[WEB].url
        unit_row = [r for r in credentials if r[3].startswith("178-")][args.units]  # one that has not sent
        unit = Person(web, urls, unit_row[0], unit_row[1])
        unit_id = httpx.get(urls["accounts"] + "/me", headers=unit.headers).json()["unit_id"]
        district = Person(web, urls, "ls.tp.giamsat", logins["ls.tp.giamsat"]["password"])
        province = Person(web, urls, "ls.tinh.giamsat", logins["ls.tinh.giamsat"]["password"])
        district_unit = httpx.get(urls["accounts"] + "/me", headers=district.headers).json()["unit_id"]
        # The unit's draft, so its pages show answers.
        assert (
            httpx.put(
                urls["forms"] + "/submissions/draft",
                headers=unit.headers,
                json={"campaign_id": CAMPAIGN, "form_code": "1/HC-TB", "unit_id": unit_id, "answers": valid_hc_tb()},
            ).status_code
            == 200
        )
        sid = f"{CAMPAIGN}:{unit_id}"
        deadline = time.monotonic() + 60
        while True:
            queue = httpx.get(urls["approvals"] + "/queue", headers=district.headers).json()
            if queue["total"] >= len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        task = queue["items"][0]
        body = {"campaign_id": CAMPAIGN, "form_code": "1/HC-TB", "unit_id": unit_id}
        n = args.requests
        rows = {
            "unit: home (its campaigns)": measure(
                n, lambda: unit.page("GET", "/"), lambda: unit.call("forms", "GET", f"/units/{unit_id}/campaigns")
            ),
            "unit: the form's sections": measure(
                n,
                lambda: unit.page("GET", f"/dot/{CAMPAIGN}"),
                lambda: unit.call("forms", "GET", f"/submissions/{sid}"),
            ),
            "unit: a section (A2)": measure(
                n,
                lambda: unit.page("GET", f"/dot/{CAMPAIGN}/muc/A2"),
                lambda: unit.call("forms", "GET", "/definitions", params={"form_code": "1/HC-TB"}),
            ),
            "unit: a field checked when left": measure(
                n,
                lambda: unit.page(
                    "POST", f"/dot/{CAMPAIGN}/o/A2.1", data={"A2.1": "25"}, headers={"HX-Request": "true"}
                ),
                lambda: unit.call("forms", "POST", "/submissions/validate", json={**body, "answers": {"A2.1": 25}}),
            ),
            "unit: check your answers": measure(
                n,
                lambda: unit.page("GET", f"/dot/{CAMPAIGN}/kiem-tra"),
                lambda: unit.call(
                    "forms", "POST", "/submissions/validate", json={**body, "answers": valid_hc_tb(), "complete": True}
                ),
            ),
            "district: review queue": measure(
                n, lambda: district.page("GET", "/duyet"), lambda: district.call("approvals", "GET", "/queue")
            ),
            "district: a submission to review": measure(
                n,
                lambda: district.page("GET", f"/duyet/{task['task_id']}"),
                lambda: district.call("forms", "GET", f"/submissions/{task['submission_id']}/checks"),
            ),
            "province: progress (545 units)": measure(
                n,
                lambda: province.page("GET", f"/tien-do/{CAMPAIGN}"),
                lambda: province.call("approvals", "GET", f"/progress/{CAMPAIGN}"),
            ),
            "province: progress of a district": measure(
                n,
                lambda: province.page("GET", f"/tien-do/{CAMPAIGN}", params={"area": district_unit}),
                lambda: province.call("approvals", "GET", f"/progress/{CAMPAIGN}", params={"area": district_unit}),
            ),
            "district: inbox": measure(
                n, lambda: district.page("GET", "/thong-bao"), lambda: district.call("notifications", "GET", "/inbox")
            ),
        }
        rows |= administrators(n, web, urls, logins, district_unit)
        return {"requests_per_page": n, "units": 545, "forms_sent": len(sent), "target_p95_ms": 300, "pages": rows}
    finally:
        platform.stop()
        platform.remove_broker_users()
        with Management(admin_url) as api:
            api.delete_vhost(vhost)
        from pymongo import MongoClient

        with MongoClient[dict[str, Any]](platform.mongodb_url) as client:
            for name in SERVICES:
                client.drop_database(f"moha_{name}{platform.database_suffix}")


def administrators(
    n: int, web: str, urls: dict[str, str], logins: dict[str, dict[str, str]], city: str
) -> dict[str, Any]:
    """Issue 15's pages: the province's administrator (its tree, accounts, audit trail, notices,
    survey list) and the Ministry's (form versions, campaigns, code lists, the survey's lists)."""
    central = Person(web, urls, "admin", logins["admin"]["password"])
    province = Person(web, urls, "ls.tinh.quantri", logins["ls.tinh.quantri"]["password"])
    me = httpx.get(urls["accounts"] + "/me", headers=province.headers).json()
    area = me["unit_id"]
    sup = httpx.get(urls["accounts"] + "/accounts", headers=province.headers, params={"q": "ls.tp.giamsat"}).json()[
        "items"
    ][0]["account_id"]
    # A notice to the whole province (its 546 accounts), followed to the end of its sending.
    notice = httpx.post(
        urls["notifications"] + "/notices",
        headers=province.headers,
        timeout=60.0,
        json={
            "title": "Lịch tập huấn phần mềm",
            "body": "Đề nghị các đơn vị cử cán bộ dự tập huấn.",
            "links": [{"title": "Công văn 12/SNV", "url": "https://sonoivu.langson.gov.vn/cv-12.pdf"}],
        },
    ).json()["notice_id"]
    deadline = time.monotonic() + 120
    while (
        httpx.get(urls["notifications"] + f"/notices/{notice}", headers=province.headers).json()["status"] == "sending"
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    survey = "par-demo"
    p, c = province, central
    return {
        "province admin: the tree (its 71 units)": measure(
            n,
            lambda: p.page("GET", "/quan-tri/don-vi"),
            lambda: p.call("accounts", "GET", "/units", params={"parent": area, "page_size": 25}),
        ),
        "province admin: the tree searched": measure(
            n,
            lambda: p.page("GET", "/quan-tri/don-vi", params={"q": "xã"}),
            lambda: p.call("accounts", "GET", "/units", params={"q": "xã", "page_size": 25}),
        ),
        "province admin: a unit with its accounts": measure(
            n,
            lambda: p.page("GET", f"/quan-tri/don-vi/{city}"),
            lambda: p.call("accounts", "GET", "/accounts", params={"unit": city, "page_size": 200}),
        ),
        "province admin: accounts (546)": measure(
            n,
            lambda: p.page("GET", "/quan-tri/tai-khoan"),
            lambda: p.call("accounts", "GET", "/accounts", params={"page_size": 25}),
        ),
        "province admin: accounts never signed in": measure(
            n,
            lambda: p.page("GET", "/quan-tri/tai-khoan", params={"dang_nhap": "chua"}),
            lambda: p.call("accounts", "GET", "/accounts", params={"never_signed_in": "true", "page_size": 25}),
        ),
        "province admin: an account": measure(
            n,
            lambda: p.page("GET", f"/quan-tri/tai-khoan/{sup}"),
            lambda: p.call("accounts", "GET", f"/accounts/{sup}"),
        ),
        "province admin: a supervisor's units": measure(
            n,
            lambda: p.page("GET", f"/quan-tri/tai-khoan/{sup}/giao-don-vi"),
            lambda: p.call("accounts", "GET", "/units", params={"area": city, "page_size": 500}),
        ),
        "province admin: audit trail": measure(
            n,
            lambda: p.page("GET", "/quan-tri/nhat-ky"),
            lambda: p.call("accounts", "GET", "/audit", params={"page_size": 25}),
        ),
        "province admin: audit, sign-ins only": measure(
            n,
            lambda: p.page("GET", "/quan-tri/nhat-ky", params={"viec": "login"}),
            lambda: p.call("accounts", "GET", "/audit", params={"action": "login", "page_size": 25}),
        ),
        "province admin: notices sent": measure(
            n, lambda: p.page("GET", "/thong-bao/da-gui"), lambda: p.call("notifications", "GET", "/notices")
        ),
        "province admin: a notice's 546 recipients": measure(
            n,
            lambda: p.page("GET", f"/thong-bao/da-gui/{notice}"),
            lambda: p.call("notifications", "GET", f"/notices/{notice}/recipients", params={"page_size": 25}),
        ),
        "province admin: its survey list": measure(
            n,
            lambda: p.page("GET", f"/khao-sat/{survey}/danh-sach/{area}"),
            lambda: p.call("forms", "GET", f"/surveys/{survey}/lists/{area}"),
        ),
        "province admin: survey progress": measure(
            n,
            lambda: p.page("GET", f"/khao-sat/{survey}/tien-do"),
            lambda: p.call("forms", "GET", f"/surveys/{survey}/progress"),
        ),
        "Ministry: form versions": measure(
            n, lambda: c.page("GET", "/bo/mau-phieu"), lambda: c.call("forms", "GET", "/definitions/versions")
        ),
        "Ministry: two versions compared": measure(
            n,
            lambda: c.page("GET", "/bo/mau-phieu/so-sanh", params={"ma": "1/HC-TB"}),
            lambda: c.call("forms", "GET", "/definitions", params={"form_code": "1/HC-TB"}),
        ),
        "Ministry: campaigns": measure(
            n,
            lambda: c.page("GET", "/bo/dot-thu-thap"),
            lambda: c.call("forms", "GET", "/campaigns", params={"page_size": 200}),
        ),
        "Ministry: a code list": measure(
            n, lambda: c.page("GET", "/bo/danh-muc/vsic2018"), lambda: c.call("forms", "GET", "/codelists/vsic2018")
        ),
        "Ministry: the survey's lists": measure(
            n, lambda: c.page("GET", f"/khao-sat/{survey}"), lambda: c.call("forms", "GET", f"/surveys/{survey}/lists")
        ),
        "Ministry: tamper flags": measure(
            n,
            lambda: c.page("GET", f"/khao-sat/{survey}/dau-hieu"),
            lambda: c.call("forms", "GET", f"/surveys/{survey}/flags"),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", "-n", type=int, default=40, help="requests per page, one after another")
    parser.add_argument("--units", type=int, default=30, help="units of Thành phố Lạng Sơn that send their form")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args)
    print(f"\n{'page':<44} {'page p50':>9} {'p95':>7}   {'API call p50':>12} {'p95':>7}")
    for name, row in result["pages"].items():
        page, api = row["page_ms"], row["api_ms"]
        flag = "" if page["p95"] < result["target_p95_ms"] else "  > target"
        print(
            f"{name:<44} {page['p50']:>7.1f}ms {page['p95']:>5.1f}ms   {api['p50']:>10.1f}ms {api['p95']:>5.1f}ms{flag}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(
        f"\n(page: the web front's server time, its API calls included; API call: the call it wraps, "
        f"timed by the client) -> {args.json}"
    )


if __name__ == "__main__":
    main()
