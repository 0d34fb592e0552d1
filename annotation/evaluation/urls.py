from django.urls import URLPattern, URLResolver, path

from annotation.evaluation import api, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<int:project_id>/evaluation/", views.evaluation_home, name="evaluation-home"),
    path(
        "projects/<int:project_id>/evaluation/best-of-n/",
        views.best_of_n_page,
        name="evaluation-best-of-n",
    ),
    path(
        "projects/<int:project_id>/evaluation/monte-carlo/",
        views.monte_carlo_start,
        name="evaluation-monte-carlo",
    ),
    path("evaluation/jobs/<int:job_id>/rollouts/", views.rollouts_page, name="evaluation-rollouts"),
    path("projects/<int:project_id>/evaluation/queue/", views.queue_page, name="evaluation-queue"),
    path(
        "projects/<int:project_id>/evaluation/suggestions/",
        views.suggestions_set,
        name="evaluation-suggestions",
    ),
    path(
        "projects/<int:project_id>/evaluation/refresh/<str:kind>/",
        views.analysis_refresh,
        name="evaluation-refresh",
    ),
    path(
        "api/evaluation/projects/<int:project_id>/comparison/",
        api.ComparisonApi.as_view(),
        name="evaluation-api-comparison",
    ),
    path(
        "api/evaluation/projects/<int:project_id>/best-of-n/",
        api.BestOfNApi.as_view(),
        name="evaluation-api-best-of-n",
    ),
    path(
        "api/evaluation/projects/<int:project_id>/queue/",
        api.QueueApi.as_view(),
        name="evaluation-api-queue",
    ),
    path(
        "api/evaluation/monte-carlo/",
        api.StartMonteCarloApi.as_view(),
        name="evaluation-api-monte-carlo",
    ),
]
