"""The four methods that make long thoughts (O1-Journey): their names, filters and which
made a trace."""

from __future__ import annotations

from django.db.models import Q

from annotation.jobs.models import JobKind
from annotation.problems.models import Origin, Trace

# Jobs in which the model steers its own long thought; each is also the metadata `kind` of
# its long thoughts.
STEERED_KINDS: tuple[str, ...] = (JobKind.PROPOSAL_CRITIQUE.value, JobKind.POLICY_CRITIC.value)
# Jobs whose TreeNode rows are trees (rounds the tree view shows).
TREE_KINDS: tuple[str, ...] = (JobKind.TREE.value, *STEERED_KINDS)
# How a long thought was made: the four ways of the O1-Journey report.
METHODS: dict[str, str] = {
    "tree": "tree search",
    JobKind.PROPOSAL_CRITIQUE.value: "proposal-critique",
    JobKind.POLICY_CRITIC.value: "policy-critic",
    "expansion": "expanded record",
}
METHOD_FILTERS: dict[str, Q] = {
    # a steered loop's long thought and shortcut name their method in metadata
    "tree": (
        Q(origin=Origin.TREE)
        | Q(origin=Origin.LONG_THOUGHT, metadata__kind__in=["draft", "rewrite"])
    )
    & ~Q(metadata__has_key="method"),
    **{kind: Q(metadata__method=kind) for kind in STEERED_KINDS},
    "expansion": Q(origin=Origin.EXPANSION),
}


LONG_THOUGHT_ORIGINS = (Origin.LONG_THOUGHT, Origin.EXPANSION)


def method_of(trace: Trace) -> str | None:
    """The method (a key of METHODS) that made a tree path, long thought or expansion; None
    for other traces (samples, imports, people's work)."""
    method = (trace.metadata or {}).get("method")
    if method in STEERED_KINDS:
        return str(method)
    if trace.origin == Origin.EXPANSION:
        return "expansion"
    return "tree" if trace.origin in (Origin.TREE, Origin.LONG_THOUGHT) else None
