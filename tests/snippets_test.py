#!/usr/bin/env python3
"""snippets_test.py SOURCE: every code example of the public headers and of
README.md is, word for word, a snippet in examples/snippets/ (which the
suite compiles against the installed package), and every snippet there is
still an example of its document.

A header example is a run of comment lines indented at least three spaces
past "//", some exactly three (deeper runs continue a list item), of which
at least one is a C++ statement (ends with ';'); a README
example is a ```cpp block. A snippet is the text between "// snippet FILE"
and "// end snippet", less its common indentation.
"""
import pathlib
import re
import sys
import textwrap

source = pathlib.Path(sys.argv[1])
STATEMENT = re.compile(r";\s*(//.*)?$")


def header_examples(path):
    examples, run = [], []
    for line in path.read_text().splitlines() + [""]:
        if line.startswith("//   "):
            run.append(line[2:])
            continue
        indents = [len(code) - len(code.lstrip()) for code in run if code.strip()]
        if indents and min(indents) == 3 and any(STATEMENT.search(code) for code in run):
            examples.append(textwrap.dedent("\n".join(run)))
        run = []
    return examples


def readme_examples(path):
    return [block.strip("\n") for block in
            re.findall(r"^```cpp\n(.*?)^```", path.read_text(), re.M | re.S)]


def snippets():
    found = {}
    for path in sorted((source / "examples" / "snippets").glob("*.cpp")):
        for document, body in re.findall(r"^\s*// snippet (\S+)\n(.*?)^\s*// end snippet",
                                         path.read_text(), re.M | re.S):
            found.setdefault(document, []).append(textwrap.dedent(body).strip("\n"))
    return found


examples = {"README.md": readme_examples(source / "README.md")}
for layer in ("engine", "sharding", "io"):
    include_dir = source / layer / "include"
    for header in sorted(include_dir.rglob("*.h")):
        found = header_examples(header)
        if found:
            examples[str(header.relative_to(include_dir))] = found

compiled = snippets()
failures = 0
for document, texts in examples.items():
    for text in texts:
        if text not in compiled.get(document, []):
            failures += 1
            print(f"{document}: this example is not compiled by examples/snippets/:\n{text}\n")
for document, texts in compiled.items():
    for text in texts:
        if text not in examples.get(document, []):
            failures += 1
            print(f"examples/snippets/ has a snippet of {document} that it no longer shows:\n{text}\n")
checked = sum(len(texts) for texts in examples.values()) + sum(
    len(texts) for texts in compiled.values())
print(f"{checked - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
