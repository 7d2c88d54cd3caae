"""Campaigns: a form, a scope of units, an open window and deadlines by level; periodic reports
recur every half year (due 15/6 and 15/12, seed 003). Plain Python: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chassis.auth import Principal
from chassis.errors import Conflict, DomainError, Forbidden
from chassis.text import SingleLine
from moha_contracts import CampaignOpened, Event

Tier = Literal["province", "district"]
ReviewLevel = Literal["district", "province", "central"]
# Shared with the requests campaigns are built from, so that a request that passes its checks
# always makes a valid campaign (never a validation error inside a handler, a 500).
FormCode = Annotated[str, Field(min_length=1, max_length=32)]
UnitId = Annotated[str, Field(min_length=1, max_length=64)]
DEFAULT_REVIEW: list[ReviewLevel] = ["district", "province"]


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    form_code: FormCode
    title: SingleLine = Field(min_length=1, max_length=300)  # e-mailed as a subject: one line
    scope_unit_ids: list[UnitId] = Field(
        min_length=1, max_length=1000, description="the units (with everything under them) that report"
    )
    opens_on: date
    closes_on: date
    # By where the unit sits: "province" for units directly under a province (provincial
    # departments, and communes where there is no district), "district" for units under a district.
    deadlines: dict[Tier, date] = Field(default_factory=dict)
    # Whose supervisors review, nearest first: by default the district, then the province confirms.
    review_levels: list[ReviewLevel] = Field(default_factory=lambda: list(DEFAULT_REVIEW), min_length=1, max_length=3)

    @model_validator(mode="after")
    def _dates_in_order(self) -> Campaign:
        if self.closes_on < self.opens_on:
            raise ValueError("ngày kết thúc phải sau ngày bắt đầu")
        if len(set(self.review_levels)) != len(self.review_levels):
            raise ValueError("mỗi cấp duyệt chỉ được nêu một lần")
        for tier, deadline in self.deadlines.items():
            if not self.opens_on <= deadline <= self.closes_on:
                raise ValueError(f"hạn của cấp '{tier}' phải nằm trong thời gian thu thập")
        return self

    def check_open_by(self, by: Principal, scope_lineages: list[list[str] | None]) -> None:
        """Central administrators open campaigns anywhere; province administrators in their province."""
        if by.role not in ("central_admin", "province_admin"):
            raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương hoặc cấp tỉnh mở đợt thu thập")
        if any(lineage is None or by.unit_id not in lineage for lineage in scope_lineages):
            raise Forbidden("Phạm vi đợt thu thập nằm ngoài phạm vi quản trị của bạn")

    def check_accepts(self, unit_lineage: list[str], form_code: str, today: date) -> None:
        if form_code != self.form_code:
            raise DomainError(f"Đợt thu thập này dùng mẫu phiếu '{self.form_code}'", code="wrong_form")
        if not any(root in unit_lineage for root in self.scope_unit_ids):
            raise Forbidden("Đơn vị không thuộc phạm vi của đợt thu thập này")
        if today < self.opens_on:
            raise Conflict(f"Đợt thu thập mở từ ngày {self.opens_on:%d/%m/%Y}", code="not_open_yet")
        if today > self.closes_on:
            raise Conflict(f"Đợt thu thập đã kết thúc ngày {self.closes_on:%d/%m/%Y}", code="closed")

    def deadline_for(self, tier: Tier) -> date:
        return self.deadlines.get(tier, self.closes_on)


def tier_of(levels_above: list[str]) -> Tier:
    """`levels_above`: the levels of the unit's ancestors."""
    return "district" if "district" in levels_above else "province"


def half_yearly(base_id: str, form_code: str, title: str, scope_unit_ids: list[str], year: int) -> list[Campaign]:
    """The two periodic reports of a year: the first half due 15/6, the second due 15/12."""
    return [
        Campaign(
            campaign_id=f"{base_id}-{year}-h1",
            form_code=form_code,
            title=f"{title} (6 tháng đầu năm {year})",
            scope_unit_ids=scope_unit_ids,
            opens_on=date(year, 1, 1),
            closes_on=date(year, 6, 15),
        ),
        Campaign(
            campaign_id=f"{base_id}-{year}-h2",
            form_code=form_code,
            title=f"{title} (6 tháng cuối năm {year})",
            scope_unit_ids=scope_unit_ids,
            opens_on=date(year, 7, 1),
            closes_on=date(year, 12, 15),
        ),
    ]


@dataclass
class OpenedCampaign:
    """A campaign as stored: the aggregate that raises CampaignOpened when it is opened. (The
    campaign itself is the API's frozen model; this is what carries its version and events.)"""

    campaign: Campaign
    version: int = 0
    events: list[Event] = field(default_factory=list)
    id: str = field(init=False)

    def __post_init__(self) -> None:
        self.id = self.campaign.campaign_id

    @classmethod
    def open(cls, campaign: Campaign, by: Principal, scope_lineages: list[list[str] | None]) -> OpenedCampaign:
        campaign.check_open_by(by, scope_lineages)
        opened = cls(campaign)
        opened.events.append(
            CampaignOpened(
                campaign_id=campaign.campaign_id,
                form_code=campaign.form_code,
                title=campaign.title,
                scope_unit_ids=campaign.scope_unit_ids,
                opens_on=campaign.opens_on,
                closes_on=campaign.closes_on,
                province_deadline=campaign.deadline_for("province"),
                district_deadline=campaign.deadline_for("district"),
                review_levels=campaign.review_levels,
            )
        )
        return opened
