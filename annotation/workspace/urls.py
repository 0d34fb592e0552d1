from django.urls import URLPattern, URLResolver, path

from annotation.workspace import api, quality_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<int:project_id>/work/", views.queue, name="workspace-queue"),
    path("projects/<int:project_id>/work/next/", views.claim_next, name="workspace-next"),
    path("work/<int:assignment_id>/", views.assignment_page, name="workspace-assignment"),
    path("work/<int:assignment_id>/skip/", views.skip, name="workspace-skip"),
    path("projects/<int:project_id>/review/", views.review_list, name="review-list"),
    path("review/traces/<int:trace_id>/", views.review_trace, name="review-trace"),
    path("review/records/<int:assignment_id>/", views.review_record, name="review-record"),
    path("review/work/<int:assignment_id>/", views.review_decide, name="review-decide"),
    path("projects/<int:project_id>/dashboard/", views.dashboard, name="workspace-dashboard"),
    path(
        "projects/<int:project_id>/quality/", quality_views.quality_page, name="workspace-quality"
    ),
    path(
        "projects/<int:project_id>/quality/settings/",
        quality_views.quality_settings,
        name="workspace-quality-settings",
    ),
    path(
        "projects/<int:project_id>/quality/gold/",
        quality_views.gold_form,
        name="workspace-gold-form",
    ),
    path(
        "projects/<int:project_id>/annotators/<int:user_id>/standing/",
        quality_views.standing_form,
        name="workspace-standing",
    ),
    path("jobs/<int:job_id>/queue/", quality_views.send_job_outputs, name="workspace-send-job"),
    path(
        "api/projects/<int:project_id>/gold",
        quality_views.GoldApi.as_view(),
        name="workspace-api-gold",
    ),
    path(
        "api/projects/<int:project_id>/annotators/<int:user_id>/standing",
        quality_views.StandingApi.as_view(),
        name="workspace-api-standing",
    ),
    path(
        "api/projects/<int:project_id>/queue",
        quality_views.QueueApi.as_view(),
        name="workspace-api-queue",
    ),
    path("api/work/<int:assignment_id>/draft", api.save_draft, name="workspace-api-draft"),
    path("api/work/<int:assignment_id>/submit", api.submit, name="workspace-api-submit"),
    path("api/work/<int:assignment_id>/path", api.change_path, name="workspace-api-path"),
    path("api/work/<int:assignment_id>/time", api.count_time, name="workspace-api-time"),
    path("api/work/<int:assignment_id>/continue", api.continue_path, name="workspace-api-continue"),
    path(
        "api/work/<int:assignment_id>/continuation",
        api.continuation,
        name="workspace-api-continuation",
    ),
]
