"""Code, docs and launchers cite only what a reader of the repository can open: no issue numbers, no outside
documents, and every pointer into docs/ARCHITECTURE.md names a section that exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
# Spelled in pieces so that this file does not match itself.
FORBIDDEN = {
    "the outside design document": re.compile(r"\bDES" r"IGN\b"),
    "the outside CLI contract": re.compile(r"CLI_" r"CONTRACT"),
    "a section sign (outside section numbers)": re.compile("\u00a7"),
    "an issue number": re.compile(r"\bissues?\s*#?\s*\d", re.IGNORECASE),
}
POINTER = re.compile(r'ARCHITECTURE\.md,\s+"([^"]+)"')


def python_files() -> list[Path]:
    return sorted(p for folder in ("draftPY", "tests", "bench") for p in (ROOT / folder).rglob("*.py"))


def text_files() -> list[Path]:
    """The Python sources, and every Markdown document and launcher (.sh, .bat) of the repository."""
    others = [p for suffix in ("md", "sh", "bat") for p in ROOT.rglob(f"*.{suffix}")
              if not {"venv", ".venv", ".git", "runs"} & set(p.relative_to(ROOT).parts)]
    return python_files() + sorted(others)


def sections() -> set[str]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    return {m.group(1).strip() for m in re.finditer(r"^#{2,3} (.+)$", text, re.MULTILINE)}


def test_no_issue_numbers_or_outside_documents():
    found = []
    assert {"README.md", "run_vaegan.bat", "run_vaegan.sh"} <= {p.name for p in text_files()}
    for path in text_files():
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{lineno}: {what}: {line.strip()}"
                      for what, pattern in FORBIDDEN.items() if pattern.search(line)]
    assert found == []


def test_pointers_name_existing_sections():
    known = sections()
    assert len(known) >= 10
    pointers = {}
    for path in text_files():
        # a pointer may wrap onto the next line of a docstring or comment
        text = re.sub(r"\s*\n\s*#?\s*", " ", path.read_text(encoding="utf-8"))
        for name in POINTER.findall(text):
            pointers.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert pointers, "the code points into docs/ARCHITECTURE.md somewhere"
    assert {name: where for name, where in pointers.items() if name not in known} == {}


def test_the_checks_catch_what_they_forbid():
    issue = "iss" "ue"
    samples = [f"see {issue} 5", "(DES" "IGN \u00a74)", "per CLI_" "CONTRACT", f"{issue.title()}s #12 and 13"]
    assert all(any(p.search(s) for p in FORBIDDEN.values()) for s in samples)
    assert not any(p.search("the design of the issue tracker") for p in FORBIDDEN.values())
