from django.urls import URLPattern, URLResolver, include, path

from annotation.core.routers import IdRouter
from annotation.llm import api, views

router = IdRouter()
router.register("models", api.ModelConfigViewSet, basename="llm-model")
router.register("jobs", api.LLMJobViewSet, basename="llm-job-api")

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<int:project_id>/llm/", views.llm_home, name="llm-home"),
    path("projects/<int:project_id>/llm/models/new/", views.model_new, name="llm-model-new"),
    path("llm/models/<int:model_id>/", views.model_edit, name="llm-model"),
    path("projects/<int:project_id>/llm/prompts/new/", views.prompt_new, name="llm-prompt-new"),
    path(
        "projects/<int:project_id>/llm/prompts/install/",
        views.prompts_install,
        name="llm-prompts-install",
    ),
    path("llm/prompts/<int:prompt_id>/", views.prompt_page, name="llm-prompt"),
    path("projects/<int:project_id>/llm/start/<str:kind>/", views.job_start, name="llm-start"),
    path("llm/jobs/<int:job_id>/", views.llm_job, name="llm-job"),
    path("llm/jobs/<int:job_id>/cancel/", views.llm_job_cancel, name="llm-job-cancel"),
    path("api/llm/", include(router.urls)),
]
