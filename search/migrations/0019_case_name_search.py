import search.models.cases
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0018_draft_reports"),
    ]

    operations = [
        TrigramExtension(),
        migrations.AddIndex(
            model_name="case",
            index=GinIndex(
                OpClass(search.models.cases.SearchKey("subject_name"), name="gin_trgm_ops"),
                name="case_name_trgm_idx",
            ),
        ),
    ]
