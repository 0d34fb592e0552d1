"""The policy-critic dialogue (O1-Journey, attempt 3): one model reasons, another checks it.

Turns alternate: the policy writes the next step (a ``step`` node under the current one), then
the critic judges it with a verdict and a reason:

- ``continue``: the walk goes on from the step;
- ``reflect``: the walk goes back to the step's parent, where the policy redoes the step; the
  long thought says "Wait, this doesn't look right: <reason>." after the step;
- ``backtrack to step N``: the walk goes back to step N, an ancestor of the step (0 is the
  problem); the long thought says the same, then "Let me go back to where I was after ...".

A critic reply that cannot be read is asked for once more (a retry turn with the error); when
the second reply cannot be read either, the verdict is recorded as ``unreadable`` and taken as
``continue``: the critic found nothing it could name, and the ground truth still stops a wrong
final answer. A step that gives a final answer (``final_answer``, e.g. ``extract_answer``) is
graded against the ground truth and that grade, not the verdict, decides: correct ends the
dialogue (``solved``), ungradable ends it (``unverified``), wrong makes the step a dead end
(the policy is told so and the walk goes back to the step's parent). Limits as in
``steering.Limits``; the critic's tokens count too, its turns do not count as steps, and a
backtrack beyond ``max_backtracks`` ends the dialogue.

Every verdict is a judge grade of its step under the critic's own grade source
(``steering.StepGrade``: 1.0 continue, 0.0 reflect or backtrack, no grade when unreadable): an
opinion, never a step label unless an export asks for that source. On the tree node (``score``,
``judged_correct``, ``reason``, and a rejection as the ``critic`` wrong verdict) it is set only
where the answer check did not decide: a final answer's node keeps the check's verdict.
The long thought is the policy's steps in the order written,
with the critic's reasons rendered as reflections by ``long_thought.draft_paragraphs``.

A turn is one generator call: when any running dialogue waits for its critic, the turn is the
critic's (for those dialogues only), otherwise the policy's for every running dialogue.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from algorithms.long_thought import ThoughtEvent, default_reflection
from algorithms.prompts import render_prompt
from algorithms.steering import (
    NEGATIVE_SIGNAL,
    GradeAnswers,
    Limits,
    Move,
    Prompt,
    Response,
    Role,
    SteeredResult,
    SteeredState,
    StepGrade,
    Turn,
    UnreadableReply,
    advance_batch,
    answer_stop,
    child_node,
    labelled_line,
    limit_stop,
    parse_move,
    path_to,
    replay,
    result_of,
    root_nodes,
    token_stop,
    wrong_leaf_events,
)
from algorithms.tree_search import ROOT_ID, ProblemSpec, TreeNode, Verdict

VERSION = "policy-critic v1"  # the verdict vocabulary, the parser, the prompts, the rendering

VERDICTS = ("continue", "reflect", "backtrack to step N")

POLICY_PROMPT = """\
Solve the math problem below one step at a time. A critic checks every step you write. Reply \
with the next step only, as one paragraph. When you have the final answer, write it as \
\\boxed{answer}.

Problem:
{{ problem }}

The dialogue so far:
{{ dialogue }}

You are {{ position }}. Write step {{ number }}."""

CRITIC_PROMPT = """\
You check a solution to a math problem one step at a time.

Problem:
{{ problem }}

The dialogue so far:
{{ dialogue }}

New step {{ number }}, written {{ position }}:
{{ step }}

Judge step {{ number }}. Reply with exactly two lines:
VERDICT: continue, reflect, or backtrack to step N
REASON: why, in one sentence
Say continue if the step is right, reflect if the step should be redone, and backtrack to step \
N if the approach went wrong after step N (one of {{ targets }}; 0 is the beginning)."""

CRITIC_RETRY = (
    "Your previous reply could not be read: {{ error }}. "
    "Reply again with exactly the two lines VERDICT and REASON."
)

EMPTY_NOTE = "NOTE: Your last reply was empty. Write the next step."


@dataclass(frozen=True)
class PromptSet:
    """The versioned texts the dialogue sends; ``{{ name }}`` placeholders as in ``prompts``."""

    label: str = VERSION
    policy: str = POLICY_PROMPT
    critic: str = CRITIC_PROMPT
    critic_retry: str = CRITIC_RETRY
    negative_signal: str = NEGATIVE_SIGNAL
    empty: str = EMPTY_NOTE


PROMPTS = PromptSet()
# Every version a job may run with, by label (a job stores the texts it started with).
PROMPT_SETS: dict[str, PromptSet] = {PROMPTS.label: PROMPTS}


@dataclass(frozen=True)
class DialogueState(SteeredState):
    """One problem's dialogue: its nodes are all policy steps; while ``awaiting`` is ``critic``
    the step being judged is the last node. ``retry_error`` is set between an unreadable critic
    reply and its retry; ``empty_reply`` tells the policy its last reply was empty."""

    awaiting: Role = "policy"
    retry_error: str | None = None
    empty_reply: bool = False
    grades: tuple[StepGrade, ...] = ()

    @property
    def steps(self) -> int:
        """Policy turns so far, empty replies included."""
        return sum(1 for turn in self.turns if turn.role == "policy")


def start(problems: Sequence[ProblemSpec], limits: Limits) -> list[DialogueState]:
    return [
        DialogueState(problem=problem, limits=limits, nodes=root_nodes(problem))
        for problem in problems
    ]


def resume(problem: ProblemSpec, limits: Limits, turns: Sequence[Turn]) -> DialogueState:
    """The state after ``turns``, a state's transcript stored between turns (see
    ``steering.replay``)."""
    return replay(start([problem], limits)[0], turns, _apply)


def parse_verdict(text: str, *, targets: Collection[int]) -> tuple[Move, str]:
    """(verdict, reason) from the first ``VERDICT:`` line (continue, reflect, or backtrack to
    step N with N in ``targets``) and the first ``REASON:`` line after it (the reason is the
    rest of the reply from there). Raises UnreadableReply when either is missing or wrong."""
    verdict = labelled_line(text, "VERDICT")
    if verdict is None:
        raise UnreadableReply("there is no VERDICT line")
    move = parse_move(verdict[1], targets=targets, allow_terminate=False)
    found = labelled_line(verdict[2], "REASON")
    if found is None:
        raise UnreadableReply("there is no REASON line after the VERDICT line")
    reason = (found[1] + found[2]).strip()
    if not reason:
        raise UnreadableReply("the reason is empty")
    return move, reason


def critic_targets(state: DialogueState) -> tuple[int, ...]:
    """Where the critic may send the walk back: the judged step's ancestors, root included."""
    judged = state.nodes[-1]
    return path_to(state.nodes, judged.parent if judged.parent is not None else ROOT_ID)


def turn_role(states: Sequence[DialogueState]) -> Role | None:
    """Whose turn is next: the critic's while any running dialogue waits for it."""
    running = [state.awaiting for state in states if state.stop is None]
    if not running:
        return None
    return "critic" if "critic" in running else "policy"


def prompts(states: Sequence[DialogueState], prompt_set: PromptSet = PROMPTS) -> list[Prompt]:
    """The next turn's prompts, all for the same role (``turn_role``), in ``states`` order."""
    render = _critic_prompt if turn_role(states) == "critic" else _policy_prompt
    return [
        Prompt(index=index, role=states[index].awaiting, text=render(states[index], prompt_set))
        for index in _waiting(states)
    ]


def advance(
    states: Sequence[DialogueState],
    responses: Sequence[Response],
    grade_answers: GradeAnswers,
    final_answer: Callable[[str], str | None],
) -> list[DialogueState]:
    """The states after ``responses``, one per prompt of ``prompts(states)`` in that order.
    ``final_answer`` reads a policy step's final answer (None when it gives none); every final
    answer of the turn is graded in one ``grade_answers`` call."""

    def answer_of(state: DialogueState, response: Response) -> str | None:
        step = response.text.strip()
        return final_answer(step) if state.awaiting == "policy" and step else None

    return advance_batch(
        states,
        _waiting(states),
        responses,
        answer_of=answer_of,
        grade_answers=grade_answers,
        apply=_apply,
    )


def finish(state: DialogueState) -> SteeredResult:
    """The dialogue's tree (with the critic's grades), long thought, transcript and counts."""
    return result_of(
        state, version=VERSION, counts=_counts(state), grades=state.grades, reflection=_reflection
    )


def _waiting(states: Sequence[DialogueState]) -> list[int]:
    """The running dialogues whose turn is next."""
    role = turn_role(states)
    return [i for i, state in enumerate(states) if state.stop is None and state.awaiting == role]


def _apply(
    state: DialogueState, response: Response, answer: str | None, correct: bool | None
) -> DialogueState:
    if state.awaiting == "policy":
        return _apply_step(state, response, answer, correct)
    return _apply_verdict(state, response)


def _apply_step(
    state: DialogueState, response: Response, answer: str | None, correct: bool | None
) -> DialogueState:
    tokens = state.tokens + response.tokens
    step = response.text.strip()
    if not step:
        turns = (*state.turns, Turn("policy", response.text, response.tokens, "empty"))
        stop = limit_stop(state.limits, steps=state.steps + 1, tokens=tokens)
        return replace(state, turns=turns, tokens=tokens, empty_reply=True, stop=stop)
    node = child_node(
        state.nodes, state.position, step, "step", final_answer=answer, is_correct=correct
    )
    turn = Turn("policy", response.text, response.tokens, f"step {node.id}", answer, correct)
    return replace(
        state,
        nodes=(*state.nodes, node),
        events=(*state.events, ThoughtEvent("step", node.id)),
        turns=(*state.turns, turn),
        tokens=tokens,
        awaiting="critic",
        empty_reply=False,
        stop=token_stop(state.limits, tokens),  # a step that reaches the limit is not judged
    )


def _apply_verdict(state: DialogueState, response: Response) -> DialogueState:
    tokens = state.tokens + response.tokens
    judged = state.nodes[-1]
    try:
        move, reason = parse_verdict(response.text, targets=critic_targets(state))
    except UnreadableReply as error:
        if state.retry_error is None:
            outcome = f"unreadable, asked again: {error}"
            turn = Turn("critic", response.text, response.tokens, outcome)
            stop = token_stop(state.limits, tokens)
            return replace(
                state, turns=(*state.turns, turn), tokens=tokens, retry_error=str(error), stop=stop
            )
        grade = StepGrade(judged.id, "unreadable", None, None)
        move, outcome = Move(name="continue"), f"unreadable again, taken as continue: {error}"
    else:
        assert move.name != "terminate"
        grade = StepGrade(judged.id, move.name, move.target, reason)
        outcome = str(move)
    graded = _graded_node(judged, grade)
    assert judged.parent is not None
    position, events, backtracks, stop = judged.id, state.events, state.backtracks, None
    if judged.final_answer is not None:
        stop = answer_stop(judged.is_correct)
        if judged.is_correct is False:
            position, events = judged.parent, events + wrong_leaf_events(judged)
    elif move.name == "reflect":
        position, events = judged.parent, (*events, ThoughtEvent("wrong_leaf", judged.id))
    elif move.name == "backtrack" and backtracks >= state.limits.max_backtracks:
        position, stop = judged.parent, "max_backtracks"
    elif move.name == "backtrack":
        assert move.target is not None
        position, backtracks = move.target, backtracks + 1
        events = (
            *events,
            ThoughtEvent("wrong_leaf", judged.id),
            ThoughtEvent("backtrack", move.target),
        )
    turns = (*state.turns, Turn("critic", response.text, response.tokens, outcome))
    return replace(
        state,
        nodes=(*state.nodes[:-1], graded),
        position=position,
        events=events,
        turns=turns,
        tokens=tokens,
        backtracks=backtracks,
        awaiting="policy",
        retry_error=None,
        grades=(*state.grades, grade),
        stop=stop or limit_stop(state.limits, steps=state.steps, tokens=tokens),
    )


def _graded_node(judged: TreeNode, grade: StepGrade) -> TreeNode:
    """The node with the critic's verdict, unless the answer check decided it: then the
    check's verdict (``child_node``) stands and the critic's stays an opinion under its own
    grade source. A rejection is a wrong verdict of the critic."""
    if judged.is_correct is not None:
        return judged
    rejected = grade.score == 0.0
    return replace(
        judged,
        score=grade.score,
        judged_correct=None if grade.score is None else not rejected,
        reason=grade.reason,
        wrong=Verdict("critic", 0.0) if rejected else None,
    )


def _policy_prompt(state: DialogueState, prompt_set: PromptSet) -> str:
    entries = _dialogue(state, state.nodes[1:], prompt_set)
    if state.empty_reply:
        entries.append(prompt_set.empty)
    return render_prompt(
        prompt_set.policy,
        {
            "problem": state.problem.text,
            "dialogue": "\n\n".join(entries) or "(none yet)",
            "position": _where(state.position),
            "number": str(len(state.nodes)),
        },
    )


def _critic_prompt(state: DialogueState, prompt_set: PromptSet) -> str:
    judged = state.nodes[-1]
    assert judged.parent is not None
    text = render_prompt(
        prompt_set.critic,
        {
            "problem": state.problem.text,
            "dialogue": "\n\n".join(_dialogue(state, state.nodes[1:-1], prompt_set))
            or "(none yet)",
            "number": str(judged.id),
            "position": _where(judged.parent),
            "step": judged.text,
            "targets": ", ".join(str(target) for target in critic_targets(state)),
        },
    )
    if state.retry_error is None:
        return text
    return text + "\n\n" + render_prompt(prompt_set.critic_retry, {"error": state.retry_error})


def _where(node_id: int) -> str:
    return f"after step {node_id}" if node_id != ROOT_ID else "at the beginning"


def _dialogue(state: DialogueState, nodes: Sequence[TreeNode], prompt_set: PromptSet) -> list[str]:
    """Each step, the critic's verdict on it, and the negative signal after a wrong answer."""
    grades = {grade.node_id: grade for grade in state.grades}
    entries = []
    for node in nodes:
        entry = f"Step {node.id}: {node.text}"
        if (grade := grades.get(node.id)) is not None:
            entry += "\nCritic: " + _verdict_line(grade)
        if node.is_correct is False:
            signal = {"answer": node.final_answer or "", "step": str(node.id)}
            entry += "\n" + render_prompt(prompt_set.negative_signal, signal)
        entries.append(entry)
    return entries


def _verdict_line(grade: StepGrade) -> str:
    if grade.verdict == "unreadable":
        return "(no readable verdict)"
    move = Move(name=grade.verdict, target=grade.target)
    return f"{move}. {grade.reason}"


def _reflection(node: TreeNode) -> str:
    """The critic's reason when it rejected the step; otherwise (a wrong final answer it let
    pass) the answer."""
    return default_reflection(node if node.judged_correct is False else replace(node, reason=None))


def _counts(state: DialogueState) -> dict[str, int]:
    verdicts = [grade.verdict for grade in state.grades]
    return {
        "steps": len(state.nodes) - 1,
        "continues": verdicts.count("continue"),
        # Verdicts on a final answer only grade it: the answer's grade decides.
        "reflections": sum(
            1
            for grade in state.grades
            if grade.verdict == "reflect" and state.nodes[grade.node_id].final_answer is None
        ),
        "backtracks": state.backtracks,
        "unreadable": verdicts.count("unreadable"),
        "retries": sum(1 for turn in state.turns if turn.outcome.startswith("unreadable, asked")),
        "wrong_answers": sum(1 for node in state.nodes if node.is_correct is False),
    }
