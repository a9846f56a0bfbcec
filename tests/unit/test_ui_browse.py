"""Browse tab handlers (ui/browse.py) over the real corpus; no index, no model."""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_settings
from ui.browse import UnknownNode, go_to, links_html, node_markdown, open_node, resolve, tree_html


@pytest.fixture(scope="module")
def tutor(tmp_path_factory):
    from tutor.tutor import build_tutor

    return build_tutor(make_settings(tmp_path_factory.mktemp("browse") / "home"))


@pytest.fixture(scope="module")
def sparse_tutor(tmp_path_factory):
    """The real corpus less the 5.3 overview and the 5.3.2 note: every node has a note now,
    so the 'no note yet' rendering is tested on a copy with two removed."""
    import shutil

    from tests.conftest import ROOT
    from tutor.tutor import build_tutor

    root = tmp_path_factory.mktemp("sparse")
    corpus = shutil.copytree(ROOT / "corpus", root / "corpus")
    for name in ("5.3-overview.md", "5.3.2-*.md"):
        for f in (corpus / "notes" / "ch05").glob(name):
            f.unlink()
    return build_tutor(make_settings(root / "home", corpus_dir=corpus))


def test_tree_lists_every_outline_node_and_opens_the_current_branch(tutor, sparse_tutor):
    html = tree_html(tutor.corpus, "3.4.2")
    ids = re.findall(r'data-id="([\d.]+)"', html)
    assert ids == [n.id for n in tutor.corpus.outline.nodes] and len(ids) == len(tutor.corpus.outline)
    assert html.count("<details open>") == 2  # chapter 3 and section 3.4
    assert re.search(r'data-id="3.4.2" class="current"', html)
    assert 'class="nonote"' not in html  # every node has a note (issues 9-11)
    # review 18: at phone width the tree is a short scroll box; a line above it (phone only) says so
    assert html.startswith('<p class="scroll-hint">↕ 目录在框内上下滑动，共 16 章 / scroll inside the box for all 16 chapters</p><nav')
    # review 16: the tree was Chinese only; a Chinese title gets its note's English title beside it
    assert re.search(r'data-id="3.4" [^>]*>3.4 [^<]*<span class="en">[A-Za-z]', html)
    assert not re.search(r'data-id="1.1.1" [^>]*>[^<]*<span', html)  # 「Query-Key-Value」 is English already
    sparse = tree_html(sparse_tutor.corpus, "3.4.2")
    assert 'data-id="5.3.2" class="nonote"' in sparse  # nodes without a note are muted


@pytest.mark.parametrize("text,node", [("3.4.2", "3.4.2"), (" 3.4 ", "3.4"), ("LoRA", "3.4.2"), ("lora", "3.4.2"),
                                       ("低秩适配", "3.4.2"), ("Low-Rank Adaptation", "3.4.2"),
                                       # a title two topics share: the one the other builds on (review 9)
                                       ("知识蒸馏", "7.3.1"), ("ControlNet", "4.3.4"),
                                       # a title holding the text before an alias holding it (review 26)
                                       ("温度", "5.3.2")])
def test_resolve(tutor, text, node):
    assert resolve(tutor.corpus, text) == node


@pytest.mark.parametrize("text", ["", "  ", "没有这个主题xyz"])
def test_resolve_rejects_unknown_text_with_an_example(tutor, text):
    with pytest.raises(UnknownNode, match="3.4.2"):
        resolve(tutor.corpus, text)


def test_note_page_has_body_key_points_items_and_references(tutor):
    md = node_markdown(tutor, "3.4.2")
    note = tutor.corpus.notes["3.4.2"]
    assert "# 3.4.2 LoRA" in md and note.body[:80] in md and "$W_0" in md
    assert all(kp in md for kp in note.meta.key_points)
    assert md.count("<summary>答案 Answer</summary>") == len(note.meta.quiz)
    assert "- B. 为了让训练开始时增量 BA 为零" in md  # choice options as a list, letters A.. in order
    assert note.meta.references[0] in md and "3 BERT与GPT › 3.4" in md


def test_links_cover_parent_prerequisites_related_and_children(tutor):
    note = tutor.corpus.notes["3.4.2"]
    html = links_html(tutor.corpus, "3.4.2")
    linked = set(re.findall(r'data-id="([\d.]+)"', html))
    assert linked == {"3.4", *note.meta.prerequisites, *note.meta.related}
    assert set(re.findall(r'data-id="([\d.]+)"', links_html(tutor.corpus, "3.4"))) >= {"3", "3.4.1", "3.4.2", "3.4.3", "3.4.4"}


def test_node_without_note_shows_its_place_and_children(sparse_tutor):
    missing = next(n for n in sparse_tutor.corpus.outline.nodes if n.level == 2 and n.id not in sparse_tutor.corpus.notes)
    assert missing.id == "5.3"
    md, links, tree, node = open_node(sparse_tutor, missing.id)
    assert "no note for this node yet" in md and node == missing.id
    assert all(k in md for k in missing.children)


def test_go_to_unknown_text_and_open_unknown_id_say_so(tutor):
    md, links, tree, node = go_to(tutor, "没有这个主题xyz")
    assert md.startswith("⚠") and node == "" and links == "" and "data-id" in tree
    assert open_node(tutor, "99.9")[0].startswith("⚠ 未知编号")
