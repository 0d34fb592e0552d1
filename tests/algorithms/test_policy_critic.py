import pytest

from algorithms import policy_critic as cr
from algorithms.answers import extract_answer
from algorithms.steering import Limits, Move, Response, StepGrade, UnreadableReply
from algorithms.tree_search import ProblemSpec, Tree
from tests.algorithms.scripted import Grader, Script, drive

PROBLEM = ProblemSpec(key="p", text="What is x + x when x = 2?")
ROOMY = Limits(max_steps=20, max_backtracks=5, max_tokens=1000)


def advance_with(grader):
    return lambda states, responses: cr.advance(states, responses, grader, extract_answer)


def run(policy, critic, *, limits=ROOMY, truth=None, tokens=1):
    script = Script({("p", "policy"): list(policy), ("p", "critic"): list(critic)}, tokens)
    grader = Grader({"p": "4"} if truth is None else truth)
    states, turns = drive(
        cr.start([PROBLEM], limits), cr.prompts, advance_with(grader), script.reply
    )
    return cr.finish(states[0]), turns, grader


def nodes(tree: Tree):
    return [
        (
            n.id,
            n.parent,
            n.text,
            n.final_answer,
            n.is_correct,
            n.score,
            n.judged_correct,
            n.reason,
            n.wrong.source if n.wrong else None,
        )
        for n in tree.nodes[1:]
    ]


def walk(result):
    return [(event.kind, event.node_id) for event in result.thought.events]


def verdict(move: str, reason: str) -> str:
    return f"VERDICT: {move}\nREASON: {reason}"


POLICY = [
    "Let x = 2.",
    "So x + x = 5.",
    "Then x + x = 2 * 2 = 4, times 2 is 8.",
    "Adding 2 and 2 gives 4.",
    "The answer is \\boxed{5}.",
    "The answer is \\boxed{4}.",
]
CRITIC = [
    verdict("continue", "x is given."),
    verdict("reflect", "2 + 2 is 4, not 5."),
    verdict("backtrack to step 0", "Doubling twice is wrong."),
    verdict("continue", "Right."),
    verdict("continue", "It follows."),
    verdict("reflect", "Check again."),
]


def test_every_verdict_a_wrong_answer_and_the_solution():
    # when
    result, turns, grader = run(POLICY, CRITIC)

    # then
    assert result.stop == "solved"
    # the answer check decides a final answer's node, whatever the critic said of it (it let the
    # wrong 5 pass and called the correct 4 wrong): the critic's verdicts there are opinions
    assert nodes(result.tree) == [
        (1, 0, "Let x = 2.", None, None, 1.0, True, "x is given.", None),
        (2, 1, "So x + x = 5.", None, None, 0.0, False, "2 + 2 is 4, not 5.", "critic"),
        (3, 1, "Then x + x = 2 * 2 = 4, times 2 is 8.", None, None, 0.0, False,
         "Doubling twice is wrong.", "critic"),
        (4, 0, "Adding 2 and 2 gives 4.", None, None, 1.0, True, "Right.", None),
        (5, 4, "The answer is \\boxed{5}.", "5", False, None, None, None, "answer"),
        (6, 4, "The answer is \\boxed{4}.", "4", True, None, None, None, None),
    ]  # fmt: skip
    assert [(g.node_id, g.verdict, g.score) for g in result.grades][-2:] == [
        (5, "continue", 1.0),
        (6, "reflect", 0.0),
    ]
    assert {node.kind for node in result.tree.nodes} == {"step"}
    assert result.thought.path == (0, 4, 6)
    assert walk(result) == [
        ("step", 1), ("step", 2), ("wrong_leaf", 2), ("step", 3), ("wrong_leaf", 3),
        ("backtrack", 0), ("step", 4), ("step", 5), ("wrong_leaf", 5), ("backtrack", 4),
        ("step", 6),
    ]  # fmt: skip
    assert result.text == (
        "Let x = 2.\n\n"
        "So x + x = 5.\n\n"
        "Wait, this doesn't look right: 2 + 2 is 4, not 5.\n\n"
        "Then x + x = 2 * 2 = 4, times 2 is 8.\n\n"
        "Wait, this doesn't look right: Doubling twice is wrong. "
        "Let me go back to the beginning and try a different approach.\n\n"
        "Adding 2 and 2 gives 4.\n\n"
        "The answer is \\boxed{5}.\n\n"
        "Wait, the answer $5$ doesn't look right. "
        "Let me go back to where I was after step 1 and try a different approach.\n\n"
        "The answer is \\boxed{4}."
    )
    assert result.grades == (
        StepGrade(1, "continue", None, "x is given."),
        StepGrade(2, "reflect", None, "2 + 2 is 4, not 5."),
        StepGrade(3, "backtrack", 0, "Doubling twice is wrong."),
        StepGrade(4, "continue", None, "Right."),
        StepGrade(5, "continue", None, "It follows."),
        StepGrade(6, "reflect", None, "Check again."),
    )
    assert [grade.score for grade in result.grades] == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    assert result.counts == {
        "steps": 6,
        "continues": 3,
        "reflections": 1,
        "backtracks": 1,
        "unreadable": 0,
        "retries": 0,
        "wrong_answers": 1,
    }
    assert result.version == "policy-critic v1"
    assert [(turn[0].role, len(turn)) for turn in turns] == [("policy", 1), ("critic", 1)] * 6
    assert [turn.outcome for turn in result.turns if turn.role == "critic"] == [
        "continue",
        "reflect",
        "backtrack to step 0",
        "continue",
        "continue",
        "reflect",
    ]
    assert grader.calls == [["5"], ["4"]]


def test_the_critic_sees_the_dialogue_and_the_new_step():
    # given: two steps judged, the third written
    states = cr.start([PROBLEM], ROOMY)
    for reply in [POLICY[0], CRITIC[0], POLICY[1], CRITIC[1], POLICY[2]]:
        states = cr.advance(states, [Response(reply, 1)], Grader({}), extract_answer)

    # when
    [prompt] = cr.prompts(states)

    # then
    assert prompt.role == "critic"
    assert prompt.text == (
        "You check a solution to a math problem one step at a time.\n"
        "\n"
        "Problem:\n"
        "What is x + x when x = 2?\n"
        "\n"
        "The dialogue so far:\n"
        "Step 1: Let x = 2.\n"
        "Critic: continue. x is given.\n"
        "\n"
        "Step 2: So x + x = 5.\n"
        "Critic: reflect. 2 + 2 is 4, not 5.\n"
        "\n"
        "New step 3, written after step 1:\n"
        "Then x + x = 2 * 2 = 4, times 2 is 8.\n"
        "\n"
        "Judge step 3. Reply with exactly two lines:\n"
        "VERDICT: continue, reflect, or backtrack to step N\n"
        "REASON: why, in one sentence\n"
        "Say continue if the step is right, reflect if the step should be redone, and "
        "backtrack to step N if the approach went wrong after step N (one of 0, 1; 0 is the "
        "beginning)."
    )


def test_the_policy_is_told_its_answer_is_wrong():
    # given: everything up to the wrong answer and its verdict
    states = cr.start([PROBLEM], ROOMY)
    for policy, critic in zip(POLICY[:5], CRITIC[:5], strict=True):
        states = cr.advance(states, [Response(policy, 1)], Grader({"p": "4"}), extract_answer)
        states = cr.advance(states, [Response(critic, 1)], Grader({"p": "4"}), extract_answer)

    # when
    [prompt] = cr.prompts(states)

    # then
    assert prompt.role == "policy"
    assert prompt.text == (
        "Solve the math problem below one step at a time. A critic checks every step you "
        "write. Reply with the next step only, as one paragraph. When you have the final "
        "answer, write it as \\boxed{answer}.\n"
        "\n"
        "Problem:\n"
        "What is x + x when x = 2?\n"
        "\n"
        "The dialogue so far:\n"
        "Step 1: Let x = 2.\n"
        "Critic: continue. x is given.\n"
        "\n"
        "Step 2: So x + x = 5.\n"
        "Critic: reflect. 2 + 2 is 4, not 5.\n"
        "\n"
        "Step 3: Then x + x = 2 * 2 = 4, times 2 is 8.\n"
        "Critic: backtrack to step 0. Doubling twice is wrong.\n"
        "\n"
        "Step 4: Adding 2 and 2 gives 4.\n"
        "Critic: continue. Right.\n"
        "\n"
        "Step 5: The answer is \\boxed{5}.\n"
        "Critic: continue. It follows.\n"
        "FEEDBACK: The final answer 5 in step 5 is not correct. Reflect on what went wrong, "
        "then go back to an earlier step or try another way.\n"
        "\n"
        "You are after step 4. Write step 6."
    )


def test_an_unreadable_critic_is_asked_once_more():
    # when
    result, turns, _ = run(
        ["Let x = 2.", "The answer is \\boxed{4}."],
        ["Looks fine.", verdict("continue", "Given."), verdict("continue", "Done.")],
    )

    # then
    assert result.stop == "solved"
    assert [(turn[0].role, len(turn)) for turn in turns] == [
        ("policy", 1), ("critic", 1), ("critic", 1), ("policy", 1), ("critic", 1),
    ]  # fmt: skip
    assert turns[2][0].text.endswith(
        "(one of 0; 0 is the beginning).\n\n"
        "Your previous reply could not be read: there is no VERDICT line. "
        "Reply again with exactly the two lines VERDICT and REASON."
    )
    assert "could not be read" not in turns[4][0].text
    assert result.grades[0] == StepGrade(1, "continue", None, "Given.")
    assert result.turns[1].outcome == "unreadable, asked again: there is no VERDICT line"
    assert result.counts["retries"] == 1
    assert result.counts["unreadable"] == 0


def test_a_critic_unreadable_twice_is_recorded_and_taken_as_continue():
    # when
    result, turns, _ = run(
        ["Let x = 2.", "The answer is \\boxed{4}."],
        ["fine", "VERDICT: maybe\nREASON: hmm", verdict("continue", "Done.")],
    )

    # then
    assert result.stop == "solved"
    assert nodes(result.tree) == [
        (1, 0, "Let x = 2.", None, None, None, None, None, None),
        (2, 1, "The answer is \\boxed{4}.", "4", True, None, None, None, None),
    ]
    assert result.grades == (
        StepGrade(1, "unreadable", None, None),
        StepGrade(2, "continue", None, "Done."),
    )
    assert result.grades[0].score is None
    assert result.turns[2].outcome == (
        "unreadable again, taken as continue: unknown action 'maybe': expected continue, "
        "reflect, backtrack to step N"
    )
    assert "Step 1: Let x = 2.\nCritic: (no readable verdict)\n\nYou are after step 1." in (
        turns[3][0].text
    )
    assert result.counts["unreadable"] == 1


def test_an_empty_step_adds_nothing_and_the_policy_is_told():
    # when
    result, turns, _ = run([" \n", "The answer is \\boxed{4}."], [verdict("continue", "Done.")])

    # then
    assert [n.text for n in result.tree.nodes[1:]] == ["The answer is \\boxed{4}."]
    assert [(turn[0].role, len(turn)) for turn in turns] == [
        ("policy", 1), ("policy", 1), ("critic", 1),
    ]  # fmt: skip
    assert "The dialogue so far:\nNOTE: Your last reply was empty. Write the next step.\n\n" in (
        turns[1][0].text
    )
    assert result.turns[0].outcome == "empty"


def test_max_steps_ends_the_dialogue_after_the_last_step_is_judged():
    # when
    result, turns, _ = run(
        ["A.", "B.", "never"],
        [verdict("continue", "ok"), verdict("reflect", "no")],
        limits=Limits(max_steps=2, max_backtracks=5, max_tokens=1000),
    )

    # then
    assert result.stop == "max_steps"
    assert [grade.verdict for grade in result.grades] == ["continue", "reflect"]
    assert result.thought.path == (0, 1)
    assert len(turns) == 4


def test_a_backtrack_beyond_the_limit_ends_the_dialogue():
    # when
    result, _, _ = run(
        ["A.", "never"],
        [verdict("backtrack to step 0", "A is off.")],
        limits=Limits(max_steps=20, max_backtracks=0, max_tokens=1000),
    )

    # then
    assert result.stop == "max_backtracks"
    assert result.grades == (StepGrade(1, "backtrack", 0, "A is off."),)
    assert walk(result) == [("step", 1)]
    assert result.thought.path == (0,)
    assert result.counts["backtracks"] == 0


def test_a_step_that_reaches_the_token_limit_is_not_judged():
    # when
    result, turns, _ = run(["A.", "never"], ["never"], limits=Limits(20, 5, 5), tokens=5)

    # then
    assert result.stop == "max_tokens"
    assert len(turns) == 1
    assert result.grades == ()
    assert nodes(result.tree) == [(1, 0, "A.", None, None, None, None, None, None)]


def test_the_critic_tokens_count_too():
    # when: 4 tokens per reply, at most 8
    result, turns, _ = run(
        ["A.", "never"], [verdict("continue", "ok")], limits=Limits(20, 5, 8), tokens=4
    )

    # then
    assert result.stop == "max_tokens"
    assert [(turn[0].role, len(turn)) for turn in turns] == [("policy", 1), ("critic", 1)]


def test_an_answer_that_cannot_be_graded_ends_the_dialogue_unverified():
    # when
    result, _, _ = run(["\\boxed{4}", "never"], [verdict("continue", "ok")], truth={})

    # then
    assert result.stop == "unverified"
    assert result.thought.path == (0, 1)


def test_a_correct_answer_ends_the_dialogue_whatever_the_critic_says():
    # when
    result, _, _ = run(["\\boxed{4}", "never"], [verdict("backtrack to step 0", "Unsure.")])

    # then
    assert result.stop == "solved"
    assert result.grades == (StepGrade(1, "backtrack", 0, "Unsure."),)
    assert walk(result) == [("step", 1)]


def test_turns_are_batched_by_role_and_a_retry_turn_has_only_the_retried():
    # given
    problems = [ProblemSpec("a", "Problem a"), ProblemSpec("b", "Problem b")]
    script = Script(
        {
            ("a", "policy"): ["a1.", "\\boxed{1}"],
            ("a", "critic"): ["??", verdict("continue", "ok"), verdict("continue", "ok")],
            ("b", "policy"): ["b1.", "\\boxed{2}"],
            ("b", "critic"): [verdict("continue", "ok"), verdict("continue", "ok")],
        }
    )
    grader = Grader({"a": "1", "b": "2"})

    # when
    states, turns = drive(
        cr.start(problems, Limits(5, 1, 100)), cr.prompts, advance_with(grader), script.reply
    )

    # then
    assert [(turn[0].role, [prompt.index for prompt in turn]) for turn in turns] == [
        ("policy", [0, 1]),
        ("critic", [0, 1]),
        ("critic", [0]),
        ("policy", [0, 1]),
        ("critic", [0, 1]),
    ]
    assert grader.calls == [["1", "2"]]
    assert [state.stop for state in states] == ["solved", "solved"]


def test_a_dialogue_resumes_from_its_transcript():
    # given
    result, _, _ = run(POLICY, CRITIC)

    # when
    state = cr.resume(PROBLEM, ROOMY, result.turns[:7])

    # then: the critic's turn on step 4 is next
    assert state.awaiting == "critic"
    assert cr.finish(state).grades == result.grades[:3]
    assert cr.finish(cr.resume(PROBLEM, ROOMY, result.turns)) == result


def test_a_transcript_out_of_turn_is_refused():
    # given
    result, _, _ = run(POLICY, CRITIC)

    # when / then
    with pytest.raises(ValueError, match="turn 2 is the policy's, not the critic's"):
        cr.resume(PROBLEM, ROOMY, [result.turns[0], result.turns[0]])


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("VERDICT: continue\nREASON: fine.", (Move("continue"), "fine.")),
        ("verdict: Backtrack to step 1.\nreason: x\ny", (Move("backtrack", 1), "x\ny")),
        ("Let me see.\nVERDICT: reflect\nREASON:\nr", (Move("reflect"), "r")),
    ],
)
def test_parse_verdict_reads_the_verdict_and_the_reason(reply, expected):
    assert cr.parse_verdict(reply, targets=[0, 1]) == expected


VOCABULARY = "expected continue, reflect, backtrack to step N"


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("REASON: r", "there is no VERDICT line"),
        ("VERDICT: continue", "there is no REASON line after the VERDICT line"),
        ("REASON: r\nVERDICT: continue", "there is no REASON line after the VERDICT line"),
        ("VERDICT: continue\nREASON:  ", "the reason is empty"),
        (
            "VERDICT: backtrack to step 2\nREASON: r",
            r"step 2 is not one to go back to \(choose 0, 1\)",
        ),
        (
            "VERDICT: terminate, answer: 4\nREASON: r",
            f"^unknown action 'terminate, answer: 4': {VOCABULARY}$",
        ),
    ],
)
def test_parse_verdict_rejects_what_it_cannot_read(reply, error):
    with pytest.raises(UnreadableReply, match=error):
        cr.parse_verdict(reply, targets=[0, 1])
