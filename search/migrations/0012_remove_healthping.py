from django.db import migrations


class Migration(migrations.Migration):
    """HealthPing was used by nothing but tests: /healthz checks the database and broker itself."""

    dependencies = [
        ("search", "0011_sector_boundary_index"),
    ]

    operations = [
        migrations.DeleteModel(
            name="HealthPing",
        ),
    ]
