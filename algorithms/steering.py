"""What the two loops in which a model steers its own long thought share (O1-Journey attempts 2
and 3, ``proposal_critique`` and ``policy_critic``): limits, generator responses and prompts,
the transcript, the move vocabulary and its parser, the negative signal, and the result.

Both loops are batched state machines over immutable per-problem states: ``prompts(states)``
gives one prompt per problem that takes part in the next turn (one generator call),
``advance(states, responses, grade_answers)`` applies the responses, grading every final answer
of the turn in one call. A state's tree holds the nodes in the order they were written, so
node ids are the visit order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, TypeVar

from algorithms.long_thought import LongThought, Paragraph, ThoughtEvent, draft_paragraphs
from algorithms.tree_search import ROOT_ID, NodeKind, ProblemSpec, Tree, TreeNode, Verdict

Role = Literal["policy", "critic"]
StopReason = Literal["solved", "unverified", "max_steps", "max_backtracks", "max_tokens"]
MoveName = Literal["continue", "reflect", "backtrack", "terminate"]

# Batched answer grading: (final answer, problem) pairs -> correct, wrong, or None when it
# cannot be decided (no ground truth). The runner passes answers_equivalent_many.
GradeAnswers = Callable[[Sequence[tuple[str, ProblemSpec]]], Sequence[bool | None]]

# Told to the model after a final answer graded wrong (both loops, version 1).
NEGATIVE_SIGNAL = (
    "FEEDBACK: The final answer {{ answer }} in step {{ step }} is not correct. "
    "Reflect on what went wrong, then go back to an earlier step or try another way."
)
# Told to the model when an attempt used its steps without an answer (proposal-critique).
NO_ANSWER_SIGNAL = (
    "FEEDBACK: Your last attempt used its {{ steps }} steps without reaching a final answer. "
    "Reflect on what went wrong, then try another way from the beginning."
)


@dataclass(frozen=True)
class Limits:
    """Per problem. ``max_steps`` counts policy turns, readable or not; ``max_backtracks`` the
    backtracks applied (one more request ends the loop); ``max_tokens`` the generated tokens of
    every role (the loop ends at the turn that reaches it)."""

    max_steps: int
    max_backtracks: int
    max_tokens: int
    # Proposal-critique: attempts that may follow one that used its max_steps without an answer
    # (the model is told so and starts again from the problem); 0: the loop ends there.
    retries: int = 0

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.max_backtracks < 0 or self.max_tokens < 1:
            raise ValueError(
                "max_steps and max_tokens must be at least 1 and max_backtracks at least 0"
            )
        if self.retries < 0:
            raise ValueError("retries must be at least 0")


@dataclass(frozen=True)
class Response:
    """One generation: its text and the number of tokens it took."""

    text: str
    tokens: int


@dataclass(frozen=True)
class Prompt:
    """A prompt of the next turn for ``states[index]``, to be sent to the ``role``'s model."""

    index: int
    role: Role
    text: str


@dataclass(frozen=True)
class Turn:
    """One response in a problem's transcript and what it did (``outcome``, for people);
    ``answer`` and ``correct`` are the final answer graded in this turn, if any."""

    role: Role
    text: str
    tokens: int
    outcome: str
    answer: str | None = None
    correct: bool | None = None


@dataclass(frozen=True)
class Move:
    """A parsed action or verdict: continue, reflect, backtrack to step ``target``, terminate
    with ``answer``."""

    name: MoveName
    target: int | None = None
    answer: str | None = None

    def __str__(self) -> str:
        if self.name == "backtrack":
            return f"backtrack to step {self.target}"
        if self.name == "terminate":
            return f"terminate, answer: {self.answer}"
        return self.name


@dataclass(frozen=True)
class StepGrade:
    """The critic's verdict on one policy step, as a judge grade: ``score`` 1.0 for continue,
    0.0 for reflect or backtrack, None (no grade) when its reply stayed unreadable."""

    node_id: int
    verdict: Literal["continue", "reflect", "backtrack", "unreadable"]
    target: int | None
    reason: str | None

    @property
    def score(self) -> float | None:
        return {"continue": 1.0, "reflect": 0.0, "backtrack": 0.0}.get(self.verdict)


@dataclass(frozen=True)
class SteeredResult:
    """A problem's loop: its tree (node kinds, final answers, critic grades), the long thought
    that visits the tree's nodes in id order, and the transcript.

    ``thought.path`` ends on the correct conclusion when solved, otherwise on the last position.
    ``paragraphs`` are ``draft_paragraphs(tree, thought)``: a ``step`` paragraph is a tree node
    and has its text; a ``reflection`` paragraph is said after the wrong node ``node_id``."""

    problem: ProblemSpec
    version: str
    stop: StopReason | None
    tree: Tree
    thought: LongThought
    paragraphs: tuple[Paragraph, ...]
    turns: tuple[Turn, ...]
    counts: dict[str, int]
    grades: tuple[StepGrade, ...] = ()

    @property
    def solved(self) -> bool:
        return self.stop == "solved"

    @property
    def text(self) -> str:
        return "\n\n".join(paragraph.text for paragraph in self.paragraphs)


@dataclass(frozen=True)
class SteeredState:
    """What every steered loop keeps of one problem (each loop's state adds its own fields).
    ``nodes[i]`` is node i (the root, the problem, is 0); ``position`` the node the next step
    goes under; ``events`` the long thought's walk so far; ``turns`` the transcript; ``tokens``
    what every role generated; ``backtracks`` those applied; ``stop`` is None while it runs."""

    problem: ProblemSpec
    limits: Limits
    nodes: tuple[TreeNode, ...]
    position: int = ROOT_ID
    events: tuple[ThoughtEvent, ...] = ()
    turns: tuple[Turn, ...] = ()
    tokens: int = 0
    backtracks: int = 0
    stop: StopReason | None = None


class UnreadableReply(ValueError):
    """A model's reply does not follow the format its prompt asked for."""


_BACKTRACK = re.compile(r"backtrack\s+to\s+step\s+(\d+)", re.IGNORECASE)
_TERMINATE = re.compile(
    r"terminate(?:\s*,\s*|\s+with\s+)answer\s*(?::\s*)?([^:\s].*)", re.IGNORECASE
)


def parse_move(words: str, *, targets: Collection[int], allow_terminate: bool) -> Move:
    """One of ``continue``, ``reflect``, ``backtrack to step N`` with N in ``targets``, and when
    allowed ``terminate, answer: X``; case-insensitive, one final period ignored."""
    words = " ".join(words.split()).removesuffix(".").strip()
    if words.lower() in ("continue", "reflect"):
        return Move(name="continue" if words.lower() == "continue" else "reflect")
    if backtrack := _BACKTRACK.fullmatch(words):
        target = int(backtrack.group(1))
        if target not in targets:
            choices = ", ".join(str(t) for t in sorted(targets))
            raise UnreadableReply(f"step {target} is not one to go back to (choose {choices})")
        return Move(name="backtrack", target=target)
    if allow_terminate and (terminate := _TERMINATE.fullmatch(words)):
        return Move(name="terminate", answer=terminate.group(1).strip())
    expected = "continue, reflect, backtrack to step N" + (
        " or terminate, answer: X" if allow_terminate else ""
    )
    raise UnreadableReply(f"unknown action {words!r}: expected {expected}")


def labelled_line(text: str, label: str) -> tuple[str, str, str] | None:
    """(text before, the rest of the first line that starts with ``label:``, text after), or
    None when no line does; the label is case-insensitive."""
    match = re.search(rf"^[ \t]*{label}[ \t]*:(.*)$", text, re.IGNORECASE | re.MULTILINE)
    if match is None:
        return None
    return text[: match.start()], match.group(1), text[match.end() :]


# --- nodes and stops ---------------------------------------------------------------------------


def root_nodes(problem: ProblemSpec) -> tuple[TreeNode, ...]:
    return (TreeNode(id=ROOT_ID, parent=None, depth=0, text=problem.text),)


def child_node(
    nodes: Sequence[TreeNode],
    parent: int,
    text: str,
    kind: NodeKind,
    *,
    final_answer: str | None = None,
    is_correct: bool | None = None,
) -> TreeNode:
    """The next node (id ``len(nodes)``) under ``parent``."""
    return TreeNode(
        id=len(nodes),
        parent=parent,
        depth=nodes[parent].depth + 1,
        text=text,
        kind=kind,
        final_answer=final_answer,
        is_correct=is_correct,
        wrong=Verdict("answer", 0.0) if is_correct is False else None,
    )


def path_to(nodes: Sequence[TreeNode], node_id: int) -> tuple[int, ...]:
    """Node ids from the root to ``node_id``, both included."""
    ids: list[int] = []
    current: int | None = node_id
    while current is not None:
        ids.append(current)
        current = nodes[current].parent
    return tuple(reversed(ids))


def wrong_leaf_events(node: TreeNode) -> tuple[ThoughtEvent, ...]:
    """A final answer graded wrong: a dead end, and the walk goes back to the node before it."""
    assert node.parent is not None
    return (ThoughtEvent("wrong_leaf", node.id), ThoughtEvent("backtrack", node.parent))


def answer_stop(correct: bool | None) -> StopReason | None:
    """A correct final answer ends the loop; so does one that cannot be graded (there is no
    ground truth to tell the model it is wrong); a wrong one does not."""
    if correct is None:
        return "unverified"
    return "solved" if correct else None


def token_stop(limits: Limits, tokens: int) -> StopReason | None:
    return "max_tokens" if tokens >= limits.max_tokens else None


def limit_stop(limits: Limits, *, steps: int, tokens: int) -> StopReason | None:
    if stop := token_stop(limits, tokens):
        return stop
    return "max_steps" if steps >= limits.max_steps else None


class LoopState(Protocol):
    """What the shared batching needs of a problem's state."""

    @property
    def problem(self) -> ProblemSpec: ...

    @property
    def stop(self) -> StopReason | None: ...

    @property
    def awaiting(self) -> Role: ...

    @property
    def turns(self) -> tuple[Turn, ...]: ...


S = TypeVar("S", bound=LoopState)
Apply = Callable[[S, Response, str | None, bool | None], S]


def advance_batch(
    states: Sequence[S],
    indexes: Sequence[int],
    responses: Sequence[Response],
    *,
    answer_of: Callable[[S, Response], str | None],
    grade_answers: GradeAnswers,
    apply: Apply[S],
) -> list[S]:
    """Apply ``responses[i]`` to ``states[indexes[i]]`` (the turn's prompts in order); the final
    answers the responses give are graded in one ``grade_answers`` call."""
    if len(responses) != len(indexes):
        raise ValueError(f"expected {len(indexes)} responses, one per prompt, got {len(responses)}")
    answers = [
        answer_of(states[index], response)
        for index, response in zip(indexes, responses, strict=True)
    ]
    to_grade = [
        (answer, states[index].problem)
        for index, answer in zip(indexes, answers, strict=True)
        if answer is not None
    ]
    grades = list(grade_answers(to_grade)) if to_grade else []
    if len(grades) != len(to_grade):
        raise ValueError(f"grade_answers must return {len(to_grade)} grades, got {len(grades)}")
    graded = iter(grades)
    outcomes = [next(graded) if answer is not None else None for answer in answers]
    new_states = list(states)
    for index, response, answer, correct in zip(indexes, responses, answers, outcomes, strict=True):
        new_states[index] = apply(states[index], response, answer, correct)
    return new_states


def replay(state: S, turns: Sequence[Turn], apply: Apply[S]) -> S:
    """``state`` after ``turns`` (a transcript, e.g. stored between turns): each reply applied
    again with the grade it got, so no model and no grader are needed."""
    for number, turn in enumerate(turns, start=1):
        if state.stop is not None:
            raise ValueError(f"the loop ended ({state.stop}) before turn {number}")
        if turn.role != state.awaiting:
            raise ValueError(f"turn {number} is the {turn.role}'s, not the {state.awaiting}'s")
        state = apply(state, Response(turn.text, turn.tokens), turn.answer, turn.correct)
    return state


def result_of(
    state: SteeredState,
    *,
    version: str,
    counts: dict[str, int],
    grades: tuple[StepGrade, ...] = (),
    reflection: Callable[[TreeNode], str] | None = None,
) -> SteeredResult:
    """The result of a loop whose walk ended on ``state.position``; the tree is a fresh copy."""
    problem, nodes = state.problem, state.nodes
    tree = Tree(problem=problem, nodes=[replace(node) for node in nodes])
    thought = LongThought(path=path_to(nodes, state.position), events=state.events)
    paragraphs = draft_paragraphs(tree, thought, reflection=reflection)
    return SteeredResult(
        problem=problem,
        version=version,
        stop=state.stop,
        tree=tree,
        thought=thought,
        paragraphs=tuple(paragraphs),
        turns=state.turns,
        counts=counts,
        grades=grades,
    )
