"""Lexical tokens: symbol-joined terms stay whole, LaTeX and Unicode spellings agree, and the
coverage terms of a question drop stop words and the parts of a joined term."""

import pytest

from tutor.rag.bm25 import content_terms, joined_terms, tokenize


@pytest.mark.parametrize("text, terms", [
    ("Q·K^T 是什么意思？", ["qkt"]),
    ("$QK^\\top$", ["qkt"]),
    ("QKᵀ", ["qkt"]),
    ("$\\mathrm{softmax}(QK^T/\\sqrt{d_k})V$", ["qkt", "dk"]),
    ("K-means 和 t-SNE", ["kmeans", "tsne"]),
    ("top-k 与 top-p 采样", ["topk", "topp"]),
    ("GPT-4 和 GPT-3.5", ["gpt4", "gpt35"]),
    ("\\beta_t 与 β_t", ["βt", "βt"]),
    ("3.4.2 LoRA, 2024-08-01", []),  # ids and dates: no letter, jieba keeps them
    ("Adam's optimiser", []),
])
def test_joined_terms(text, terms):
    assert joined_terms(text) == terms


def test_tokenize_keeps_the_parts_and_adds_the_whole_term():
    toks = tokenize("K-means 聚类")
    assert {"k", "mean", "kmeans", "聚类"} <= set(toks)  # "means" stemmed; the whole term is not


def test_content_terms_drop_question_words_and_joined_parts():
    assert content_terms("Q·K^T 是什么意思？") == {"qkt"}
    assert content_terms("t-SNE 为啥能可视化") == {"tsne", "可视", "可视化"}
    assert "因为" not in content_terms("因为显存不够怎么办")  # a stopwords-iso function word
    # the parts jieba's search mode cuts from 怎么回事, and the locative 里 (「X 里的 Y」)
    assert content_terms("流水线并行里的气泡是怎么回事？") == {"流水", "水线", "流水线", "并行", "气泡"}


def test_stemming_is_thread_safe():
    """A shared Snowball stemmer gave wrong stems and IndexError under 8 threads (load test)."""
    from concurrent.futures import ThreadPoolExecutor

    from tutor.rag.bm25 import _stem

    words = ["freezes", "tuning", "attention", "normalization", "gradients", "quantization", "retrieval", "embeddings"] * 25
    expected = _stem(words)

    def run(_):
        return _stem(words)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(400)))
    assert all(r == expected for r in results)
