import pytest

from tests.conftest import ROOT
from tutor.outline import Outline

OUTLINE = Outline.parse(ROOT / "corpus" / "outline.md")


def test_counts_match_the_outline():
    levels = [n.level for n in OUTLINE.nodes]
    assert (levels.count(1), levels.count(2), levels.count(3)) == (16, 64, 254)


@pytest.mark.parametrize("node_id,title", [
    ("1", "注意力机制详解"), ("1.1.2", "缩放点积"), ("3.4.2", "LoRA"), ("4.4.4", "LoRA"),
    ("2.3.1", "Encoder-only (BERT)"), ("16", "职业发展"),
])
def test_ids_are_positional(node_id, title):
    assert OUTLINE[node_id].title == title


def test_path_and_children():
    assert [n.id for n in OUTLINE.path("3.4.2")] == ["3", "3.4", "3.4.2"]
    assert [c.id for c in OUTLINE.children("3.4")] == ["3.4.1", "3.4.2", "3.4.3", "3.4.4"]
    assert "9.9.9" not in OUTLINE


def test_outline_is_the_seed_unchanged():
    seed = ROOT.parent / "shared" / "seed" / "outline.md"
    if not seed.exists():
        pytest.skip("shared/seed not beside this checkout")
    assert (ROOT / "corpus" / "outline.md").read_bytes() == seed.read_bytes()
