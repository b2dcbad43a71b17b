"""Every relative link in README.md and docs/ reaches a file, and a #fragment a heading of it."""

import re
from pathlib import Path

from tests.docs.facts import ROOT

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"(?ms)^```.*?^```")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "loadtest" / "README.md"]


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation but - and _ dropped, spaces to -."""
    headings = re.findall(r"(?m)^#+\s+(.*)$", FENCE.sub("", page.read_text()))
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def broken(page: Path, root: Path = ROOT) -> list[str]:
    found = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            found.append(f"{page.relative_to(root)}: {target} (no such file)")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            found.append(f"{page.relative_to(root)}: {target} (no such heading)")
    return found


def test_every_relative_link_resolves():
    found = [problem for page in pages() for problem in broken(page)]
    assert not found, "\n".join(found)


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A title\n\n[there](missing.md) [here](#a-title) [nowhere](#none)\n")
    assert broken(page, tmp_path) == ["page.md: missing.md (no such file)",
                                      "page.md: #none (no such heading)"]
