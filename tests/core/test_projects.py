"""Projects and members through real HTTP requests: site admins make projects, a project's
admins change its settings and members (API and pages), everyone else may not; bad input is a
400 naming the field."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.core.models import Membership, Project, Role
from annotation.evaluation.models import SuggestionSetting
from tests.factories import MembershipFactory, ProblemFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def member(project, role: str, username: str | None = None):
    fields = {"username": username} if username else {}
    return MembershipFactory(project=project, role=role, user=UserFactory(**fields)).user


def test_a_site_admin_makes_a_project_and_becomes_its_admin():
    # given
    root = UserFactory(username="root", is_superuser=True)
    # when
    response = client_for(root).post(
        "/api/projects/",
        {"name": " Geometry ", "overlap": 3, "stop_at_first_bad_step": False},
        format="json",
    )
    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["overlap"], body["stop_at_first_bad_step"]) == (
        "Geometry",
        3,
        False,
    )
    project = Project.objects.get(pk=body["id"])
    assert list(project.memberships.values_list("user__username", "role")) == [("root", "admin")]


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_only_site_admins_make_projects(project, role):
    response = client_for(member(project, role)).post(
        "/api/projects/", {"name": "mine"}, format="json"
    )
    assert response.status_code == 403
    assert not Project.objects.filter(name="mine").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "test project"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "overlap": 0}, "overlap"),
        ({"name": "x", "overlap": "many"}, "overlap"),
    ],
)
def test_bad_project_bodies_are_400_naming_the_field(project, body, field):
    root = UserFactory(is_superuser=True)
    response = client_for(root).post("/api/projects/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_project_admin_changes_settings_and_the_suggestion_switch_is_logged(project):
    # given
    admin = member(project, Role.ADMIN)
    # when
    response = client_for(admin).patch(
        f"/api/projects/{project.pk}/",
        {"guidelines": "Grade $x$.", "show_machine_suggestions": True, "overlap": 2},
        format="json",
    )
    # then
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.guidelines, project.show_machine_suggestions, project.overlap) == (
        "Grade $x$.",
        True,
        2,
    )
    assert list(SuggestionSetting.objects.values_list("shown", "changed_by")) == [(True, admin.pk)]


@pytest.mark.parametrize(("role", "status"), [(Role.RESEARCHER, 403), (None, 404)])
def test_others_may_not_change_a_project(project, role, status):
    user = member(project, role) if role else member(ProjectFactory(name="other"), Role.ADMIN)
    response = client_for(user).patch(
        f"/api/projects/{project.pk}/", {"name": "taken over"}, format="json"
    )
    assert response.status_code == status
    project.refresh_from_db()
    assert project.name == "test project"


def test_projects_are_not_deleted_through_the_api(project):
    response = client_for(UserFactory(is_superuser=True)).delete(f"/api/projects/{project.pk}/")
    assert response.status_code == 405


def test_a_project_admin_adds_changes_and_removes_members(project):
    # given
    admin = member(project, Role.ADMIN, "boss")
    ann = UserFactory(username="ann")
    client = client_for(admin)
    url = f"/api/projects/{project.pk}/members/"
    # when / then
    added = client.post(url, {"username": "ann", "role": "annotator"}, format="json")
    assert (added.status_code, added.json()) == (
        201,
        {"user": ann.pk, "username": "ann", "role": "annotator"},
    )
    changed = client.post(url, {"username": "ann", "role": "reviewer"}, format="json")
    assert (changed.status_code, changed.json()["role"]) == (200, "reviewer")
    assert client.get(url).json() == [
        {"user": ann.pk, "username": "ann", "role": "reviewer"},
        {"user": admin.pk, "username": "boss", "role": "admin"},
    ]
    assert client.delete(f"{url}{ann.pk}/").status_code == 204
    assert client.delete(f"{url}{ann.pk}/").status_code == 404
    assert list(Membership.objects.values_list("user__username", flat=True)) == ["boss"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "nobody", "role": "annotator"}, "username"),
        ({"username": "ann", "role": "owner"}, "role"),
        ({"role": "annotator"}, "username"),
    ],
)
def test_bad_member_bodies_are_400_naming_the_field(project, body, field):
    UserFactory(username="ann")
    client = client_for(member(project, Role.ADMIN))
    response = client.post(f"/api/projects/{project.pk}/members/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert project.memberships.count() == 1


def test_a_project_keeps_its_last_admin(project):
    admin = member(project, Role.ADMIN, "boss")
    client = client_for(admin)
    url = f"/api/projects/{project.pk}/members/"
    demoted = client.post(url, {"username": "boss", "role": "annotator"}, format="json")
    removed = client.delete(f"{url}{admin.pk}/")
    assert (demoted.status_code, removed.status_code) == (400, 400)
    assert demoted.json() == {"role": ["a project keeps at least one admin; make another first"]}
    assert project.memberships.get().role == "admin"


def test_members_are_listed_to_project_admins_only(project):
    client = client_for(member(project, Role.RESEARCHER))
    assert client.get(f"/api/projects/{project.pk}/members/").status_code == 403


def test_page_size_chooses_how_many_results_a_page_has(project):
    for _ in range(3):
        ProblemFactory(project=project)
    client = client_for(member(project, Role.ADMIN))
    body = client.get(f"/api/problems/?project={project.pk}&page_size=2").json()
    assert (body["count"], len(body["results"])) == (3, 2)


# Pages -----------------------------------------------------------------------------------------


def test_the_new_project_page_makes_a_project_and_opens_its_settings(client):
    # given
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    assert "New project" in client.get("/").content.decode()
    # when
    response = client.post(
        reverse("project-new"),
        {"name": "Algebra", "overlap": 2, "claim_timeout_minutes": 30, "show_ground_truth": "on"},
    )
    # then
    project = Project.objects.get(name="Algebra")
    assert response.status_code == 302
    assert response["Location"] == reverse("project-settings", args=[project.pk])
    assert (project.overlap, project.show_ground_truth, project.stop_at_first_bad_step) == (
        2,
        True,
        False,
    )


def test_the_new_project_page_is_for_site_admins(client, project):
    client.force_login(member(project, Role.ADMIN))
    assert "New project" not in client.get("/").content.decode()
    assert client.get(reverse("project-new")).status_code == 403


def test_the_settings_page_adds_a_member_and_says_why_it_cannot(client, project):
    # given
    client.force_login(member(project, Role.ADMIN))
    UserFactory(username="ann")
    url = reverse("project-member-set", args=[project.pk])
    # when
    added = client.post(url, {"username": "ann", "role": "annotator"})
    missing = client.post(url, {"username": "nobody", "role": "annotator"})
    # then
    assert added.status_code == 302
    assert project.memberships.get(user__username="ann").role == "annotator"
    assert missing.status_code == 400
    assert "no user named &#x27;nobody&#x27;; create the account first" in missing.content.decode()


def test_the_settings_page_is_for_project_admins(client, project):
    client.force_login(member(project, Role.RESEARCHER))
    assert client.get(reverse("project-settings", args=[project.pk])).status_code == 403


def settings_form(project, **changes):
    """What the settings page posts: every field as it stands, with `changes`."""
    data = {
        "name": project.name,
        "guidelines": project.guidelines,
        "record_guidelines": project.record_guidelines,
        "overlap": project.overlap,
        "claim_timeout_minutes": project.claim_timeout_minutes,
        "screening_threshold": "",
        "qc_rate": "0",
        "continuation_model": "",
    }
    return {**data, **changes}


def test_the_settings_page_has_the_screening_and_qc_section_and_saves_it(client, project):
    # given a generator and a scorer of the project, and a generator of another project
    from annotation.llm.models import ModelConfig

    def model(of, name, scorer_head=""):
        return ModelConfig.objects.create(
            project=of,
            name=name,
            kind="transformers",
            path_or_endpoint="/m",
            scorer_head=scorer_head,
        )

    generator = model(project, "gen")
    model(project, "prm", scorer_head="math-shepherd")
    elsewhere = model(ProjectFactory(), "other")
    client.force_login(member(project, Role.ADMIN))
    url = reverse("project-settings", args=[project.pk])
    # when
    page = client.get(url)
    # then: the section, its fields as on the Screening and QC page, the project's generators only
    form = page.context["form"]
    (section,) = [s for s in form.sections() if s["title"] == "Screening and quality control"]
    assert [field.name for field in section["fields"]] == [
        "screening_threshold",
        "qc_rate",
        "continuation_model",
        "queue_job_outputs",
    ]
    assert section["fields"][2].field.choices == [("", "None"), (generator.pk, generator.label)]
    # when saved with the rest of the settings
    changes = {"screening_threshold": "0.8", "qc_rate": "0.25", "queue_job_outputs": "on"}
    saved = client.post(url, settings_form(project, continuation_model=generator.pk, **changes))
    # then
    assert saved.status_code == 302
    project.refresh_from_db()
    assert (
        project.screening_threshold,
        project.qc_rate,
        project.continuation_model_id,
        project.queue_job_outputs,
    ) == (0.8, 0.25, generator.pk, True)
    # when a share is out of range, or the model is another project's
    bad_rate = client.post(url, settings_form(project, qc_rate="2", name="Renamed"))
    foreign = client.post(url, settings_form(project, continuation_model=elsewhere.pk))
    # then: 400, the field named, nothing saved (not even the name)
    assert bad_rate.status_code == 400
    assert bad_rate.context["form"].quality.errors == {"qc_rate": ["2.0 is not between 0 and 1."]}
    assert foreign.status_code == 400
    assert list(foreign.context["form"].quality.errors) == ["continuation_model"]
    name = project.name
    project.refresh_from_db()
    assert (project.name, project.qc_rate, project.continuation_model_id) == (
        name,
        0.25,
        generator.pk,
    )


def test_a_project_admin_sets_screening_qc_and_the_queue_through_the_api(project):
    # given
    admin = member(project, Role.ADMIN)
    # when
    response = client_for(admin).patch(
        f"/api/projects/{project.pk}/",
        {"screening_threshold": 0.8, "qc_rate": 0.1, "queue_job_outputs": True},
        format="json",
    )
    # then
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["screening_threshold"], body["qc_rate"], body["queue_job_outputs"]) == (
        0.8,
        0.1,
        True,
    )
    project.refresh_from_db()
    assert (project.screening_threshold, project.qc_rate, project.queue_job_outputs) == (
        0.8,
        0.1,
        True,
    )
    assert project.continuation_model_id is None  # not named: unchanged


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"qc_rate": 1.5}, "qc_rate"),
        ({"screening_threshold": -0.1}, "screening_threshold"),
        ({"qc_rate": "often"}, "qc_rate"),
        ({"continuation_model": 999999}, "continuation_model"),
    ],
)
def test_bad_quality_settings_are_400_naming_the_field_and_change_nothing(project, body, field):
    admin = member(project, Role.ADMIN)
    response = client_for(admin).patch(
        f"/api/projects/{project.pk}/", {"guidelines": "changed", **body}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == [field]
    project.refresh_from_db()
    assert (project.guidelines, project.qc_rate, project.screening_threshold) == ("", 0.0, None)


def test_a_continuation_model_of_another_project_is_refused(project):
    from annotation.llm.services import model_config_create

    admin = member(project, Role.ADMIN)
    foreign = model_config_create(
        project=ProjectFactory(name="other"),
        name="gen",
        kind="transformers",
        path_or_endpoint="/nowhere",
    )
    response = client_for(admin).patch(
        f"/api/projects/{project.pk}/", {"continuation_model": foreign.pk}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["continuation_model"]
    project.refresh_from_db()
    assert project.continuation_model_id is None


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER, Role.RESEARCHER])
def test_the_quality_settings_are_shown_to_project_admins_only(project, role):
    listed = client_for(member(project, role)).get(f"/api/projects/{project.pk}/").json()
    managed = client_for(member(project, Role.ADMIN)).get(f"/api/projects/{project.pk}/").json()
    quality = {"screening_threshold", "qc_rate", "continuation_model", "queue_job_outputs"}
    assert not quality & set(listed)
    assert quality <= set(managed)
