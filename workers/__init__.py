"""Background work: the Celery app, thin tasks, model backends and pure algorithms."""
