"""Identity of step nodes: a step is the same node wherever the same prefix leads to it.

Pure: no Django. `place_steps` is the one place that turns the steps of a trace into node ids,
parents and depths; the ORM writer (`problems.services`) and the importer's COPY build their
rows from it.
"""

import hashlib
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol, TypeVar

from annotation.core.text_policy import without_invisible


def node_id(
    problem_id: int, parent_id: uuid.UUID | None, kind: str, text: str, copy: int = 0
) -> uuid.UUID:
    return uuid.UUID(
        bytes=node_id_bytes(problem_id, parent_id.bytes if parent_id else None, kind, text, copy)
    )


def node_id_bytes(
    problem_id: int, parent_id: bytes | None, kind: str, text: str, copy: int = 0
) -> bytes:
    """`node_id`'s 16 bytes, with the parent's id as bytes too: no UUID object is made, which
    counts at an import's millions of steps. `copy` > 0: the copy-th repeat of the same text
    offered again at the same place of one trace (a node of its own: see `place_steps`)."""
    key = f"{problem_id}\x1f{parent_id.hex() if parent_id else ''}\x1f{kind}\x1f{text}"
    if copy:
        key += f"\x1f{copy}"
    return hashlib.sha256(key.encode()).digest()[:16]


def text_digest(text: str) -> str:
    """A problem's identity across imports: sha256 of the text's NFC form without invisible
    characters, so the same text with composed or decomposed accents (é, or e and U+0301), or
    with a zero-width space (annotation/core/text_policy.py), is one problem. The text itself
    is kept as written. See "Unicode normalisation" in docs/frontend.md."""
    visible = without_invisible(text)
    return hashlib.sha256(unicodedata.normalize("NFC", visible).encode()).hexdigest()


class StepAt(Protocol):
    """A step shown at a position of a trace (an import record's step, a writer's step)."""

    @property
    def position(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def on_path(self) -> bool: ...


S = TypeVar("S", bound=StepAt)


def place_steps(
    problem_id: int, steps: Iterable[S], existing: Mapping[int, uuid.UUID] | None = None
) -> Iterator[tuple[S, uuid.UUID, uuid.UUID | None, int]]:
    """(step, node id, parent id, depth) for each step, the steps ordered by position.

    A step hangs under the path's step at the position before it, so the alternatives offered
    at a position (PRM800K's completions) are siblings and the path continues from the one on
    it. `existing` puts a node that is already in the tree (a tree node a long thought walks)
    at a path position; the next step then hangs under it. Depth is position + 1.

    The same text offered twice at one position of a trace (a sampler that repeated itself in
    PRM800K's completions) is two nodes, the second a copy: each keeps its own rating.
    """
    return _placed(problem_id, steps, existing, node_id)


def place_steps_as_bytes(
    problem_id: int, steps: Iterable[S]
) -> Iterator[tuple[S, bytes, bytes | None, int]]:
    """`place_steps` (with no `existing`) giving ids as `node_id_bytes`."""
    return _placed(problem_id, steps, None, node_id_bytes)


NodeId = TypeVar("NodeId", uuid.UUID, bytes)


def _placed(
    problem_id: int,
    steps: Iterable[S],
    existing: Mapping[int, NodeId] | None,
    make_id: Callable[[int, NodeId | None, str, str, int], NodeId],
) -> Iterator[tuple[S, NodeId, NodeId | None, int]]:
    path: dict[int, NodeId] = {}
    offered: dict[tuple[int, NodeId], int] = {}  # how often a node was offered at a position
    for step in steps:
        position = step.position
        parent = path.get(position - 1)
        if existing is not None and step.on_path and position in existing:
            nid = existing[position]
        else:
            nid = make_id(problem_id, parent, step.kind, step.text, 0)
            copies = offered.get((position, nid), 0)
            offered[(position, nid)] = copies + 1
            if copies:
                nid = make_id(problem_id, parent, step.kind, step.text, copies)
        if step.on_path:
            path[position] = nid
        yield step, nid, parent, position + 1
