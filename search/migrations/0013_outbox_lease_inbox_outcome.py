"""Outbox delivery outside the lock (a lease on the row), and domain outcomes in the inbox."""

from django.db import migrations, models

OUTCOMES = {200: "applied", 201: "created", 202: "waiting"}


def status_to_outcome(apps, schema_editor):
    InboxMessage = apps.get_model("search", "InboxMessage")
    for status, outcome in OUTCOMES.items():
        InboxMessage.objects.filter(response_status=status).update(outcome=outcome)
    InboxMessage.objects.exclude(response_status__in=list(OUTCOMES)).update(outcome="refused")


def outcome_to_status(apps, schema_editor):
    InboxMessage = apps.get_model("search", "InboxMessage")
    for status, outcome in OUTCOMES.items():
        InboxMessage.objects.filter(outcome=outcome).update(response_status=status)
    InboxMessage.objects.filter(outcome="refused").update(response_status=409)


class Migration(migrations.Migration):
    dependencies = [("search", "0012_remove_healthping")]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="lease_token",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="lease_until",
            field=models.DateTimeField(blank=True, null=True, verbose_name="held until"),
        ),
        migrations.AddField(
            model_name="inboxmessage",
            name="outcome",
            field=models.CharField(default="applied", max_length=10, verbose_name="outcome"),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="inboxmessage",
            name="response_status",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RunPython(status_to_outcome, outcome_to_status),
        migrations.RemoveField(model_name="inboxmessage", name="response_status"),
    ]
