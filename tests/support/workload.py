"""A province's census, driven through the platform's APIs: the tree, its accounts, a campaign, every
unit's form, the district's decisions (some returned and sent again), the province's confirmation,
and reminders. The same script on two platforms gives the same facts, named by codes and usernames
rather than by the ids each platform draws, so their read models can be compared."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from chassis.clock import today_in_vietnam
from tests.support.answers import valid_hc_tb
from tests.support.platform import TLS, bearer, eventually, new_password_for


class RoundRobin:
    """One service's replicas behind one client, as behind a load balancer: each request goes to the
    next replica; one that refuses the connection (killed) is skipped. A request whose connection
    broke mid-way is not sent again: its outcome is unknown, and the caller decides."""

    def __init__(self, urls: list[str], timeout: float = 30.0) -> None:
        self.clients = [httpx.Client(base_url=url, timeout=timeout, verify=TLS) for url in urls]
        self._next = itertools.cycle(range(len(self.clients)))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last: Exception | None = None
        for _ in range(len(self.clients)):
            client = self.clients[next(self._next)]
            try:
                return client.request(method, path, **kwargs)
            except httpx.ConnectError as exc:
                last = exc
        raise last or RuntimeError("no replica")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)


def retried(call, ok=(200, 201), done=(409,), attempts: int = 5) -> httpx.Response | None:
    """A write that may meet a replica dying under it: sent again when its connection broke; a 409
    after a broken attempt means the first one went through. None: done by an earlier attempt."""
    broken = False
    for _ in range(attempts):
        try:
            response = call()
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout, httpx.ConnectError):
            broken = True
            continue
        if response.status_code in ok:
            return response
        if broken and response.status_code in done:
            return None
        if response.status_code in (404, 503):  # not known there yet (events on their way), or not ready
            eventually(lambda: True, timeout=0.2)
            continue
        raise AssertionError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    raise AssertionError("gave up after repeated failures")


@dataclass
class Province:
    tag: str
    province: dict[str, Any]
    districts: list[dict[str, Any]]
    communes: list[dict[str, Any]]
    usernames: dict[str, str] = field(default_factory=dict)  # unit code -> its account's username
    auth: dict[str, dict[str, str]] = field(default_factory=dict)  # username -> bearer headers
    supervisors: dict[str, str] = field(default_factory=dict)  # district code (or "P") -> username
    campaign: str = ""
    submissions: dict[str, str] = field(default_factory=dict)  # unit code -> submission id


def login(http: Any, username: str, password: str) -> dict[str, str]:
    """Sign in, replacing the issued password at the first sign-in (as its holder must)."""
    body = retried(lambda: http.accounts.post("/auth/token", json={"username": username, "password": password})).json()
    if body["must_change_password"]:
        body = retried(
            lambda: http.accounts.post(
                "/auth/password",
                headers=bearer(body["access_token"]),
                json={"current_password": password, "new_password": new_password_for(password)},
            )
        ).json()
    return bearer(body["access_token"])


def build_province(http: Any, admin: dict[str, str], tag: str, districts: int = 3, communes: int = 10) -> Province:
    """The tree (a province, its districts and communes), a supervisor per district and one for the
    province, an account per commune, each signed in once (which activates it)."""

    def unit(parent: str, code: str, name: str, level: str) -> dict[str, Any]:
        return retried(
            lambda: http.accounts.post(
                "/units", headers=admin, json={"code": code, "name": name, "level": level, "parent_id": parent}
            )
        ).json()

    def account(unit_id: str, username: str, role: str) -> dict[str, Any]:
        return retried(
            lambda: http.accounts.post(
                "/accounts",
                headers=admin,
                json={
                    "username": username,
                    "unit_id": unit_id,
                    "role": role,
                    "display_name": username.upper(),
                    "email": f"{username}@example.vn",
                },
            )
        ).json()

    p = Province(tag, unit("root", f"P{tag}", f"Tỉnh {tag}", "province"), [], [])
    for d in range(districts):
        district = unit(p.province["unit_id"], f"D{d}{tag}", f"Huyện {d} {tag}", "district")
        p.districts.append(district)
        for c in range(communes):
            p.communes.append(unit(district["unit_id"], f"C{d}-{c}{tag}", f"Xã {d}-{c} {tag}", "commune"))
    people = [(d["unit_id"], f"gsv.{d['code'].lower()}", "district_supervisor", d["code"]) for d in p.districts]
    people.append((p.province["unit_id"], f"gsv.p{tag}", "province_supervisor", "P"))
    people += [(c["unit_id"], f"dv.{c['code'].lower()}", "reporting_unit", c["code"]) for c in p.communes]
    issued = {}
    for unit_id, username, role, code in people:
        issued[username] = account(unit_id, username, role)
        p.auth[username] = login(http, username, issued[username]["initial_password"])
        if role == "reporting_unit":
            p.usernames[code] = username
        else:
            p.supervisors[code] = username
    # Each commune takes its official name; each district's supervisor is assigned its communes.
    for commune in p.communes:
        retried(
            lambda commune=commune: http.accounts.put(
                f"/units/{commune['unit_id']}/name",
                headers=admin,
                json={"name": f"Xã {commune['code']}", "reason": "Tên theo Nghị quyết"},
            )
        )
    for district in p.districts:
        supervisor = issued[p.supervisors[district["code"]]]
        unit_ids = [c["unit_id"] for c in p.communes if c["parent_id"] == district["unit_id"]]
        retried(
            lambda supervisor=supervisor, unit_ids=unit_ids: http.accounts.put(
                f"/accounts/{supervisor['account_id']}/assignments", headers=admin, json={"unit_ids": unit_ids}
            )
        )
    return p


def open_campaign(http: Any, admin: dict[str, str], p: Province, deadline_days: int = 3) -> None:
    """The census of the province: the district reviews, the province confirms; the deadline a few
    days ahead, so that reminders are due before it."""
    today = today_in_vietnam()
    p.campaign = f"late-{p.tag}"
    due = str(today + timedelta(days=deadline_days))
    retried(
        lambda: http.forms.post(
            "/campaigns",
            headers=admin,
            json={
                "campaign_id": p.campaign,
                "form_code": "1/HC-TB",
                "title": f"Điều tra {p.tag}",
                "scope_unit_ids": [p.province["unit_id"]],
                "opens_on": str(today - timedelta(days=5)),
                "closes_on": str(today + timedelta(days=30)),
                "deadlines": {"district": due, "province": due},
            },
        )
    )


def save_draft(http: Any, p: Province, code: str) -> None:
    unit_id = next(c["unit_id"] for c in p.communes if c["code"] == code)
    retried(
        lambda: http.forms.put(
            "/submissions/draft",
            headers=p.auth[p.usernames[code]],
            json={
                "campaign_id": p.campaign,
                "form_code": "1/HC-TB",
                "unit_id": unit_id,
                "answers": {"A1.1": f"Ủy ban nhân dân xã {code}"},
            },
        )
    )


def submit(http: Any, p: Province, code: str, version: int | None = None) -> None:
    username = p.usernames[code]
    unit_id = next(c["unit_id"] for c in p.communes if c["code"] == code)
    body: dict[str, Any] = {
        "campaign_id": p.campaign,
        "form_code": "1/HC-TB",
        "unit_id": unit_id,
        "answers": valid_hc_tb(f"Ủy ban nhân dân xã {code}"),
    }
    if version is not None:
        body["expected_version"] = version
    response = retried(lambda: http.forms.post("/submissions", json=body, headers=p.auth[username]))
    if response is not None:
        p.submissions[code] = response.json()["submission_id"]
    else:  # went through before its connection broke: find it
        p.submissions[code] = eventually(
            lambda: next(
                (
                    s["submission_id"]
                    for s in http.forms.get(
                        "/submissions", headers=p.auth[username], params={"campaign_id": p.campaign}
                    ).json()["items"]
                ),
                None,
            )
        )


def returned(code: str) -> bool:
    """Which forms the district returns once (every third)."""
    return int(code.split("-")[1][:1]) % 3 == 0


def tasks_of(http: Any, auth: dict[str, str]) -> list[dict[str, Any]]:
    return http.approvals.get("/tasks", headers=auth).json()


def decide_districts(http: Any, p: Province) -> None:
    """Each district's supervisor decides its units' forms: returns every third once (the unit sends
    it again, and it is approved then), approves the rest."""
    by_sid = {sid: code for code, sid in p.submissions.items()}
    for district in p.districts:
        auth = p.auth[p.supervisors[district["code"]]]
        mine = {code for code in p.submissions if code.startswith(f"C{district['code'][1 : -len(p.tag)]}-")}
        pending = dict.fromkeys(mine, 1)
        while pending:
            open_tasks = eventually(
                lambda auth=auth, pending=pending: [
                    t for t in tasks_of(http, auth) if by_sid.get(t["submission_id"]) in pending
                ],
                timeout=60,
            )
            for task in open_tasks:
                code = by_sid[task["submission_id"]]
                if task["revision"] != pending.get(code):
                    continue
                if returned(code) and task["revision"] == 1:
                    retried(
                        lambda task=task, auth=auth: http.approvals.post(
                            f"/tasks/{task['task_id']}/return",
                            headers=auth,
                            json={"revision": 1, "reason": "Mục A2.2.2 chưa đúng"},
                        )
                    )
                    version = eventually(
                        lambda task=task, code=code: (
                            (
                                s := http.forms.get(
                                    f"/submissions/{task['submission_id']}", headers=p.auth[p.usernames[code]]
                                ).json()
                            )["status"]
                            == "returned"
                            and s["version"]
                        )
                    )
                    submit(http, p, code, version)
                    pending[code] = 2
                else:
                    retried(
                        lambda task=task, auth=auth: http.approvals.post(
                            f"/tasks/{task['task_id']}/approve", headers=auth, json={"revision": task["revision"]}
                        )
                    )
                    del pending[code]


def confirm_province(http: Any, p: Province) -> None:
    auth = p.auth[p.supervisors["P"]]
    left = set(p.submissions.values())
    while left:
        for task in eventually(lambda: [t for t in tasks_of(http, auth) if t["submission_id"] in left], timeout=60):
            retried(
                lambda task=task: http.approvals.post(
                    f"/tasks/{task['task_id']}/approve", headers=auth, json={"revision": task["revision"]}
                )
            )
            left.discard(task["submission_id"])


def snapshot(http: Any, admin: dict[str, str], p: Province, smtp: Any) -> dict[str, Any]:
    """What approvals and notifications know of the province, named by codes and usernames."""
    code_of = {u["unit_id"]: u["code"] for u in [p.province, *p.districts, *p.communes]}
    progress = http.approvals.get(
        f"/progress/{p.campaign}", headers=admin, params={"area": p.province["unit_id"]}
    ).json()
    reviews = {
        code: sorted(
            (t["revision"], t["level"], t["status"], t["final"], t["reason"])
            for t in http.approvals.get(f"/submissions/{sid}/reviews", headers=admin).json()
        )
        for code, sid in p.submissions.items()
    }
    inboxes = {
        username: sorted(n["kind"] for n in http.notifications.get("/inbox", headers=auth).json()["items"])
        for username, auth in p.auth.items()
    }
    usernames = set(p.auth)
    mails = Counter(
        (m["To"].split("@")[0], m["X-MOHA-Template"]) for m in list(smtp.messages) if m["To"].split("@")[0] in usernames
    )
    return {"progress": _named(progress, code_of), "reviews": reviews, "inboxes": inboxes, "mails": dict(mails)}


def _named(value: Any, code_of: dict[str, str]) -> Any:
    """The same structure with unit ids replaced by codes, and times left out."""
    if isinstance(value, dict):
        return {
            code_of.get(k, k): _named(v, code_of)
            for k, v in value.items()
            if not k.endswith("_at") and k not in ("as_of", "generated_at")
        }
    if isinstance(value, list):
        return [_named(v, code_of) for v in value]
    return code_of.get(value, value) if isinstance(value, str) else value
