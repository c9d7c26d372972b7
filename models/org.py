"""Geography, organisations and accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.expressions import F
from tortoise.models import Model

from models.enums import OrgKind, OrgStatus, PrefectureKind, Role

if TYPE_CHECKING:
    from models.physician import Physician


class Prefecture(Model):
    """One of the 14 prefecture-level divisions of Xinjiang (地、州、市)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=6, unique=True)
    name = fields.CharField(max_length=32)
    short_name = fields.CharField(max_length=16)
    kind = fields.CharEnumField(PrefectureKind)
    sort = fields.IntField(default=0)

    counties: fields.ReverseRelation[County]

    class Meta:
        table = "prefecture"
        ordering = ["sort", "code"]

    def __str__(self) -> str:
        return self.name


class County(Model):
    """A county-level division (县、市、区)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=6, unique=True)
    name = fields.CharField(max_length=32)
    prefecture: fields.ForeignKeyRelation[Prefecture] = fields.ForeignKeyField(
        "models.Prefecture", related_name="counties", on_delete=fields.RESTRICT
    )
    prefecture_id: int

    class Meta:
        table = "county"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Organisation(Model):
    """Practicing institution, assessment body, prefecture commission or the regional office.

    Links: an institution sits in a county and is assigned one assessment body, an assessor
    and a commission belong to a prefecture, the office has none.
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(OrgKind, db_index=True)
    name = fields.CharField(max_length=100, db_index=True)
    status = fields.CharEnumField(OrgStatus, default=OrgStatus.ACTIVE, db_index=True)
    rehearsal = fields.BooleanField(
        default=False, description="made by the load-test tool: out of real lists and figures"
    )
    prefecture: fields.ForeignKeyNullableRelation[Prefecture] = fields.ForeignKeyField(
        "models.Prefecture", related_name="organisations", null=True, on_delete=fields.RESTRICT
    )
    prefecture_id: int | None
    county: fields.ForeignKeyNullableRelation[County] = fields.ForeignKeyField(
        "models.County", related_name="organisations", null=True, on_delete=fields.RESTRICT
    )
    county_id: int | None
    assessor: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation",
        related_name="assigned_institutions",
        null=True,
        on_delete=fields.RESTRICT,
    )
    assessor_id: int | None

    # 【机构信息】
    credit_code = fields.CharField(max_length=18, default="", description="统一社会信用代码")
    address = fields.CharField(max_length=200, default="")
    grade = fields.CharField(max_length=20, default="", description="机构等级, e.g. 三级甲等")
    org_type = fields.CharField(max_length=40, default="", description="机构类别, e.g. 综合医院")
    phone = fields.CharField(max_length=30, default="")
    # 【联系人信息】
    contact_name = fields.CharField(max_length=50, default="")
    contact_title = fields.CharField(max_length=50, default="")
    contact_phone = fields.CharField(max_length=30, default="")
    contact_email = fields.CharField(max_length=100, default="")

    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    physicians: fields.ReverseRelation[Physician]
    assigned_institutions: fields.ReverseRelation[Organisation]

    class Meta:
        table = "organisation"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def info_complete(self) -> bool:
        """The 温馨提示 gate: 【机构信息】 and 【联系人信息】 must both be filled in."""
        return all(
            (self.address, self.phone, self.contact_name, self.contact_phone, self.contact_email)
        )


class Account(Model):
    """A log-in. Physicians log in with their ID-card number, organisations with a user name."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    role = fields.CharEnumField(Role, db_index=True)
    password_hash = fields.CharField(max_length=200)
    organisation: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="accounts", null=True, on_delete=fields.RESTRICT
    )
    organisation_id: int | None
    display_name = fields.CharField(max_length=100, default="")
    email = fields.CharField(max_length=100, default="")
    is_active = fields.BooleanField(default=True)
    last_login_at = fields.DatetimeField(null=True)
    password_changed_at = fields.DatetimeField(null=True)
    must_change_password = fields.BooleanField(
        default=False, description="a temporary password: changed at the next log-in"
    )
    session_epoch = fields.IntField(
        default=0, description="raised to end every session and reset link of the account"
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    physician: fields.BackwardOneToOneRelation[Physician]

    class Meta:
        table = "account"

    def __str__(self) -> str:
        return self.username

    @classmethod
    async def raise_epoch(cls, account_id: int, **changes: Any) -> int:
        """Void every session and password-reset link of the account made until now, with
        ``changes`` to the account (a new password) in the same UPDATE. Returns the epoch."""
        await cls.filter(id=account_id).update(session_epoch=F("session_epoch") + 1, **changes)
        row = await cls.filter(id=account_id).first().values("session_epoch")
        return int(row["session_epoch"]) if row else 0
