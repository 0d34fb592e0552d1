"""An index of the traces models wrote (issue 30): the tree pages' outputs and statistics read
those few traces, not the project's imported ones."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("problems", "0007_project_size")]

    operations = [
        migrations.AddIndex(
            model_name="trace",
            index=models.Index(
                condition=models.Q(
                    ("origin__in", ("long_thought", "tree", "model_sample", "expansion"))
                ),
                fields=["id"],
                name="trace_model_outputs",
            ),
        ),
    ]
