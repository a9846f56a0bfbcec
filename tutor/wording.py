"""Learner-facing wording: one table, every entry in Chinese with English alongside.

The tutor's learners read Chinese first and also read English, so every string a learner
sees (labels, verdicts, feedback, notices, reasons, errors shown in the UI or the terminal)
comes from TABLE below, keyed by name, as a (中文, English) pair. Code never writes its own
learner-facing text; it asks for an entry:

    from tutor.wording import w, label, text, zh, en, percent

    w("quiz.nothing_to_ask", mode=text("quiz.mode.due"), tip=text("quiz.tip.try_new"))
        -> "这里没有可做的题（到期复习）；试试“新题”模式 / nothing to ask here (Due); try mode New"
    label("quiz.start")     -> "开始 Start"        compact form for buttons, tabs, column heads
    zh("verdict.correct")   -> "正确"              one part alone
    en("verdict.correct")   -> "Correct"
    text("path.weak", ...)  -> Text(zh=..., en=...) the pair itself; str(Text) == w(...)
    percent(None)           -> Text("尚未练习", "not practised yet"); percent(0.4) -> "40%"

- w(key, **params) -> str: "中文 / English" (just one of them when both are identical).
- label(key, **params) -> str: "中文 English", for short names (「正确 Correct」, 「开始 Start」).
- zh(key, **params) / en(key, **params) -> str: one part.
- text(key, **params) -> Text: both parts; Text.zh, Text.en, str(t), t.label.
- Params are str.format fields ({n}, {id}). A param may itself be a Text (another entry,
  percent(...), join(...)): its Chinese part goes into the Chinese sentence and its English
  part into the English one, so a sentence built from pieces stays one language per side.
- join(texts, zh_sep, en_sep) -> Text: several Texts joined per language.
- An unknown key raises MissingWording (a KeyError). tests/unit/test_wording.py checks that
  every entry has Chinese (with CJK characters) and English, and that every key written as a
  literal in tutor/ and ui/ (w("…"), label("…"), text("…"), zh("…"), en("…")) exists; keys
  built at run time (f"verdict.{v}") must have every member in the table (that test lists them).

Rules for entries: never show "—" or an empty cell for a missing value; say it in words
(percent(None), "progress.no_items"). Keep placeholders identical in both parts.
Deliberately not here: note content (titles, key points, references: written in the notes
in their own language), LLM prompts (prompts/), and machine-read output: JSON keys, codes,
verdict / rating / flag values, log lines and exit codes stay as DESIGN.md fixes them.
"""

from __future__ import annotations

from dataclasses import dataclass


class MissingWording(KeyError):
    """A wording key that is not in TABLE."""


@dataclass(frozen=True)
class Text:
    """A learner-facing text in both languages."""

    zh: str
    en: str

    def __str__(self) -> str:
        return self.zh if self.zh == self.en else f"{self.zh} / {self.en}"

    @property
    def label(self) -> str:
        """Compact form for short names: "中文 English"."""
        return self.zh if self.zh == self.en else f"{self.zh} {self.en}"

    @classmethod
    def same(cls, value) -> "Text":
        """A value shown the same in both languages (a number, an id)."""
        return value if isinstance(value, Text) else cls(str(value), str(value))


TABLE: dict[str, tuple[str, str]] = {
    # -- verdicts, ratings, item types (quiz tab, CLI, progress history, browse) -----------------
    "verdict.correct": ("正确", "Correct"),
    "verdict.partial": ("部分正确", "Partly correct"),
    "verdict.wrong": ("不正确", "Wrong"),
    "verdict.check": ("请自评", "Check yourself"),
    "rating.again": ("忘记", "Again"),
    "rating.hard": ("困难", "Hard"),
    "rating.good": ("良好", "Good"),
    "rating.easy": ("简单", "Easy"),
    "rating.pending": ("待自评", "waiting for your rating"),
    "type.choice": ("选择题", "Choice"),
    "type.short": ("简答题", "Short answer"),
    "type.card": ("卡片", "Flashcard"),
    "common.all": ("全部", "All"),
    "common.note": ("笔记", "note"),
    "common.type": ("题型", "type"),
    "common.verdict": ("结果", "verdict"),
    "common.score": ("得分", "score"),
    "common.next_review": ("下次复习", "next review"),
    "common.user": ("用户", "user"),
    "common.not_scored": ("未评分", "not scored"),
    "common.not_scheduled": ("自评后安排", "after your rating"),
    # -- quiz tab --------------------------------------------------------------------------
    "quiz.tab": ("测验", "Quiz"),
    "quiz.scope": ("范围", "Scope"),
    "quiz.mode": ("模式", "Mode"),
    "quiz.type": ("题型", "Type"),
    "quiz.items": ("题数", "Items"),
    "quiz.start": ("开始", "Start"),
    "quiz.finish": ("结束并小结", "Finish"),
    "quiz.options": ("选项", "Options"),
    "quiz.your_answer": ("你的回答", "Your answer"),
    "quiz.flip": ("翻面", "Flip"),
    "quiz.submit": ("提交", "Submit"),
    "quiz.hint": ("提示", "Hint"),
    # Gradio's own status announcements, untranslated in its bundle (ui/style.py SR_WORDS_JS)
    "common.complete": ("完成", "Done"),
    "common.error": ("出错", "Error"),
    "quiz.dont_know": ("不知道", "Don't know"),
    "quiz.short_placeholder": ("用自己的话回答；不会就写「不知道」", "Answer in your own words, or write don't know"),
    "quiz.next": ("下一题", "Next"),
    "quiz.back": ("背面", "Back"),
    "quiz.open_note": ("打开笔记", "Open note"),
    "quiz.answer": ("正确答案", "Answer"),
    "quiz.generated": ("生成", "generated"),
    "quiz.mode.mixed": ("混合", "Mixed (due → weak → new)"),
    "quiz.mode.due": ("到期复习", "Due"),
    "quiz.mode.weak": ("薄弱", "Weak"),
    "quiz.mode.new": ("新题", "New"),
    "quiz.filter.choice": ("选择", "Choice"),
    "quiz.filter.short": ("简答", "Short"),
    "quiz.filter.card": ("卡片", "Flashcard"),
    "quiz.header": ("第 {i}/{n} 题", "item {i} of {n}"),
    "quiz.fewer_items": ("这个范围里符合所选条件的只有 {got} 题（你选了 {asked} 题）",
                         "only {got} items here match your choices (you asked for {asked})"),
    "quiz.nothing_to_ask": ("这里没有可做的题（{mode}）；{tip}", "nothing to ask here ({mode}); {tip}"),
    "quiz.tip.try_new": ("试试“新题”模式", "try mode New"),
    "quiz.tip.try_other": ("换个范围或题型", "try another scope or type"),
    "quiz.choose_option": ("还没选答案：请先选一个选项再提交（不会的话可以点 提示 或 下一题）",
                           "no option chosen: pick one, then Submit (or press Hint, or Next to skip)"),
    "quiz.unrated_reminder": ("这题还没自评：点 忘记 / 困难 / 良好 / 简单 安排复习；再点一次则跳过自评（不安排复习）",
                              "you have not rated this answer: press Again / Hard / Good / Easy to schedule it; "
                              "press again to move on without rating (not scheduled)"),
    "quiz.grading": ("正在评分…", "grading…"),
    "quiz.grading_first": ("正在评分…（第一次评分要载入评分模型，可能需要几秒）",
                           "grading… (the first grade loads the grading model and can take a few seconds)"),
    "quiz.choose_scope": ("选择范围后点“开始”", "choose a scope and press Start"),
    "quiz.rate_yourself": ("对照下面的答案给自己打分，再安排复习", "compare with the answer below and rate yourself"),
    "quiz.your_rating": ("自评", "your rating"),
    "quiz.auto_graded": ("自动评分", "auto-graded"),
    "quiz.contest": ("我认为我答对了", "I think I was right"),
    "quiz.contest_explain": ("给自己打分：你的自评将替换自动评分，并按它安排下次复习",
                             "rate yourself: your rating replaces the automatic grade and schedules the next review"),
    "quiz.contested": ("已申诉：自动评分为“{verdict}”，按你的自评计", "contested: auto-graded {verdict}, counted with your rating"),
    "quiz.summary.title": ("本轮小结 — 共 {n} 题", "Round summary — {n} answered"),
    "quiz.summary.none": ("本轮没有作答", "no answers in this round"),
    "quiz.summary.self_rated": ("自评", "self-rated"),
    "quiz.summary.contested": ("申诉后自评", "contested, self-rated"),
    "quiz.summary.to_rate": ("待自评", "to rate yourself"),
    "quiz.summary.skipped": ("跳过", "skipped"),
    "quiz.summary.answer_shown": ("看过答案", "answer shown"),
    "quiz.summary.self_rated_note": ("自评的作答不计入平均分，但在“进度”里按你的评级计入掌握度（忘记 {again}、困难 {hard}、良好/简单 {good}）",
                                     "self-rated answers are left out of the mean score but count toward mastery in "
                                     "Progress with your rating (Again {again}, Hard {hard}, Good/Easy {good})"),
    "quiz.summary.unchanged": ("不变", "unchanged"),  # a skipped item's next review
    "quiz.summary.mean": ("平均得分", "mean score"),
    "quiz.summary.mean_of": ("（{n} 题计分）", "({n} scored)"),
    "quiz.summary.review": ("建议复习", "Review these notes"),
    # -- quiz feedback (tutor/quiz/service.py; the same text in the quiz tab, CLI and API) ---
    "feedback.correct": ("正确。", "Correct."),
    "feedback.partial": ("部分正确。", "Partly correct."),
    "feedback.wrong": ("不正确。", "Not correct."),
    "feedback.check": ("自动评分无法确定，请对照参考答案和关键点自评（忘记 / 困难 / 良好 / 简单）。",
                       "The grader cannot decide: compare with the reference and key points and rate yourself "
                       "(again / hard / good / easy)."),
    "feedback.empty": ("没有作答，按错误计。", "No answer given: graded wrong."),
    "feedback.empty_card": ("没有自评，按“忘记”计。", "No rating given: counted as Again."),
    "feedback.copied_question": ("你的回答只是重复了题目，按错误计。", "Your answer only repeats the question: graded wrong."),
    "feedback.dont_know": ("没关系，记下来了：这题按「忘记」安排，很快会再出现。先看看参考答案。",
                           "No problem, noted: this item counts as Again and comes back soon. Here is the answer."),
    "feedback.too_short": ("回答太短，没有说明任何要点，按错误计。", "Too short to state any key point: graded wrong."),
    "feedback.unrelated": ("你的回答和这道题无关，按错误计。", "Your answer is about something else: graded wrong."),
    "feedback.other_item": ("你的回答像是另一道题的答案，按错误计。", "Your answer fits another question: graded wrong."),
    "feedback.self_rated": ("已按你的自评安排下次复习。", "Scheduled with your own rating."),
    "feedback.contested": ("已用你的自评替换自动评分，并据此安排下次复习。",
                           "Your own rating replaces the automatic grade; the next review is scheduled with it."),
    "feedback.answer_shown": ("提示已经给出了答案，这次按“忘记”计（不再自评），这张卡片很快会再出现。",
                              "The hint showed the answer, so this counts as Again (no self-rating) and the card "
                              "comes back soon."),
    "feedback.key_points": ("关键点", "Key points"),
    "feedback.close": ("你的回答在意思上与参考答案很接近；细节（方向、否定、数字、公式）说得对不对，自动评分核对不了。",
                       "Your answer is close in meaning to the reference; whether its details (direction, negation, "
                       "numbers, formulas) are right, the grader cannot check."),
    "feedback.close_short": ("你的回答在意思上与参考答案很接近。", "Your answer is close in meaning to the reference."),
    "feedback.far": ("你的回答与参考答案在意思上相差较远：可能漏了要点或说错了，也可能只是换了说法，请逐条对照下面的关键点。",
                     "Your answer is far in meaning from the reference: it may miss or misstate the key points, or "
                     "put them in quite other words; compare it with each key point below."),
    "feedback.key_points_check": ("对照这些关键点给自己评分", "Rate yourself against these key points"),
    # why the grader could not decide (a "check yourself" answer's doubts, tutor/quiz/grading.py)
    # says it is no verdict: a complete right answer read it as a hint of a mistake (review 21)
    "feedback.doubt.claims": ("这不表示答错了：你的回答里有否定、增减方向、前后对调、公式或数字这类说法，自动评分核对不了，请自己逐条对照。",
                              "This does not mean it is wrong: your answer turns on a negation, a direction, an order, a "
                              "formula or a number, which the grader cannot verify; compare it point by point yourself."),
    "feedback.doubt.contradicts": ("关键点的词都出现了，但说法可能和参考答案不一样（比如两个方法对调了）。",
                                   "Every key point's words are there, but the claim may differ from the reference "
                                   "(two methods swapped, say)."),
    "feedback.doubt.term_list": ("回答只列了术语，没有说明它们之间的关系。", "The answer lists terms without saying how they relate."),
    "feedback.doubt.too_long": ("回答比参考答案长很多，没法逐句核对。",
                                "The answer is much longer than the reference and cannot be checked sentence by sentence."),
    "feedback.doubt.edited_reference": ("回答几乎就是参考答案，只改了几个词，对错就在改动的地方。",
                                        "The answer is the reference with a few words changed: whether it is right "
                                        "depends on the change."),
    "feedback.doubt.other_language": ("回答和题目用的语言不同，自动评分把握不大。",
                                      "The answer is in another language than the item, so the grader is less sure."),
    "chat.misconceptions": ("常见误区", "Common misconceptions"),
    "feedback.near_misconception": ("你的回答与这道题的一个常见误区意思相近：「{misconception}」——请核对你是否这样说了。",
                                    "Your answer is close in meaning to a common misconception about this item: "
                                    "\"{misconception}\" — check whether that is what you said."),
    "feedback.missed": ("漏掉的关键点", "Missed key points"),
    "feedback.why": ("解析", "Why"),
    "feedback.review_note": ("复习笔记", "Review the note"),
    "notice.answer_shown": ("提示里已经给出了答案，所以这张卡片很快会再出现（FSRS 评为“忘记”）",
                            "the answer was shown as a hint, so this card comes back soon (FSRS Again)"),
    "notice.hint_used": ("用过提示，所以评级最高为“良好”（不是“简单”）", "a hint was used, so the rating is at most Good (not Easy)"),
    "notice.invalid_utf8": ("回答里有无效的 UTF-8 字节，已替换为 \ufffd",
                            "the answer had bytes that are not valid UTF-8; they were replaced with \ufffd"),
    "notice.trimmed": ("回答从 {n} 个字符截短到 {limit} 个（TUTOR_QUIZ_MAX_ANSWER_CHARS）",
                       "answer trimmed from {n} to {limit} characters (TUTOR_QUIZ_MAX_ANSWER_CHARS)"),
    "notice.rubric_unavailable": ("LLM 评语不可用：{error}", "LLM rubric unavailable: {error}"),
    # -- quiz errors (shown in the quiz tab as ⚠ and on the CLI's stderr) ----------------------
    "error.empty_query": ("搜索词是空的；请给出要找的词，例如 tutor search 'RoPE'", "the query is empty; give words to search for, e.g. tutor search 'RoPE'"),
    "error.blank_user": ("--user 是空的；请给出学习者的名字，或去掉 --user 用默认用户", "--user is blank; give a learner name, or leave --user out for the default"),
    "error.section_as_chapter": ("{chapter!r} 是小节编号，不是章节号；小节请用 --section {chapter}", "{chapter!r} is a section id, not a chapter; for a section use --section {chapter}"),
    "error.unknown_chapter": ("未知的章节 {chapter!r}；请用 {first} 到 {last} 的章节号", "unknown chapter {chapter!r}; use a chapter number from {first} to {last}"),
    "error.not_inside": ("{inner} 不在 {outer} 之内；去掉其中一个筛选条件", "{inner} is not inside {outer}; drop one of the filters"),
    "error.no_items_under": ("{scope} 下还没有测验题；有测验题的章节是 {first}-{last}",
                             "no quiz items under {scope} yet; notes with quiz items exist for chapters {first}-{last}"),
    "error.no_items_at_all": ("一道测验题也没有；请检查 TUTOR_CORPUS_DIR", "no quiz items at all; check TUTOR_CORPUS_DIR"),
    "error.unknown_scope": ("未知的{kind} {scope!r}；请用大纲编号，如 3、3.4 或 3.4.2（见 corpus/outline.md）",
                            "unknown {kind} {scope!r}; use an outline id such as 3, 3.4 or 3.4.2 (see corpus/outline.md)"),
    "error.unknown_item": ("未知的测验题 {item_id!r}；编号形如 '3.4.2/short-1a2b3c'",
                           "unknown quiz item {item_id!r}; ids look like '3.4.2/short-1a2b3c'"),
    "error.unknown_mode": ("未知的模式 {mode!r}；可选 {choices}", "unknown mode {mode!r}; use one of {choices}"),
    "error.bad_mode": ("未知的回答模式 {mode!r}；可选 {choices}（TUTOR_ANSWER_MODE 或 --mode）",
                       "answer mode {mode!r} is not one of {choices} (TUTOR_ANSWER_MODE or --mode)"),
    "error.unknown_type": ("未知的题型 {type!r}；可选 {choices}", "unknown type {type!r}; use one of {choices}"),
    "error.not_an_option": ("{answer!r} 不是选项；请用字母 {first}-{last} 或数字 1-{n} 作答",
                            "{answer!r} is not one of the options; answer with a letter {first}-{last} or a number 1-{n}"),
    "error.not_a_rating": ("{answer!r} 不是自评；请选 忘记 / 困难 / 良好 / 简单（或 1-4）",
                           "{answer!r} is not a rating; rate yourself again / hard / good / easy (or 1-4)"),
    "error.nothing_pending": ("{user!r} 对 {item_id} 没有等待自评的回答；请先作答",
                              "no answer of {user!r} to {item_id} is waiting for a self-rating; answer it first"),
    "error.contest_not_short": ("{item_id} 是{kind}：只有自动评分的简答题可以申诉",
                                "{item_id} is a {kind} item: only auto-graded short answers can be contested"),
    "error.contest_no_answer": ("{user!r} 还没有回答过 {item_id}，没有可申诉的评分；请先作答",
                                "{user!r} has no answer to {item_id} to contest; answer it first"),
    "error.contest_pending": ("你对 {item_id} 的最新回答正等待自评：直接给自己打分即可，不需要申诉",
                              "your latest answer to {item_id} is waiting for your own rating: rate it instead of contesting"),
    "error.contest_done": ("你对 {item_id} 的最新回答已经按自评计（申诉过或自评过），不能再申诉；再答一次吧",
                           "your latest answer to {item_id} already counts with your own rating (contested or self-rated); answer it again"),
    "error.contest_empty": ("你对 {item_id} 的最新回答是空的，没有可申诉的内容；再答一次吧",
                            "your latest answer to {item_id} is empty, so there is nothing to contest; answer it again"),
    "error.contest_answer_shown": ("回答 {item_id} 之前提示已经给出了答案，这次按“忘记”计，不能申诉",
                                   "the hint showed the answer before you answered {item_id}, so it counts as Again and cannot be contested"),
    "error.contest_legacy": ("你对 {item_id} 的最新回答是旧版本保存的，没有复习前的卡片状态，不能申诉；再答一次吧",
                             "your latest answer to {item_id} was stored by an older version without the card's earlier state, so it cannot be contested; answer it again"),
    "error.contest_stale": ("{item_id} 的卡片在这次回答之后变过（例如导入了进度），不能申诉；再答一次吧",
                            "the card of {item_id} changed after that answer (imported progress?), so it cannot be contested; answer it again"),
    "error.bad_import_file": ("无法把 {path} 读成 JSON（{kind}）；请用 `tutor progress --export` 写出的文件",
                              "cannot read {path} as JSON ({kind}); pass a file written by `tutor progress --export`"),
    "error.not_an_export": ("这不是 tutor 的进度导出文件（应有 \"format\": \"tutor-progress\"）；用 `tutor progress --export FILE` 导出",
                            "not a tutor progress export (expected \"format\": \"tutor-progress\"); make one with "
                            "`tutor progress --export FILE`"),
    "error.export_version": ("不支持的导出版本 {version!r}；本程序读取版本 {supported}",
                             "unsupported export version {version!r}; this tutor reads version {supported}"),
    "error.export_no_user": ("导出文件没有写明用户；请用 --user 指定", "the export names no user; pass one with --user"),
    "error.export_malformed": ("进度导出文件格式有误（{error}）；请用 `tutor progress --export` 重新导出",
                               "malformed progress export ({error}); re-export it with `tutor progress --export`"),
    "scope.chapter": ("章", "chapter"),
    "scope.section": ("节", "section"),
    "scope.topic": ("主题", "topic"),
    "scope.outline": ("大纲节点", "outline node"),
    # -- hints (tutor/quiz/hints.py; the note's own words stay in the note's language) -------
    "hint.concept": ("想一想「{title}」{where}：它要解决什么问题、靠什么机制做到？{points}",
                     "Think about {title}{where}: what problem does it solve, and by what mechanism?{points}"),
    # a short item's hint 1 also says how many points a full answer makes (review 13: hint 1 read
    # the same for every item; the count is the item's own and gives nothing away)
    "hint.points": ("完整的回答要讲到 {n} 点。", " A full answer makes {n} points."),
    "hint.concept.where": ("，属于「{section}」", ", part of {section}"),
    # a calculation item's hint 1 (review 25: 「4 个超参数×5 个值×5 折，一共训练多少次？」 got "what problem
    # does grid search solve"): the question's own numbers and how quantities combine, nothing more
    "hint.calc": ("这是一道计算题（「{title}」）：题目给了 {numbers}。先写出这个主题里求这个量的公式（哪些数相乘、相加、相除或取对数、指数），再代入。{points}",
                  "A calculation ({title}): the question gives {numbers}. Write down this topic's formula for the quantity asked "
                  "for (what multiplies, adds, divides, takes a log or an exponent), then plug them in.{points}"),
    "hint.concept.plain": ("想一想这道题属于哪个主题（{id}），先回忆它的定义。{points}",
                           "Think about topic {id}: recall its definition first.{points}"),
    "hint.cloze": ("想一想这个关键点该怎么填空", "How would you fill in this key point"),
    "hint.which_key_point": ("想一想：这个主题有哪几个关键点？哪一个和题目直接相关？",
                             "Which key point of this topic does the question turn on?"),
    # -- progress tab, `tutor progress` ------------------------------------------------------
    "progress.tab": ("进度", "Progress"),
    "progress.refresh": ("刷新", "Refresh"),
    "progress.by_chapter": ("各章掌握度", "Mastery by chapter"),
    "progress.next_topics": ("推荐下一步", "Next topics"),
    "progress.by_section": ("各节掌握度", "Mastery by section"),
    "progress.legend": ("红 低 → 绿 高；白：尚未练习；灰：无测验题。一节的颜色是其中各篇笔记掌握度的平均（没练过的笔记算 0），"
                        "一篇笔记要答过至少 3 道题（题少时全部）才能满分，所以只答对一题的节仍偏红",
                        "red low → green high; white: not practised yet; grey: no quiz items. A section's colour is the mean "
                        "mastery of its notes (notes not practised count 0), and a note needs at least 3 of its items answered "
                        "(all, when it has fewer) for full marks, so a section with one right answer stays reddish"),
    "progress.history": ("复习记录", "Review history"),
    "progress.time_utc": ("时间", "time (UTC)"),
    "progress.fsrs": ("评级", "FSRS rating"),
    "progress.no_items": ("无测验题", "no quiz items"),
    "progress.store_failed": ("读取学习进度失败（{error}）：请稍后刷新；若一直失败，请检查 TUTOR_DATABASE_URL",
                              "could not read your progress ({error}): refresh in a moment; if it keeps failing, check TUTOR_DATABASE_URL"),
    "progress.cell": ("掌握度 {pct}（已学 {seen}/{units} 篇笔记，{due} 张到期）", "mastery {pct} ({seen}/{units} notes, {due} due)"),
    "progress.due_now": ("到期", "due now"),
    "progress.next_24h": ("24 小时内", "next 24 h"),
    "progress.next_7d": ("7 天内", "next 7 days"),
    "progress.cards": ("卡片", "cards"),
    "progress.nothing_yet": ("暂无建议", "nothing to recommend yet"),
    "common.scroll_hint": ("← 左右滑动查看全部 →", "swipe sideways to see all"),
    "browse.tree_scroll_hint": ("↕ 目录在框内上下滑动，共 16 章", "scroll inside the box for all 16 chapters"),
    "progress.self_rated": ("掌握度也计入你自评的作答：{n} 次中 {k} 次（卡片、请自评、申诉），按你的评级计（忘记 {again}、困难 {hard}、良好/简单 {good}）；"
                            "本轮小结里它们标为“未评分”，不计入平均分",
                            "mastery counts your self-rated answers too: {k} of {n} (flashcards, check yourself, contested), "
                            "with your rating (Again {again}, Hard {hard}, Good/Easy {good}); round summaries mark them "
                            "'not scored' and leave them out of the mean score"),
    "progress.chapter": ("章", "chapter"),
    "progress.title": ("标题", "title"),
    "progress.mastery": ("掌握度", "mastery"),
    "progress.notes_seen": ("已学笔记", "notes seen"),
    "progress.items_reviewed": ("已做题目", "items reviewed"),
    "progress.reviews": ("作答次数", "reviews"),
    "progress.imported": ("已导入到 {user}：新增 {reviews} 条作答，更新 {cards} 张卡片",
                          "imported into {user}: {reviews} reviews added, {cards} cards updated"),
    "progress.wrote": ("已写入 {path}", "wrote {path}"),
    "chart.axis": ("掌握度（%）", "mastery (%)"),
    "chart.notes": ("篇笔记", "notes"),
    "chart.chapter": ("第 {id} 章", "Chapter {id}"),
    "chart.no_font": ("没有安装中文字体（如 fonts-noto-cjk），图表只显示章号",
                      "no CJK font installed (e.g. fonts-noto-cjk): chart labels show chapter numbers only"),
    # -- learning path (tutor/quiz/path.py: Step.reason; progress tab, `tutor path`) ---------
    "path.kind.review": ("复习", "review"),
    "path.kind.weak": ("薄弱", "weak"),
    "path.kind.continue": ("继续", "continue"),
    "path.kind.new": ("新", "new"),
    "path.review": ("{n} 张卡片到期复习（FSRS，{when}）；掌握度 {mastery}",
                    "{n} card{s} due for review (FSRS, {when}); mastery {mastery}"),
    "path.due_today": ("今天到期", "due today"),
    "path.overdue": ("已逾期 {days} 天", "{days} day{s} overdue"),
    "path.weak": ("薄弱：掌握度 {mastery}，低于 {target}；{prereqs}", "weak: mastery {mastery}, below {target}; {prereqs}"),
    "path.continue": ("已开始：答了 {done}/{need} 题，掌握度 {mastery}，答满 {need} 题才能算掌握；{prereqs}",
                      "started: {done} of {need} items answered, mastery {mastery}; mastery needs {need} answered; {prereqs}"),
    "path.new": ("新主题，按大纲顺序排在下一个；{prereqs}", "new topic, next in outline order; {prereqs}"),
    "path.new_overview": ("其中 {seen} 个主题已练过，只是概述题还没做；{prereqs}",
                          "{seen} of its topics practised, only its overview items not yet; {prereqs}"),
    "path.no_prereqs": ("没有先修主题", "no prerequisites"),
    "path.prereq.mastered": ("先修 {id}{title} 已掌握（{mastery}）", "prerequisite {id}{title} mastered ({mastery})"),
    "path.prereq.at": ("先修 {id}{title} 掌握度 {mastery}", "prerequisite {id}{title} at {mastery} mastery"),
    # a section or chapter: the mean over its topics, which its own line (its overview's items) is not (review 19)
    "path.prereq.at_mean": ("先修 {id}{title} 各主题平均掌握度 {mastery}", "prerequisite {id}{title} at {mastery} mastery (mean over its topics)"),
    "path.prereq.mastered_mean": ("先修 {id}{title} 已掌握（各主题平均 {mastery}）", "prerequisite {id}{title} mastered ({mastery}, mean over its topics)"),
    "path.weak_overview": ("薄弱：本节概述题的掌握度 {mastery}，低于 {target}；{prereqs}",
                           "weak: mastery {mastery} on the overview's own items, below {target}; {prereqs}"),
    "path.prereq.unpractised": ("先修 {id}{title} 尚未练习", "prerequisite {id}{title} not practised yet"),
    "path.prereq.no_quiz": ("先修 {id}{title} 没有测验题（无法衡量）", "prerequisite {id}{title} has no quiz items (not measured)"),
    "path.all_done": ("都学完了：每个有测验题的主题都已掌握，也没有到期的复习。",
                      "Nothing left: every topic with quiz items is mastered and nothing is due."),
    "value.not_practised": ("尚未练习", "not practised yet"),
    # -- browse tab ----------------------------------------------------------------------------
    "browse.tab": ("浏览", "Browse"),
    "browse.goto": ("跳转", "Go to"),
    "browse.goto_placeholder": ("编号或标题，如 3.4.2、LoRA", "id or title, e.g. 3.4.2, LoRA"),
    "browse.pick": ("在目录中选择一个节点", "pick a node in the outline"),
    "browse.no_note": ("暂无笔记", "no note yet"),
    "browse.no_note_node": ("这一节点还没有笔记", "no note for this node yet"),
    "browse.type_id": ("输入编号或标题", "type an outline id such as 3.4.2 or a title such as LoRA"),
    "browse.not_found": ("没有找到 {text!r}", "no outline node matches {text!r}; try an id such as 3.4.2 or a title such as LoRA"),
    "browse.unknown_id": ("未知编号 {id!r}", "unknown id {id!r}"),
    "browse.level.1": ("章", "Chapter"),
    "browse.level.2": ("节", "Section"),
    "browse.level.3": ("主题", "Topic"),
    "browse.difficulty": ("难度", "difficulty"),
    "browse.difficulty.1": ("入门", "intro"),
    "browse.difficulty.2": ("中级", "intermediate"),
    "browse.difficulty.3": ("进阶", "advanced"),
    "browse.aliases": ("别名", "aliases"),
    "browse.parent": ("上级", "Parent"),
    "browse.prerequisites": ("先修", "Prerequisites"),
    "browse.related": ("相关", "Related"),
    "browse.children": ("下级", "Children"),
    "browse.key_points": ("要点", "Key points"),
    "browse.quiz_items": ("测验", "Quiz items"),
    "browse.references": ("参考文献", "References"),
    "browse.answer": ("答案", "Answer"),
    "browse.no_items": ("这一节点没有测验题", "no quiz items for this node"),
    # -- `tutor quiz` in the terminal ----------------------------------------------------------
    "cli.quiz.start": ("tutor 测验 — 用户 {user} · {where} · 模式 {mode} · 共 {n} 题。输入 ? 看提示，不会就答「不知道」，/skip 跳过，/quit 结束。答案随答随存。",
                       "tutor quiz — user {user} · {where} · mode {mode} · {n} question(s). Type ? for a hint, "
                       "\"don't know\" when you don't, /skip to skip, /quit to stop. Answers are saved as you go."),
    "cli.quiz.scope": ("范围 {scope}", "scope {scope}"),
    "cli.quiz.all_chapters": ("全部章节", "all chapters"),
    "cli.quiz.nothing": ("用户 {user} 没有可做的题（{where}，模式 {mode}）：{tip}。",
                         "Nothing to ask for user {user} ({where}, mode {mode}): {tip}."),
    "cli.quiz.tip_new": ("试试 --mode new", "try --mode new"),
    "cli.quiz.tip_other": ("换个 --chapter 或 --type", "try another --chapter or --type"),
    "cli.quiz.prompt.choice": ("你的选择（A-D）", "your choice (A-D)"),
    "cli.quiz.prompt.short": ("你的回答", "your answer"),
    "cli.quiz.prompt.card": ("按回车看背面", "press Enter to show the back"),
    "cli.quiz.prompt.card_rating": ("记得怎么样？1 忘记 · 2 困难 · 3 良好 · 4 简单", "how well did you know it? 1 again · 2 hard · 3 good · 4 easy"),
    "cli.quiz.prompt.self_rate": ("对照参考答案给自己打分：1 忘记 · 2 困难 · 3 良好 · 4 简单",
                                  "rate yourself against the reference: 1 again · 2 hard · 3 good · 4 easy"),
    "cli.quiz.rate_again": ("请输入 1-4（忘记 / 困难 / 良好 / 简单），或 /skip 以后再评",
                            "type 1-4 (again / hard / good / easy), or /skip to rate it later"),
    "cli.quiz.contest_prompt": ("回车继续；觉得判错了？输入 r（或直接 1-4）给自己打分，替换自动评分",
                                "Enter to go on; think the grade is wrong? type r (or 1-4) to rate yourself instead of the automatic grade"),
    "cli.quiz.contest_rating": ("你的自评将替换自动评分：1 忘记 · 2 困难 · 3 良好 · 4 简单",
                                "your rating replaces the automatic grade: 1 again · 2 hard · 3 good · 4 easy"),
    "cli.quiz.contest_again": ("请输入 r 或 1-4 给自己打分，或直接回车继续", "type r or 1-4 to rate yourself, or press Enter to go on"),
    "cli.quiz.saved_pending": ("你的回答已保存；自评之前它一直保持到期", "your answer is saved; it stays due until you rate it"),
    "cli.quiz.notice": ("注意", "notice"),
    "cli.quiz.empty_answer": ("答案是空的：请输入答案，或输入 /skip 跳过、? 看提示",
                              "the answer is empty: type an answer, /skip to skip, or ? for a hint"),
    "cli.quiz.hint": ("提示", "hint"),
    "cli.quiz.rubric": ("LLM 评语", "LLM rubric"),
    "cli.quiz.not_scheduled": ("自评之前不安排复习", "not scheduled until you rate it"),
    "cli.quiz.interrupted": ("已中断：你最后的回答已保存，本轮到此结束", "interrupted: your last answer was saved; the round stops here"),
    "cli.quiz.no_answers": ("没有记录任何回答。", "No answers recorded."),
    "cli.quiz.summary_title": ("本轮小结 — 共 {n} 题", "round summary — {n} answered"),
    "cli.quiz.item": ("题目", "item"),
    "cli.gen.kept": ("{id}：保留 {kept}/{n}", "{id}: kept {kept}/{n}"),
    "cli.gen.rejected": ("未采用", "rejected"),
    "cli.gen.up_to_date": ("生成的题目已是最新（用 --force 重新生成）", "generated items are up to date (use --force to regenerate)"),
    "cli.quiz.saved": ("已为用户 {user} 保存到 {where}", "saved for user {user} in {where}"),
    # -- chat tab (ui/chat.py, ui/render.py, ui/chat_tab.py, ui/guide.py, ui/app.py) ----------------
    "app.title": ("tutor · AI 知识导师", "tutor · offline AI/ML tutor"),
    "app.offline": ("离线运行", "runs offline"),
    "app.user": ("用户（进度按用户保存）", "User (progress is kept per user)"),
    "chat.question_empty": ("问题是空的；请输入一个问题，例如：为什么注意力要除以根号d_k？",
                            "the question is empty; type a question, e.g. Why divide attention scores by sqrt(d_k)?"),
    "chat.question_too_long": ("问题有 {n} 个字符，上限是 {limit}：请缩短后再问",
                               "the question is {n} characters long; the limit is {limit} (TUTOR_MAX_QUESTION_CHARS): shorten it"),
    "chat.tab": ("对话", "Chat"),
    "chat.all_chapters": ("全部章节", "All chapters"),
    "chat.chapter_filter": ("章节筛选", "Chapter filter"),
    "chat.guide": ("引导模式（先提示，后答案）", "Guide me (hints first, answer on request)"),
    "chat.placeholder": ("用中文或英文提问，回答会引用笔记 [n]", "ask in Chinese or English; answers cite the notes [n]"),
    "chat.question": ("问题", "Question"),
    "chat.question_example": ("例如：为什么注意力要除以根号d_k？", "e.g. why divide attention scores by the square root of d_k?"),
    "chat.send": ("发送", "Send"),
    "chat.stop": ("停止", "Stop"),
    "chat.explain": ("讲解", "Explain"),
    "chat.clear": ("清空", "Clear"),
    "chat.show_answer": ("显示答案", "Show answer"),
    "chat.mode_hint": ("回答先给出笔记原句；点「讲解」让模型用自己的话解释（较慢，且要通过与笔记的核对才显示）",
                       "answers quote the notes first; Explain asks the model for its own words (slower, shown only "
                       "if it matches the notes)"),
    "chat.examples": ("示例问题", "Example questions"),
    "chat.sources": ("来源", "Sources"),
    "chat.sources_hint": ("点击打开笔记", "click to open the note in Browse"),
    "chat.open_in_browse": ("在浏览中打开", "open in Browse"),
    "chat.no_sources": ("没有引用的笔记", "no sources"),
    "chat.key_points": ("要点", "Key points"),
    "chat.details": ("详情", "Details"),
    "chat.first_try": ("第一次", "first"),
    "chat.retry": ("重写", "retry"),
    "chat.first_token": ("首字", "first token"),
    "chat.retrieval": ("检索", "retrieval"),
    "chat.unsupported": ("笔记中未找到", "not found in the notes"),
    "chat.explanation": ("讲解", "Explanation"),
    # (no emoji in status lines: Debian's chromium with fonts-noto-cjk draws them as empty boxes, review 10)
    "chat.working": ("正在检索笔记…", "searching the notes…"),
    "chat.reading": ("模型正在读入笔记（小型 CPU 上约需几十秒），随后开始写…", "the model is reading the notes (some tens of seconds on a small CPU), then writes…"),
    # short: it stands in the chat while the model reads (four lines at 1280 px, review 21)
    "chat.reading_weak": ("模型正在读入笔记（约一分钟）。它的讲解抽样只有 {kept}/{total} 次通过核对，这次多半不显示；更强的模型见 README。",
                          "the model is reading the notes (about a minute). Its explanations passed the check {kept} of "
                          "{total} times in a sample, so this one will likely not be shown; a stronger model: see the README."),
    "chat.writing": ("正在写回答，核对笔记后显示（已写 {n} 字）…",
                     "writing the answer; it appears once checked against the notes ({n} characters so far)…"),
    "chat.rewriting": ("第一次写的回答与笔记不符，正在重写…", "the first draft did not match the notes; rewriting…"),
    "chat.retrying": ("回答未通过检查，正在重新生成", "the answer failed the check; generating a stricter one…"),
    "chat.empty_answer": ("（模型没有给出回答）", "(the model returned no text)"),
    "chat.source_related": ("相关，未引用", "related, not cited"),
    "chat.no_question": ("⚠ 还没有可讲解的问题，先提一个问题", "there is no question to explain yet: ask one first"),
    "chat.explain_uncovered": ("⚠ 笔记没有覆盖上一个问题，模型也就无从讲解：换个说法再问，或看回答里列出的相关笔记",
                               "the notes do not cover the last question, so there is nothing to explain: ask it in other words, "
                               "or open the related notes the answer lists"),
    "chat.summary.retried": ("第一次写的回答没有通过与笔记的核对，这是重写后的回答。", "The first draft did not match the notes, so this is a rewrite."),
    "chat.summary.stopped": ("已停止（你按了停止或提了新问题），回答不完整。", "Stopped (you pressed Stop or asked a new question); the answer is incomplete."),
    "chat.summary.explain_failed": ("模型的讲解没有通过与笔记的核对，所以不显示。上面的摘录只是与问题用词最接近的句子，"
                                    "未必回答了问题：请打开来源卡片里的笔记查看。",
                                    "The model's explanation did not match the notes, so it is not shown. The quotes above "
                                    "are only the sentences closest to the question's words and may not answer it: open "
                                    "the notes on the source cards."),
    "notice.history_dropped": ("较早的对话因上下文长度被省略", "older turns were left out to fit the context window"),
    "notice.notes_dropped": ("部分检索到的笔记因长度被省略", "some retrieved notes were left out to fit the context window"),
    "notice.notes_trimmed": ("最相关的笔记太长，只保留了前几段", "the most relevant note was shortened to fit the context window"),
    "notice.question_trimmed": ("问题过长，已截断", "the question was trimmed to fit the context window"),
    "cli.notice": ("提示", "notice"),
    "notice.not_covered": ("笔记未涉及这个问题", "the notes do not cover this question"),
    "notice.stopped": ("已停止", "stopped"),
    "notice.quotes_first": ("摘录自笔记，模型未参与", "quoted from the notes; the model was not used"),
    "notice.garbage_empty": ("模型第一次回答为空", "the model's first answer was empty"),
    "notice.garbage_language": ("模型第一次回答语言不对", "the model's first answer was in the wrong language"),
    "notice.garbage_loop": ("模型第一次回答在重复", "the model's first answer kept repeating itself"),
    "notice.garbage_restates": ("模型第一次回答只是复述了问题", "the model's first answer only restated the question"),
    "notice.garbage_echo": ("模型第一次回答在复述提示或来源标题", "the model's first answer parroted the prompt or the source headers"),
    "notice.garbage_unsupported": ("模型第一次回答大多不在笔记中", "most of the model's first answer was not in the notes"),
    "notice.retried_strict": ("以上为更严格的第二次回答", "this is a stricter second answer"),
    "notice.extractive_fallback": ("模型回答未通过检查，以下直接摘录笔记", "the model's answer failed the check; these are sentences quoted from the notes"),
    "notice.explain_fallback": ("模型的讲解未通过检查，没有显示", "the model's explanation failed the check and is not shown"),
    "guide.prompt_more": ("写下你的想法后发送，或点“显示答案”", "write your thoughts and send them, or press Show answer"),
    "guide.no_topic": ("没有找到带测验题的相关笔记，直接回答", "no note with quiz items matched, so here is a plain answer"),
    "guide.no_own_note": ("笔记里没有专门讲「{name}」的一节，无从出引导题，直接回答", "no note is about {name}, so there is nothing to guide you through: here is a plain answer"),
    "guide.title": ("引导", "Guide"),
    "guide.touches": ("你的想法已涉及 {n}/{m} 个要点。", "Your idea already touches {n} of {m} key points."),
    "guide.correct": ("答对了！你的回答覆盖了这道题的全部要点。下面是完整讲解，可以对照一下。",
                      "You got it: your answer covers every key point. The full explanation follows, to compare with yours."),
    "guide.compare": ("下面是完整讲解，和你的想法对照一下。", "Here is the full explanation: compare it with your idea."),
    "guide.type_first": ("⚠ 先输入问题", "type a question first"),
    # -- evals tab (ui/evals_tab.py): the latest `tutor eval` run ------------------------------
    "evals.tab": ("评测", "Evals"),
    "evals.refresh": ("刷新", "Refresh"),
    "evals.latest": ("最新评测", "Latest eval run"),
    "evals.started": ("开始于 {time}，用时 {seconds} 秒", "started {time}, took {seconds} s"),
    "evals.set": ("评测集 {name}：{kind}，{items} 题", "set {name}: {kind}, {items} items"),
    "evals.kind.blind": ("盲测集", "blind"),
    "evals.kind.tuning": ("调参集（样本内）", "tuning (in-sample)"),
    "evals.figures": ("图表", "Figures"),
    "evals.none": ("还没有评测记录。在终端运行 {command} 生成一次，然后点“刷新”。",
                   "No eval run yet. Run {command} in a terminal to create one, then press Refresh."),
    "evals.unreadable": ("最新的评测记录 {run} 无法读取（{why}）；重新运行 {command}",
                         "the latest eval run {run} could not be read ({why}); run {command} again"),
}


def _entry(key: str) -> tuple[str, str]:
    try:
        return TABLE[key]
    except KeyError:
        raise MissingWording(f"no wording {key!r} in tutor/wording.py") from None


def _fill(template: str, params: dict, lang: str) -> str:
    if not params:
        return template
    return template.format(**{k: getattr(v, lang) if isinstance(v, Text) else v for k, v in params.items()})


def text(key: str, **params) -> Text:
    """The entry `key` with its parameters filled in, as a Text (both languages)."""
    z, e = _entry(key)
    return Text(_fill(z, params, "zh"), _fill(e, params, "en"))


def w(key: str, **params) -> str:
    """"中文 / English" for `key` (see module doc)."""
    return str(text(key, **params))


def label(key: str, **params) -> str:
    """"中文 English" for `key`: the compact form for buttons, tabs and column heads."""
    return text(key, **params).label


def zh(key: str, **params) -> str:
    """The Chinese part of `key`."""
    return _fill(_entry(key)[0], params, "zh")


def en(key: str, **params) -> str:
    """The English part of `key`."""
    return _fill(_entry(key)[1], params, "en")


def join(texts, zh_sep: str = "，", en_sep: str = ", ") -> Text:
    """Texts (or plain values) joined per language."""
    ts = [Text.same(t) for t in texts]
    return Text(zh_sep.join(t.zh for t in ts), en_sep.join(t.en for t in ts))


def percent(x: float | None) -> Text:
    """A share in [0, 1] as "40%"; None (never practised) in words, never "—"."""
    return text("value.not_practised") if x is None else Text.same(f"{round(100 * x)}%")
