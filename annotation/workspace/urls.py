from django.urls import URLPattern, URLResolver, path

from annotation.workspace import api, views

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
    path("api/work/<int:assignment_id>/draft", api.save_draft, name="workspace-api-draft"),
    path("api/work/<int:assignment_id>/submit", api.submit, name="workspace-api-submit"),
]
