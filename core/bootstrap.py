"""What a new database needs before anyone logs in: the region's prefectures and counties
(reference data, inserted by every ``xjdk migrate``; safe to run again) and the regional
office with its accounts (``xjdk create-office-account``)."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from core.errors import DomainError
from models.enums import OrgKind, PrefectureKind, Role
from models.geo_data import PREFECTURES
from models.org import Account, County, Organisation, Prefecture

OFFICE_NAME = "自治区医师定期考核办公室"


async def load_geography() -> int:
    """Insert the missing prefectures and counties; returns how many rows were inserted."""
    have = set(await Prefecture.all().values_list("code", flat=True))
    new_prefectures = [
        Prefecture(
            code=p.code,
            name=p.name,
            short_name=p.short_name,
            kind=PrefectureKind(p.kind),
            sort=sort,
        )
        for sort, p in enumerate(PREFECTURES, start=1)
        if p.code not in have
    ]
    if new_prefectures:
        await Prefecture.bulk_create(new_prefectures)
    prefecture_ids = dict(await Prefecture.all().values_list("code", "id"))
    have = set(await County.all().values_list("code", flat=True))
    new_counties = [
        County(code=c.code, name=c.name, prefecture_id=prefecture_ids[p.code])
        for p in PREFECTURES
        for c in p.counties
        if c.code not in have
    ]
    if new_counties:
        await County.bulk_create(new_counties)
    return len(new_prefectures) + len(new_counties)


async def office_organisation() -> Organisation:
    office = await Organisation.filter(kind=OrgKind.OFFICE).order_by("id").first()
    if office is None:
        office = await Organisation.create(kind=OrgKind.OFFICE, name=OFFICE_NAME)
    return office


async def create_office_account(
    username: str, password_hash: str, display_name: str = OFFICE_NAME
) -> Account:
    """A log-in of the regional office; the office organisation itself is created once."""
    if await Account.exists(username=username):
        raise DomainError("账号已存在", field="username")
    office = await office_organisation()
    try:
        return await Account.create(
            username=username,
            role=Role.OFFICE,
            password_hash=password_hash,
            organisation=office,
            display_name=display_name,
        )
    except IntegrityError:  # created concurrently
        raise DomainError("账号已存在", field="username") from None
