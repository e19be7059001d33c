from django.db import migrations, models

CANCELLED, TIMEOUT, UNAVAILABLE = -32031, -32011, -32010


def codes_of_old_turns(apps, schema_editor):
    """Turns stored before the code was: the code their status and error text imply."""
    Message = apps.get_model("conversations", "Message")
    Message.objects.filter(status="cancelled").update(error_code=CANCELLED)
    failed = Message.objects.filter(status="failed")
    timed_out = models.Q(error__icontains="timed out") | models.Q(error__icontains="timeout")
    failed.filter(timed_out).update(error_code=TIMEOUT)
    failed.exclude(timed_out).update(error_code=UNAVAILABLE)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_rooms_move_to_rooms_app"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="error_code",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.RunPython(codes_of_old_turns, migrations.RunPython.noop),
    ]
