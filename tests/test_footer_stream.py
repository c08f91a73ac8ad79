"""The footer's stream (issue 12 item 4), without a terminal: every write
lifts the footer, writes, and draws it again; a line rewritten in place (a
build's progress) stays above the footer until a whole line replaces it."""

from __future__ import annotations

import io

from devrun.output import CLEAR_LINE
from devrun.session.footer import FooterStream, _cut


def test_logs_scroll_above_the_footer():
    out = io.StringIO()
    stream = FooterStream(out, lambda: ["web ● up", "keys"])
    stream.redraw()
    assert out.getvalue() == "\r\x1b[Jweb ● up\nkeys"
    out.truncate(0)
    out.seek(0)
    stream.write("web    | hello\n")
    # up one line (the footer's first), erase to the end, the line, the footer again
    assert out.getvalue() == "\x1b[1A\r\x1b[Jweb    | hello\nweb ● up\nkeys"


def test_a_progress_line_stays_above_the_footer_until_a_whole_line():
    out = io.StringIO()
    stream = FooterStream(out, lambda: ["a", "b"])
    stream.redraw()
    stream.write(f"{CLEAR_LINE}web | step 1/3")
    assert out.getvalue().endswith("\x1b[1A\r\x1b[Jweb | step 1/3\na\nb")
    out.truncate(0)
    out.seek(0)
    stream.write("devrun | built\n")
    # three lines on screen (progress + footer): up two, then the line replaces the progress
    assert out.getvalue() == "\x1b[2A\r\x1b[Jdevrun | built\na\nb"


def test_closing_removes_the_footer_and_writes_pass_through():
    out = io.StringIO()
    stream = FooterStream(out, lambda: ["a", "b"])
    stream.redraw()
    stream.close_footer()
    assert out.getvalue().endswith("\x1b[1A\r\x1b[J")
    stream.write("plain\n")
    assert out.getvalue().endswith("plain\n")


def test_cut_keeps_colours_and_counts_only_visible_characters():
    assert _cut("\x1b[31mabcdef\x1b[0m", 3) == "\x1b[31mabc\x1b[0m"
