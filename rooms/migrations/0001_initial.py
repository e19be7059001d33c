# Rooms moved here from the conversations app: the tables (and their rows) stay as they are;
# only Django's state moves (conversations.0005 removed the models from that app's state).

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('conversations', '0005_rooms_move_to_rooms_app'),
        ('personas', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Room',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('name', models.CharField(max_length=200)),
                        ('policy', models.CharField(choices=[('natural', 'Natural'), ('round_robin', 'Round Robin'), ('addressed_only', 'Addressed Only')], default='natural', max_length=16)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('closed_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'conversations_room',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='RoomMember',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveSmallIntegerField(default=0)),
                        ('persona', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='room_memberships', to='personas.persona')),
                        ('room', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='rooms.room')),
                    ],
                    options={
                        'db_table': 'conversations_roommember',
                        'ordering': ['position', 'id'],
                    },
                ),
                migrations.AddField(
                    model_name='room',
                    name='members',
                    field=models.ManyToManyField(related_name='rooms', through='rooms.RoomMember', to='personas.persona'),
                ),
                migrations.CreateModel(
                    name='RoomMessage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('speaker_kind', models.CharField(choices=[('participant', 'Participant'), ('persona', 'Persona')], max_length=16)),
                        ('speaker_id', models.CharField(max_length=255)),
                        ('speaker_name', models.CharField(blank=True, max_length=255)),
                        ('content', models.TextField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('message', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='conversations.message')),
                        ('persona', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='room_lines', to='personas.persona')),
                        ('room', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='rooms.room')),
                    ],
                    options={
                        'db_table': 'conversations_roommessage',
                        'ordering': ['id'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='roommember',
                    constraint=models.UniqueConstraint(fields=('room', 'persona'), name='room_member_unique'),
                ),
                migrations.AddIndex(
                    model_name='roommessage',
                    index=models.Index(fields=['room', 'id'], name='room_line_room_id'),
                ),
            ],
        ),
    ]
