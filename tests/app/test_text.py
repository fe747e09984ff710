"""Everything a user names is shown as text (hypothesis over names): as_text escapes every
Markdown meaning, breaks automatic links, and reads back as the name itself."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from urbanseg_core.app.messages import as_text

from .helpers import plain

MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
NAMES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl",
                                                                           "Zp")),
                min_size=1, max_size=60).map(str.strip).filter(bool)
TRICKS = st.sampled_from([
    "[click](http://evil.example)", "<img src=x onerror=alert(1)>", "**bold**", "# title",
    ":red[x]", ":material/home:", "$x^2$", "www.evil.com", "me@evil.com", "`code`", "> quote",
    "1. item", "- item", "| a | b |", "~~gone~~", "&amp;", "\\*", "_x_", "![i](http://x/i.png)",
])


@settings(max_examples=400, deadline=None)
@given(name=st.one_of(NAMES, st.builds(lambda a, b, c: f"{a}{b}{c}".strip() or b,
                                       NAMES, TRICKS, NAMES)))
def test_names_render_as_their_own_text(name):
    shown = as_text(name)
    assert plain(shown) == name  # nothing lost, nothing added
    rendered = MD.render(shown).strip()
    body = re.fullmatch(r"<p>(.*)</p>", rendered, flags=re.S)
    assert body is not None, rendered  # one paragraph: no heading, list, table, quote...
    assert "<" not in body.group(1)  # no tag at all: no link, image, emphasis or HTML
    assert html.unescape(body.group(1)).replace("\u2060", "") == name
    # Streamlit's own extensions: no directive, icon, emoji or automatic link can form
    visible = shown.replace("\u2060", " ").replace("\\", "")
    assert not re.search(r"(?<!\\):[A-Za-z]", shown)
    assert "://" not in visible and "www." not in visible.lower()
