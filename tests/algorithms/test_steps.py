import pytest

from algorithms.steps import join_steps, split_steps


@pytest.mark.parametrize(
    ("text", "delimiter", "expected"),
    [
        ("a\n\nb\n\n\nc", None, ["a", "b", "c"]),
        ("  a  \n \n b\nstill b\n", None, ["a", "b\nstill b"]),
        ("one\ntwo\n three ", None, ["one", "two", "three"]),
        ("Step 1: x ки\nStep 2: y ки\n", "ки", ["Step 1: x", "Step 2: y"]),
        ("a\n\nb\nc", "\n", ["a", "b", "c"]),
        ("a\n\nb", "\n\n", ["a", "b"]),
        ("only one step", None, ["only one step"]),
        ("", None, []),
        (" \n\n \n", None, []),
    ],
)
def test_split_steps(text: str, delimiter: str | None, expected: list[str]) -> None:
    assert split_steps(text, delimiter) == expected


def test_split_steps_keeps_display_math_blocks_whole() -> None:
    # given
    text = (
        "We have\n$$\nx = 1\n\ny = 2\n$$\n\nThen\n\\[\na\n\nb\n\\]\n\n"
        "\\begin{align*}\nu &= 1\n\nv &= 2\n\\end{align*}\n\nDone."
    )

    # when
    steps = split_steps(text)

    # then
    assert steps == [
        "We have\n$$\nx = 1\n\ny = 2\n$$",
        "Then\n\\[\na\n\nb\n\\]",
        "\\begin{align*}\nu &= 1\n\nv &= 2\n\\end{align*}",
        "Done.",
    ]


def test_split_steps_falls_back_to_newlines_when_all_blank_lines_are_inside_math() -> None:
    text = "First\n$$\na\n\nb\n$$\nSecond"

    assert split_steps(text) == ["First", "$$\na\n\nb\n$$", "Second"]


def test_split_steps_with_delimiter_does_not_split_inside_math() -> None:
    assert split_steps("a ки $$ b ки c $$ ки d", "ки") == ["a", "$$ b ки c $$", "d"]


def test_join_steps_round_trips_through_split_steps() -> None:
    steps = ["First step.", "Second $x$ step.", "# Answer\n\n5"]

    text = join_steps(steps)

    assert text == "First step.\n\nSecond $x$ step.\n\n# Answer\n\n5"
    assert join_steps(["a", "b"], " ки\n") == "a ки\nb"
    assert split_steps(join_steps(["a", "b"], " ки\n"), "ки") == ["a", "b"]
