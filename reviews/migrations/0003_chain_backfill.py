"""Chain the activity rows written before the hash chain existed, oldest first."""

from django.db import migrations, models

GENESIS = "0" * 64


def backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    from reviews.models.chain import chain_hash

    ActivityEntry = apps.get_model("reviews", "ActivityEntry")
    ChainHead = apps.get_model("reviews", "ChainHead")
    fields = (
        "at", "actor_id", "actor_name", "action", "project_id",
        "object_type", "object_id", "object_repr", "old", "new",
    )  # fmt: skip
    prev, seq = GENESIS, 0
    for row in ActivityEntry.objects.order_by("pk").iterator():
        seq += 1
        payload = {name: getattr(row, name) for name in fields}
        digest = chain_hash({**payload, "seq": seq, "prev_hash": prev})
        ActivityEntry.objects.filter(pk=row.pk).update(seq=seq, prev_hash=prev, hash=digest)
        prev = digest
    for name, count, last in (("activity", seq, prev), ("signature", 0, GENESIS)):
        ChainHead.objects.update_or_create(name=name, defaults={"seq": count, "last_hash": last})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0002_review_workflow")]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
        *[
            operation
            for model in ("activityentry", "signature")
            for operation in (
                migrations.AlterField(model, "seq", models.PositiveBigIntegerField(editable=False, unique=True)),
                migrations.AlterField(model, "prev_hash", models.CharField(editable=False, max_length=64)),
                migrations.AlterField(model, "hash", models.CharField(editable=False, max_length=64)),
            )
        ],
    ]
