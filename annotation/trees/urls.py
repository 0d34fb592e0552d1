from django.urls import URLPattern, URLResolver, path

from annotation.trees import api, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<int:project_id>/trees/", views.trees_home, name="trees-home"),
    path("projects/<int:project_id>/trees/start/", views.start_tree, name="trees-start"),
    path(
        "projects/<int:project_id>/trees/long-thoughts/start/",
        views.start_long_thought,
        name="trees-start-long-thought",
    ),
    path("projects/<int:project_id>/trees/compare/", views.compare_page, name="trees-compare"),
    path("projects/<int:project_id>/trees/outputs/", views.outputs_page, name="trees-outputs"),
    path("projects/<int:project_id>/trees/stats/", views.stats_page, name="trees-stats"),
    path("trees/jobs/<int:job_id>/", views.job_page, name="trees-job"),
    path("trees/rounds/<int:job_id>/", views.round_page, name="trees-round"),
    path(
        "trees/rounds/<int:job_id>/problems/<int:problem_id>/",
        views.tree_page,
        name="trees-tree",
    ),
    path(
        "trees/rounds/<int:job_id>/problems/<int:problem_id>/tree.json",
        views.TreeJson.as_view(),
        name="trees-tree-json",
    ),
    path(
        "trees/rounds/<int:job_id>/problems/<int:problem_id>/nodes/<int:index>.json",
        views.NodeJson.as_view(),
        name="trees-node-json",
    ),
    path(
        "projects/<int:project_id>/trees/proposal-critique/start/",
        views.start_proposal_critique,
        name="trees-start-proposal-critique",
    ),
    path(
        "projects/<int:project_id>/trees/policy-critic/start/",
        views.start_policy_critic,
        name="trees-start-policy-critic",
    ),
    path("trees/thoughts/<int:trace_id>/", views.thought_page, name="trees-thought"),
    path("trees/problems/<int:problem_id>/methods/", views.methods_page, name="trees-methods"),
    path("api/trees/jobs/", api.StartTreeApi.as_view(), name="trees-api-start"),
    path(
        "api/trees/long-thoughts/",
        api.StartLongThoughtApi.as_view(),
        name="trees-api-start-long-thought",
    ),
    path(
        "api/trees/proposal-critique/",
        api.StartProposalCritiqueApi.as_view(),
        name="trees-api-start-proposal-critique",
    ),
    path(
        "api/trees/policy-critic/",
        api.StartPolicyCriticApi.as_view(),
        name="trees-api-start-policy-critic",
    ),
]
