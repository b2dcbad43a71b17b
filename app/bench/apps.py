from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "bench"
    verbose_name = "Benchmark endpoints"

    def ready(self):
        from config import checks  # noqa: F401 - registers the deploy check of the inlined middleware
