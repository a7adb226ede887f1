from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audits", "0004_run_number")]

    operations = [
        migrations.AlterField(
            model_name="auditrun",
            name="number",
            field=models.PositiveIntegerField(help_text="The project's own run number, from 1."),
        ),
        migrations.AddConstraint(
            model_name="auditrun",
            constraint=models.UniqueConstraint(fields=("project", "number"), name="unique_run_number_per_project"),
        ),
    ]
