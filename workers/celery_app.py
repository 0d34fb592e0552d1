"""The Celery app. Workers: `celery -A workers.celery_app worker -Q default` for light jobs
and `-Q gpu --pool solo` (one process per GPU) for model jobs."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")

app = Celery("stepwise")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
