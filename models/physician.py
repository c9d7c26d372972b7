"""Physicians, their moves between institutions, and the commissions' filings."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.enums import FilingKind, RegistrationStatus, ReviewStatus, Sex, StagingReason
from models.org import Account, County, Organisation, Prefecture


class Physician(Model):
    """A licensed physician. ``institution`` is null while the physician is in the staging area."""

    id = fields.IntField(primary_key=True)
    account: fields.OneToOneRelation[Account] = fields.OneToOneField(
        "models.Account", related_name="physician", on_delete=fields.CASCADE
    )
    account_id: int
    name = fields.CharField(max_length=50, db_index=True)
    id_number = fields.CharField(max_length=18, unique=True, description="注册证件号码")
    sex = fields.CharEnumField(Sex)
    birth_date = fields.DateField()
    ethnicity = fields.CharField(max_length=20, default="")
    prefecture: fields.ForeignKeyRelation[Prefecture] = fields.ForeignKeyField(
        "models.Prefecture", related_name="physicians", on_delete=fields.RESTRICT
    )
    prefecture_id: int
    county: fields.ForeignKeyRelation[County] = fields.ForeignKeyField(
        "models.County", related_name="physicians", on_delete=fields.RESTRICT
    )
    county_id: int
    institution: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="physicians", null=True, on_delete=fields.RESTRICT
    )
    institution_id: int | None
    practice_category = fields.CharField(max_length=20, description="执业类别")
    practice_scope = fields.CharField(max_length=40, description="执业范围")
    title = fields.CharField(max_length=20, default="", description="职称")
    licence_number = fields.CharField(max_length=30, description="医师执业证书编码")
    email = fields.CharField(max_length=100)
    mobile = fields.CharField(max_length=11)
    photo = fields.CharField(max_length=200, default="", description="path under MEDIA_DIR")
    face_encoding = fields.BinaryField(null=True, description="128 float64, the photo's encoding")
    rehearsal = fields.BooleanField(
        default=False, description="made by the load-test tool: out of real lists and figures"
    )
    photo_hash = fields.CharField(
        max_length=16, default="", description="perceptual hash of the photo's face (replays)"
    )

    registration_status = fields.CharEnumField(
        RegistrationStatus, default=RegistrationStatus.PENDING, db_index=True
    )
    rejection_reason = fields.CharField(max_length=500, default="")
    staging_reason = fields.CharEnumField(StagingReason, null=True, db_index=True)
    previous_institution: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation",
        related_name="former_physicians",
        null=True,
        on_delete=fields.SET_NULL,
    )
    previous_institution_id: int | None
    submitted_at = fields.DatetimeField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "physician"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name}（{self.masked_id_number}）"

    @property
    def in_staging_area(self) -> bool:
        return self.institution_id is None

    @property
    def masked_id_number(self) -> str:
        return self.id_number[:6] + "********" + self.id_number[-4:]


class Transfer(Model):
    """人员调出/调入: the old institution files, the target institution approves or rejects."""

    id = fields.IntField(primary_key=True)
    physician: fields.ForeignKeyRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="transfers", on_delete=fields.CASCADE
    )
    physician_id: int
    from_institution: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="transfers_out", on_delete=fields.RESTRICT
    )
    from_institution_id: int
    to_institution: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="transfers_in", on_delete=fields.RESTRICT
    )
    to_institution_id: int
    status = fields.CharEnumField(ReviewStatus, default=ReviewStatus.PENDING, db_index=True)
    requested_by: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, on_delete=fields.RESTRICT
    )
    reviewed_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    reviewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "transfer"
        ordering = ["-id"]


class Filing(Model):
    """备案: a commission's request that takes effect when the office approves it.

    ``payload`` carries what the kind needs: for institution_add the name, county id and
    assessor id, for staging_out the target institution id, for staging_in the reason.
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(FilingKind, db_index=True)
    commission: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="filings", on_delete=fields.RESTRICT
    )
    commission_id: int
    institution: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    institution_id: int | None
    physician: fields.ForeignKeyNullableRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="filings", null=True, on_delete=fields.CASCADE
    )
    physician_id: int | None
    staging_reason = fields.CharEnumField(StagingReason, null=True)
    payload = fields.JSONField[dict[str, Any]](default=dict)
    status = fields.CharEnumField(ReviewStatus, default=ReviewStatus.PENDING, db_index=True)
    requested_by: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, on_delete=fields.RESTRICT
    )
    reviewed_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    decision_reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    reviewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "filing"
        ordering = ["-id"]
