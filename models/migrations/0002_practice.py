from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PracticeSet',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('physician', fields.ForeignKeyField('models.Physician', source_field='physician_id', db_constraint=True, to_field='id', related_name='practice_sets', on_delete=OnDelete.CASCADE)),
                ('period', fields.ForeignKeyField('models.Period', source_field='period_id', db_constraint=True, to_field='id', related_name='practice_sets', on_delete=OnDelete.CASCADE)),
                ('source', fields.CharField(default='draw', description='draw or wrong (redo)', max_length=20)),
                ('question_count', fields.IntField()),
                ('answered_count', fields.IntField(default=0)),
                ('correct_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'practice_set', 'app': 'models', 'pk_attr': 'id', 'table_description': '考前练习: one set of questions drawn for a physician, answered one by one.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PracticeAnswer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('practice_set', fields.ForeignKeyField('models.PracticeSet', source_field='practice_set_id', db_constraint=True, to_field='id', related_name='answers', on_delete=OnDelete.CASCADE)),
                ('question', fields.ForeignKeyField('models.Question', source_field='question_id', db_constraint=True, to_field='id', related_name='practice_answers', on_delete=OnDelete.RESTRICT)),
                ('position', fields.IntField()),
                ('chosen', fields.JSONField(null=True, description='option keys, null until answered', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('correct', fields.BooleanField(null=True, db_index=True)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'practice_answer', 'app': 'models', 'unique_together': (('practice_set', 'question'),), 'pk_attr': 'id', 'table_description': 'One question of a practice set: what was chosen and whether it was right.'},
            bases=['Model'],
        ),
    ]
