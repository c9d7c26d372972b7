"""Reference data and the demo region: geography, the office account and a believable demo.

``load_geography`` is safe to run on every start-up. ``seed_demo`` fills an empty database
with the 14 prefectures' commissions, assessment bodies, institutions and a few hundred
fictional physicians, plus a current and a past assessment period. It is deterministic
(fixed random seed) and idempotent: once a commission exists it only reports what is there.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core import demo_data, demo_photos
from core.demo_exam import exam_physician
from core.demo_photos import DemoPhoto
from core.errors import DomainError
from core.idcard import make_id_number
from models.enums import (
    EnrollmentStatus,
    EvaluationStatus,
    OrgKind,
    Phase,
    PrefectureKind,
    Procedure,
    Rating,
    RegistrationStatus,
    Role,
    Sex,
    StagingReason,
)
from models.exam import Paper, Question
from models.geo_data import PREFECTURES
from models.org import Account, County, Organisation, Prefecture
from models.period import Enrollment, Evaluation, Period, PhaseWindow
from models.physician import Physician
from models.training import Course

T = TypeVar("T")

OFFICE_NAME = "自治区医师定期考核办公室"
OFFICE_USERNAME = "office"
DEMO_SEED = 20261126
TZ = ZoneInfo("Asia/Shanghai")
LOGIN_PREFECTURE = "650100"  # the prefecture whose organisations appear in the demo log-ins
EMAIL_DOMAIN = "xjdk.example"
BIRTH_FIRST, BIRTH_LAST = date(1960, 1, 1), date(1998, 12, 31)
_IN_CHUNK = 500  # keeps ``IN (...)`` lists well below SQLite's variable limit

# Keys of SeedSummary.by_status: the RegistrationStatus values, except that approved
# physicians moved to the staging area (death, retirement, leaving) count as "staged".
STAGED = "staged"
STATUS_LABELS: dict[str, str] = {
    RegistrationStatus.APPROVED.value: "审核通过（在岗）",
    RegistrationStatus.PENDING.value: "待执业机构审核",
    RegistrationStatus.REJECTED.value: "审核未通过（暂存区）",
    STAGED: "已调入暂存区（死亡、退休、离职）",
    RegistrationStatus.DRAFT.value: "未提交",
}

# (practice category, practice scope) with a weight, for a general hospital.
GENERAL_SCOPES: tuple[tuple[tuple[str, str], int], ...] = (
    (("临床", "内科专业"), 24),
    (("临床", "外科专业"), 18),
    (("临床", "妇产科专业"), 10),
    (("临床", "儿科专业"), 8),
    (("临床", "全科医学专业"), 6),
    (("临床", "医学影像和放射治疗专业"), 8),
    (("临床", "眼耳鼻咽喉科专业"), 4),
    (("临床", "急救医学专业"), 4),
    (("口腔", "口腔专业"), 5),
    (("公共卫生", "公共卫生类别专业"), 3),
    (("中医", "中医专业"), 5),
    (("中医", "中西医结合专业"), 3),
    (("中医", "维医专业"), 2),
)
# Scopes that dominate at a specialised institution (by org_type), with the chance of one.
SPECIAL_SCOPES: dict[str, tuple[float, tuple[tuple[tuple[str, str], int], ...]]] = {
    "中医医院": (0.8, ((("中医", "中医专业"), 7), (("中医", "中西医结合专业"), 3))),
    "妇幼保健院": (0.85, ((("临床", "妇产科专业"), 6), (("临床", "儿科专业"), 4))),
    "乡镇卫生院": (
        0.8,
        (
            (("临床", "全科医学专业"), 6),
            (("公共卫生", "公共卫生类别专业"), 2),
            (("中医", "中医专业"), 1),
            (("临床", "内科专业"), 2),
        ),
    ),
    "社区卫生服务中心": (
        0.8,
        (
            (("临床", "全科医学专业"), 7),
            (("公共卫生", "公共卫生类别专业"), 2),
            (("口腔", "口腔专业"), 1),
        ),
    ),
}
ETHNIC_MEDICINE_SCOPES: dict[str, tuple[str, str]] = {
    "维吾尔医": ("中医", "维医专业"),
    "哈萨克医": ("中医", "哈萨克医专业"),
    "蒙医": ("中医", "蒙医专业"),
}

# Who practises where: (ethnicity, weight) per prefecture, for physicians and contacts.
ETHNIC_MIX: dict[str, tuple[tuple[str, int], ...]] = {
    "650100": (("汉族", 60), ("维吾尔族", 20), ("回族", 8), ("哈萨克族", 7), ("蒙古族", 2),
               ("锡伯族", 1), ("满族", 1), ("柯尔克孜族", 1)),
    "650200": (("汉族", 75), ("维吾尔族", 10), ("哈萨克族", 8), ("回族", 4), ("蒙古族", 3)),
    "650400": (("维吾尔族", 60), ("汉族", 30), ("回族", 10)),
    "650500": (("汉族", 60), ("维吾尔族", 25), ("哈萨克族", 10), ("回族", 5)),
    "652300": (("汉族", 70), ("回族", 12), ("哈萨克族", 12), ("维吾尔族", 6)),
    "652700": (("汉族", 55), ("蒙古族", 15), ("维吾尔族", 13), ("哈萨克族", 12), ("回族", 5)),
    "652800": (("汉族", 55), ("维吾尔族", 30), ("蒙古族", 10), ("回族", 5)),
    "652900": (("维吾尔族", 65), ("汉族", 33), ("回族", 2)),
    "653000": (("维吾尔族", 45), ("柯尔克孜族", 35), ("汉族", 20)),
    "653100": (("维吾尔族", 80), ("汉族", 14), ("塔吉克族", 5), ("乌孜别克族", 1)),
    "653200": (("维吾尔族", 85), ("汉族", 15)),
    "654000": (("汉族", 40), ("哈萨克族", 25), ("维吾尔族", 20), ("回族", 7), ("锡伯族", 5),
               ("俄罗斯族", 1), ("塔塔尔族", 1), ("蒙古族", 1)),
    "654200": (("汉族", 55), ("哈萨克族", 25), ("维吾尔族", 8), ("回族", 5), ("蒙古族", 4),
               ("达斡尔族", 3)),
    "654300": (("哈萨克族", 50), ("汉族", 45), ("蒙古族", 5)),
}  # fmt: skip

# How a person of each ethnicity is named here: Han-style, "A·B" (Turkic), or Mongolian.
_NAME_STYLE: dict[str, str] = {
    "汉族": "han", "回族": "han", "锡伯族": "han", "满族": "han", "达斡尔族": "han",
    "维吾尔族": "uyghur", "柯尔克孜族": "uyghur", "塔吉克族": "uyghur",
    "乌孜别克族": "uyghur", "塔塔尔族": "uyghur", "俄罗斯族": "uyghur",
    "哈萨克族": "kazakh", "蒙古族": "mongol",
}  # fmt: skip

# Mongolian names as commonly written in Chinese: one given name, no surname.
MONGOL_NAMES: tuple[tuple[str, str], ...] = (
    ("巴特尔", demo_data.MALE), ("巴音孟克", demo_data.MALE), ("那顺", demo_data.MALE),
    ("额尔敦", demo_data.MALE), ("朝鲁", demo_data.MALE), ("乌力吉", demo_data.MALE),
    ("其其格", demo_data.FEMALE), ("萨仁高娃", demo_data.FEMALE), ("乌云", demo_data.FEMALE),
    ("娜仁", demo_data.FEMALE), ("托娅", demo_data.FEMALE), ("斯琴", demo_data.FEMALE),
)  # fmt: skip

# Telephone area codes of the prefectures.
AREA_CODES: dict[str, str] = {
    "650100": "0991", "650200": "0990", "650400": "0995", "650500": "0902",
    "652300": "0994", "652700": "0909", "652800": "0996", "652900": "0997",
    "653000": "0908", "653100": "0998", "653200": "0903", "654000": "0999",
    "654200": "0901", "654300": "0906",
}  # fmt: skip

# Share of the demo physicians per prefecture (Urumqi and Kashgar are the largest).
PREFECTURE_WEIGHTS: dict[str, float] = {
    "650100": 6.0, "650200": 0.8, "650400": 0.7, "650500": 0.8, "652300": 1.5,
    "652700": 0.6, "652800": 1.5, "652900": 2.0, "653000": 0.6, "653100": 4.5,
    "653200": 1.5, "654000": 2.5, "654200": 1.0, "654300": 0.8,
}  # fmt: skip

ROADS = ("人民路", "解放路", "团结路", "友好路", "迎宾路", "光明路", "文化路", "健康路",
         "建设路", "新华路", "胜利路", "幸福路")  # fmt: skip
CONTACT_TITLES = ("医务科科长", "医务部主任", "院办主任", "医务科干事", "质控科科长")
REJECTION_REASONS = (
    "执业机构选择错误，请重新选择",
    "执业范围与医师执业证书不一致，请核对后重新提交",
    "非本机构在职医师，请选择实际执业机构",
    "照片不符合要求，请上传近期免冠正面照片后重新提交",
)
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

# Phase windows as (phase, first day, end day exclusive), in days from the period's base date
# (today for the current period).
VETO_COMMENT = "经科室核实，该医师本周期内收受患者红包一次，已退还并通报批评。"
PHASE_WINDOWS: tuple[tuple[Phase, int, int], ...] = (
    (Phase.REGISTRATION, -30, 31),
    (Phase.TRAINING, -30, 44),
    (Phase.SIMPLIFIED_REVIEW, -25, 41),
    (Phase.TEST, 45, 52),
    (Phase.EVALUATION, -20, 76),  # institutions rate during the period
    (Phase.RESULTS, 80, 200),
)


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


# --------------------------------------------------------------------------- geography


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
    prefecture_ids = await _ids_by(Prefecture, "code")
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


# --------------------------------------------------------------------------- the office


async def _office() -> Organisation:
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
    office = await _office()
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


# --------------------------------------------------------------------------- demo region


async def seed_demo(
    password_hash: str,
    today: date | None = None,
    physicians: int = 320,
    photos: Sequence[DemoPhoto] = (),
) -> SeedSummary:
    """Load the demo region (see the module docstring); every account gets ``password_hash``
    and every physician one of ``photos`` (core.demo_photos.prepare) as registration photo."""
    if await Organisation.exists(kind=OrgKind.COMMISSION):
        return await _summarise()
    today = today or datetime.now(TZ).date()
    async with in_transaction():
        await load_geography()
        await _DemoBuilder(password_hash, today).build(physicians)
    await load_content()
    enrolled = await Enrollment.filter(procedure=Procedure.GENERAL).values("physician_id")
    # The enrolled ones first: the exam's demo physician gets the first photo.
    await demo_photos.assign(photos, first=[int(r["physician_id"]) for r in enrolled])
    return await _summarise()


async def load_content() -> None:
    """The demo question bank and course catalogue (written by the team, in
    core/demo_content), and the current period's papers drawn from that bank."""
    from examhall.papers import generate_for_period
    from rules.courses import DEMO_COURSES, load_demo_courses
    from rules.question_import import load_demo_questions

    await load_demo_questions()
    if DEMO_COURSES.exists():
        await load_demo_courses()
    current = await Period.filter(is_current=True).first()
    if current is not None and await Question.exists():
        await generate_for_period(current)


@dataclass
class _Institution:
    """An inserted institution and what the physicians generator needs to know of it."""

    id: int
    name: str
    prefecture_code: str
    prefecture_id: int
    county_code: str
    county_id: int
    org_type: str
    grade: str
    weight: float
    account_id: int = 0
    assessor_id: int = 0


class _DemoBuilder:
    def __init__(self, password_hash: str, today: date) -> None:
        self.password_hash = password_hash
        self.today = today
        self.now = datetime.combine(today, time(9, 30), TZ)
        self.rng = random.Random(DEMO_SEED)
        self.used_ids: set[str] = set()
        self.used_licences: set[str] = set()
        self.seats: dict[str, County] = {}  # prefecture code -> county of its seat

    async def build(self, physician_count: int) -> None:
        await self._office_account()
        institutions = await self._organisations()
        await self._physicians(institutions, physician_count)
        current = await self._periods()
        await self._enrollments(current, institutions)
        await self._evaluations(current, institutions)

    # ---- organisations and their accounts

    async def _office_account(self) -> None:
        office = await _office()
        if not await Account.exists(username=OFFICE_USERNAME):
            await Account.create(
                username=OFFICE_USERNAME,
                role=Role.OFFICE,
                password_hash=self.password_hash,
                organisation=office,
                display_name=OFFICE_NAME,
                email=f"{OFFICE_USERNAME}@{EMAIL_DOMAIN}",
            )

    async def _organisations(self) -> list[_Institution]:
        rng = self.rng
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
                self._org(OrgKind.COMMISSION, name, prefecture, None, username, "医政医管科科长")
            )
            for index, name in enumerate(demo_data.ASSESSORS.get(code, ())):
                username = f"khjg{code}" + ("b" if index else "")
                usernames[OrgKind.ASSESSOR, name] = username
                upper.append(
                    self._org(OrgKind.ASSESSOR, name, prefecture, None, username, "考核办公室主任")
                )
        await Organisation.bulk_create(upper)
        upper_ids = await _org_ids((OrgKind.COMMISSION, OrgKind.ASSESSOR))

        incomplete = self._incomplete_institutions()
        lower: list[Organisation] = []
        institutions: list[_Institution] = []
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
                org = self._org(
                    OrgKind.INSTITUTION,
                    name,
                    prefecture,
                    county,
                    username,
                    rng.choice(CONTACT_TITLES),
                    complete=name not in incomplete,
                )
                org.grade, org.org_type = grade, org_type
                org.assessor_id = self._assessor_for(name, demo_data.ASSESSORS[code], assessors)
                lower.append(org)
                institutions.append(
                    _Institution(
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
        ids = {**upper_ids, **await _org_ids((OrgKind.INSTITUTION,))}

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
        account_ids = await _account_ids(list(usernames.values()))
        for inst in institutions:
            inst.id = ids[OrgKind.INSTITUTION, inst.name]
            inst.account_id = account_ids[usernames[OrgKind.INSTITUTION, inst.name]]
        return institutions

    def _org(
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
        rng = self.rng
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
                org.phone = self._landline(prefecture.code)
            return org
        org.phone = self._landline(prefecture.code)
        org.contact_name = self._person_name(prefecture.code)[0]
        org.contact_title = contact_title
        org.contact_phone = self._mobile()
        org.contact_email = f"contact@{username}.{EMAIL_DOMAIN}"
        return org

    def _incomplete_institutions(self) -> set[str]:
        """About 10% of the institutions, never the first (largest) one of a prefecture."""
        candidates = [
            name for entries in demo_data.INSTITUTIONS.values() for _, name in entries[1:]
        ]
        total = sum(len(entries) for entries in demo_data.INSTITUTIONS.values())
        return set(self.rng.sample(candidates, k=min(len(candidates), round(total * 0.1))))

    def _assessor_for(self, name: str, names: Sequence[str], ids: Sequence[int]) -> int:
        """A hospital's own assessment committee assesses it, the medical society most others."""
        for assessor_name, assessor_id in zip(names, ids, strict=True):
            if assessor_name.startswith(name):
                return assessor_id
        if len(ids) > 1 and self.rng.random() < 0.3:
            return ids[1]
        return ids[0]

    # ---- physicians

    async def _physicians(self, institutions: list[_Institution], count: int) -> None:
        rng = self.rng
        placed: list[_Institution] = []
        if count >= 2 * len(institutions):
            placed.extend(institutions)  # everyone gets at least one physician
        placed.extend(
            rng.choices(
                institutions, weights=[i.weight for i in institutions], k=count - len(placed)
            )
        )
        statuses = self._statuses(len(placed))
        # The institution of the demo log-ins gets one physician of each kind to review.
        login = institutions[0]
        forced = iter(("approved", "pending", "rejected", "pending", "approved"))
        for index, inst in enumerate(placed):
            if inst is login:
                statuses[index] = next(forced, statuses[index])

        accounts: list[Account] = []
        people: list[Physician] = []
        for index, (inst, status) in enumerate(zip(placed, statuses, strict=True), start=1):
            physician = self._physician(index, inst, status)
            people.append(physician)
            accounts.append(
                Account(
                    username=physician.id_number,
                    role=Role.PHYSICIAN,
                    password_hash=self.password_hash,
                    display_name=physician.name,
                    email=physician.email,
                )
            )
        await Account.bulk_create(accounts, batch_size=_IN_CHUNK)
        account_ids = await _account_ids([a.username for a in accounts])
        for physician in people:
            physician.account_id = account_ids[physician.id_number]
        await Physician.bulk_create(people, batch_size=_IN_CHUNK)

    def _statuses(self, count: int) -> list[str]:
        """About 70% approved, 15% pending, 8% rejected and 7% staged, shuffled."""
        shares = (("pending", 0.15), ("rejected", 0.08), (STAGED, 0.07))
        statuses = [status for status, share in shares for _ in range(round(count * share))]
        statuses += ["approved"] * (count - len(statuses))
        self.rng.shuffle(statuses)
        return statuses[:count]

    def _physician(self, index: int, inst: _Institution, status: str) -> Physician:
        rng = self.rng
        name, sex, ethnicity = self._person_name(inst.prefecture_code)
        birth = BIRTH_FIRST + timedelta(days=rng.randrange((BIRTH_LAST - BIRTH_FIRST).days + 1))
        age = self.today.year - birth.year
        category, scope = self._scope(inst)
        title = _title(rng, age, inst.grade)
        physician = Physician(
            name=name,
            id_number=self._id_number(inst.county_code, birth, sex),
            sex=sex,
            birth_date=birth,
            ethnicity=ethnicity,
            prefecture_id=inst.prefecture_id,
            county_id=inst.county_id,
            institution_id=inst.id,
            practice_category=category,
            practice_scope=scope,
            title=title,
            licence_number=self._licence(category, title, birth),
            email=f"ys{index:04d}@mail.{EMAIL_DOMAIN}",
            mobile=self._mobile(),
        )
        if status == "pending":
            physician.registration_status = RegistrationStatus.PENDING
            physician.submitted_at = self._ago(1, 20)
            return physician
        if status == "rejected":
            physician.registration_status = RegistrationStatus.REJECTED
            physician.submitted_at = self._ago(8, 60)
            physician.reviewed_at = physician.submitted_at + self._delay(1, 6)
            physician.rejection_reason = rng.choice(REJECTION_REASONS)
            self._to_staging(physician, inst, StagingReason.REJECTED)
            return physician
        physician.registration_status = RegistrationStatus.APPROVED
        physician.submitted_at = self._ago(40, 900)
        physician.reviewed_at = physician.submitted_at + self._delay(1, 12)
        if status == STAGED:
            if age >= 57:
                reason = StagingReason.RETIRED
            else:
                reason = StagingReason.DEATH if rng.random() < 0.1 else StagingReason.LEFT
            self._to_staging(physician, inst, reason)
        return physician

    @staticmethod
    def _to_staging(physician: Physician, inst: _Institution, reason: StagingReason) -> None:
        physician.institution_id = None
        physician.previous_institution_id = inst.id
        physician.staging_reason = reason

    def _person_name(self, prefecture_code: str) -> tuple[str, Sex, str]:
        """A (name, sex, ethnicity) that fit together, drawn from the prefecture's mix."""
        rng = self.rng
        mix = ETHNIC_MIX.get(prefecture_code, (("汉族", 1),))
        ethnicity = rng.choices([e for e, _ in mix], weights=[w for _, w in mix])[0]
        sex = Sex.FEMALE if rng.random() < 0.52 else Sex.MALE
        style = _NAME_STYLE.get(ethnicity, "han")
        if style == "han":
            surname = "马" if ethnicity == "回族" and rng.random() < 0.4 else None
            surname = surname or rng.choice(demo_data.SURNAMES_HAN)
            return surname + _pick(rng, demo_data.GIVEN_NAMES_HAN, sex), sex, ethnicity
        if style == "mongol":
            return _pick(rng, MONGOL_NAMES, sex), sex, ethnicity
        names = demo_data.KAZAKH_NAMES if style == "kazakh" else demo_data.UYGHUR_NAMES
        own = _pick(rng, names, sex)
        father = own
        while father == own:
            father = _pick(rng, names, Sex.MALE)
        return f"{own}·{father}", sex, ethnicity

    def _scope(self, inst: _Institution) -> tuple[str, str]:
        rng = self.rng
        for marker, scope in ETHNIC_MEDICINE_SCOPES.items():
            if marker in inst.name and rng.random() < 0.75:
                return scope
        chance, options = SPECIAL_SCOPES.get(inst.org_type, (0.0, GENERAL_SCOPES))
        if rng.random() >= chance:
            options = GENERAL_SCOPES
        return rng.choices([s for s, _ in options], weights=[w for _, w in options])[0]

    def _id_number(self, region: str, birth: date, sex: Sex) -> str:
        while True:
            sequence = self.rng.randrange(500) * 2 + (1 if sex is Sex.MALE else 0)
            number = make_id_number(region, birth, sequence)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def _licence(self, category: str, title: str, birth: date) -> str:
        """15 digits: level, category, province 65, year of licensing, serial."""
        level = "2" if title == "医士" else "1"
        kind = {"临床": "1", "中医": "2", "口腔": "3", "公共卫生": "4"}.get(category, "1")
        # Licences under the Law on Medical Practitioners exist since 1999.
        year = max(1999, min(birth.year + 24 + self.rng.randint(0, 4), self.today.year - 1))
        while True:
            number = f"{level}{kind}65{year}{self.rng.randrange(10**7):07d}"
            if number not in self.used_licences:
                self.used_licences.add(number)
                return number

    def _mobile(self) -> str:
        return f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}"

    def _landline(self, prefecture_code: str) -> str:
        return f"{AREA_CODES.get(prefecture_code, '0991')}-{self.rng.randint(2000000, 8999999)}"

    def _ago(self, min_days: int, max_days: int) -> datetime:
        minutes = self.rng.randint(min_days * 1440, max_days * 1440)
        return self.now - timedelta(minutes=minutes)

    def _delay(self, min_days: int, max_days: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(min_days * 1440, max_days * 1440))

    # ---- periods and enrollments

    async def _periods(self) -> Period:
        year = self.today.year
        past_base = date(year - 3, 6, 1)  # every window of the past period ends before today
        past = await Period.create(
            name=f"{year - 3}年度医师定期考核",
            is_current=False,
            results_published_at=self._at(past_base, 80),
        )
        current = await Period.create(name=f"{year}年度医师定期考核", is_current=True)
        await PhaseWindow.bulk_create(
            PhaseWindow(
                period_id=period.id,
                phase=phase,
                starts_at=self._at(base, start),
                ends_at=self._at(base, end),
            )
            for period, base in ((past, past_base), (current, self.today))
            for phase, start, end in PHASE_WINDOWS
        )
        return current

    @staticmethod
    def _at(base: date, days: int) -> datetime:
        return datetime.combine(base + timedelta(days=days), time(0, 0), TZ)

    async def _enrollments(self, period: Period, institutions: list[_Institution]) -> None:
        """A dozen enrollments; the log-in institution's come first so its queue is not empty."""
        rng = self.rng
        by_id = {i.id: i for i in institutions}
        login = institutions[0]
        rows = (
            await Physician.filter(
                registration_status=RegistrationStatus.APPROVED, institution_id__isnull=False
            )
            .order_by("id")
            .values("id", "institution_id", "title", "practice_scope")
        )
        at_login = [r for r in rows if r["institution_id"] == login.id][1:5]  # keep the first
        others = [r for r in rows if r["institution_id"] != login.id]
        chosen = at_login + rng.sample(others, k=min(len(others), 12 - len(at_login)))
        assessor_accounts = await _ids_by(Account, "organisation_id", role=Role.ASSESSOR)

        plan = (
            (Procedure.SIMPLIFIED, EnrollmentStatus.SUBMITTED),
            (Procedure.GENERAL, EnrollmentStatus.SUBMITTED),
            (Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_APPROVED),
            (Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED),
            (Procedure.GENERAL, EnrollmentStatus.SUBMITTED),
            (Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_REJECTED),
            (Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_APPROVED),
            (Procedure.GENERAL, EnrollmentStatus.SUBMITTED),
            (Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_REJECTED),
            (Procedure.SIMPLIFIED, EnrollmentStatus.SUBMITTED),
            (Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED),
            (Procedure.GENERAL, EnrollmentStatus.SUBMITTED),
        )
        reviewed_by_institution = {
            EnrollmentStatus.INSTITUTION_APPROVED,
            EnrollmentStatus.INSTITUTION_REJECTED,
            EnrollmentStatus.ASSESSOR_APPROVED,
            EnrollmentStatus.ASSESSOR_REJECTED,
        }
        enrollments: list[Enrollment] = []
        for row, (procedure, status) in zip(chosen, plan, strict=False):
            inst = by_id[row["institution_id"]]
            application: dict[str, Any] = {}
            if procedure is Procedure.SIMPLIFIED:
                # What the physician's 简易程序申请 form asks (portal.enrollment.application_of).
                application = {
                    "years_in_practice": rng.randint(6, 28),
                    "no_bad_record": True,
                    "report": rng.choice(demo_data.SIMPLIFIED_REPORTS),
                }
            review: dict[str, Any] = {}
            if status in reviewed_by_institution:
                review["institution_reviewer_id"] = inst.account_id
                review["institution_reviewed_at"] = self._ago(3, 12)
            if status is EnrollmentStatus.INSTITUTION_REJECTED:
                review["institution_reason"] = "考核周期内有不良执业行为记录，不符合简易程序条件"
            if status in (EnrollmentStatus.ASSESSOR_APPROVED, EnrollmentStatus.ASSESSOR_REJECTED):
                review["assessor_reviewer_id"] = assessor_accounts.get(inst.assessor_id)
                review["assessor_reviewed_at"] = self._ago(1, 2)
            if status is EnrollmentStatus.ASSESSOR_REJECTED:
                review["assessor_reason"] = "执业经历不满5年，不符合简易程序条件，请按一般程序报名"
            enrollment = Enrollment(
                period_id=period.id,
                physician_id=row["id"],
                institution_id=inst.id,
                procedure=procedure,
                status=status,
                application=application,
                **review,
            )
            enrollments.append(enrollment)
        await Enrollment.bulk_create(enrollments)

    async def _evaluations(self, period: Period, institutions: list[_Institution]) -> None:
        """A few 医师定期考核表: rated by the institution, one with an ethics veto, two
        confirmed by the assessment body; the rest wait for the institutions."""
        by_id = {i.id: i for i in institutions}
        assessor_accounts = await _ids_by(Account, "organisation_id", role=Role.ASSESSOR)
        standing = (
            await Enrollment.filter(period_id=period.id, is_active=True)
            .exclude(
                status__in=(
                    EnrollmentStatus.INSTITUTION_REJECTED,
                    EnrollmentStatus.ASSESSOR_REJECTED,
                )
            )
            .order_by("id")
            .values("physician_id", "institution_id")
        )
        evaluations = []
        for n, row in enumerate(standing[:6]):
            inst = by_id[row["institution_id"]]
            vetoed = n == 2
            values: dict[str, Any] = {
                "status": EvaluationStatus.INSTITUTION_RATED,
                "work_performance": Rating.PASS,
                "ethics": Rating.FAIL if vetoed else Rating.PASS,
                "ethics_vetoes": ["red_envelope"] if vetoed else [],
                "institution_comment": VETO_COMMENT if vetoed else "",
                "rated_by_id": inst.account_id,
                "rated_at": self._ago(2, 10),
            }
            if n in (4, 5):
                values.update(
                    status=EvaluationStatus.ASSESSOR_CONFIRMED,
                    assessor_work_performance=Rating.PASS,
                    assessor_ethics=Rating.PASS,
                    confirmed_by_id=assessor_accounts.get(inst.assessor_id),
                    confirmed_at=self._ago(0, 1),
                )
            evaluations.append(
                Evaluation(period_id=period.id, physician_id=row["physician_id"], **values)
            )
        await Evaluation.bulk_create(evaluations)


# --------------------------------------------------------------------------- summary


async def _summarise() -> SeedSummary:
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


# --------------------------------------------------------------------------- helpers


def _width(text: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _pick(rng: random.Random, names: Sequence[tuple[str, str]], sex: Sex) -> str:
    return rng.choice([name for name, s in names if s == sex.value])


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


def _title(rng: random.Random, age: int, grade: str) -> str:
    options: tuple[tuple[str, int], ...]
    if age < 30:
        options = (("医师", 80), ("医士", 20))
    elif age < 38:
        options = (("主治医师", 45), ("医师", 50), ("医士", 5))
    elif age < 48:
        options = (("副主任医师", 35), ("主治医师", 55), ("医师", 10))
    else:
        options = (("主任医师", 40), ("副主任医师", 40), ("主治医师", 20))
    title = rng.choices([t for t, _ in options], weights=[w for _, w in options])[0]
    if title == "医士" and not grade.startswith("一级"):
        return "医师"  # assistant physicians work mostly in township health centres
    return title


def _credit_code(prefix: str, region: str, rng: random.Random) -> str:
    """A unified social credit code (GB 32100) with a valid check character."""
    body = f"{prefix}{region}" + "".join(rng.choice(_CREDIT_CHARS[:10]) for _ in range(9))
    total = sum(_CREDIT_CHARS.index(ch) * w for ch, w in zip(body, _CREDIT_WEIGHTS, strict=True))
    return body + _CREDIT_CHARS[(31 - total % 31) % 31]


async def _ids_by(model: Any, key: str, **filters: Any) -> dict[Any, int]:
    """``{row.key: row.id}`` for the model's rows matching ``filters``."""
    rows = await model.filter(**filters).order_by("id").values_list(key, "id")
    return {k: pk for k, pk in rows}


async def _org_ids(kinds: Sequence[OrgKind]) -> dict[tuple[OrgKind, str], int]:
    rows = await Organisation.filter(kind__in=list(kinds)).values_list("kind", "name", "id")
    return {(OrgKind(kind), name): pk for kind, name, pk in rows}


async def _account_ids(usernames: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(usernames, _IN_CHUNK):
        ids.update(await _ids_by(Account, "username", username__in=chunk))
    return ids


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
