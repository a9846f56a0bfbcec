"""A PNG bar chart of mastery per chapter (matplotlib, Agg backend: no display needed).

Chapter titles are Chinese, so a CJK font is needed to draw them: the first installed one
of CJK_FONTS is used (Debian: `apt-get install fonts-noto-cjk`); without one the labels
fall back to chapter numbers and the caller gets a notice, never tofu boxes. Chart text comes
from tutor/wording.py: both languages with a CJK font, the English part alone without one.
"""

from __future__ import annotations

from pathlib import Path

from tutor.wording import en, label, percent, w

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans SC", "Source Han Sans CN",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "SimHei",
             "Microsoft YaHei", "PingFang SC", "Noto Serif CJK SC")


# file-name parts of the CJK_FONTS families, for the rescan below
_CJK_FILES = ("cjk", "sourcehan", "wqy", "droidsansfallback", "uming", "simhei", "msyh", "pingfang")
_rescanned = False


def _pick(font_manager) -> str | None:
    names = {f.name for f in font_manager.fontManager.ttflist}
    for n in CJK_FONTS:
        if n in names:
            return n
    return next((n for n in sorted(names) if "CJK" in n), None)


def cjk_font() -> str | None:
    """Name of an installed CJK-capable font, or None. matplotlib caches its font list on
    first use, so a font installed after that (`make test` installs fonts-noto-cjk) is
    missing from the cache: the system font directories are rescanned once (~10 ms)."""
    global _rescanned
    from matplotlib import font_manager

    found = _pick(font_manager)
    if found or _rescanned:
        return found
    _rescanned = True
    for path in font_manager.findSystemFonts():
        if any(k in Path(path).name.lower() for k in _CJK_FILES):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable font file is skipped
                continue
    return _pick(font_manager)


def write_chart(rows: list, path: Path, user: str) -> list[str]:
    """Draw rows (progress.Mastery of chapters) to `path` (PNG). Returns notices (e.g. no CJK font).
    Chapters without quiz items are drawn empty and labelled as such."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notices: list[str] = []
    font = cjk_font()
    if font:
        plt.rcParams["font.family"] = [font, "DejaVu Sans"]
        labels = [f"{m.id}. {m.title}" for m in rows]
        say = label
    else:
        notices.append(w("chart.no_font"))
        labels = [en("chart.chapter", id=m.id) for m in rows]
        say = en  # no font for the Chinese part
    values = [100 * (m.mastery or 0.0) for m in rows]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.4), dpi=120)
    y = list(range(len(rows)))[::-1]
    bars = ax.barh(y, values, color=["#3b7dd8" if m.mastery is not None else "#dddddd" for m in rows])
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 100)
    ax.set_xlabel(say("chart.axis"))
    ax.set_title(f"{say('progress.by_chapter')} — {user}")
    for b, m in zip(bars, rows):
        txt = (say("progress.no_items") if m.mastery is None
               else f"{percent(m.mastery).en}  ({m.seen}/{m.units} {say('chart.notes')})")
        ax.text(min(b.get_width() + 1, 70), b.get_y() + b.get_height() / 2, txt, va="center", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return notices
