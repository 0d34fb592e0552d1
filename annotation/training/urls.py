from django.urls import URLPattern, URLResolver, path

from annotation.training import api, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<int:project_id>/training/", views.training_home, name="training-home"),
    path(
        "projects/<int:project_id>/training/start/<str:method>/",
        views.training_start,
        name="training-start",
    ),
    path(
        "projects/<int:project_id>/training/evaluate/",
        views.evaluation_start,
        name="training-evaluate",
    ),
    path("training/jobs/<int:job_id>/", views.training_job, name="training-job"),
    path(
        "training/jobs/<int:job_id>/progress/",
        views.training_progress,
        name="training-progress",
    ),
    path("training/jobs/<int:job_id>/cancel/", views.training_cancel, name="training-cancel"),
    path("training/models/<int:model_id>/lineage/", views.lineage_page, name="training-lineage"),
    path("training/evaluations/<int:job_id>/", views.results_page, name="training-results"),
    path(
        "training/evaluations/<int:job_id>/samples/<int:model_id>/",
        views.samples_page,
        name="training-samples",
    ),
    path(
        "training/evaluations/<int:job_id>/compare/<int:model_id>/",
        views.compare_page,
        name="training-compare",
    ),
    path("api/training/jobs/", api.StartTrainingApi.as_view(), name="training-api-start"),
    path(
        "api/training/jobs/<int:job_id>/log/", api.TrainingLogApi.as_view(), name="training-api-log"
    ),
    path(
        "api/training/jobs/<int:job_id>/rewards/",
        api.TrainingRewardsApi.as_view(),
        name="training-api-rewards",
    ),
    path(
        "api/training/evaluations/", api.StartEvaluationApi.as_view(), name="training-api-evaluate"
    ),
    path(
        "api/training/evaluations/<int:job_id>/results/",
        api.ResultsApi.as_view(),
        name="training-api-results",
    ),
    path(
        "api/training/models/<int:model_id>/lineage/",
        api.LineageApi.as_view(),
        name="training-api-lineage",
    ),
]
