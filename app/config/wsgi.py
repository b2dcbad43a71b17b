"""The WSGI entry point, for Gunicorn (and any WSGI server).

A WSGI server calls this application once per request on a worker thread that blocks until the
response is done: concurrency is the number of workers (x threads). Async views still work here,
each run to completion in its own event loop, but they cannot overlap within one worker.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
