from hypothesis import given, settings
from hypothesis import strategies as st

from tutor.rag.budget import SAFETY_TOKENS, fit, trim_to_tokens


def render(groups, q):
    return "CTX:" + "|".join(GROUPS[g] for g in groups) + " Q:" + q


GROUPS = ["甲" * 300, "乙" * 300, "丙" * 300]


def count(t):
    return len(t)


def msg(t):
    return len(t) + 6


def test_everything_fits():
    f = fit(2048, 200, msg, count, ["sys"], "问题", GROUPS, [{"role": "user", "content": "早"}], render)
    assert f.groups == [0, 1, 2] and len(f.turns) == 1 and not f.notices


def test_oldest_turns_and_lowest_chunks_dropped_first():
    hist = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"{i}" * 200} for i in range(10)]
    f = fit(1400, 200, msg, count, ["sys"], "问题", GROUPS, hist, render)
    assert 0 in f.groups  # the best chunk always survives
    assert f.turns == hist[len(hist) - len(f.turns):]  # a suffix: the newest turns
    assert "history_dropped" in f.notices
    assert f.prompt_tokens + 200 + SAFETY_TOKENS <= 1400


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=300, max_value=4000), st.integers(min_value=0, max_value=60),
       st.integers(min_value=1, max_value=3000))
def test_never_over_budget(n_ctx, turns, qlen):
    hist = [{"role": "user", "content": "话" * 150} for _ in range(turns)]
    f = fit(n_ctx, 100, msg, count, ["系统"], "问" * qlen, GROUPS, hist, render)
    assert f.prompt_tokens + 100 + SAFETY_TOKENS <= n_ctx or f.groups == [] and f.turns == []
    assert ("问" * qlen).startswith(f.question)


def test_trim_to_tokens_keeps_whole_characters():
    t = "注意力机制" * 10
    out = trim_to_tokens(t, 7, lambda s: len(s.encode("utf-8")))  # 3 bytes per character
    assert out == "注意"


def test_a_best_note_too_long_for_the_window_keeps_its_first_chunks():
    """When the best note alone does not fit, its last chunks go (notice notes_trimmed) rather
    than the whole note: an answer needs the note it is about."""
    from tutor.rag.budget import fit

    groups = ["[1] LoRA\n" + "甲" * 300, "乙" * 300, "丙" * 300]
    note = ["\n\n".join(groups)]
    f = fit(1000, 200, len, len, ["s" * 50], "问题", note, [], lambda gs, q: "".join(note[g] for g in gs) + q)
    assert f.groups == [0] and "notes_trimmed" in f.notices
    assert note[0] == groups[0] + "\n\n" + groups[1]  # whole chunks, from the front
