"""Each role's menu, named as in the user guide. ``soon`` entries show a "coming soon" page
until the issue that builds them lands (routes are claimed in asgi.create_app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.enums import Role


@dataclass(frozen=True)
class Entry:
    label: str
    url: str
    soon: bool = True


@dataclass(frozen=True)
class Section:
    label: str
    entries: tuple[Entry, ...] = field(default_factory=tuple)


def _account(prefix: str) -> Section:
    return Section(
        "账户管理",
        (
            Entry("机构信息", f"/{prefix}/account/info", soon=False),
            Entry("联系人信息", f"/{prefix}/account/contact", soon=False),
            Entry("修改密码", "/account/password", soon=False),
        ),
    )


MENUS: dict[Role, tuple[Section, ...]] = {
    Role.PHYSICIAN: (
        Section(
            "医师考核",
            (
                Entry("温馨提示", "/", soon=False),
                Entry("个人资料", "/physician/profile", soon=False),
                Entry("考试报名", "/physician/enrollment", soon=False),
                Entry("培训管理", "/physician/training", soon=False),
                Entry("考前练习", "/physician/practice", soon=False),
                Entry("业务水平测评", "/examhall/", soon=False),
                Entry("申请学分", "/physician/credits", soon=False),
                Entry("考核结果", "/physician/result", soon=False),
            ),
        ),
        Section(
            "帮助",
            (
                Entry("操作说明", "/physician/help", soon=False),
                Entry("修改密码", "/account/password", soon=False),
            ),
        ),
    ),
    Role.INSTITUTION: (
        _account("institution"),
        Section("注册管理", (Entry("注册审核", "/institution/registrations", soon=False),)),
        Section(
            "人员机构管理",
            (
                Entry("人员调出申请", "/institution/transfers/out", soon=False),
                Entry("人员调入审核", "/institution/transfers/in", soon=False),
            ),
        ),
        Section("报名管理", (Entry("报名资格审核", "/institution/enrollments", soon=False),)),
        Section(
            "医师管理",
            (
                Entry("医师考核", "/institution/evaluations", soon=False),
                Entry("考核信息查看", "/physicians", soon=False),
            ),
        ),
    ),
    Role.ASSESSOR: (
        _account("assessor"),
        Section("报名管理", (Entry("报名资格审核", "/assessor/enrollments", soon=False),)),
        Section(
            "医师管理",
            (
                Entry("医师考核", "/assessor/evaluations", soon=False),
                Entry("考核信息查看", "/physicians", soon=False),
            ),
        ),
        Section(
            "在线监考",
            (
                Entry("在线监考", "/proctor/", soon=False),
                Entry("异常复核", "/proctor/reviews", soon=False),
            ),
        ),
    ),
    Role.COMMISSION: (
        _account("commission"),
        Section(
            "执业机构管理",
            (
                Entry("执业机构列表", "/commission/institutions", soon=False),
                Entry("添加执业机构申请", "/commission/institutions/add", soon=False),
                Entry("删除执业机构申请", "/commission/institutions/delete", soon=False),
            ),
        ),
        Section(
            "特殊人员处理",
            (
                Entry("调入暂存区申请", "/commission/staging/in", soon=False),
                Entry("调出暂存区申请", "/commission/staging/out", soon=False),
            ),
        ),
        Section(
            "医师管理",
            (
                Entry("考核信息查看", "/physicians", soon=False),
                Entry("统计分析", "/commission/statistics", soon=False),
                Entry("机构账号管理", "/commission/accounts", soon=False),
            ),
        ),
        Section(
            "在线监考",
            (
                Entry("在线监考", "/proctor/", soon=False),
                Entry("异常复核", "/proctor/reviews", soon=False),
            ),
        ),
    ),
    Role.OFFICE: (
        Section(
            "备案审核",
            (
                Entry("执业机构备案", "/office/filings/institutions", soon=False),
                Entry("暂存区备案", "/office/filings/staging", soon=False),
            ),
        ),
        Section(
            "考核管理",
            (
                Entry("考核周期管理", "/office/periods", soon=False),
                Entry("考核结果", "/office/results", soon=False),
                Entry("统计分析", "/office/statistics", soon=False),
                Entry("考核信息查看", "/physicians", soon=False),
            ),
        ),
        Section(
            "培训与题库",
            (
                Entry("课程管理", "/office/courses", soon=False),
                Entry("题库管理", "/office/questions", soon=False),
            ),
        ),
        Section(
            "系统管理",
            (
                Entry("在线监考", "/proctor/", soon=False),
                Entry("异常复核", "/proctor/reviews", soon=False),
                Entry("账号管理", "/office/accounts", soon=False),
                Entry("操作日志", "/office/audit", soon=False),
                Entry("修改密码", "/account/password", soon=False),
            ),
        ),
    ),
}


def soon_entries() -> dict[str, tuple[Role, Entry]]:
    """Every menu URL not built yet, with the role it belongs to."""
    found: dict[str, tuple[Role, Entry]] = {}
    for role, sections in MENUS.items():
        for section in sections:
            for entry in section.entries:
                if entry.soon:
                    found[entry.url] = (role, entry)
    return found
