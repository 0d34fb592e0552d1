"""The proposal-critique loop (O1-Journey, attempt 2): the model builds its reasoning tree itself.

Every turn the policy writes one step and ends it with an action line, ``ACTION: ...``:

| action | the step becomes a node, under the current one, of kind | the walk goes to |
|---|---|---|
| ``continue`` (or no action line) | ``step`` | the new node |
| ``reflect`` | ``reflection`` | the new node |
| ``backtrack to step N`` | ``backtrack`` | step N (0 is the problem) |
| ``terminate, answer: X`` | ``conclusion``, final answer X | see below |

A conclusion graded correct ends the loop (``solved``); one that cannot be graded ends it too
(``unverified``). A wrong one is a dead end: the model is told so in the next prompt (the
versioned negative signal), and the walk goes back to the step the conclusion followed, from
where the model chooses again. A reply whose action line cannot be read adds nothing; the next
prompt says why. The loop also ends at the limits (see ``steering.Limits``); a backtrack asked
for beyond ``max_backtracks`` is not applied and ends the loop. An attempt that uses its
``max_steps`` policy turns without an answer is a dead end too: while ``Limits.retries`` allow,
its last node gets the ``limit`` wrong verdict, the walk goes back to the problem and the next
prompt carries the negative signal (``NO_ANSWER_SIGNAL``); the steps are counted per attempt.

The long thought is every node in the order it was written, with the draft rendering of
``long_thought`` after each wrong conclusion ("Wait, the answer X doesn't look right. Let me go
back to ...") or attempt without an answer, and the way back of each backtrack the model chose
written in words ("Going back to step 2: ...").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from algorithms.long_thought import ThoughtEvent
from algorithms.prompts import render_prompt
from algorithms.steering import (
    NEGATIVE_SIGNAL,
    NO_ANSWER_SIGNAL,
    GradeAnswers,
    Limits,
    Move,
    Prompt,
    Response,
    Role,
    SteeredResult,
    SteeredState,
    StopReason,
    Turn,
    UnreadableReply,
    advance_batch,
    answer_stop,
    child_node,
    labelled_line,
    limit_stop,
    parse_move,
    replay,
    result_of,
    root_nodes,
    wrong_leaf_events,
)
from algorithms.tree_search import ROOT_ID, NodeKind, ProblemSpec, TreeNode, Verdict

VERSION = "proposal-critique v1"  # the action vocabulary, the parser and the prompts below

ACTIONS = ("continue", "reflect", "backtrack to step N", "terminate, answer: X")

POLICY_PROMPT = """\
Solve the math problem below one step at a time. You steer your own reasoning: end every step \
with a line that says what to do next.

ACTION: continue -- the step is part of your solution; go on from it.
ACTION: reflect -- the step checks or questions your reasoning so far; go on from it.
ACTION: backtrack to step N -- the step says why the current approach fails; go back to step N \
(0 is the beginning) and try another way.
ACTION: terminate, answer: X -- the step concludes your solution with the final answer X.

Problem:
{{ problem }}

Your steps so far:
{{ history }}

You are {{ position }}. You can go back to step {{ targets }}.
Write step {{ number }}: one paragraph, then one ACTION line."""

UNREADABLE_NOTE = (
    "NOTE: Your last reply could not be used: {{ error }}. "
    "End your step with exactly one ACTION line."
)


@dataclass(frozen=True)
class PromptSet:
    """The versioned texts the loop sends; ``{{ name }}`` placeholders as in ``prompts``."""

    label: str = VERSION
    policy: str = POLICY_PROMPT
    negative_signal: str = NEGATIVE_SIGNAL
    unreadable: str = UNREADABLE_NOTE
    no_answer_signal: str = NO_ANSWER_SIGNAL


PROMPTS = PromptSet()
# Every version a job may run with, by label (a job stores the texts it started with).
PROMPT_SETS: dict[str, PromptSet] = {PROMPTS.label: PROMPTS}

_KIND_OF_MOVE: dict[str, NodeKind] = {
    "continue": "step",
    "reflect": "reflection",
    "backtrack": "backtrack",
    "terminate": "conclusion",
}


@dataclass(frozen=True)
class ProposalState(SteeredState):
    """One problem's loop: ``moves[i]`` is the action that wrote node i; ``note`` the reason
    the last reply was unreadable, told in the next prompt; ``attempt_start`` the turn the
    current attempt began at and ``retried`` how many attempts ended without an answer (the
    last one's signal is told in the next prompt while ``signal``)."""

    moves: tuple[Move | None, ...] = (None,)
    note: str | None = None
    attempt_start: int = 0
    retried: int = 0
    signal: bool = False

    @property
    def steps(self) -> int:
        """Policy turns of the current attempt, readable or not."""
        return len(self.turns) - self.attempt_start

    @property
    def awaiting(self) -> Role:
        return "policy"  # every turn is the policy's


def start(problems: Sequence[ProblemSpec], limits: Limits) -> list[ProposalState]:
    return [
        ProposalState(problem=problem, limits=limits, nodes=root_nodes(problem))
        for problem in problems
    ]


def resume(problem: ProblemSpec, limits: Limits, turns: Sequence[Turn]) -> ProposalState:
    """The state after ``turns``, a state's transcript stored between turns (see
    ``steering.replay``)."""
    return replay(start([problem], limits)[0], turns, _apply)


def parse_reply(text: str, *, targets: Collection[int]) -> tuple[str, Move]:
    """(the step, its action): the text before the first ``ACTION:`` line, and that line
    parsed; anything after it is ignored. Without an action line the whole reply is a step to
    continue from. Raises UnreadableReply when the step is empty or the action unknown, or
    when it backtracks to a step not in ``targets``."""
    found = labelled_line(text, "ACTION")
    step = (text if found is None else found[0]).strip()
    if not step:
        raise UnreadableReply(
            "the reply is empty" if found is None else "there is no step before the ACTION line"
        )
    if found is None:
        return step, Move(name="continue")
    return step, parse_move(found[1], targets=targets, allow_terminate=True)


def backtrack_targets(state: ProposalState) -> list[int]:
    """The problem (the root) and every step or reflection written so far."""
    return [node.id for node in state.nodes if node.kind in ("step", "reflection")]


def prompts(states: Sequence[ProposalState], prompt_set: PromptSet = PROMPTS) -> list[Prompt]:
    """One policy prompt per running loop, in the order of ``states``."""
    return [
        Prompt(index=index, role="policy", text=_policy_prompt(states[index], prompt_set))
        for index in _running(states)
    ]


def advance(
    states: Sequence[ProposalState],
    responses: Sequence[Response],
    grade_answers: GradeAnswers,
) -> list[ProposalState]:
    """The states after ``responses``, one per prompt of ``prompts(states)`` in that order;
    every conclusion of the turn is graded in one ``grade_answers`` call."""
    return advance_batch(
        states,
        _running(states),
        responses,
        answer_of=_answer_of,
        grade_answers=grade_answers,
        apply=_apply,
    )


def finish(state: ProposalState) -> SteeredResult:
    """The loop's tree, long thought, transcript and action counts."""
    return result_of(state, version=VERSION, counts=_counts(state))


def _running(states: Sequence[ProposalState]) -> list[int]:
    return [index for index, state in enumerate(states) if state.stop is None]


def _answer_of(state: ProposalState, response: Response) -> str | None:
    try:
        _step, move = parse_reply(response.text, targets=backtrack_targets(state))
    except UnreadableReply:
        return None
    return move.answer


def _apply(
    state: ProposalState, response: Response, answer: str | None, correct: bool | None
) -> ProposalState:
    tokens = state.tokens + response.tokens
    try:
        step, move = parse_reply(response.text, targets=backtrack_targets(state))
    except UnreadableReply as error:
        turn = Turn("policy", response.text, response.tokens, f"unreadable: {error}")
        return _after_turn(state, turn, tokens=tokens, note=str(error))
    if move.name == "backtrack" and state.backtracks >= state.limits.max_backtracks:
        outcome = f"{move} refused: {state.limits.max_backtracks} backtracks allowed"
        turn = Turn("policy", response.text, response.tokens, outcome)
        return _after_turn(state, turn, tokens=tokens, stop="max_backtracks")
    node = child_node(
        state.nodes,
        state.position,
        step,
        _KIND_OF_MOVE[move.name],
        final_answer=answer,
        is_correct=correct,
    )
    events = (*state.events, ThoughtEvent("step", node.id))
    position, stop = node.id, None
    if move.name == "backtrack":
        assert move.target is not None
        position = move.target
        events = (*events, ThoughtEvent("backtrack", move.target))  # said in words
    elif move.name == "terminate":
        stop = answer_stop(correct)
        if correct is False:
            events, position = events + wrong_leaf_events(node), state.position
    turn = Turn("policy", response.text, response.tokens, str(move), answer, correct)
    moved = replace(
        state,
        nodes=(*state.nodes, node),
        moves=(*state.moves, move),
        position=position,
        events=events,
        backtracks=state.backtracks + int(move.name == "backtrack"),
    )
    return _after_turn(moved, turn, tokens=tokens, stop=stop)


def _after_turn(
    state: ProposalState,
    turn: Turn,
    *,
    tokens: int,
    note: str | None = None,
    stop: StopReason | None = None,
) -> ProposalState:
    turns = (*state.turns, turn)
    stop = stop or limit_stop(state.limits, steps=len(turns) - state.attempt_start, tokens=tokens)
    if stop == "max_steps" and state.retried < state.limits.retries:
        return _retry(replace(state, turns=turns, tokens=tokens, note=note))
    return replace(state, turns=turns, tokens=tokens, note=note, signal=False, stop=stop)


def _retry(state: ProposalState) -> ProposalState:
    """An attempt that used its steps without an answer: a dead end where it stands (the
    ``limit`` verdict), back to the problem, and the negative signal in the next prompt."""
    events, nodes = state.events, state.nodes
    if state.position != ROOT_ID:
        here = nodes[state.position]
        nodes = tuple(
            replace(node, wrong=Verdict("limit", None)) if node.id == here.id else node
            for node in nodes
        )
        events = (
            *events,
            ThoughtEvent("wrong_leaf", here.id),
            ThoughtEvent("backtrack", ROOT_ID),
        )
    return replace(
        state,
        nodes=nodes,
        events=events,
        position=ROOT_ID,
        attempt_start=len(state.turns),
        retried=state.retried + 1,
        signal=True,
    )


def _policy_prompt(state: ProposalState, prompt_set: PromptSet) -> str:
    entries = [
        _history_entry(node, move, prompt_set)
        for node, move in zip(state.nodes[1:], state.moves[1:], strict=True)
    ]
    if state.note is not None:
        entries.append(render_prompt(prompt_set.unreadable, {"error": state.note}))
    if state.signal:
        steps = str(state.limits.max_steps)
        entries.append(render_prompt(prompt_set.no_answer_signal, {"steps": steps}))
    position = state.position
    return render_prompt(
        prompt_set.policy,
        {
            "problem": state.problem.text,
            "history": "\n\n".join(entries) or "(none yet)",
            "position": f"after step {position}" if position != ROOT_ID else "at the beginning",
            "targets": ", ".join(str(target) for target in backtrack_targets(state)),
            "number": str(len(state.nodes)),
        },
    )


def _history_entry(node: TreeNode, move: Move | None, prompt_set: PromptSet) -> str:
    entry = f"Step {node.id}: {node.text}\nACTION: {move}"
    if node.is_correct is False:
        signal = {"answer": node.final_answer or "", "step": str(node.id)}
        entry += "\n" + render_prompt(prompt_set.negative_signal, signal)
    return entry


def _counts(state: ProposalState) -> dict[str, int]:
    kinds = [node.kind for node in state.nodes[1:]]
    return {
        "steps": kinds.count("step"),
        "reflections": kinds.count("reflection"),
        "backtracks": kinds.count("backtrack"),
        "conclusions": kinds.count("conclusion"),
        "wrong_answers": sum(1 for node in state.nodes if node.is_correct is False),
        "attempts_without_answer": state.retried,
        "unreadable": sum(1 for turn in state.turns if turn.outcome.startswith("unreadable")),
    }
