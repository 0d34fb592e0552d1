# The Celery app is loaded with Django, so that tasks sent from the web process use its
# broker settings.
from workers.celery_app import app as celery_app

__all__ = ["celery_app"]
