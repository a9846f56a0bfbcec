import pytest

from tests.conftest import ROOT
from tutor.prompts import Prompts

P = Prompts(ROOT / "prompts")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_answer_prompt_renders(lang):
    out = P.render("answer", lang, context="[1] 笔记", question="问题？")
    assert "[1] 笔记" in out and "问题？" in out


def test_missing_and_unexpected_variables_are_errors():
    with pytest.raises(Prompts.Error, match="missing"):
        P.render("answer", "zh", context="x")
    with pytest.raises(Prompts.Error, match="unexpected"):
        P.render("system", "zh", foo="x")


def test_unknown_template_names_the_setting():
    with pytest.raises(Prompts.Error, match="TUTOR_PROMPTS_DIR"):
        P.render("nope", "zh")


@pytest.mark.parametrize("name", ["system", "answer", "rewrite", "strict", "not_covered", "not_covered_offtopic"])
def test_every_prompt_exists_in_both_languages(name):
    assert P.path(name, "zh").is_file() and P.path(name, "en").is_file()
