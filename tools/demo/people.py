"""Believable fictional people of the demo region: names that fit an ethnicity and a place,
ID numbers with their check digit, practice scopes that fit an institution, titles that fit
an age, licences, telephones, and times in the recent past, all drawn from one seeded random
generator (the demo is the same on every machine)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.idcard import make_id_number
from models.enums import RegistrationStatus, Role, Sex, StagingReason
from models.org import Account
from models.physician import Physician
from tools.demo import data as demo_data
from tools.demo.ids import IN_CHUNK, account_ids

DEMO_SEED = 20261126
TZ = ZoneInfo("Asia/Shanghai")
EMAIL_DOMAIN = "xjdk.example"
BIRTH_FIRST, BIRTH_LAST = date(1960, 1, 1), date(1998, 12, 31)

# Keys of SeedSummary.by_status: the RegistrationStatus values, except that approved
# physicians moved to the staging area (death, retirement, leaving) count as "staged".
STAGED = "staged"

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


REJECTION_REASONS = (
    "执业机构选择错误，请重新选择",
    "执业范围与医师执业证书不一致，请核对后重新提交",
    "非本机构在职医师，请选择实际执业机构",
    "照片不符合要求，请上传近期免冠正面照片后重新提交",
)


@dataclass
class DemoInstitution:
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


class People:
    """The seeded generator: every draw of the demo goes through ``rng``, in a fixed order."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.now = datetime.combine(today, time(9, 30), TZ)
        self.rng = random.Random(DEMO_SEED)
        self.used_ids: set[str] = set()
        self.used_licences: set[str] = set()

    def statuses(self, count: int) -> list[str]:
        """About 70% approved, 15% pending, 8% rejected and 7% staged, shuffled."""
        shares = (("pending", 0.15), ("rejected", 0.08), (STAGED, 0.07))
        statuses = [status for status, share in shares for _ in range(round(count * share))]
        statuses += ["approved"] * (count - len(statuses))
        self.rng.shuffle(statuses)
        return statuses[:count]

    def physician(self, index: int, inst: DemoInstitution, status: str) -> Physician:
        rng = self.rng
        name, sex, ethnicity = self.person_name(inst.prefecture_code)
        birth = BIRTH_FIRST + timedelta(days=rng.randrange((BIRTH_LAST - BIRTH_FIRST).days + 1))
        age = self.today.year - birth.year
        category, scope = self.scope(inst)
        title = _title(rng, age, inst.grade)
        physician = Physician(
            name=name,
            id_number=self.id_number(inst.county_code, birth, sex),
            sex=sex,
            birth_date=birth,
            ethnicity=ethnicity,
            prefecture_id=inst.prefecture_id,
            county_id=inst.county_id,
            institution_id=inst.id,
            practice_category=category,
            practice_scope=scope,
            title=title,
            licence_number=self.licence(category, title, birth),
            email=f"ys{index:04d}@mail.{EMAIL_DOMAIN}",
            mobile=self.mobile(),
        )
        if status == "pending":
            physician.registration_status = RegistrationStatus.PENDING
            physician.submitted_at = self.ago(1, 20)
            return physician
        if status == "rejected":
            physician.registration_status = RegistrationStatus.REJECTED
            physician.submitted_at = self.ago(8, 60)
            physician.reviewed_at = physician.submitted_at + self.delay(1, 6)
            physician.rejection_reason = rng.choice(REJECTION_REASONS)
            self.to_staging(physician, inst, StagingReason.REJECTED)
            return physician
        physician.registration_status = RegistrationStatus.APPROVED
        physician.submitted_at = self.ago(40, 900)
        physician.reviewed_at = physician.submitted_at + self.delay(1, 12)
        if status == STAGED:
            if age >= 57:
                reason = StagingReason.RETIRED
            else:
                reason = StagingReason.DEATH if rng.random() < 0.1 else StagingReason.LEFT
            self.to_staging(physician, inst, reason)
        return physician

    @staticmethod
    def to_staging(physician: Physician, inst: DemoInstitution, reason: StagingReason) -> None:
        physician.institution_id = None
        physician.previous_institution_id = inst.id
        physician.staging_reason = reason

    def person_name(self, prefecture_code: str) -> tuple[str, Sex, str]:
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

    def scope(self, inst: DemoInstitution) -> tuple[str, str]:
        rng = self.rng
        for marker, scope in ETHNIC_MEDICINE_SCOPES.items():
            if marker in inst.name and rng.random() < 0.75:
                return scope
        chance, options = SPECIAL_SCOPES.get(inst.org_type, (0.0, GENERAL_SCOPES))
        if rng.random() >= chance:
            options = GENERAL_SCOPES
        return rng.choices([s for s, _ in options], weights=[w for _, w in options])[0]

    def id_number(self, region: str, birth: date, sex: Sex) -> str:
        while True:
            sequence = self.rng.randrange(500) * 2 + (1 if sex is Sex.MALE else 0)
            number = make_id_number(region, birth, sequence)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def licence(self, category: str, title: str, birth: date) -> str:
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

    def mobile(self) -> str:
        return f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}"

    def landline(self, prefecture_code: str) -> str:
        return f"{AREA_CODES.get(prefecture_code, '0991')}-{self.rng.randint(2000000, 8999999)}"

    def ago(self, min_days: int, max_days: int) -> datetime:
        minutes = self.rng.randint(min_days * 1440, max_days * 1440)
        return self.now - timedelta(minutes=minutes)

    def delay(self, min_days: int, max_days: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(min_days * 1440, max_days * 1440))


async def insert_physicians(
    people: People, password_hash: str, institutions: list[DemoInstitution], count: int
) -> None:
    """``count`` physicians spread over the institutions by their weight, with accounts."""
    rng = people.rng
    placed: list[DemoInstitution] = []
    if count >= 2 * len(institutions):
        placed.extend(institutions)  # everyone gets at least one physician
    placed.extend(
        rng.choices(institutions, weights=[i.weight for i in institutions], k=count - len(placed))
    )
    statuses = people.statuses(len(placed))
    # The institution of the demo log-ins gets one physician of each kind to review.
    login = institutions[0]
    forced = iter(("approved", "pending", "rejected", "pending", "approved"))
    for index, inst in enumerate(placed):
        if inst is login:
            statuses[index] = next(forced, statuses[index])

    accounts: list[Account] = []
    physicians: list[Physician] = []
    for index, (inst, status) in enumerate(zip(placed, statuses, strict=True), start=1):
        physician = people.physician(index, inst, status)
        physicians.append(physician)
        accounts.append(
            Account(
                username=physician.id_number,
                role=Role.PHYSICIAN,
                password_hash=password_hash,
                display_name=physician.name,
                email=physician.email,
            )
        )
    await Account.bulk_create(accounts, batch_size=IN_CHUNK)
    by_username = await account_ids([a.username for a in accounts])
    for physician in physicians:
        physician.account_id = by_username[physician.id_number]
    await Physician.bulk_create(physicians, batch_size=IN_CHUNK)


def _pick(rng: random.Random, names: Sequence[tuple[str, str]], sex: Sex) -> str:
    return rng.choice([name for name, s in names if s == sex.value])


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
