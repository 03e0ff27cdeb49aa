#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# json-shape.py DOC SECTION OUTCOME [PATH=SECTION ...] < document
#
# Checks one --json document against the tables of docs/json.md (used by
# t0430-json-shapes.sh): the keys marked `always` and OUTCOME (success or failure)
# are present, every key present is documented for that outcome, and each value has
# the documented type. PATH=SECTION checks nested values too: "ops[]=plan.ops[]"
# checks every element of "ops", "changes[].from=diff.side" each element's "from".
# Exits 1 naming every mismatch; the document must be exactly one JSON value.
import json
import re
import sys


def load_tables(path):
    sections, current = {}, None
    for line in open(path, encoding="utf-8"):
        heading = re.match(r"^#{2,3} (\S+)\s*$", line)
        if heading:
            current = sections.setdefault(heading.group(1), {})
            continue
        row = re.match(r"^\| `([^`]+)` \| (.*) \| (.*) \|\s*$", line)
        if row and current is not None:
            current[row.group(1)] = (row.group(2).replace("\\|", "|"), row.group(3).strip())
    return sections


def type_ok(value, type_text):
    names = re.match(r"^([a-z|]+)", type_text).group(1).split("|")
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
        "null": lambda v: v is None,
    }
    return any(checks.get(name, lambda v: False)(value) for name in names)


def check(value, table, outcome, where, problems):
    if not isinstance(value, dict):
        problems.append(f"{where}: not an object")
        return
    other = {"success": "failure", "failure": "success"}.get(outcome)
    for key, (type_text, when) in table.items():
        if (when == "always" or when == outcome) and key not in value:
            problems.append(f"{where}: missing key '{key}' ({when})")
    for key, item in value.items():
        if key not in table:
            problems.append(f"{where}: undocumented key '{key}'")
            continue
        type_text, when = table[key]
        if other and when.startswith(other):
            problems.append(f"{where}: key '{key}' is documented for {other} only")
        if not type_ok(item, type_text):
            problems.append(f"{where}: '{key}' is {json.dumps(item)[:60]}, documented as {type_text}")


def elements(value, path):
    """The values at a dotted PATH such as 'changes[].from'."""
    values = [value]
    for part in path.split("."):
        many = part.endswith("[]")
        name = part[:-2] if many else part
        nxt = []
        for v in values:
            if isinstance(v, dict) and v.get(name) is not None:
                nxt.extend(v[name] if many else [v[name]])
        values = nxt
    return values


def main():
    doc_path, section, outcome = sys.argv[1:4]
    tables = load_tables(doc_path)
    text = sys.stdin.read()
    try:
        document = json.loads(text)
    except ValueError as e:
        print(f"not one JSON document: {e}\n{text[:400]}")
        return 1
    problems = []
    # Every document carries the format version (docs/json.md, the rules for every
    # command); nested objects do not.
    version = re.search(r"`format_version` \(integer, now (\d+)\)", open(doc_path, encoding="utf-8").read())
    if not isinstance(document, dict) or document.get("format_version") != (int(version.group(1)) if version else None):
        problems.append(f"{section}: 'format_version' is not the documented version")
    elif section not in tables:
        problems.append(f"no section '{section}' in {doc_path}")
    else:
        document = dict(document)
        del document["format_version"]
        check(document, tables[section], outcome, section, problems)
    for spec in sys.argv[4:]:
        path, sub = spec.split("=", 1)
        if sub not in tables:
            problems.append(f"no section '{sub}' in {doc_path}")
            continue
        for i, value in enumerate(elements(document, path)):
            check(value, tables[sub], "always", f"{section}.{path}#{i}", problems)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
