"""What the demo holds, as ``xjdk seed-demo`` prints it: counts by registration state and
the demo log-ins (one account of each role, physicians in each state, the one enrolled to sit
the test), as a table for the terminal."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from models.enums import OrgKind, RegistrationStatus, Role, StagingReason
from models.exam import Paper, Question
from models.org import Account, Organisation
from models.physician import Physician
from models.training import Course
from tools.demo.exam import exam_physician
from tools.demo.people import STAGED

OFFICE_USERNAME = "office"
LOGIN_PREFECTURE = "650100"  # the prefecture whose organisations appear in the demo log-ins
STATUS_LABELS: dict[str, str] = {
    RegistrationStatus.APPROVED.value: "审核通过（在岗）",
    RegistrationStatus.PENDING.value: "待执业机构审核",
    RegistrationStatus.REJECTED.value: "审核未通过（暂存区）",
    STAGED: "已调入暂存区（死亡、退休、离职）",
    RegistrationStatus.DRAFT.value: "未提交",
}


@dataclass
class DemoLogin:
    role: str  # the Chinese role label
    username: str
    note: str


@dataclass
class SeedSummary:
    organisations: int
    physicians: int
    by_status: dict[str, int]  # keys: see STATUS_LABELS
    logins: list[DemoLogin]
    questions: int = 0
    courses: int = 0
    papers: int = 0


async def summarise() -> SeedSummary:
    """Counts and demo log-ins as they are in the database now."""
    approved = RegistrationStatus.APPROVED
    by_status = {
        approved.value: await Physician.filter(
            registration_status=approved, institution_id__isnull=False
        ).count(),
        RegistrationStatus.PENDING.value: await Physician.filter(
            registration_status=RegistrationStatus.PENDING
        ).count(),
        RegistrationStatus.REJECTED.value: await Physician.filter(
            registration_status=RegistrationStatus.REJECTED
        ).count(),
        STAGED: await Physician.filter(
            registration_status=approved, institution_id__isnull=True
        ).count(),
    }
    drafts = await Physician.filter(registration_status=RegistrationStatus.DRAFT).count()
    if drafts:
        by_status[RegistrationStatus.DRAFT.value] = drafts
    return SeedSummary(
        organisations=await Organisation.all().count(),
        physicians=await Physician.all().count(),
        by_status=by_status,
        logins=await _demo_logins(),
        questions=await Question.all().count(),
        courses=await Course.all().count(),
        papers=await Paper.all().count(),
    )


async def _demo_logins() -> list[DemoLogin]:
    logins: list[DemoLogin] = []
    office = await Account.get_or_none(username=OFFICE_USERNAME, role=Role.OFFICE)
    office = office or await Account.filter(role=Role.OFFICE).order_by("id").first()
    if office:
        logins.append(DemoLogin(Role.OFFICE.label, office.username, "全区管理、备案审核"))
    commission = await Account.get_or_none(username=f"wjw{LOGIN_PREFECTURE}")
    if commission:
        logins.append(
            DemoLogin(Role.COMMISSION.label, commission.username, commission.display_name)
        )

    institutions = await Organisation.filter(
        kind=OrgKind.INSTITUTION, prefecture__code=LOGIN_PREFECTURE
    ).order_by("id")
    complete = next((o for o in institutions if o.info_complete), None)
    incomplete = next((o for o in institutions if not o.info_complete), None)
    if complete and complete.assessor_id:
        assessor = await Account.filter(organisation_id=complete.assessor_id).order_by("id").first()
        if assessor:
            logins.append(DemoLogin(Role.ASSESSOR.label, assessor.username, assessor.display_name))
    for org, note in ((complete, "机构信息已完善"), (incomplete, "机构信息未完善，登录后提示补充")):
        if org is None:
            continue
        account = await Account.filter(organisation_id=org.id).order_by("id").first()
        if account:
            label = f"{org.name}（{note}）"
            logins.append(DemoLogin(Role.INSTITUTION.label, account.username, label))

    here = complete.id if complete else None
    wanted = (
        ({"registration_status": RegistrationStatus.APPROVED, "institution_id": here},
         {"registration_status": RegistrationStatus.APPROVED, "institution_id__isnull": False},
         "审核通过"),
        ({"registration_status": RegistrationStatus.PENDING, "institution_id": here},
         {"registration_status": RegistrationStatus.PENDING},
         "注册待执业机构审核"),
        ({"staging_reason": StagingReason.REJECTED, "previous_institution_id": here},
         {"staging_reason": StagingReason.REJECTED},
         "注册审核未通过，在暂存区"),
    )  # fmt: skip
    for preferred, fallback, state in wanted:
        physician = None
        if here is not None:
            physician = await Physician.filter(**preferred).order_by("id").first()
        physician = physician or await Physician.filter(**fallback).order_by("id").first()
        if physician is None:
            continue
        org_id = physician.institution_id or physician.previous_institution_id
        org_name = (await Organisation.get(id=org_id)).name if org_id else ""
        logins.append(
            DemoLogin(
                Role.PHYSICIAN.label,
                physician.id_number,
                f"{physician.name}，{org_name}，{state}",
            )
        )
    sitter = await exam_physician()
    if sitter is not None:
        org = await Organisation.get_or_none(id=sitter.institution_id or 0)
        note = "已报名一般程序，可参加业务水平测评（运行 xjdk demo-exam-now 立即开考）"
        logins.append(
            DemoLogin(
                Role.PHYSICIAN.label,
                sitter.id_number,
                f"{sitter.name}，{org.name if org else ''}，{note}",
            )
        )
    return logins


def format_logins(summary: SeedSummary, password: str) -> str:
    """The demo log-ins as a plain-text table for the terminal."""
    header = ("角色", "登录账号", "密码", "说明")
    rows = [header] + [(x.role, x.username, password, x.note) for x in summary.logins]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(header) - 1)]

    def line(row: Sequence[str]) -> str:
        cells = [_pad(cell, width) for cell, width in zip(row, widths, strict=False)]
        return "  ".join([*cells, row[-1]]).rstrip()

    rule = "-" * (sum(widths) + 2 * len(widths) + max(_width(row[-1]) for row in rows))
    return "\n".join(["演示账号：", line(header), rule, *(line(row) for row in rows[1:])])


def _width(text: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
