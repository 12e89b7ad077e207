"""Turn an HTML body into a readable plain-text alternative.

Links keep their address as text ("label (url)"), list items get a dash,
table cells are separated by " | ", and nothing of <head>, <style> or
<script> leaks into the text. The input is at most 32 KB, so a small
``HTMLParser`` subclass is plenty; no HTML is validated.
"""

import re
from html.parser import HTMLParser

_BLOCK = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "main", "nav", "ol", "p", "section", "table", "tbody", "tfoot", "thead",
    "ul",
}
_SKIP = {"head", "script", "style", "template", "title", "noscript"}
_SPACES_RE = re.compile(r"[ \t\r\n\f\v]+")


class _TextParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines = [""]  # finished lines; the last one is being written
        self.skip = 0
        self.pre = 0
        self.links = []  # open <a>: (href, index of its text start)
        self.cell = 0  # cells written in the current table row
        self.lists = []  # "ul" / "ol" counters

    # -- output helpers --

    def write(self, text):
        if not text:
            return
        if not self.pre:
            text = _SPACES_RE.sub(" ", text)
            if self.lines[-1] in ("", " ") or self.lines[-1].endswith(" "):
                text = text.lstrip(" ")
        if self.pre:
            first, *rest = text.split("\n")
            self.lines[-1] += first
            self.lines.extend(rest)
        else:
            self.lines[-1] += text

    def newline(self, blank=False):
        self.lines[-1] = self.lines[-1].rstrip(" ")
        if self.lines[-1]:
            self.lines.append("")
        if blank and len(self.lines) > 1 and self.lines[-2] != "":
            self.lines.append("")

    # -- parser callbacks --

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in _SKIP:
            self.skip += 1
        if self.skip:
            return
        if tag == "br":
            self.lines[-1] = self.lines[-1].rstrip(" ")
            self.lines.append("")
        elif tag == "hr":
            self.newline()
            self.write("-" * 20)
            self.newline()
        elif tag == "pre":
            self.newline(blank=True)
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.newline(blank=not self.lists)
            self.lists.append(0 if tag == "ol" else None)
        elif tag == "li":
            self.newline()
            depth = max(len(self.lists) - 1, 0)
            if self.lists and self.lists[-1] is not None:
                self.lists[-1] += 1
                bullet = f"{self.lists[-1]}. "
            else:
                bullet = "- "
            self.lines[-1] += "  " * depth + bullet
        elif tag == "tr":
            self.newline()
            self.cell = 0
        elif tag in ("td", "th"):
            if self.cell:
                self.lines[-1] = self.lines[-1].rstrip(" ") + " | "
            self.cell += 1
        elif tag == "a":
            self.links.append((attrs.get("href") or "", len(self.lines), len(self.lines[-1])))
        elif tag == "img":
            self.write(attrs.get("alt") or "")
        elif tag in _BLOCK:
            self.newline(blank=True)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in _SKIP:
            self.skip -= 1

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(self.skip - 1, 0)
            return
        if self.skip:
            return
        if tag == "a" and self.links:
            self._close_link(*self.links.pop())
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
            self.newline(blank=True)
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self.newline(blank=not self.lists)
        elif tag in _BLOCK:
            self.newline(blank=True)

    def _close_link(self, href, line_count, start):
        href = href.strip()
        if not href or href.startswith("#") or href.lower().startswith("javascript:"):
            return
        if len(self.lines) == line_count:
            label = self.lines[-1][start:].strip()
        else:
            label = "\n".join([self.lines[line_count - 1][start:], *self.lines[line_count:]])
        shown = href[7:] if href.lower().startswith("mailto:") else href
        if label.strip() in (href, shown):
            return
        if not label.strip():
            self.write(shown)
        else:
            self.lines[-1] = self.lines[-1].rstrip(" ") + f" ({shown})"

    def handle_data(self, data):
        if not self.skip:
            self.write(data)


def html_to_text(html):
    """Return readable plain text for *html* (links kept as "label (url)")."""
    parser = _TextParser()
    parser.feed(html or "")
    parser.close()
    lines = [line.rstrip() for line in parser.lines]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n") + "\n" if text.strip() else ""
