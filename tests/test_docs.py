"""The README stays a user's first page (short, every link and anchor of it and of docs/ working), the generated
blocks sit where their scripts write them, and what the documented recipes create stays out of git and out of the
tests' copies of the repository."""

import re
import sys
from pathlib import Path

import pytest

from .repo_copy import REPO, SKIP, gitignored_at_top

sys.path.insert(0, str(REPO / "scripts"))
import readme_results  # noqa: E402
import readme_runtimes  # noqa: E402

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # no headings in code
    return {slug(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_and_anchor_resolves(doc):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        assert path.exists(), f"{doc.name}: {target} names no file"
        if anchor:
            assert anchor in anchors(path), f"{doc.name}: {target} names no heading of {path.name}"


def test_slugs_are_githubs():
    assert slug("Your own SFT model, in a run of its own") == "your-own-sft-model-in-a-run-of-its-own"
    assert (
        slug("The `bmc` command") == "the-bmc-command"
        and slug("Table 1's math block") == "table-1s-math-block"
    )


def test_generated_blocks_sit_where_their_scripts_write():
    for script, doc, kind, scales in (
        (readme_runtimes, "docs/runtimes.md", "runtimes", ("mini", "smoke")),
        (readme_results, "README.md", "results", ("mini",)),
    ):
        text = (REPO / doc).read_text(encoding="utf-8")
        for scale in scales:
            assert f"<!-- {kind}:{scale} -->" in text and f"<!-- /{kind}:{scale} -->" in text, (doc, scale)
        assert doc in script.__doc__.splitlines()[0]  # the document the script writes by default


@pytest.mark.parametrize("name", [".venv", ".venv-vllm", "answers"])
def test_what_the_recipes_create_is_ignored_by_git_and_left_out_of_test_copies(name):
    assert gitignored_at_top([name]) == {name}
    assert SKIP(str(REPO), [name, "bmc", "workflow"]) == {name}


def test_test_copies_leave_out_outputs_and_downloads_and_keep_the_sources():
    top = [
        "results",
        "logs",
        "resources",
        ".snakemake",
        ".git",
        "bmc",
        "workflow",
        "docs",
        "tests",
        "Snakefile",
    ]
    assert SKIP(str(REPO), top) == {"results", "logs", "resources", ".snakemake", ".git"}
    assert SKIP(str(REPO / "workflow"), ["resources", "rules"]) == set()  # shipped inputs are copied
