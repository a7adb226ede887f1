# The copy search as chunk tasks (issue 13): a chunk's kind and queries, and the run's once-only plan flag.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0006_run_latest_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditrun",
            name="search_sent",
            field=models.BooleanField(default=False, help_text="The copy search's plan was sent (once per attempt)."),
        ),
        migrations.AddField(
            model_name="auditchunk",
            name="kind",
            field=models.CharField(
                choices=[("read", "Read images"), ("search", "Search for copies")], default="read", max_length=10
            ),
        ),
        migrations.AddField(
            model_name="auditchunk",
            name="query",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='A search chunk\'s queries: {"which": "synthetic" | "baseline", "source": read chunk index,'
                ' "positions": image positions in that chunk\'s arrays}.',
            ),
        ),
    ]
