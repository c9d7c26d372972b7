"""The demo region's organisations: a commission per prefecture, its assessment bodies and
institutions (named in ``data.py``), each with an account, believable addresses, telephones,
unified social credit codes and contact persons; about one institution in ten has yet to
complete its information."""

from __future__ import annotations

import random
from collections.abc import Sequence

from models.enums import OrgKind, Role
from models.geo_data import PREFECTURES
from models.org import Account, County, Organisation, Prefecture
from tools.demo import data as demo_data
from tools.demo.ids import account_ids, org_ids
from tools.demo.people import EMAIL_DOMAIN, ETHNIC_MEDICINE_SCOPES, DemoInstitution, People

# Share of the demo physicians per prefecture (Urumqi and Kashgar are the largest).
PREFECTURE_WEIGHTS: dict[str, float] = {
    "650100": 6.0, "650200": 0.8, "650400": 0.7, "650500": 0.8, "652300": 1.5,
    "652700": 0.6, "652800": 1.5, "652900": 2.0, "653000": 0.6, "653100": 4.5,
    "653200": 1.5, "654000": 2.5, "654200": 1.0, "654300": 0.8,
}  # fmt: skip

ROADS = ("人民路", "解放路", "团结路", "友好路", "迎宾路", "光明路", "文化路", "健康路",
         "建设路", "新华路", "胜利路", "幸福路")  # fmt: skip
CONTACT_TITLES = ("医务科科长", "医务部主任", "院办主任", "医务科干事", "质控科科长")
# Unified social credit code prefixes: 11 government body, 12 public institution, 51 society.
CREDIT_PREFIXES: dict[OrgKind, str] = {
    OrgKind.COMMISSION: "11",
    OrgKind.ASSESSOR: "51",
    OrgKind.INSTITUTION: "12",
    OrgKind.OFFICE: "11",
}
# Where a prefecture's seat is when it is not its first county-level division.
SEATS: dict[str, str] = {"650200": "650203"}
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class Organisations:
    """Inserts the organisations and their accounts (``build``), drawing from ``people``."""

    def __init__(self, people: People, password_hash: str) -> None:
        self.people = people
        self.password_hash = password_hash
        self.seats: dict[str, County] = {}  # prefecture code -> county of its seat

    async def build(self) -> list[DemoInstitution]:
        rng = self.people.rng
        prefectures = {p.code: p for p in await Prefecture.all()}
        counties = {c.code: c for c in await County.all()}
        self.seats = {
            p.code: counties[SEATS.get(p.code) or p.counties[0].code] for p in PREFECTURES
        }
        usernames: dict[tuple[OrgKind, str], str] = {}  # (kind, name) -> username

        # Commissions and assessment bodies first: institutions point at an assessor.
        upper: list[Organisation] = []
        for code, prefecture in prefectures.items():
            name = f"{prefecture.name}卫生健康委员会"
            username = f"wjw{code}"
            usernames[OrgKind.COMMISSION, name] = username
            upper.append(
                self.org(OrgKind.COMMISSION, name, prefecture, None, username, "医政医管科科长")
            )
            for index, name in enumerate(demo_data.ASSESSORS.get(code, ())):
                username = f"khjg{code}" + ("b" if index else "")
                usernames[OrgKind.ASSESSOR, name] = username
                upper.append(
                    self.org(OrgKind.ASSESSOR, name, prefecture, None, username, "考核办公室主任")
                )
        await Organisation.bulk_create(upper)
        upper_ids = await org_ids((OrgKind.COMMISSION, OrgKind.ASSESSOR))

        incomplete = self.incomplete_institutions()
        lower: list[Organisation] = []
        institutions: list[DemoInstitution] = []
        per_county: dict[str, int] = {}
        for code, entries in demo_data.INSTITUTIONS.items():
            prefecture = prefectures[code]
            assessors = [upper_ids[OrgKind.ASSESSOR, n] for n in demo_data.ASSESSORS[code]]
            # Summed weight of the prefecture's institutions, to share its weight among them.
            profiles = [_profile(name, prefecture.name) for _, name in entries]
            total = sum(w for _, _, w in profiles)
            for (county_code, name), (grade, org_type, weight) in zip(
                entries, profiles, strict=True
            ):
                county = counties[county_code]
                per_county[county_code] = per_county.get(county_code, 0) + 1
                username = f"jg{county_code}{per_county[county_code]:02d}"
                usernames[OrgKind.INSTITUTION, name] = username
                org = self.org(
                    OrgKind.INSTITUTION,
                    name,
                    prefecture,
                    county,
                    username,
                    rng.choice(CONTACT_TITLES),
                    complete=name not in incomplete,
                )
                org.grade, org.org_type = grade, org_type
                org.assessor_id = self.assessor_for(name, demo_data.ASSESSORS[code], assessors)
                lower.append(org)
                institutions.append(
                    DemoInstitution(
                        id=0,
                        name=name,
                        prefecture_code=code,
                        prefecture_id=prefecture.id,
                        county_code=county_code,
                        county_id=county.id,
                        org_type=org_type,
                        grade=grade,
                        weight=PREFECTURE_WEIGHTS.get(code, 1.0) * weight / total,
                        assessor_id=org.assessor_id,
                    )
                )
        await Organisation.bulk_create(lower)
        ids = {**upper_ids, **await org_ids((OrgKind.INSTITUTION,))}

        role_of = {
            OrgKind.COMMISSION: Role.COMMISSION,
            OrgKind.ASSESSOR: Role.ASSESSOR,
            OrgKind.INSTITUTION: Role.INSTITUTION,
        }
        await Account.bulk_create(
            Account(
                username=username,
                role=role_of[kind],
                password_hash=self.password_hash,
                organisation_id=ids[kind, name],
                display_name=name,
                email=f"contact@{username}.{EMAIL_DOMAIN}",
            )
            for (kind, name), username in usernames.items()
        )
        by_username = await account_ids(list(usernames.values()))
        for inst in institutions:
            inst.id = ids[OrgKind.INSTITUTION, inst.name]
            inst.account_id = by_username[usernames[OrgKind.INSTITUTION, inst.name]]
        return institutions

    def org(
        self,
        kind: OrgKind,
        name: str,
        prefecture: Prefecture,
        county: County | None,
        username: str,
        contact_title: str,
        complete: bool = True,
    ) -> Organisation:
        """An unsaved organisation; ``complete=False`` leaves part of its info for the user."""
        rng = self.people.rng
        place = county or self.seats[prefecture.code]
        org = Organisation(
            kind=kind,
            name=name,
            prefecture_id=prefecture.id,
            county_id=county.id if county else None,
            credit_code=_credit_code(CREDIT_PREFIXES[kind], place.code, rng),
            address=f"{prefecture.name}{place.name}{rng.choice(ROADS)}{rng.randint(1, 399)}号",
        )
        if not complete:
            # Half of them lack only the contact person, the other half everything else too.
            if rng.random() < 0.5:
                org.address = org.credit_code = ""
            else:
                org.phone = self.people.landline(prefecture.code)
            return org
        org.phone = self.people.landline(prefecture.code)
        org.contact_name = self.people.person_name(prefecture.code)[0]
        org.contact_title = contact_title
        org.contact_phone = self.people.mobile()
        org.contact_email = f"contact@{username}.{EMAIL_DOMAIN}"
        return org

    def incomplete_institutions(self) -> set[str]:
        """About 10% of the institutions, never the first (largest) one of a prefecture."""
        candidates = [
            name for entries in demo_data.INSTITUTIONS.values() for _, name in entries[1:]
        ]
        total = sum(len(entries) for entries in demo_data.INSTITUTIONS.values())
        return set(self.people.rng.sample(candidates, k=min(len(candidates), round(total * 0.1))))

    def assessor_for(self, name: str, names: Sequence[str], ids: Sequence[int]) -> int:
        """A hospital's own assessment committee assesses it, the medical society most others."""
        for assessor_name, assessor_id in zip(names, ids, strict=True):
            if assessor_name.startswith(name):
                return assessor_id
        if len(ids) > 1 and self.people.rng.random() < 0.3:
            return ids[1]
        return ids[0]


def _profile(name: str, prefecture_name: str) -> tuple[str, str, float]:
    """(grade, org_type, relative size) of an institution, guessed from its name."""
    if "卫生院" in name:
        return "一级甲等", "乡镇卫生院", 0.5
    if "社区卫生服务中心" in name:
        return "一级甲等", "社区卫生服务中心", 0.5
    top = name.startswith("新疆") or (
        name.startswith(prefecture_name)
        and not any(c in name[len(prefecture_name) :] for c in "区县")
    )
    if any(marker in name for marker in ETHNIC_MEDICINE_SCOPES):
        return ("三级甲等" if top else "二级甲等"), "民族医医院", 1.5 if top else 1.0
    if "中医医院" in name:
        return ("三级甲等" if top else "二级甲等"), "中医医院", 1.5 if top else 1.0
    if "妇幼保健院" in name:
        return ("三级甲等" if top else "二级甲等"), "妇幼保健院", 1.2
    if top:
        return "三级甲等", "综合医院", 4.0 if name.startswith("新疆") else 3.0
    return "二级甲等", "综合医院", 1.2


def _credit_code(prefix: str, region: str, rng: random.Random) -> str:
    """A unified social credit code (GB 32100) with a valid check character."""
    body = f"{prefix}{region}" + "".join(rng.choice(_CREDIT_CHARS[:10]) for _ in range(9))
    total = sum(_CREDIT_CHARS.index(ch) * w for ch, w in zip(body, _CREDIT_WEIGHTS, strict=True))
    return body + _CREDIT_CHARS[(31 - total % 31) % 31]
