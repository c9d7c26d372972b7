"""rules.organisation_info and rules.registration.replace_photo, called directly."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from core.errors import DomainError, NotFound
from models.enums import OrgKind
from models.org import Account, Organisation
from models.physician import Physician
from rules import organisation_info as info
from rules import registration
from tests import factories
from tests.rules.rule_checks import actor_of, trail

CONTACT = {
    "contact_name": "王芳",
    "contact_title": "医务科科长",
    "contact_phone": "0991-1234567",
    "contact_email": "wangfang@example.com",
}


async def test_the_contact_is_checked_then_saved_with_the_accounts_address(
    app: Starlette,
) -> None:
    org, account = await factories.org_with_account(OrgKind.INSTITUTION)
    actor = await actor_of(org)
    values, errors = info.read("contact", {**CONTACT, "contact_phone": "12", "contact_name": " "})
    assert errors == {
        "contact_name": "请填写联系人姓名",
        "contact_phone": "请填写手机号码或带区号的固定电话，例如 0991-1234567",
    }
    values, errors = info.read("contact", CONTACT)
    assert not errors
    await info.save(actor, org, "contact", values)
    stored = await Organisation.get(id=org.id)
    assert stored.contact_name == "王芳"
    assert (await Account.get(id=account.id)).email == "wangfang@example.com"
    assert await trail(org) == [("org_contact_updated", "", "")]
    assert info.read(
        "info", {"credit_code": "91650100MA77XXXXX0", "address": "a", "phone": "13800000000"}
    )[1] == {"credit_code": "统一社会信用代码应为18位，且校验位正确"}


async def test_a_photo_is_replaced_only_in_the_jurisdiction_and_with_its_audit_row(
    app: Starlette,
) -> None:
    mine, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    theirs, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    doc, stranger = await factories.physician(mine), await factories.physician(theirs)
    actor = await actor_of(mine)

    async def keep(physician: Physician) -> None:
        await Physician.filter(id=physician.id).update(photo_hash="new")

    with pytest.raises(NotFound):
        await registration.replace_photo(actor, stranger, keep)
    assert (await Physician.get(id=stranger.id)).photo_hash != "new"

    async def broken(physician: Physician) -> None:
        await keep(physician)
        raise DomainError("照片保存失败")

    with pytest.raises(DomainError):
        await registration.replace_photo(actor, doc, broken)
    assert (await Physician.get(id=doc.id)).photo_hash != "new" and not await trail(doc)

    await registration.replace_photo(actor, doc, keep)
    assert (await Physician.get(id=doc.id)).photo_hash == "new"
    assert await trail(doc) == [("physician_photo_replaced", "", "")]
