"""The PAR Index sociological survey (điều tra xã hội học xác định Chỉ số CCHC, seed 002): respondent
groups, the rules a ministry's or a province's list must pass, and its aggregates: the `Survey`, each
owner's `RespondentList` (draft, sent to the Ministry, reopened), the `Invitation` (the identity
side: issued, opened, answered) and the `Response` (the answers side, apart from identities:
docs/decisions/0006, 0013); the tamper patterns. Plain Python: no I/O."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email

from chassis.auth import Principal
from chassis.errors import Conflict, DomainError, Forbidden
from chassis.sheets import ROW, row_number
from moha_contracts import (
    Event,
    RespondentListSubmitted,
    SurveyInvitationIssued,
    SurveyResponseReceived,
    SurveyResponseVoided,
)

Kind = Literal["ministry", "province"]

# The groups of Công văn 385/BNV-CCHC, §1: five for a ministry's index, four for a province's.
GROUPS: dict[str, dict[str, str]] = {
    "ministry": {
        "lanh_dao_vu": "Lãnh đạo cấp vụ",
        "lanh_dao_so": "Lãnh đạo cấp sở",
        "lanh_dao_phong_so": "Lãnh đạo phòng chuyên môn thuộc sở",
        "cong_chuc_cchc": "Công chức phụ trách cải cách hành chính",
        "lanh_dao_hoi": "Lãnh đạo Hội/Hiệp hội",
    },
    "province": {
        "dai_bieu_hdnd": "Đại biểu Hội đồng nhân dân cấp tỉnh",
        "lanh_dao_so": "Lãnh đạo cấp sở",
        "lanh_dao_phong_so": "Lãnh đạo phòng chuyên môn thuộc sở",
        "lanh_dao_ubnd_huyen": "Lãnh đạo Ủy ban nhân dân cấp huyện",
    },
}
# "Trường hợp trùng lặp ... thì ưu tiên lựa chọn vai trò Đại biểu HĐND cấp tỉnh."
PRIORITY_GROUP = "dai_bieu_hdnd"
CCHC_PER_UNIT = 2  # "mỗi đơn vị thuộc bộ 02 công chức phụ trách cải cách hành chính"
MAX_ASSOCIATIONS = 5  # "lựa chọn tối đa 5 Hội/Hiệp hội"
# Which column names the organisation a person is counted in, for the groups with a quota.
NEEDS_ORGANISATION = {"cong_chuc_cchc": "đơn vị thuộc bộ", "lanh_dao_hoi": "Hội/Hiệp hội"}
COLUMNS = ["full_name", "email", "group", "position", "organisation"]
HEADERS_VI = {
    "họ và tên": "full_name",
    "thư điện tử": "email",
    "email": "email",
    "nhóm đối tượng": "group",
    "chức vụ": "position",
    "cơ quan, đơn vị": "organisation",
    "đơn vị": "organisation",
}

DRAFT, SUBMITTED = "draft", "submitted"


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


@dataclass(frozen=True)
class Respondent:
    row: int
    full_name: str
    email: str
    group: str
    position: str
    organisation: str


@dataclass
class ListCheck:
    respondents: list[Respondent] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _group_code(kind: str, value: str) -> str | None:
    value = unicodedata.normalize("NFC", value.strip())
    groups = GROUPS[kind]
    if value in groups:
        return value
    by_label = {label.lower(): code for code, label in groups.items()}
    return by_label.get(value.lower())


def check_list(kind: Kind, rows: list[dict[str, str]]) -> ListCheck:
    """Every row checked; a person listed twice kept once (in the People's Council delegate role
    if that is one of theirs, else as first listed); then the groups' quotas. Rows are numbered as
    in the sheet (the header is row 1)."""
    result = ListCheck()
    people: list[Respondent] = []
    for n, raw in enumerate(rows, start=2):
        number = row_number(raw, n)
        # Sheets typed with decomposed diacritics ("Unicode tổ hợp") read as the composed ones.
        row = {k: unicodedata.normalize("NFC", (v or "").strip()) for k, v in raw.items() if k != ROW}
        errors = []
        if not row.get("full_name"):
            errors.append(RowError(number, "full_name", "Thiếu họ và tên"))
        email = row.get("email", "")
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            errors.append(RowError(number, "email", f"Địa chỉ thư điện tử không hợp lệ: '{email}'"))
        group = _group_code(kind, row.get("group", ""))
        if group is None:
            allowed = ", ".join(GROUPS[kind].values())
            errors.append(
                RowError(
                    number,
                    "group",
                    f"Nhóm đối tượng '{row.get('group', '')}' không dùng cho "
                    f"{'bộ' if kind == 'ministry' else 'tỉnh'}; "
                    f"chọn một trong: {allowed}",
                )
            )
        elif group in NEEDS_ORGANISATION and not row.get("organisation"):
            errors.append(
                RowError(number, "organisation", f"Nhóm '{GROUPS[kind][group]}' cần ghi rõ {NEEDS_ORGANISATION[group]}")
            )
        if errors:
            result.errors += errors
            continue
        people.append(
            Respondent(
                number, row["full_name"], email, group or "", row.get("position", ""), row.get("organisation", "")
            )
        )

    kept: dict[str, Respondent] = {}
    for person in people:
        first = kept.get(person.email)
        if first is None:
            kept[person.email] = person
            continue
        if _name_key(first.full_name) != _name_key(person.full_name):
            result.errors.append(
                RowError(
                    person.row,
                    "email",
                    f"Địa chỉ thư điện tử đã dùng ở dòng {first.row} cho người khác ({first.full_name})",
                )
            )
            continue
        winner = person if person.group == PRIORITY_GROUP and first.group != PRIORITY_GROUP else first
        loser = first if winner is person else person
        kept[person.email] = winner
        result.merged.append(
            {
                "row": loser.row,
                "kept_row": winner.row,
                "email": person.email,
                "kept_group": winner.group,
                "dropped_group": loser.group,
            }
        )

    result.errors += _quota_errors(list(kept.values()))
    bad_rows = {e.row for e in result.errors}
    result.respondents = sorted((p for p in kept.values() if p.row not in bad_rows), key=lambda p: p.row)
    return result


def _quota_errors(people: list[Respondent]) -> list[RowError]:
    errors = []
    per_unit: dict[str, list[Respondent]] = defaultdict(list)
    for p in people:
        if p.group == "cong_chuc_cchc":
            per_unit[_name_key(p.organisation)].append(p)
    for members in per_unit.values():
        for extra in sorted(members, key=lambda p: p.row)[CCHC_PER_UNIT:]:
            errors.append(
                RowError(
                    extra.row,
                    "group",
                    f"Mỗi đơn vị thuộc bộ chỉ khảo sát {CCHC_PER_UNIT} công chức "
                    f"phụ trách cải cách hành chính ('{extra.organisation}' "
                    "đã đủ)",
                )
            )
    associations: list[str] = []
    for p in sorted(people, key=lambda p: p.row):
        if p.group != "lanh_dao_hoi":
            continue
        key = _name_key(p.organisation)
        if key not in associations:
            associations.append(key)
        if associations.index(key) >= MAX_ASSOCIATIONS:
            errors.append(
                RowError(
                    p.row,
                    "organisation",
                    f"Chỉ khảo sát tối đa {MAX_ASSOCIATIONS} Hội/Hiệp hội; "
                    f"'{p.organisation}' là hội thứ "
                    f"{associations.index(key) + 1}",
                )
            )
    return errors


def _name_key(name: str) -> str:
    return " ".join(name.lower().split())


def normalise_headers(row: dict[str, str]) -> dict[str, str]:
    """The template's Vietnamese headers or the English column names, whichever the sheet has."""
    return {
        HEADERS_VI.get(key, key): v
        for k, v in row.items()
        if k
        for key in [unicodedata.normalize("NFC", k.strip().lower())]
    }


@dataclass
class RespondentList:
    """One ministry's or province's list for a survey: edited while a draft, locked once sent."""

    id: str
    survey_id: str
    owner_unit_id: str
    kind: Kind
    status: str = DRAFT
    respondents: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    events: list[Event] = field(default_factory=list)

    def replace(self, by: Principal, checked: ListCheck, now: datetime | None = None) -> None:
        if self.status == SUBMITTED:
            raise Conflict(
                "Danh sách đã gửi Bộ Nội vụ nên đã khóa; đề nghị Bộ Nội vụ mở lại để sửa", code="list_locked"
            )
        self.respondents = [
            {
                "full_name": p.full_name,
                "email": p.email,
                "group": p.group,
                "position": p.position,
                "organisation": p.organisation,
            }
            for p in checked.respondents
        ]
        self.history.append(
            {
                "action": "imported",
                "by": by.account_id,
                "at": now or datetime.now(UTC),
                "rows": len(self.respondents),
                "merged": len(checked.merged),
            }
        )

    def counts(self) -> dict[str, int]:
        found = Counter(p["group"] for p in self.respondents)
        return {group: found.get(group, 0) for group in GROUPS[self.kind]}

    def submit(self, by: Principal, today: date, list_deadline: date, now: datetime | None = None) -> None:
        if self.status == SUBMITTED:
            raise Conflict("Danh sách đã được gửi Bộ Nội vụ", code="already_submitted")
        if not self.respondents:
            raise DomainError("Danh sách chưa có đối tượng nào", code="empty_list")
        reopened = any(h["action"] == "reopened" for h in self.history)
        if today > list_deadline and not reopened:
            raise Conflict(f"Đã quá hạn gửi danh sách ({list_deadline:%d/%m/%Y})", code="list_deadline_passed")
        now = now or datetime.now(UTC)
        self.status = SUBMITTED
        self.history.append({"action": "submitted", "by": by.account_id, "at": now})
        self.events.append(
            RespondentListSubmitted(
                survey_id=self.survey_id,
                owner_unit_id=self.owner_unit_id,
                owner_kind=self.kind,
                counts=self.counts(),
                submitted_by=by.account_id,
                submitted_at=now,
            )
        )

    def reopen(self, by: Principal, reason: str, now: datetime | None = None) -> None:
        if by.role != "central_admin":
            raise Forbidden("Chỉ Bộ Nội vụ mở lại danh sách đã gửi")
        if self.status != SUBMITTED:
            raise Conflict("Danh sách chưa được gửi", code="not_submitted")
        if not reason.strip():
            raise DomainError("Phải ghi rõ lý do mở lại danh sách", code="reason_required")
        self.status = DRAFT
        self.history.append(
            {"action": "reopened", "by": by.account_id, "at": now or datetime.now(UTC), "reason": reason.strip()}
        )


# Tamper patterns ------------------------------------------------------------------------------
TOKEN_REUSE, BURST, ADMIN_SESSION, ANSWERS_ACCESS = "token_reuse", "burst", "admin_session", "answers_access"
FLAG_LABELS = {
    TOKEN_REUSE: "Một đường dẫn khảo sát được dùng để trả lời lần nữa",
    BURST: "Nhiều phiếu được gửi dồn dập từ cùng một địa chỉ mạng hoặc thiết bị",
    ADMIN_SESSION: "Phiếu được gửi từ phiên đăng nhập của tài khoản quản trị",
    ANSWERS_ACCESS: "Tài khoản ngoài Bộ Nội vụ tìm cách đọc câu trả lời",
}
ADMIN_ROLES = ("central_admin", "province_admin", "district_admin")


def token_hash(token: str) -> str:
    return hashlib.sha256(f"invitation:{token}".encode()).hexdigest()


def response_id(token: str) -> str:
    """Made from the token alone: one response per token is the unique id itself, and nothing stored
    leads from the invitation (which keeps only `token_hash`) to the answers."""
    return hashlib.sha256(f"response:{token}".encode()).hexdigest()


def draft_key(token: str) -> str:
    # Not the invitation's key: a draft left unsent does not sit beside its respondent's identity.
    return hashlib.sha256(f"draft:{token}".encode()).hexdigest()


def invitation_id(secret: str, survey_id: str, owner_unit_id: str, email: str) -> str:
    """Made from the person (so a second dispatch finds them invited) under a secret: the id goes
    into public events, and a plain hash of an address could be recomputed by any subscriber."""
    message = f"{survey_id}:{owner_unit_id}:{email.lower()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def fingerprint(salt: str, value: str) -> str:
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:32]


def is_burst(recent_same_source: int, threshold: int) -> bool:
    """`recent_same_source`: responses from the same address or device within the window, this one
    included."""
    return recent_same_source >= threshold


# The survey itself -----------------------------------------------------------------------------
QUESTIONNAIRES = {"ministry": "XHH-CCHC-BO", "province": "XHH-CCHC-TINH"}


def kind_of(unit: dict[str, Any]) -> Kind | None:
    """A province's index, or a ministry's: a unit directly under the central level."""
    if unit["level"] == "province":
        return "province"
    if unit["level"] == "agency" and unit["path"] == ["root"]:
        return "ministry"
    return None


def check_answer_window(answer_deadline: date, today: date) -> None:
    """Answers are taken until the end of the deadline day in Vietnam; then the links close."""
    if today > answer_deadline:
        raise Conflict(f"Đã hết hạn trả lời phiếu khảo sát ({answer_deadline:%d/%m/%Y})", code="survey_closed")


def may_manage_list(by: Principal, owner_unit_id: str, kind: Kind) -> bool:
    """A province's administrators keep its list; a ministry's, whoever holds its unit's account
    (the ministry's focal point); the Ministry keeps any."""
    if by.role == "central_admin":
        return True
    if by.unit_id != owner_unit_id:
        return False
    return by.role == "province_admin" if kind == "province" else True


# What the seed asks of each group (Công văn 385/BNV-CCHC §1), beside what a list holds --------
REQUIRED: dict[str, dict[str, str]] = {
    "ministry": {
        "lanh_dao_vu": "Tất cả lãnh đạo cấp vụ thuộc bộ (lãnh đạo vụ, cục, tổng cục và tương đương)",
        "lanh_dao_so": "Tất cả lãnh đạo cấp sở đánh giá cho bộ (Giám đốc, Phó Giám đốc và tương đương)",
        "lanh_dao_phong_so": "Tất cả lãnh đạo phòng chuyên môn thuộc các sở đánh giá cho bộ",
        "cong_chuc_cchc": f"{CCHC_PER_UNIT:02d} công chức phụ trách cải cách hành chính ở mỗi đơn vị thuộc bộ",
        "lanh_dao_hoi": f"Tất cả lãnh đạo Hội/Hiệp hội đánh giá cho bộ, tối đa {MAX_ASSOCIATIONS} Hội/Hiệp hội",
    },
    "province": {
        "dai_bieu_hdnd": "Tất cả đại biểu Hội đồng nhân dân cấp tỉnh",
        "lanh_dao_so": "Tất cả lãnh đạo các cơ quan chuyên môn cấp tỉnh (Giám đốc, Phó Giám đốc và tương đương)",
        "lanh_dao_phong_so": "Tất cả lãnh đạo phòng chuyên môn thuộc các sở (Trưởng phòng, Phó Trưởng phòng)",
        "lanh_dao_ubnd_huyen": "Tất cả lãnh đạo Ủy ban nhân dân cấp huyện (Chủ tịch, Phó Chủ tịch)",
    },
}


def requirements(kind: Kind, respondents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each group's count beside the seed's rule, and whether the list meets what can be checked
    of it: "all of them" cannot be counted from here, so a group needs at least one person; the
    reform officials two per ministry unit; the associations at most five (more is refused at import)."""
    found = []
    for group, label in GROUPS[kind].items():
        members = [p for p in respondents if p["group"] == group]
        note, met = None, bool(members)
        if group == "cong_chuc_cchc" and members:
            per_unit = Counter(_name_key(p["organisation"]) for p in members)
            short = sum(1 for n in per_unit.values() if n < CCHC_PER_UNIT)
            note = f"{len(per_unit)} đơn vị thuộc bộ" + (
                f"; {short} đơn vị chưa đủ {CCHC_PER_UNIT} người" if short else f", mỗi đơn vị đủ {CCHC_PER_UNIT} người"
            )
            met = not short
        elif group == "lanh_dao_hoi" and members:
            note = f"{len({_name_key(p['organisation']) for p in members})}/{MAX_ASSOCIATIONS} Hội/Hiệp hội"
        if not members:
            note = "Chưa có người nào trong nhóm"
        found.append(
            {
                "group": group,
                "label": label,
                "count": len(members),
                "rule": REQUIRED[kind][group],
                "note": note,
                "met": met,
            }
        )
    return found


# The aggregates of the survey, its invitations and its responses ----------------------------------
@dataclass
class Survey:
    """One survey of ministries and provinces; the questionnaires' versions fixed when it opened."""

    id: str
    title: str
    list_deadline: date
    answer_deadline: date
    owner_unit_ids: list[str]
    owners: dict[str, Kind]  # owner unit -> its kind of index
    questionnaires: dict[str, int]  # kind -> the questionnaire's version
    version: int = 0
    events: list[Event] = field(default_factory=list)

    def kind(self, owner_unit_id: str) -> Kind | None:
        return self.owners.get(owner_unit_id)

    def questionnaire(self, owner_unit_id: str) -> tuple[str, int]:
        kind = self.owners[owner_unit_id]
        return QUESTIONNAIRES[kind], self.questionnaires[kind]

    def check_open(self, today: date) -> None:
        check_answer_window(self.answer_deadline, today)

    def new_list(self, owner_unit_id: str) -> RespondentList:
        """The owner's list before anything was imported into it."""
        return RespondentList(f"{self.id}:{owner_unit_id}", self.id, owner_unit_id, self.owners[owner_unit_id])

    def managed_by(self, by: Principal) -> list[str]:
        return [o for o, kind in self.owners.items() if may_manage_list(by, o, kind)]


INVITED, OPENED, ANSWERED = "invited", "opened", "answered"


@dataclass
class Invitation:
    """A respondent's personal link, on the identity side: keyed under a secret from the person, it
    keeps neither the token nor anything of the answers, and says that it was answered, not when."""

    id: str
    survey_id: str
    owner_unit_id: str
    group: str
    status: str = INVITED
    issued_at: datetime | None = None
    opened_at: datetime | None = None
    version: int = 0
    events: list[Event] = field(default_factory=list)

    @classmethod
    def issue(
        cls, invitation_id: str, survey: Survey, owner: str, group: str, sealed: str, now: datetime
    ) -> Invitation:
        """`sealed`: the address, name and link, for notifications' eyes only."""
        invitation = cls(invitation_id, survey.id, owner, group, issued_at=now)
        invitation.events.append(
            SurveyInvitationIssued(
                invitation_id=invitation_id,
                survey_id=survey.id,
                survey_title=survey.title,
                owner_unit_id=owner,
                group=group,
                answer_deadline=survey.answer_deadline,
                sealed=sealed,
                issued_at=now,
            )
        )
        return invitation

    def open(self, now: datetime) -> None:
        """The first open is counted; later ones change nothing."""
        if self.status == INVITED:
            self.status, self.opened_at = OPENED, now

    def answered(self, now: datetime) -> None:
        """Marked once; the time is the event's and its commit's (the identity side), not kept here."""
        if self.status == ANSWERED:
            return
        self.status = ANSWERED
        self.events.append(
            SurveyResponseReceived(
                invitation_id=self.id,
                survey_id=self.survey_id,
                owner_unit_id=self.owner_unit_id,
                group=self.group,
                received_at=now,
            )
        )


UNANSWERED, VALID, VOIDED = "unanswered", "valid", "voided"


@dataclass
class Response:
    """The answers through one link, under an id made from the token alone, with what the analysis
    needs (the questionnaire, whose list and which group) and nothing that dates or orders them.
    Its document is made empty at dispatch (`slot`) and answered in place (docs/decisions/0013)."""

    id: str
    survey_id: str
    owner_unit_id: str
    group: str
    form_code: str
    form_version: int
    status: str = UNANSWERED
    answers: dict[str, Any] = field(default_factory=dict)
    void_reason: str | None = None
    version: int = 1  # made at dispatch, outside the commit log
    events: list[Event] = field(default_factory=list)

    @classmethod
    def slot(cls, survey: Survey, owner: str, group: str, rid: str) -> Response:
        form_code, form_version = survey.questionnaire(owner)
        return cls(rid, survey.id, owner, group, form_code, form_version)

    def answer(self, answers: dict[str, Any]) -> None:
        self.status, self.answers, self.void_reason = VALID, dict(answers), None

    def void(self, by: Principal, reason: str, now: datetime) -> None:
        """Out of the results, kept stored, with the reason (the Ministry judging a flag)."""
        if by.role != "central_admin":
            raise Forbidden("Chỉ Bộ Nội vụ hủy kết quả phiếu khảo sát")
        if self.status == VOIDED:
            raise Conflict("Phiếu trả lời đã bị hủy", code="already_voided")
        self.status, self.void_reason = VOIDED, reason
        self.events.append(
            SurveyResponseVoided(
                response_id=self.id,
                survey_id=self.survey_id,
                owner_unit_id=self.owner_unit_id,
                group=self.group,
                reason=reason,
                voided_by=by.account_id,
                voided_at=now,
            )
        )
