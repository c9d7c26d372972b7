"""Each role's menu, named as in the user guide; every entry is a page of the app
(tests/portal/test_pages.py opens each one as its role)."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.enums import Role


@dataclass(frozen=True)
class Entry:
    label: str
    url: str


@dataclass(frozen=True)
class Section:
    label: str
    entries: tuple[Entry, ...] = field(default_factory=tuple)


def _account(prefix: str) -> Section:
    return Section(
        "账户管理",
        (
            Entry("机构信息", f"/{prefix}/account/info"),
            Entry("联系人信息", f"/{prefix}/account/contact"),
            Entry("修改密码", "/account/password"),
        ),
    )


MENUS: dict[Role, tuple[Section, ...]] = {
    Role.PHYSICIAN: (
        Section(
            "医师考核",
            (
                Entry("温馨提示", "/"),
                Entry("个人资料", "/physician/profile"),
                Entry("考试报名", "/physician/enrollment"),
                Entry("培训管理", "/physician/training"),
                Entry("考前练习", "/physician/practice"),
                Entry("业务水平测评", "/examhall/"),
                Entry("申请学分", "/physician/credits"),
                Entry("考核结果", "/physician/result"),
            ),
        ),
        Section(
            "帮助",
            (
                Entry("操作说明", "/physician/help"),
                Entry("修改密码", "/account/password"),
            ),
        ),
    ),
    Role.INSTITUTION: (
        _account("institution"),
        Section("注册管理", (Entry("注册审核", "/institution/registrations"),)),
        Section(
            "人员机构管理",
            (
                Entry("人员调出申请", "/institution/transfers/out"),
                Entry("人员调入审核", "/institution/transfers/in"),
            ),
        ),
        Section("报名管理", (Entry("报名资格审核", "/institution/enrollments"),)),
        Section(
            "医师管理",
            (
                Entry("医师考核", "/institution/evaluations"),
                Entry("考核信息查看", "/physicians"),
            ),
        ),
    ),
    Role.ASSESSOR: (
        _account("assessor"),
        Section("报名管理", (Entry("报名资格审核", "/assessor/enrollments"),)),
        Section(
            "医师管理",
            (
                Entry("医师考核", "/assessor/evaluations"),
                Entry("考核信息查看", "/physicians"),
            ),
        ),
        Section(
            "在线监考",
            (
                Entry("在线监考", "/proctor/"),
                Entry("异常复核", "/proctor/reviews"),
            ),
        ),
    ),
    Role.COMMISSION: (
        _account("commission"),
        Section(
            "执业机构管理",
            (
                Entry("执业机构列表", "/commission/institutions"),
                Entry("添加执业机构申请", "/commission/institutions/add"),
                Entry("删除执业机构申请", "/commission/institutions/delete"),
            ),
        ),
        Section(
            "特殊人员处理",
            (
                Entry("调入暂存区申请", "/commission/staging/in"),
                Entry("调出暂存区申请", "/commission/staging/out"),
            ),
        ),
        Section(
            "医师管理",
            (
                Entry("考核信息查看", "/physicians"),
                Entry("统计分析", "/commission/statistics"),
                Entry("机构账号管理", "/commission/accounts"),
            ),
        ),
        Section(
            "在线监考",
            (
                Entry("在线监考", "/proctor/"),
                Entry("异常复核", "/proctor/reviews"),
            ),
        ),
    ),
    Role.OFFICE: (
        Section(
            "备案审核",
            (
                Entry("执业机构备案", "/office/filings/institutions"),
                Entry("暂存区备案", "/office/filings/staging"),
            ),
        ),
        Section(
            "考核管理",
            (
                Entry("考核周期管理", "/office/periods"),
                Entry("考核结果", "/office/results"),
                Entry("统计分析", "/office/statistics"),
                Entry("考核信息查看", "/physicians"),
            ),
        ),
        Section(
            "培训与题库",
            (
                Entry("课程管理", "/office/courses"),
                Entry("题库管理", "/office/questions"),
            ),
        ),
        Section(
            "系统管理",
            (
                Entry("在线监考", "/proctor/"),
                Entry("异常复核", "/proctor/reviews"),
                Entry("账号管理", "/office/accounts"),
                Entry("操作日志", "/office/audit"),
                Entry("修改密码", "/account/password"),
            ),
        ),
    ),
}
