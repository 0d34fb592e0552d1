"""One process of a training run started by `accelerate launch` (STEPWISE_TRAIN_LAUNCHER=
accelerate): `python -m workers.training.launch JOB_ID`. The GPU worker starts it, waits for
it, and registers the model the run saved."""

import os
import sys

import django


def main(job_id: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")
    django.setup()  # then what needs the models
    from annotation.jobs.models import Job
    from workers.training.run import train

    train(Job.objects.get(pk=job_id))


if __name__ == "__main__":
    main(int(sys.argv[1]))
