from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotation import pages, projects
from annotation.core import views as core_views
from annotation.core.api import ApiTokenViewSet
from annotation.core.openapi import SchemaPageRenderer
from annotation.core.routers import IdRouter
from annotation.datasets.api import ExportViewSet, ImportViewSet
from annotation.grading.api import GradeViewSet
from annotation.jobs import views as job_views
from annotation.jobs.api import JobViewSet
from annotation.problems.api import ProblemViewSet, TraceViewSet

router = IdRouter()
router.register("projects", projects.ProjectViewSet, basename="api-project")
router.register("problems", ProblemViewSet, basename="api-problem")
router.register("traces", TraceViewSet, basename="api-trace")
router.register("grades", GradeViewSet, basename="api-grade")
router.register("jobs", JobViewSet, basename="api-job")
router.register("imports", ImportViewSet, basename="api-import")
router.register("exports", ExportViewSet, basename="api-export")
router.register("tokens", ApiTokenViewSet, basename="api-token")

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", core_views.tokens_page, name="account-tokens"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        core_views.token_revoke_page,
        name="account-token-revoke",
    ),
    path("projects/new/", projects.project_new, name="project-new"),
    path("projects/<int:project_id>/", pages.project_page, name="project"),
    path("projects/<int:project_id>/settings/", projects.project_settings, name="project-settings"),
    path(
        "projects/<int:project_id>/members/",
        projects.project_member_set,
        name="project-member-set",
    ),
    path(
        "projects/<int:project_id>/members/<int:user_id>/remove/",
        projects.project_member_remove,
        name="project-member-remove",
    ),
    path("projects/<int:project_id>/jobs/", job_views.job_list, name="job-list"),
    path("jobs/<int:job_id>/", job_views.job_page, name="job"),
    path("jobs/<int:job_id>/status/", job_views.job_status, name="job-status"),
    path("jobs/<int:job_id>/cancel/", job_views.job_cancel, name="job-cancel"),
    path("jobs/<int:job_id>/download/", job_views.job_download, name="job-download"),
    path("", include("annotation.datasets.urls")),
    path("", include("annotation.workspace.urls")),
    path("", include("annotation.llm.urls")),
    path("", include("annotation.trees.urls")),
    path("", include("annotation.evaluation.urls")),
    path("", include("annotation.training.urls")),
    path("api/", include(router.urls)),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(
            renderer_classes=[*SpectacularAPIView.renderer_classes, SchemaPageRenderer]
        ),
        name="schema",
    ),
    # Pages without a <link rel="icon"> (the admin site, the API's) still get the icon.
    path("favicon.ico", RedirectView.as_view(url="/static/favicon.svg", permanent=True)),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="swagger-ui",
    ),
    path("api/auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
]
