"""Reflections and backtracks read from a sample's text, and their summary over samples."""

from hypothesis import given
from hypothesis import strategies as st

from algorithms.sample_behaviour import (
    BACKTRACK_PHRASES,
    REFLECTION_PHRASES,
    Behaviour,
    behaviour_of,
    summarize_behaviour,
)


def test_phrases_are_counted_once_each_as_whole_words() -> None:
    text = (
        "2 + 3 = 6. Wait, that's wrong. Let me try again: 2 + 3 = 5.\n"
        "Hmm, let me double-check. Alternatively, count on fingers. Awaited results."
    )
    # wait, that's wrong, hmm, let me double-check | let me try again, alternatively
    assert behaviour_of(text) == Behaviour(reflections=4, backtracks=2)
    assert behaviour_of("We wait for nothing. WAITING is not a word here.") == Behaviour(1, 0)
    assert behaviour_of("That\u2019s wrong.") == Behaviour(1, 0)  # a typographic apostrophe


@given(
    plain=st.lists(st.sampled_from(["x = 1.", "so", "the answer", "is", "5"]), max_size=20),
    reflections=st.lists(st.sampled_from(REFLECTION_PHRASES), max_size=5),
    backtracks=st.lists(st.sampled_from(BACKTRACK_PHRASES), max_size=5),
)
def test_each_inserted_phrase_is_counted(
    plain: list[str], reflections: list[str], backtracks: list[str]
) -> None:
    # given sentences without any phrase, and phrases each in a sentence of its own
    sentences = plain + [f"{p.capitalize()}." for p in reflections + backtracks]
    # then the counts are the phrases inserted
    assert behaviour_of(" ".join(sentences)) == Behaviour(len(reflections), len(backtracks))


def test_the_summary_counts_only_counted_samples() -> None:
    summary = summarize_behaviour([Behaviour(2, 0), Behaviour(0, 1), Behaviour(0, 0), None])
    assert summary.counted == 3
    assert summary.reflecting == 1 / 3 and summary.backtracking == 1 / 3
    assert summary.reflections_per_sample == 2 / 3 and summary.backtracks_per_sample == 1 / 3
    assert summarize_behaviour([None]).reflecting is None
