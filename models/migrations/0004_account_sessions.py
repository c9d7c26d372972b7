from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_liveness')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Account',
            name='must_change_password',
            field=fields.BooleanField(default=False, description='a temporary password: changed at the next log-in'),
        ),
        ops.AddField(
            model_name='Account',
            name='session_epoch',
            field=fields.IntField(default=0, description='raised to end every session and reset link of the account'),
        ),
    ]
