"""An institution resets its physician's password and replaces the photo; others get 404."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.applications import Starlette

from models.enums import OrgKind
from models.ops import AuditLog, OutboxMail
from models.physician import Physician
from tests import factories
from tests.face_helpers import photo
from tests.helpers import TEST_PASSWORD, csrf_of, login


async def test_reset_password(client: httpx.AsyncClient, app: Starlette, db: None) -> None:
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as phone:
        await login(phone, doc.id_number)
        await login(client, acct.username)
        token = await csrf_of(client, f"/physicians/{doc.id}")
        response = await client.post(f"/physicians/{doc.id}/password", data={"csrf_token": token})
        assert response.status_code == 303
        page = (await client.get(f"/physicians/{doc.id}")).text
        temporary = re.search(r"临时密码：([A-Za-z0-9]{10})", page)
        assert temporary
        assert (await phone.get("/")).status_code == 303  # the physician's session was ended
    client.cookies.clear()
    assert (await login(client, doc.id_number, TEST_PASSWORD)).status_code == 400
    assert (await login(client, doc.id_number, temporary.group(1))).status_code == 303
    assert await AuditLog.filter(action="physician_password_reset", object_id=doc.id).exists()
    assert await OutboxMail.filter(to=doc.email, subject__contains="重置").exists()


async def test_replace_photo(
    client: httpx.AsyncClient, app: Starlette, worker: Any, db: None
) -> None:
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await app.state.face.store_photo(doc, photo("obama.jpg"))
    before = (await Physician.get(id=doc.id)).face_encoding
    await login(client, acct.username)

    async def upload(image: bytes) -> str:
        token = await csrf_of(client, f"/physicians/{doc.id}")
        await client.post(
            f"/physicians/{doc.id}/photo/replace",
            data={"csrf_token": token},
            files={"photo": ("p.jpg", image, "image/jpeg")},
        )
        return (await client.get(f"/physicians/{doc.id}")).text

    assert "请上传仅有本人的单人照片" in await upload(photo("obama_and_biden.jpg"))
    assert (await Physician.get(id=doc.id)).face_encoding == before
    assert "已更换" in await upload(photo("biden.jpg"))
    after = await Physician.get(id=doc.id)
    assert after.face_encoding != before and after.photo
    assert await AuditLog.filter(action="physician_photo_replaced", object_id=doc.id).exists()


async def test_other_institution_gets_404(client: httpx.AsyncClient, db: None) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    _, other = await factories.org_with_account(OrgKind.INSTITUTION)
    await login(client, other.username)
    token = await csrf_of(client, "/")
    response = await client.post(f"/physicians/{doc.id}/password", data={"csrf_token": token})
    assert response.status_code == 404
    client.cookies.clear()
    assert (await login(client, doc.id_number)).status_code == 303  # password unchanged
