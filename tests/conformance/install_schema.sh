#!/usr/bin/env bash
# Installs PaddleX's own published serving schema (PaddleX 3.7.2) for the conformance harness:
# the pydantic models of the OCR request and response, importable with pydantic alone.
#
#   tests/conformance/install_schema.sh [VENV]      # default: $DEJA_WORKER_VENV or $REPO/.venv-worker
#
# What it does, each step skipped when already done:
#   1. makes sure the venv has what the models and the mock need: pydantic 2 (PaddleX requires
#      pydantic>=2), PyYAML (to read PaddleX's OCR.yaml) and Pillow (the mock decodes images);
#   2. downloads the paddlex 3.7.2 wheel with `pip download --no-deps` into $VENV/deja-paddlex-schema/
#      and checks its SHA-256;
#   3. extracts, unchanged, only the schema modules into $VENV/deja-paddlex-schema/site/ and the server
#      sources the findings cite into $VENV/deja-paddlex-schema/reference/ (read, never imported);
#   4. writes a minimal shim for the few package files the schema modules import through: PaddleX's
#      own paddlex/__init__.py (initialises the whole library), inference/__init__.py (loads the
#      predictors), serving/__init__.py (requires the serving plugin) and utils/deps.py (only its
#      is_dep_available is used, by infra/models.py). Every model class is PaddleX's own code.
#
# tests/conformance/paddlex_schema.py finds the result (sys.prefix/deja-paddlex-schema, or
# $DEJA_PADDLEX_SCHEMA) and imports it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${1:-${DEJA_WORKER_VENV:-$REPO/.venv-worker}}
[[ -d "$VENV" ]] && VENV=$(cd "$VENV" && pwd)
PY="$VENV/bin/python"
DEST=${DEJA_PADDLEX_SCHEMA:-$VENV/deja-paddlex-schema}

PADDLEX_VERSION=3.7.2
WHEEL=paddlex-$PADDLEX_VERSION-py3-none-any.whl
WHEEL_SHA256=f1678bf650bbaccfd8f0d4e49d0ae631b4685c829fdae6e802ccd90d4fcb9a7f
# Pinned like worker/requirements.txt; pydantic's error texts are part of PaddleX's 422 bodies.
PYDANTIC_PINS=(pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5)
MOCK_PINS=(PyYAML==6.0.4 pillow==13.0.0)
MARKER="$DEST/.installed-$PADDLEX_VERSION"

say() { printf 'install_schema: %s\n' "$*" >&2; }

if [[ ! -x "$PY" ]]; then
    say "no Python at $PY; create the venv first (worker/install.sh, or python3 -m venv $VENV)"
    exit 1
fi

# 1. pydantic 2, PyYAML, Pillow in the venv.
if ! "$PY" -c 'import pydantic, sys; sys.exit(0 if pydantic.VERSION.startswith("2.") else 1)' 2>/dev/null; then
    say "installing ${PYDANTIC_PINS[*]} into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "${PYDANTIC_PINS[@]}"
fi
if ! "$PY" -c 'import yaml, PIL' 2>/dev/null; then
    say "installing ${MOCK_PINS[*]} into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "${MOCK_PINS[@]}"
fi

if [[ -f "$MARKER" ]]; then
    say "PaddleX $PADDLEX_VERSION schema already in $DEST"
    exit 0
fi

mkdir -p "$DEST"

# 2. The wheel, cached.
if [[ ! -f "$DEST/$WHEEL" ]]; then
    say "downloading paddlex==$PADDLEX_VERSION (wheel only, no dependencies)"
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        "paddlex==$PADDLEX_VERSION" -d "$DEST"
fi
actual=$(sha256sum "$DEST/$WHEEL" | cut -d' ' -f1)
if [[ "$actual" != "$WHEEL_SHA256" ]]; then
    say "$WHEEL has SHA-256 $actual, expected $WHEEL_SHA256; removing it"
    rm -f "$DEST/$WHEEL"
    exit 1
fi

# 3 + 4. Extract the schema modules unchanged, the cited sources as reference, and write the shim.
"$PY" - "$DEST" "$WHEEL" <<'PYTHON'
import shutil
import sys
import zipfile
from pathlib import Path

dest, wheel = Path(sys.argv[1]), sys.argv[2]
site, reference = dest / "site", dest / "reference"

# Imported: the models and the modules they import (all pydantic-only).
SCHEMA = [
    "paddlex/inference/serving/schemas/__init__.py",
    "paddlex/inference/serving/schemas/ocr.py",
    "paddlex/inference/serving/schemas/shared/__init__.py",
    "paddlex/inference/serving/schemas/shared/ocr.py",
    "paddlex/inference/serving/infra/__init__.py",
    "paddlex/inference/serving/infra/models.py",
    "paddlex/inference/serving/infra/config.py",
    "paddlex/inference/serving/name_mappings.py",
]
# Read only (cited by FINDINGS.md; read by the mock for the pipeline's defaults).
REFERENCE = [
    "paddlex/configs/pipelines/OCR.yaml",
    "paddlex/configs/pipelines/doc_preprocessor.yaml",
    "paddlex/inference/serving/basic_serving/_app.py",
    "paddlex/inference/serving/basic_serving/_server.py",
    "paddlex/inference/serving/basic_serving/_pipeline_apps/ocr.py",
    "paddlex/inference/serving/basic_serving/_pipeline_apps/_common/ocr.py",
    "paddlex/inference/serving/basic_serving/_pipeline_apps/_common/common.py",
    "paddlex/inference/serving/infra/utils.py",
    "paddlex/inference/serving/infra/config.py",
    "paddlex/inference/pipelines/ocr/pipeline.py",
    "paddlex/inference/pipelines/ocr/result.py",
    "paddlex/inference/pipelines/doc_preprocessor/pipeline.py",
    "paddlex/inference/models/text_detection/processors.py",
    "paddlex/inference/common/result/mixin.py",
    "paddlex/inference/utils/pdf_rendering.py",
    "paddlex/utils/flags.py",
    "paddlex-3.7.2.dist-info/METADATA",
]
SHIM_NOTE = (
    '"""Deja conformance shim, not PaddleX code: stands in for PaddleX\'s own {what} so that the\n'
    'serving schema modules extracted unchanged beside it import with pydantic alone."""\n'
)
SHIM = {
    "paddlex/__init__.py": SHIM_NOTE.format(what="package __init__ (which initialises the whole library)"),
    "paddlex/inference/__init__.py": SHIM_NOTE.format(what="inference/__init__.py (which loads the predictors)"),
    "paddlex/inference/serving/__init__.py": SHIM_NOTE.format(what="serving/__init__.py (which requires the serving plugin)"),
    "paddlex/utils/__init__.py": SHIM_NOTE.format(what="utils package"),
    "paddlex/utils/deps.py": SHIM_NOTE.format(what="utils/deps.py; only is_dep_available is imported (by infra/models.py)")
    + "\nimport importlib.metadata\n\n\n"
    "def is_dep_available(dep, /, check_version=False):\n"
    "    # PaddleX's answers whether the distribution is installed (it checks versions only for its base\n"
    "    # dependencies, never for the optional `openai` that infra/models.py asks about).\n"
    "    try:\n"
    "        importlib.metadata.version(dep)\n"
    "        return True\n"
    "    except importlib.metadata.PackageNotFoundError:\n"
    "        return False\n",
}

for folder in (site, reference):
    if folder.exists():
        shutil.rmtree(folder)
with zipfile.ZipFile(dest / wheel) as archive:
    for names, root in ((SCHEMA, site), (REFERENCE, reference)):
        for name in names:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
for name, text in SHIM.items():
    target = site / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
(site / "DEJA-SHIM.txt").write_text(
    "Extracted unchanged from " + wheel + ":\n" + "".join(f"  {n}\n" for n in SCHEMA)
    + "Shim (Deja's, see each file's docstring):\n" + "".join(f"  {n}\n" for n in SHIM)
)
PYTHON

# The models import with pydantic alone.
"$PY" - "$DEST/site" <<'PYTHON'
import sys
sys.path.insert(0, sys.argv[1])
from paddlex.inference.serving.schemas.ocr import InferRequest, InferResult  # noqa: F401
from paddlex.inference.serving.infra.models import AIStudioNoResultResponse, AIStudioResultResponse  # noqa: F401
AIStudioResultResponse[InferResult]
PYTHON

touch "$MARKER"
say "PaddleX $PADDLEX_VERSION schema installed in $DEST"
