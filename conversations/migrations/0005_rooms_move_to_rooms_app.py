# Rooms moved to their own app (rooms/). Only Django's state changes here: the tables keep
# their names and rows (rooms.0001_initial takes them over, db_table set on each model).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0004_turn_ownership"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="RoomMessage"),
                migrations.RemoveField(model_name="room", name="members"),
                migrations.DeleteModel(name="RoomMember"),
                migrations.DeleteModel(name="Room"),
            ],
            database_operations=[],
        ),
    ]
