import pytest

from algorithms import proposal_critique as pc
from algorithms.steering import Limits, Move, Response, UnreadableReply
from algorithms.tree_search import ProblemSpec, Tree
from tests.algorithms.scripted import Grader, Script, drive

PROBLEM = ProblemSpec(key="p", text="What is x + x when x = 2?")
ROOMY = Limits(max_steps=20, max_backtracks=5, max_tokens=1000)


def run(replies, *, limits=ROOMY, truth=None, tokens=1):
    script = Script({("p", "policy"): list(replies)}, tokens=tokens)
    grader = Grader({"p": "4"} if truth is None else truth)
    states, turns = drive(
        pc.start([PROBLEM], limits),
        pc.prompts,
        lambda states, responses: pc.advance(states, responses, grader),
        script.reply,
    )
    return pc.finish(states[0]), turns, grader


def nodes(tree: Tree):
    return [(n.id, n.parent, n.kind, n.text, n.final_answer, n.is_correct) for n in tree.nodes[1:]]


def walk(result):
    return [(event.kind, event.node_id) for event in result.thought.events]


EVERY_ACTION = [
    "Let x = 2.\nACTION: continue",
    "So x + x = 5.\nACTION: continue",
    "Then the answer is 5.\nACTION: terminate, answer: 5",
    "Wait, 2 + 2 is not 5.\nACTION: backtrack to step 1",
    "Check: x is 2, so x + x doubles it.\nACTION: reflect",
    "So x + x = 4.\nACTION: continue",
    "The answer is 4.\nACTION: terminate, answer: 4",
]


def test_every_action_edits_the_tree_and_a_wrong_answer_is_a_dead_end():
    # when
    result, turns, grader = run(EVERY_ACTION)

    # then
    assert result.stop == "solved"
    assert nodes(result.tree) == [
        (1, 0, "step", "Let x = 2.", None, None),
        (2, 1, "step", "So x + x = 5.", None, None),
        (3, 2, "conclusion", "Then the answer is 5.", "5", False),
        (4, 2, "backtrack", "Wait, 2 + 2 is not 5.", None, None),
        (5, 1, "reflection", "Check: x is 2, so x + x doubles it.", None, None),
        (6, 5, "step", "So x + x = 4.", None, None),
        (7, 6, "conclusion", "The answer is 4.", "4", True),
    ]
    assert result.thought.path == (0, 1, 5, 6, 7)
    assert walk(result) == [
        ("step", 1), ("step", 2), ("step", 3), ("wrong_leaf", 3), ("backtrack", 2),
        ("step", 4), ("backtrack", 1), ("step", 5), ("step", 6), ("step", 7),
    ]  # fmt: skip
    # the backtrack the model chose is said in words after its step
    assert [(p.kind, p.node_id) for p in result.paragraphs] == [
        ("step", 1), ("step", 2), ("step", 3), ("reflection", 3),
        ("step", 4), ("backtrack", 1), ("step", 5), ("step", 6), ("step", 7),
    ]  # fmt: skip
    assert result.text == (
        "Let x = 2.\n\n"
        "So x + x = 5.\n\n"
        "Then the answer is 5.\n\n"
        "Wait, the answer $5$ doesn't look right. "
        "Let me go back to where I was after step 2 and try a different approach.\n\n"
        "Wait, 2 + 2 is not 5.\n\n"
        "Going back to step 1: Let x = 2.\n\n"
        "Check: x is 2, so x + x doubles it.\n\n"
        "So x + x = 4.\n\n"
        "The answer is 4."
    )
    assert [turn.outcome for turn in result.turns] == [
        "continue",
        "continue",
        "terminate, answer: 5",
        "backtrack to step 1",
        "reflect",
        "continue",
        "terminate, answer: 4",
    ]
    assert result.counts == {
        "steps": 3,
        "reflections": 1,
        "backtracks": 1,
        "conclusions": 2,
        "wrong_answers": 1,
        "attempts_without_answer": 0,
        "unreadable": 0,
    }
    assert result.version == "proposal-critique v1"
    assert [len(turn) for turn in turns] == [1] * 7
    assert grader.calls == [["5"], ["4"]]


def test_the_model_is_told_its_answer_is_wrong_in_the_next_prompt():
    # given: the first three replies, ending on the wrong answer
    states = pc.start([PROBLEM], ROOMY)
    for reply in EVERY_ACTION[:3]:
        states = pc.advance(states, [Response(reply, 1)], Grader({"p": "4"}))

    # when
    [prompt] = pc.prompts(states)

    # then
    assert prompt.role == "policy"
    assert prompt.text == (
        "Solve the math problem below one step at a time. You steer your own reasoning: end "
        "every step with a line that says what to do next.\n"
        "\n"
        "ACTION: continue -- the step is part of your solution; go on from it.\n"
        "ACTION: reflect -- the step checks or questions your reasoning so far; go on from it.\n"
        "ACTION: backtrack to step N -- the step says why the current approach fails; go back "
        "to step N (0 is the beginning) and try another way.\n"
        "ACTION: terminate, answer: X -- the step concludes your solution with the final "
        "answer X.\n"
        "\n"
        "Problem:\n"
        "What is x + x when x = 2?\n"
        "\n"
        "Your steps so far:\n"
        "Step 1: Let x = 2.\n"
        "ACTION: continue\n"
        "\n"
        "Step 2: So x + x = 5.\n"
        "ACTION: continue\n"
        "\n"
        "Step 3: Then the answer is 5.\n"
        "ACTION: terminate, answer: 5\n"
        "FEEDBACK: The final answer 5 in step 3 is not correct. Reflect on what went wrong, "
        "then go back to an earlier step or try another way.\n"
        "\n"
        "You are after step 2. You can go back to step 0, 1, 2.\n"
        "Write step 4: one paragraph, then one ACTION line."
    )


def test_the_first_prompt_has_no_steps_yet():
    # when
    [prompt] = pc.prompts(pc.start([PROBLEM], ROOMY))

    # then
    assert prompt.text.endswith(
        "Your steps so far:\n(none yet)\n\n"
        "You are at the beginning. You can go back to step 0.\n"
        "Write step 1: one paragraph, then one ACTION line."
    )


def test_a_reply_without_an_action_line_continues():
    # when
    result, _, _ = run(["Let x = 2.", "x + x = 4.\n\nACTION: terminate, answer: 4"])

    # then
    assert nodes(result.tree) == [
        (1, 0, "step", "Let x = 2.", None, None),
        (2, 1, "conclusion", "x + x = 4.", "4", True),
    ]
    assert [turn.outcome for turn in result.turns] == ["continue", "terminate, answer: 4"]


def test_an_unreadable_action_adds_nothing_and_the_next_prompt_says_why():
    # when
    result, turns, _ = run(
        [
            "Let x = 2.\nACTION: jump ahead",
            "Let x = 2.\nACTION: backtrack to step 4",
            "Let x = 2.\nACTION: continue",
            "So the answer is 4.\nACTION: terminate, answer: 4",
        ]
    )

    # then
    assert nodes(result.tree) == [
        (1, 0, "step", "Let x = 2.", None, None),
        (2, 1, "conclusion", "So the answer is 4.", "4", True),
    ]
    assert [turn.outcome for turn in result.turns] == [
        "unreadable: unknown action 'jump ahead': expected continue, reflect, backtrack to "
        "step N or terminate, answer: X",
        "unreadable: step 4 is not one to go back to (choose 0)",
        "continue",
        "terminate, answer: 4",
    ]
    notes = [
        turn[0].text.split("Your steps so far:\n")[1].split("\n\nYou are")[0] for turn in turns
    ]
    assert notes == [
        "(none yet)",
        "NOTE: Your last reply could not be used: unknown action 'jump ahead': expected "
        "continue, reflect, backtrack to step N or terminate, answer: X. End your step with "
        "exactly one ACTION line.",
        "NOTE: Your last reply could not be used: step 4 is not one to go back to (choose 0). "
        "End your step with exactly one ACTION line.",
        "Step 1: Let x = 2.\nACTION: continue",
    ]
    assert result.counts["unreadable"] == 2


def test_max_steps_counts_every_turn_readable_or_not():
    # when
    result, turns, _ = run(["A.\nACTION: fly", "B.", "C."], limits=Limits(3, 5, 1000))

    # then
    assert result.stop == "max_steps"
    assert [n.text for n in result.tree.nodes[1:]] == ["B.", "C."]
    assert result.thought.path == (0, 1, 2)
    assert len(turns) == 3


def test_a_backtrack_beyond_the_limit_is_not_applied_and_ends_the_loop():
    # when
    result, _, _ = run(
        [
            "A.",
            "A is wrong.\nACTION: backtrack to step 0",
            "B.",
            "B is wrong too.\nACTION: backtrack to step 0",
            "never asked",
        ],
        limits=Limits(max_steps=20, max_backtracks=1, max_tokens=1000),
    )

    # then
    assert result.stop == "max_backtracks"
    assert nodes(result.tree) == [
        (1, 0, "step", "A.", None, None),
        (2, 1, "backtrack", "A is wrong.", None, None),
        (3, 0, "step", "B.", None, None),
    ]
    assert result.turns[-1].outcome == "backtrack to step 0 refused: 1 backtracks allowed"
    assert result.thought.path == (0, 3)
    assert result.counts["backtracks"] == 1


def test_the_loop_ends_at_the_turn_that_reaches_the_token_limit():
    # when: 4 tokens per reply, at most 10
    result, turns, _ = run(["A.", "B.", "C.", "D."], limits=Limits(20, 5, 10), tokens=4)

    # then
    assert result.stop == "max_tokens"
    assert len(turns) == 3
    assert [n.text for n in result.tree.nodes[1:]] == ["A.", "B.", "C."]


def test_a_correct_answer_wins_over_the_limits_reached_in_the_same_turn():
    # when
    result, _, _ = run(["x + x = 4.\nACTION: terminate, answer: 4"], limits=Limits(1, 0, 1))

    # then
    assert result.stop == "solved"


def test_an_answer_that_cannot_be_graded_ends_the_loop_unverified():
    # when: no ground truth for the problem
    result, _, grader = run(["x + x = 4.\nACTION: terminate, answer: 4", "never"], truth={})

    # then
    assert result.stop == "unverified"
    assert nodes(result.tree) == [(1, 0, "conclusion", "x + x = 4.", "4", None)]
    assert result.thought.path == (0, 1)
    assert grader.calls == [["4"]]


def test_one_prompt_per_running_problem_and_one_grading_call_per_turn():
    # given
    problems = [ProblemSpec(key, f"Problem {key}") for key in ("a", "b", "c")]
    script = Script(
        {
            ("a", "policy"): ["a1.\nACTION: terminate, answer: 1"],
            ("b", "policy"): [
                "b1.\nACTION: terminate, answer: 9",
                "b2.\nACTION: terminate, answer: 2",
            ],
            ("c", "policy"): ["c1.", "c2.", "c3."],
        }
    )
    grader = Grader({"a": "1", "b": "2", "c": "3"})

    # when
    states, turns = drive(
        pc.start(problems, Limits(3, 1, 100)),
        pc.prompts,
        lambda states, responses: pc.advance(states, responses, grader),
        script.reply,
    )

    # then
    assert [[prompt.index for prompt in turn] for turn in turns] == [[0, 1, 2], [1, 2], [2]]
    assert grader.calls == [["1", "9"], ["2"]]
    assert [state.stop for state in states] == ["solved", "solved", "max_steps"]


def test_a_loop_resumes_from_its_transcript_without_model_or_grader():
    # given: the transcript of the first four turns
    result, _, _ = run(EVERY_ACTION)
    stored = result.turns[:4]

    # when
    [state] = pc.advance(
        [pc.resume(PROBLEM, ROOMY, stored)], [Response(EVERY_ACTION[4], 1)], Grader({})
    )

    # then
    assert nodes(pc.finish(state).tree) == nodes(result.tree)[:5]
    assert state.turns == result.turns[:5]


def test_resuming_past_the_end_is_refused():
    # given
    result, _, _ = run(["Done.\nACTION: terminate, answer: 4"])

    # when / then
    with pytest.raises(ValueError, match=r"the loop ended \(solved\) before turn 2"):
        pc.resume(PROBLEM, ROOMY, [*result.turns, result.turns[0]])


def test_advance_wants_one_response_per_prompt():
    # given
    states = pc.start([PROBLEM, PROBLEM], ROOMY)

    # when / then
    with pytest.raises(ValueError, match="expected 2 responses, one per prompt, got 1"):
        pc.advance(states, [Response("A.", 1)], Grader({}))


HALF = "\\frac{1}{2}"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Step.\nACTION: continue", ("Step.", Move("continue"))),
        ("Step.\n  action :  Reflect. ", ("Step.", Move("reflect"))),
        ("Step.\nACTION: backtrack to step 2\nmore text", ("Step.", Move("backtrack", 2))),
        ("Two\n\nparagraphs\nACTION: continue", ("Two\n\nparagraphs", Move("continue"))),
        ("S.\nACTION: terminate, answer: \\frac{1}{2}", ("S.", Move("terminate", answer=HALF))),
        ("S.\nACTION: terminate with answer 7.", ("S.", Move("terminate", answer="7"))),
        ("S.\nACTION: Terminate, answer:x = 3", ("S.", Move("terminate", answer="x = 3"))),
        ("Just a step.", ("Just a step.", Move("continue"))),
    ],
)  # fmt: skip
def test_parse_reply_reads_the_step_and_the_action(reply, expected):
    assert pc.parse_reply(reply, targets=[0, 2]) == expected


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (" \n", "the reply is empty"),
        ("ACTION: continue", "there is no step before the ACTION line"),
        ("S.\nACTION: backtrack to step 3", r"step 3 is not one to go back to \(choose 0, 2\)"),
        ("S.\nACTION: backtrack", "unknown action 'backtrack'"),
        ("S.\nACTION: terminate", "unknown action 'terminate'"),
        ("S.\nACTION: terminate, answer:", "unknown action 'terminate, answer:'"),
        ("S.\nACTION: continue and reflect", "unknown action 'continue and reflect'"),
    ],
)
def test_parse_reply_rejects_what_it_cannot_read(reply, error):
    with pytest.raises(UnreadableReply, match=error):
        pc.parse_reply(reply, targets=[0, 2])
