"""Seed the TechEmpower data in a migration, so every database (tests included) has it."""

import random

from django.db import migrations

WORLD_ROWS = 10_000

# TechEmpower's fortunes, verbatim: the markup and non-ASCII text exercise escaping and encoding.
FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. \u2014 Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af",
]


def seed(apps, schema_editor):
    World = apps.get_model("bench", "World")
    Fortune = apps.get_model("bench", "Fortune")
    World.objects.bulk_create(
        (World(id=i, randomnumber=random.randint(1, 10_000)) for i in range(1, WORLD_ROWS + 1)),
        batch_size=2_000,
    )
    Fortune.objects.bulk_create(Fortune(id=i, message=m) for i, m in enumerate(FORTUNES, start=1))


def unseed(apps, schema_editor):
    apps.get_model("bench", "World").objects.all().delete()
    apps.get_model("bench", "Fortune").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("bench", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
