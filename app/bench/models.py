"""The TechEmpower tables: World (10,000 rows of random numbers) and Fortune (short messages)."""

from django.db import models


class World(models.Model):
    randomnumber = models.IntegerField()

    class Meta:
        db_table = "world"

    def as_dict(self) -> dict:
        return {"id": self.id, "randomNumber": self.randomnumber}


class Fortune(models.Model):
    message = models.CharField(max_length=2048)

    class Meta:
        db_table = "fortune"
