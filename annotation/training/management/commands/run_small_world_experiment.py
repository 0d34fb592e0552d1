"""`manage.py run_small_world_experiment`: the report's experiment on the small world
(annotation/training/small_world_experiment.py), stage by stage, with the time of each.

By default the jobs run in this process through the workers' own Celery tasks (`run_job`, then
`run_shard` until the job is done: Task.apply, the code a worker runs, looked up by name so the
web side imports no worker module); `--via-worker` leaves them to the running workers and waits.
"""

import json
import os
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from celery import current_app
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.core.models import Project
from annotation.jobs.kinds import queue_for
from annotation.jobs.models import Job, JobShard, JobStatus
from annotation.jobs.services import RUN_JOB, RUN_SHARD
from annotation.training.small_world_experiment import (
    Sizes,
    StageFailed,
    check_sizes,
    run_experiment,
)

DEFAULT_PROJECT = "Small world: the report's experiment"


def drive_here(job: Job) -> Job:
    """Run the job in this process with the workers' tasks; a shard another worker holds is
    waited for."""
    current_app.loader.import_default_modules()
    tasks = current_app.tasks
    tasks[RUN_JOB].apply(args=(job.pk,))
    while True:
        job.refresh_from_db()
        if job.is_finished:
            return job
        tasks[RUN_SHARD].apply(args=(queue_for(job.kind),))
        if not JobShard.objects.filter(job=job, status=JobStatus.QUEUED).exists():
            time.sleep(1.0)


def drive_by_worker(job: Job) -> Job:
    while True:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(2.0)


class Command(BaseCommand):
    help = (
        "Run the report's experiment on the small world: sample, Monte-Carlo labels, a PRM "
        "trained from them, trees, long thoughts, SFT on shortcuts and on journeys, DPO, and "
        "an evaluation on held-out problems (the results table, with 95% intervals)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", default=DEFAULT_PROJECT, help="Created if new.")
        for size in fields(Sizes):
            parser.add_argument(
                f"--{size.name.replace('_', '-')}",
                type=float if isinstance(size.default, float) else int,
                default=size.default,
            )
        parser.add_argument(
            "--threads",
            type=int,
            default=1,
            help="torch threads in this process (1: kinder to a shared machine).",
        )
        parser.add_argument("--via-worker", action="store_true", help="Let the workers run it.")
        parser.add_argument("--report", default="", help="Write the run's report (JSON) here.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sizes = check_sizes(Sizes(**{f.name: options[f.name] for f in fields(Sizes)}))
        except ValidationError as error:
            raise CommandError(f"{error.message_dict}") from None
        # Read by torch when the first job imports it (this process imports no torch before).
        os.environ.setdefault("OMP_NUM_THREADS", str(options["threads"]))
        project, _ = Project.objects.get_or_create(name=options["project"])
        load = os.getloadavg()
        self.stdout.write(
            f"Project {project.name!r} (id {project.pk}); load average at start "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        try:
            run = run_experiment(
                project=project,
                sizes=sizes,
                drive=drive_by_worker if options["via_worker"] else drive_here,
                say=lambda line: self.stdout.write(line, ending="\n") or self.stdout.flush(),
            )
        except StageFailed as error:
            raise CommandError(str(error)) from None
        report = run.report()
        load = os.getloadavg()
        report["load_average_end"] = [round(x, 2) for x in load]
        self.stdout.write(f"\nResults (evaluation job {report['evaluation_job']}):")
        for row in report["rows"]:
            low, high = row["interval"] or (0.0, 0.0)
            self.stdout.write(
                f"  {row['model']:<48} {row['accuracy'] or 0:.3f}  [{low:.3f}, {high:.3f}]  "
                f"({row['problems']} problems, {row['samples']} samples)"
            )
        self.stdout.write(
            f"Total {report['total_seconds']:.0f} s; load average at end "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        self.stdout.write(f"Results page: /training/evaluations/{report['evaluation_job']}/")
        if options["report"]:
            Path(options["report"]).write_text(json.dumps(report, indent=2) + "\n")
