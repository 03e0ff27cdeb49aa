#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t-spec-schema.sh: keep specs/schema.json in step with the validator. The schema
# must be valid JSON Schema 2020-12, accept every example, and refuse every bad
# spec except those whose problem a schema cannot express (listed below: duplicate
# keys, 1.0 as an integer, contradictions between entries). Needs python3 with
# jsonschema; skips (77) without it. Prints TAP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
if ! python3 -c 'import jsonschema' 2>/dev/null; then
	echo "1..0 # SKIP python3 jsonschema not installed"
	exit 77
fi
exec python3 - <<'PY'
import glob, json, sys
import jsonschema

beyond_schema = {
    "duplicate-key", "version-real", "chmod-after-delete", "chown-required-absent",
    "delete-twice", "precondition-conflict-exists", "precondition-conflict-sha256",
    "rename-after-rename-away", "rename-into-itself", "rename-onto-parent",
    "rename-to-self", "write-under-deleted-dir", "write-under-recreated-dir",
}
schema = json.load(open("specs/schema.json"))
results = []
try:
    jsonschema.Draft202012Validator.check_schema(schema)
    results.append((True, "schema.json is a valid 2020-12 schema", ""))
except jsonschema.SchemaError as e:
    results.append((False, "schema.json is a valid 2020-12 schema", e.message))
validator = jsonschema.Draft202012Validator(schema)
for path in sorted(glob.glob("specs/examples/*.json")):
    errors = list(validator.iter_errors(json.load(open(path))))
    results.append((not errors, "schema accepts " + path, errors[0].message if errors else ""))
for path in sorted(glob.glob("specs/bad/*.json")):
    name = path.rsplit("/", 1)[1][:-5]
    try:
        document = json.load(open(path, encoding="utf-8"))
    except ValueError:
        continue  # not JSON at all: nothing for a schema to say
    refused = bool(list(validator.iter_errors(document)))
    expected = name not in beyond_schema
    results.append((refused == expected,
                    ("schema refuses " if expected else "schema cannot refuse ") + path, ""))
print("1..%d" % len(results))
for i, (ok, description, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, description))
    if detail:
        print("# " + detail)
sys.exit(0 if all(ok for ok, _, _ in results) else 1)
PY
