#!/usr/bin/env python3
"""benchmd.py FILE SECTION_FILE: put a benchmark section into BENCHMARKS.md.

SECTION_FILE starts with its "## name" heading; the section of FILE with the
same heading (case-insensitive) is replaced, or the section is appended. The
file is replaced atomically. Used by every scripts/bench-*.sh.
"""
import os
import re
import sys

path, section_path = sys.argv[1], sys.argv[2]
section = open(section_path, encoding="utf-8").read().rstrip("\n") + "\n"
heading = section.splitlines()[0].strip()
if not heading.startswith("## "):
    sys.exit("benchmd.py: %s does not start with a '## ' heading" % section_path)
want = re.compile(r"^" + re.escape(heading) + r"\s*$", re.IGNORECASE)
text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
lines = text.splitlines(keepends=True)
out, i, replaced = [], 0, False
while i < len(lines):
    if want.match(lines[i]):
        j = i + 1
        while j < len(lines) and not lines[j].startswith("## "):
            j += 1
        out.append(section + ("\n" if j < len(lines) else ""))
        replaced = True
        i = j
        continue
    out.append(lines[i])
    i += 1
if not replaced:
    out = ["".join(out).rstrip("\n") + "\n\n" + section]
tmp = path + ".tmp"
with open(tmp, "w", encoding="utf-8") as f:
    f.write("".join(out))
os.replace(tmp, path)
