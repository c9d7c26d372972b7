"""The demo seed: geography, the office account and the demo region, on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from core.bootstrap import create_office_account, load_geography
from core.db import database
from core.errors import DomainError
from core.idcard import parse_id_number
from models.enums import (
    EnrollmentStatus,
    EvaluationStatus,
    OrgKind,
    Phase,
    Procedure,
    Rating,
    RegistrationStatus,
    Role,
    StagingReason,
)
from models.exam import Paper, Question
from models.geo_data import PREFECTURES
from models.org import Account, County, Organisation, Prefecture
from models.period import Enrollment, Evaluation, Period, PhaseWindow
from models.physician import Physician
from tools.demo.logins import SeedSummary, format_logins
from tools.demo.people import STAGED
from tools.demo.seed import seed_demo

PASSWORD_HASH = "x"

pytestmark = pytest.mark.usefixtures("seeded")


@dataclass
class Seeded:
    geography_inserted: int
    summary: SeedSummary


@pytest_asyncio.fixture(scope="module")
async def seeded(db_url: str) -> AsyncIterator[Seeded]:
    async with database(db_url):
        inserted = await load_geography()
        summary = await seed_demo(PASSWORD_HASH)
        yield Seeded(inserted, summary)


async def test_geography_loaded_once(seeded: Seeded) -> None:
    counties = sum(len(p.counties) for p in PREFECTURES)
    assert seeded.geography_inserted == 14 + counties
    assert await Prefecture.all().count() == 14
    assert await County.all().count() == counties
    assert [p.code for p in await Prefecture.all()] == [p.code for p in PREFECTURES]
    assert await load_geography() == 0


async def test_demo_region_shape(seeded: Seeded) -> None:
    summary = seeded.summary
    assert summary.physicians >= 300
    assert summary.physicians == await Physician.all().count()
    assert summary.organisations == await Organisation.all().count()
    assert await Organisation.filter(kind=OrgKind.COMMISSION).count() == 14
    assert await Organisation.filter(kind=OrgKind.INSTITUTION).count() >= 60
    assert await Organisation.filter(kind=OrgKind.OFFICE).count() == 1
    for status in ("pending", "approved", "rejected", STAGED):
        assert summary.by_status[status] > 0, status
    assert sum(summary.by_status.values()) == summary.physicians


async def test_statuses_are_consistent() -> None:
    for status in (RegistrationStatus.PENDING, RegistrationStatus.APPROVED):
        assert await Physician.filter(registration_status=status).exists()
    rejected = await Physician.filter(registration_status=RegistrationStatus.REJECTED)
    assert rejected
    for p in rejected:
        assert p.institution_id is None
        assert p.staging_reason == StagingReason.REJECTED
        assert p.previous_institution_id is not None
        assert p.rejection_reason
    staged = await Physician.filter(
        registration_status=RegistrationStatus.APPROVED, institution_id__isnull=True
    )
    assert staged
    for p in staged:
        assert p.staging_reason in (StagingReason.DEATH, StagingReason.RETIRED, StagingReason.LEFT)
        assert p.previous_institution_id is not None
    pending = await Physician.filter(registration_status=RegistrationStatus.PENDING)
    assert all(p.institution_id and p.submitted_at and not p.reviewed_at for p in pending)


async def test_physicians_are_plausible() -> None:
    physicians = await Physician.all()
    accounts = {a.id: a for a in await Account.filter(role=Role.PHYSICIAN)}
    assert len(accounts) == len(physicians)
    for p in physicians:
        parsed = parse_id_number(p.id_number)
        assert parsed.sex == p.sex, p.name
        assert parsed.birth_date == p.birth_date
        assert p.id_number.startswith("65")
        assert 1960 <= p.birth_date.year <= 1998
        assert len(p.licence_number) == 15 and p.licence_number.isdigit()
        assert len(p.mobile) == 11 and p.mobile[:2] in ("13", "15", "18", "19")
        account = accounts[p.account_id]
        assert account.username == p.id_number
        assert account.email == p.email
        assert account.display_name == p.name
    assert any("·" in p.name for p in physicians)
    assert {p.ethnicity for p in physicians} >= {"汉族", "维吾尔族", "哈萨克族"}


async def test_every_account_shares_the_hash() -> None:
    hashes = set(await Account.all().values_list("password_hash", flat=True))
    assert hashes == {PASSWORD_HASH}
    assert await Account.exists(username="office", role=Role.OFFICE)
    assert await Account.exists(username="wjw653100", role=Role.COMMISSION)
    assert await Account.exists(username="khjg650100", role=Role.ASSESSOR)


async def test_some_institutions_lack_info() -> None:
    institutions = await Organisation.filter(kind=OrgKind.INSTITUTION)
    incomplete = [o for o in institutions if not o.info_complete]
    assert 0 < len(incomplete) < len(institutions) * 0.2
    assert all(o.assessor_id and o.county_id and o.prefecture_id for o in institutions)


async def test_periods_and_windows() -> None:
    current = await Period.get(is_current=True)
    windows = {w.phase: w for w in await PhaseWindow.filter(period=current)}
    assert set(windows) == set(Phase)
    now = datetime.now(UTC)
    assert windows[Phase.REGISTRATION].is_open(now)
    assert windows[Phase.TRAINING].is_open(now)
    assert windows[Phase.TEST].starts_at > now
    assert windows[Phase.EVALUATION].is_open(now)  # institutions rate during the period
    assert windows[Phase.EVALUATION].ends_at >= windows[Phase.TEST].ends_at
    assert windows[Phase.RESULTS].starts_at >= windows[Phase.EVALUATION].ends_at

    past = await Period.get(is_current=False)
    assert past.results_published_at is not None
    past_windows = await PhaseWindow.filter(period=past)
    assert len(past_windows) == len(Phase)
    assert all(w.ends_at < now for w in past_windows)

    enrollments = await Enrollment.filter(period=current).prefetch_related("physician")
    assert 0 < len(enrollments) <= 20
    for e in enrollments:
        assert e.physician.registration_status == RegistrationStatus.APPROVED
        assert e.institution_id == e.physician.institution_id


async def test_evaluations_of_standing_enrollments() -> None:
    evaluations = await Evaluation.all()
    assert {e.status for e in evaluations} == {
        EvaluationStatus.INSTITUTION_RATED,
        EvaluationStatus.ASSESSOR_CONFIRMED,
    }
    vetoed = [e for e in evaluations if e.ethics_vetoes]
    assert len(vetoed) == 1 and vetoed[0].ethics == Rating.FAIL
    for e in evaluations:
        enrollment = await Enrollment.get(physician_id=e.physician_id, is_active=True)
        assert enrollment.status not in (
            EnrollmentStatus.INSTITUTION_REJECTED,
            EnrollmentStatus.ASSESSOR_REJECTED,
        )


async def test_content_and_papers(seeded: Seeded) -> None:
    assert await Question.all().count() >= 100
    current = await Period.get(is_current=True)
    general = await Enrollment.filter(
        period=current,
        is_active=True,
        procedure=Procedure.GENERAL,
        status=EnrollmentStatus.SUBMITTED,
    ).count()
    assert general > 0
    assert await Paper.filter(period=current).count() == general


async def test_logins_exist(seeded: Seeded) -> None:
    roles = [login.role for login in seeded.summary.logins]
    assert roles.count(Role.PHYSICIAN.label) == 3
    for label in (Role.OFFICE, Role.COMMISSION, Role.ASSESSOR, Role.INSTITUTION):
        assert label.label in roles
    for login in seeded.summary.logins:
        assert await Account.exists(username=login.username), login
    assert "wjw650100" in [login.username for login in seeded.summary.logins]
    table = format_logins(seeded.summary, "Demo2026")
    assert "Demo2026" in table
    assert all(login.username in table for login in seeded.summary.logins)


async def test_seed_is_idempotent(seeded: Seeded) -> None:
    again = await seed_demo("another-hash")
    assert again == seeded.summary
    assert not await Account.filter(password_hash="another-hash").exists()


async def test_office_accounts() -> None:
    with pytest.raises(DomainError, match="账号已存在"):
        await create_office_account("office", PASSWORD_HASH)
    account = await create_office_account("office2", PASSWORD_HASH, "办公室张三")
    assert account.role == Role.OFFICE
    assert account.display_name == "办公室张三"
    office = await Organisation.get(kind=OrgKind.OFFICE)
    assert account.organisation_id == office.id
