"""`tutor ask`'s footer: sources, flagged sentences, key points, notices."""
from __future__ import annotations

import dataclasses

from tutor.cli import _render_answer_footer
from tutor.rag.chat import Answer, Source


def test_the_footer_keeps_the_key_points_of_the_notes_the_answer_cites():
    """Review 26: 「什么是梯度裁剪？为什么要用它？」 printed 14 key points, 9 of them PPO's clip objective
    and residual connections, which the answer never cited."""
    one = Source(1, "2.4.4", "梯度裁剪", "Gradient Clipping", 0.03, 0.9, "梯度裁剪 · 概念", ["c1"])
    two = dataclasses.replace(one, n=2, id="5.2.4", title="PPO", title_en="PPO")
    kps = [{"n": 1, "id": "2.4.4", "text": "按全局范数裁剪"}, {"n": 2, "id": "5.2.4", "text": "裁剪目标"}]
    a = Answer("q", "- 按全局范数裁剪 [1]", [one, two], "smol", "zh", {"first_token_ms": None}, key_points=kps)
    out = _render_answer_footer(a)
    assert "按全局范数裁剪" in out and "裁剪目标" not in out, out
    assert "[2] 5.2.4 PPO (PPO) — related, not cited" in out and "[1] 2.4.4 梯度裁剪 (Gradient Clipping)\n" in out, out
    # an answer citing nothing (a model's, say) keeps every note's key points, untagged
    b = dataclasses.replace(a, answer="LoRA 冻结权重。")
    assert "裁剪目标" in _render_answer_footer(b) and "not cited" not in _render_answer_footer(b)
