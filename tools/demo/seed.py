"""The demo region: ``seed_demo`` fills an empty database with the 14 prefectures'
commissions, assessment bodies, institutions and a few hundred fictional physicians, a current
and a past assessment period, the demo question bank and courses (``content/``) and the
current period's papers. It is deterministic (fixed random seed) and idempotent: once a
commission exists it only reports what is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from tortoise.transactions import in_transaction

from core.bootstrap import OFFICE_NAME, load_geography, office_organisation
from models.enums import OrgKind, Procedure, Role
from models.exam import Question
from models.org import Account, Organisation
from models.period import Enrollment, Period
from tools.demo import periods as demo_periods
from tools.demo import photos as demo_photos
from tools.demo.logins import OFFICE_USERNAME, SeedSummary, summarise
from tools.demo.organisations import Organisations
from tools.demo.people import EMAIL_DOMAIN, TZ, People, insert_physicians
from tools.demo.photos import DemoPhoto


async def seed_demo(
    password_hash: str,
    today: date | None = None,
    physicians: int = 320,
    photos: Sequence[DemoPhoto] = (),
) -> SeedSummary:
    """Load the demo region (see the module docstring); every account gets ``password_hash``
    and every physician one of ``photos`` (tools.demo.photos.prepare) as registration photo."""
    if await Organisation.exists(kind=OrgKind.COMMISSION):
        return await summarise()
    today = today or datetime.now(TZ).date()
    async with in_transaction():
        await load_geography()
        await build(password_hash, today, physicians)
    await load_content()
    enrolled = await Enrollment.filter(procedure=Procedure.GENERAL).values("physician_id")
    # The enrolled ones first: the exam's demo physician gets the first photo.
    await demo_photos.assign(photos, first=[int(r["physician_id"]) for r in enrolled])
    return await summarise()


async def load_content() -> None:
    """The demo question bank and course catalogue (written by the team, in
    tools/demo/content), and the current period's papers drawn from that bank."""
    from rules.papers import generate_for_period
    from tools.demo.catalogue import DEMO_COURSES, load_demo_courses, load_demo_questions

    await load_demo_questions()
    if DEMO_COURSES.exists():
        await load_demo_courses()
    current = await Period.filter(is_current=True).first()
    if current is not None and await Question.exists():
        await generate_for_period(current)


async def build(password_hash: str, today: date, physician_count: int) -> None:
    """The organisations, physicians, periods, enrollments and evaluations, in this order
    (every draw from the one seeded generator comes in the same order on every run)."""
    people = People(today)
    await office_account(password_hash)
    institutions = await Organisations(people, password_hash).build()
    await insert_physicians(people, password_hash, institutions, physician_count)
    current = await demo_periods.periods(people)
    await demo_periods.enrollments(people, current, institutions)
    await demo_periods.evaluations(people, current, institutions)


async def office_account(password_hash: str) -> None:
    office = await office_organisation()
    if not await Account.exists(username=OFFICE_USERNAME):
        await Account.create(
            username=OFFICE_USERNAME,
            role=Role.OFFICE,
            password_hash=password_hash,
            organisation=office,
            display_name=OFFICE_NAME,
            email=f"{OFFICE_USERNAME}@{EMAIL_DOMAIN}",
        )
