from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_account_sessions')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Organisation',
            name='rehearsal',
            field=fields.BooleanField(default=False, description='made by the load-test tool: out of real lists and figures'),
        ),
        ops.AddField(
            model_name='Period',
            name='rehearsal',
            field=fields.BooleanField(default=False, description='made by the load-test tool: out of real lists and figures'),
        ),
        ops.AddField(
            model_name='Physician',
            name='rehearsal',
            field=fields.BooleanField(default=False, description='made by the load-test tool: out of real lists and figures'),
        ),
    ]
