from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="World",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("randomnumber", models.IntegerField()),
            ],
            options={"db_table": "world"},
        ),
        migrations.CreateModel(
            name="Fortune",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("message", models.CharField(max_length=2048)),
            ],
            options={"db_table": "fortune"},
        ),
    ]
