from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.enums import FaceReason
from tortoise import fields

async def face_check_index(apps, schema_editor) -> None:
    """SQLite rebuilds face_check to alter and drop its columns, and the rebuilt table loses
    the index of created_at (db_index=True): made again (PostgreSQL alters in place)."""
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        await client.execute_script(
            'CREATE INDEX IF NOT EXISTS "idx_face_check_created_at" ON "face_check" ("created_at")'
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0002_practice')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Attempt',
            name='submit_requested_at',
            field=fields.DatetimeField(null=True, description='交卷 asked for: answers lock until the submit check passes', auto_now=False, auto_now_add=False),
        ),
        ops.AlterField(
            model_name='FaceCheck',
            name='reason',
            field=fields.CharEnumField(description='OK: ok\nNO_FACE: no_face\nMULTIPLE_FACES: multiple_faces\nMISMATCH: mismatch\nUNREADABLE: unreadable\nNO_REFERENCE: no_reference\nTOO_LARGE: too_large\nTOO_MANY_PIXELS: too_many_pixels\nNO_ACTION: no_action\nREPLAY: replay\nFACE_CHANGED: face_changed\nFACE_TOO_SMALL: face_too_small\nNOT_FRONTAL: not_frontal\nEYES_CLOSED: eyes_closed', enum_type=FaceReason, max_length=15),
        ),
        ops.AddField(
            model_name='FaceCheck',
            name='actions',
            field=fields.CharField(default='', description='the challenge, e.g. turn_left,open_mouth', max_length=100),
        ),
        ops.AddField(
            model_name='FaceCheck',
            name='detail',
            field=fields.JSONField(default=dict, description='per-frame measures (yaw, mouth) and the decisive frames', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='FaceCheck',
            name='frame_hashes',
            field=fields.JSONField(default=list, description='perceptual hashes of the frames of a passed check', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='FaceCheck',
            name='frame_paths',
            field=fields.JSONField(default=list, description='the burst, kept when failed', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.RemoveField(model_name='FaceCheck', name='frame_path'),
        ops.AddField(
            model_name='Physician',
            name='photo_hash',
            field=fields.CharField(default='', description="perceptual hash of the photo's face (replays)", max_length=16),
        ),
        ops.RunPython(face_check_index, ops.RunPython.noop),
    ]
