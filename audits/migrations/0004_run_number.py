"""Run numbers per project (a project's first run is #1), backfilled in order of creation.

The column is added empty and filled here; 0005 makes it required and unique per project.
They are two migrations because PostgreSQL refuses to alter a table whose rows this same
transaction just updated ("pending trigger events").
"""

from django.db import migrations, models


def number_runs(apps, schema_editor):
    AuditRun = apps.get_model("audits", "AuditRun")
    batch = []
    project_id, number = None, 0
    for run in AuditRun.objects.order_by("project_id", "created_at", "pk").only("pk", "project_id").iterator():
        if run.project_id != project_id:
            project_id, number = run.project_id, 0
        number += 1
        run.number = number
        batch.append(run)
        if len(batch) >= 1000:
            AuditRun.objects.bulk_update(batch, ["number"])
            batch = []
    if batch:
        AuditRun.objects.bulk_update(batch, ["number"])


class Migration(migrations.Migration):
    dependencies = [("audits", "0003_image_set_ingest")]

    operations = [
        migrations.AddField(
            model_name="auditrun",
            name="number",
            field=models.PositiveIntegerField(null=True, help_text="The project's own run number, from 1."),
        ),
        migrations.RunPython(number_runs, migrations.RunPython.noop),
    ]
