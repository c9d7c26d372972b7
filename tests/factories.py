"""One-line factories for organisations, accounts and physicians (real rows, real hashes)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from argon2 import PasswordHasher

from core.idcard import make_id_number
from models.enums import EnrollmentStatus, OrgKind, Phase, Procedure, RegistrationStatus, Role
from models.org import Account, County, Organisation, Prefecture
from models.period import Enrollment, Period, PhaseWindow
from models.physician import Physician

# 考核周期管理's forms as the office fills them in (windows in Beijing time, as the
# datetime-local inputs send them).
PERIOD_PARAMETERS = {
    "name": "2026年度医师定期考核",
    "question_count": "100",
    "duration_minutes": "60",
    "pass_mark": "60",
    "waiting_room_minutes": "30",
    "face_retries": "3",
    "required_hours": "36",
    "credit_points": "6",
    "min_professional_required": "12",
    "min_public_required": "6",
    "min_public_elective": "0",
}
PERIOD_WINDOWS = {
    "registration_start": "2026-03-01T09:00",
    "registration_end": "2026-04-30T18:00",
    "simplified_review_start": "2026-03-05T09:00",
    "simplified_review_end": "2026-05-10T18:00",
    "training_start": "2026-03-01T09:00",
    "training_end": "2026-05-31T23:59",
    "test_start": "2026-06-01T09:00",
    "test_end": "2026-06-07T18:00",
    "evaluation_start": "2026-03-10T09:00",  # institutions rate during the period
    "evaluation_end": "2026-07-15T18:00",
    "results_start": "2026-07-20T09:00",
    "results_end": "2026-12-31T23:59",
}

_seq = itertools.count(1)
_hash_cache: dict[str, str] = {}


def password_hash(password: str) -> str:
    if password not in _hash_cache:
        _hash_cache[password] = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(
            password
        )
    return _hash_cache[password]


async def prefecture(code: str = "650100") -> Prefecture:
    return await Prefecture.get(code=code)


async def county(prefecture_code: str = "650100") -> County:
    found = await County.filter(prefecture__code=prefecture_code).order_by("code").first()
    assert found is not None
    return found


async def organisation(
    kind: OrgKind,
    prefecture_code: str = "650100",
    assessor: Organisation | None = None,
    **kw: object,
) -> Organisation:
    n = next(_seq)
    pref = await prefecture(prefecture_code) if kind != OrgKind.OFFICE else None
    place = await county(prefecture_code) if kind == OrgKind.INSTITUTION else None
    complete = {
        "address": f"测试路{n}号",
        "phone": "0991-1234567",
        "contact_name": "联系人",
        "contact_phone": "13900000000",
        "contact_email": f"org{n}@example.com",
    }
    return await Organisation.create(
        kind=kind,
        name=kw.pop("name", f"测试{kind.label}{n}"),
        prefecture=pref,
        county=place,
        assessor=assessor,
        **{**complete, **kw},
    )


async def account(
    role: Role,
    organisation: Organisation | None = None,
    password: str = "Passw0rd2026",
    **kw: object,
) -> Account:
    n = next(_seq)
    return await Account.create(
        username=kw.pop("username", f"{role.value}{n}"),
        role=role,
        organisation=organisation,
        password_hash=password_hash(password),
        display_name=kw.pop("display_name", organisation.name if organisation else "测试"),
        email=kw.pop("email", f"user{n}@example.com"),
        **kw,
    )


async def org_with_account(
    kind: OrgKind, prefecture_code: str = "650100", **kw: object
) -> tuple[Organisation, Account]:
    org = await organisation(kind, prefecture_code, **kw)
    return org, await account(Role(kind.value), org)


async def physician(
    institution: Organisation | None,
    status: RegistrationStatus = RegistrationStatus.APPROVED,
    password: str = "Passw0rd2026",
    name: str | None = None,
    **kw: object,
) -> Physician:
    n = next(_seq)
    region = "653121"
    number = make_id_number(region, date(1980, 1, 1 + n % 28), (n * 2 + 1) % 1000)
    acct = await account(Role.PHYSICIAN, None, password, username=number, **kw)
    if institution is not None and institution.county_id is not None:
        place = await County.get(id=institution.county_id)
    else:
        place = await county()
    return await Physician.create(
        account=acct,
        name=name or f"测试医师{n}",
        id_number=number,
        sex="male",
        birth_date=date(1980, 1, 1 + n % 28),
        prefecture_id=place.prefecture_id,
        county=place,
        institution=institution,
        practice_category="临床",
        practice_scope="内科专业",
        title="主治医师",
        licence_number=f"11065{n:010d}",
        email=acct.email,
        mobile="13800000000",
        registration_status=status,
    )


async def one_account_per_role() -> dict[Role, str]:
    """A log-in of every role: the organisations' user names and a physician's ID number."""
    usernames = {}
    for kind in (OrgKind.INSTITUTION, OrgKind.ASSESSOR, OrgKind.COMMISSION, OrgKind.OFFICE):
        _, acct = await org_with_account(kind)
        usernames[Role(kind.value)] = acct.username
    usernames[Role.PHYSICIAN] = (await physician(await organisation(OrgKind.INSTITUTION))).id_number
    return usernames


async def period(registration_open: bool = True) -> Period:
    """The current period, its registration window open (or closed) now."""
    now = datetime.now(UTC)
    await Period.filter(is_current=True).update(is_current=False)
    current = await Period.create(name=f"测试考核周期{next(_seq)}", is_current=True)
    start = now - timedelta(days=10) if registration_open else now + timedelta(days=5)
    for n, phase in enumerate(Phase):
        begins = start + timedelta(days=n * 20)
        await PhaseWindow.create(
            period=current, phase=phase, starts_at=begins, ends_at=begins + timedelta(days=30)
        )
    return current


async def enrollment(
    period: Period,
    physician: Physician,
    procedure: Procedure = Procedure.GENERAL,
    status: EnrollmentStatus = EnrollmentStatus.SUBMITTED,
) -> Enrollment:
    assert physician.institution_id is not None
    return await Enrollment.create(
        period=period,
        physician=physician,
        institution_id=physician.institution_id,
        procedure=procedure,
        status=status,
    )


async def open_window(period: Period, phase: Phase) -> None:
    """Open ``phase`` of ``period`` now (the other windows stay as they are)."""
    now = datetime.now(UTC)
    await PhaseWindow.filter(period=period, phase=phase).update(
        starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1)
    )
    await period.fetch_related("windows")
