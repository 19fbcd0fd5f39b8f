import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):
    """Sector boundaries get what SearchArea's have: a named GiST index and a validity check."""

    dependencies = [
        ("search", "0010_time_bounds_and_global_aid_uid"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="sector",
            index=django.contrib.postgres.indexes.GistIndex(
                fields=["boundary"], name="sector_boundary_gist"
            ),
        ),
        migrations.AddConstraint(
            model_name="sector",
            constraint=models.CheckConstraint(
                condition=models.Q(("boundary__isvalid", True)), name="sector_valid"
            ),
        ),
    ]
