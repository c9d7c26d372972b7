"""【账户管理】 of an organisation: its 【机构信息】 and 【联系人信息】, checked field by field
and saved with their audit row in one transaction. Both must be complete before the
organisation's other modules open (``Organisation.info_complete``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from models.org import Account, Organisation
from rules.actor import Actor
from rules.transition import event

PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# section: {field: (label, required, most characters)}
FIELDS = {
    "info": {
        "credit_code": ("统一社会信用代码", False, 18),
        "address": ("机构地址", True, 200),
        "grade": ("机构等级", False, 20),
        "org_type": ("机构类别", False, 40),
        "phone": ("机构电话", True, 30),
    },
    "contact": {
        "contact_name": ("联系人姓名", True, 50),
        "contact_title": ("联系人职务", False, 50),
        "contact_phone": ("联系人电话", True, 30),
        "contact_email": ("联系人邮箱", True, 100),
    },
}
TITLES = {"info": "机构信息", "contact": "联系人信息"}


def valid_credit_code(code: str) -> bool:
    """统一社会信用代码 (GB 32100-2015): 18 characters with a check character."""
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return False
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(code, USCC_WEIGHTS, strict=False))
    return USCC_CHARS[(31 - total % 31) % 31] == code[17]


def check(name: str, value: str) -> str | None:
    if name == "credit_code" and value and not valid_credit_code(value.upper()):
        return "统一社会信用代码应为18位，且校验位正确"
    if name in ("phone", "contact_phone") and not PHONE.match(value):
        return "请填写手机号码或带区号的固定电话，例如 0991-1234567"
    if name == "contact_email" and not EMAIL.match(value):
        return "请填写有效的电子邮箱，用于找回密码和接收通知"
    return None


def read(section: str, form: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The section's values as typed (stripped) and the reasons by field."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, (label, required, limit) in FIELDS[section].items():
        value = str(form.get(name, "")).strip()
        values[name] = value
        if required and not value:
            errors[name] = f"请填写{label}"
        elif len(value) > limit:
            errors[name] = f"{label}不能超过{limit}个字"
        elif problem := check(name, value):
            errors[name] = problem
    return values, errors


async def save(actor: Actor, org: Organisation, section: str, values: Mapping[str, str]) -> None:
    """Store checked ``values`` of ``section``, audited with what they replaced. The contact's
    address is where the organisation's accounts get their password-reset mail."""
    fields = list(FIELDS[section])
    before = {name: getattr(org, name) for name in fields}

    async def store() -> None:
        for name in fields:
            value = values[name]
            setattr(org, name, value.upper() if name == "credit_code" else value)
        await org.save(update_fields=fields)
        if section == "contact":
            await Account.filter(organisation_id=org.id).update(email=org.contact_email)

    await event(actor, f"org_{section}_updated", obj=org, then=store, detail={"before": before})
