"""Properties of both self-steering loops under random scripted replies."""

from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms import policy_critic as cr
from algorithms import proposal_critique as pc
from algorithms.answers import extract_answer
from algorithms.steering import Limits, Response, SteeredResult
from algorithms.tree_search import ProblemSpec, Verdict

LIMITS = st.builds(
    Limits,
    max_steps=st.integers(1, 10),
    max_backtracks=st.integers(0, 3),
    max_tokens=st.integers(1, 60),
    retries=st.integers(0, 2),
)
TOKENS = st.integers(0, 8)
STEP = st.sampled_from(["A.", "B.", "So x = 3.", "", "ACTION: continue"])
ACTION = st.one_of(
    st.sampled_from(["continue", "reflect", "fly", "terminate", "Backtrack to step 1."]),
    st.integers(0, 12).map(lambda n: f"backtrack to step {n}"),
    st.sampled_from(["4", "5", "?"]).map(lambda answer: f"terminate, answer: {answer}"),
    st.none(),
)
PROPOSAL_REPLY = st.one_of(
    st.builds(lambda step, act: step if act is None else f"{step}\nACTION: {act}", STEP, ACTION),
    st.text(max_size=20),
)
POLICY_REPLY = st.one_of(
    st.sampled_from(["A.", "B.", "\\boxed{4}", "\\boxed{5}", "\\boxed{?}", "", "  "]),
    st.text(max_size=20),
)
VERDICT = st.one_of(
    st.sampled_from(["continue", "reflect", "maybe"]),
    st.integers(0, 12).map(lambda n: f"backtrack to step {n}"),
)
CRITIC_REPLY = st.one_of(
    st.builds(
        lambda verdict, reason: f"VERDICT: {verdict}\nREASON: {reason}",
        VERDICT,
        st.sampled_from(["ok", "", "off by one"]),
    ),
    st.text(max_size=20),
)


class Grader:
    """'4' is right, '?' cannot be graded, anything else is wrong; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, pairs):
        self.calls += 1
        return [None if answer == "?" else answer == "4" for answer, _ in pairs]


def problems(count):
    return [ProblemSpec(str(i), f"Problem {i}") for i in range(count)]


def check_result(result: SteeredResult, limits: Limits, steps: int, backtracks: int) -> None:
    """What holds for the result of either loop."""
    tree, thought = result.tree, result.thought
    # the loop ended within its limits
    assert result.stop is not None
    assert steps <= limits.max_steps
    assert backtracks <= limits.max_backtracks
    tokens = [turn.tokens for turn in result.turns]
    assert sum(tokens[:-1]) < limits.max_tokens, "a turn ran after the token limit"
    if result.stop == "max_tokens":
        assert sum(tokens) >= limits.max_tokens
    if result.stop == "max_steps":
        assert steps == limits.max_steps
    # the tree is a tree, ids in the order written
    for node in tree.nodes[1:]:
        assert node.parent is not None and node.parent < node.id
        assert node.depth == tree.node(node.parent).depth + 1
    # the long thought visits every node once, in order, and only nodes of the tree
    assert thought.walked == list(range(1, len(tree.nodes)))
    for paragraph in result.paragraphs:
        node = tree.node(paragraph.node_id)
        if paragraph.kind == "step":
            assert paragraph.text == node.text
        # a reflection only after a node with a stored wrong verdict
        if paragraph.kind == "reflection":
            assert node.wrong is not None
    # it ends on a root path; on the correct answer exactly when solved
    assert thought.path[0] == 0
    for parent, child in zip(thought.path, thought.path[1:], strict=False):
        assert tree.node(child).parent == parent
    assert result.solved == (tree.node(thought.path[-1]).is_correct is True)
    # final answers are leaves
    parents = {node.parent for node in tree.nodes}
    assert all(node.id not in parents for node in tree.nodes if node.final_answer is not None)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), limits=LIMITS, count=st.integers(1, 4))
def test_proposal_critique_properties(data, limits, count):
    # given
    states = pc.start(problems(count), limits)
    grader = Grader()
    turns = 0

    # when / then: one prompt per running problem, one grading call at most per turn
    while prompts := pc.prompts(states):
        assert [p.index for p in prompts] == [i for i, s in enumerate(states) if s.stop is None]
        turns += 1
        assert turns <= limits.max_steps * (1 + limits.retries)
        responses = [Response(data.draw(PROPOSAL_REPLY), data.draw(TOKENS)) for _ in prompts]
        calls = grader.calls
        states = pc.advance(states, responses, grader)
        assert grader.calls - calls <= 1

    for state in states:
        result = pc.finish(state)
        check_result(result, limits, state.steps, state.backtracks)
        # every backtrack goes to an earlier step or reflection, or to the problem
        for node, move in zip(state.nodes, state.moves, strict=True):
            if node.kind == "backtrack":
                assert move is not None and move.target is not None
                assert move.target < node.id
                assert state.nodes[move.target].kind in ("step", "reflection")
        assert result.counts["backtracks"] == state.backtracks
        # an attempt that ran out of steps was told so, within the retries
        assert state.retried <= limits.retries
        assert result.counts["attempts_without_answer"] == state.retried
        # the transcript alone gives the state back
        assert pc.resume(state.problem, limits, state.turns) == state


@settings(max_examples=300, deadline=None)
@given(data=st.data(), limits=LIMITS, count=st.integers(1, 4))
def test_policy_critic_properties(data, limits, count):
    # given
    states = cr.start(problems(count), limits)
    grader = Grader()
    turns = 0

    # when / then: one prompt per running problem waiting for the turn's role; the policy's
    # turns reach every running problem; answers are graded in policy turns only, at most once
    while prompts := cr.prompts(states):
        role = cr.turn_role(states)
        waiting = [i for i, s in enumerate(states) if s.stop is None and s.awaiting == role]
        assert [p.index for p in prompts] == waiting
        assert {p.role for p in prompts} == {role}
        if role == "policy":
            assert waiting == [i for i, s in enumerate(states) if s.stop is None]
        turns += 1
        assert turns <= 3 * limits.max_steps
        reply = POLICY_REPLY if role == "policy" else CRITIC_REPLY
        responses = [Response(data.draw(reply), data.draw(TOKENS)) for _ in prompts]
        calls = grader.calls
        states = cr.advance(states, responses, grader, extract_answer)
        assert grader.calls - calls <= (1 if role == "policy" else 0)

    for state in states:
        result = cr.finish(state)
        check_result(result, limits, state.steps, state.backtracks)
        assert {node.kind for node in result.tree.nodes} == {"step"}
        # each step is judged at most once; a backtrack goes to one of the step's ancestors
        judged = [grade.node_id for grade in result.grades]
        assert len(judged) == len(set(judged))
        for grade in result.grades:
            node = result.tree.node(grade.node_id)
            # the answer check decides a graded final answer; elsewhere the critic's verdict
            # is the node's, a rejection its wrong verdict
            if node.is_correct is not None:
                assert node.score is None
                assert node.wrong == (Verdict("answer", 0.0) if not node.is_correct else None)
            else:
                assert node.score == grade.score
                assert (node.wrong is not None) == (grade.score == 0.0)
            if grade.verdict == "backtrack":
                assert grade.target in result.tree.path(grade.node_id)[:-1]
        # the transcript alone gives the state back
        assert cr.resume(state.problem, limits, state.turns) == state
