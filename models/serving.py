"""What serving sees: scoring with a Keras model or an exported SavedModel, the TF-only fresh-process probe, and
the TensorFlow Serving layout `<export_root>/<model>/<version>/` with atomic publishing.

A version directory appears in one `rename` of a fully written staging directory (same filesystem), so a reader
never sees a partial version; staging directories start with "." and are not integers, so TensorFlow Serving and
`versions()` ignore them, and a later run removes those a crashed run left behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core.config import REPO_ROOT
from models.preprocessing import dense_column, input_tensors

Scorer = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
STAGING_PREFIX = ".staging-"
VERSION_INFO = "dailyrec_version.json"
STALE_STAGING_SECONDS = 6 * 3600  # older staging directories are a crashed run's, not a concurrent one's

# Prepended to code run in a fresh `python -I` interpreter: every package of this project (argv[1], comma-separated)
# becomes unimportable, so what runs after it is proven to need nothing but its own imports.
BLOCK_PROJECT = r"""
import sys

blocked = set(sys.argv[1].split(","))


class ProjectCodeBlocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is project code; a serving process has TensorFlow only")
        return None


sys.meta_path.insert(0, ProjectCodeBlocked())
"""

# Loads the export with TensorFlow alone and scores named sets of rows. argv: blocked, export dir, rows, output.
PROBE = BLOCK_PROJECT + r"""
import json

import numpy as np
import tensorflow as tf

serve = tf.saved_model.load(sys.argv[2]).signatures["serving_default"]
specs = serve.structured_input_signature[1]
scores = {}
for name, rows in json.load(open(sys.argv[3])).items():
    inputs = {key: tf.constant(np.asarray(rows[key], dtype=object if spec.dtype == tf.string
                                          else spec.dtype.as_numpy_dtype)) for key, spec in specs.items()}
    scores[name] = {output: value.numpy().reshape(-1).tolist() for output, value in serve(**inputs).items()}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in blocked)
json.dump({"scores": scores, "project_modules_loaded": loaded}, open(sys.argv[4], "w"))
"""


def run_isolated(code: str, args: list[str], cwd: str, timeout: float) -> subprocess.CompletedProcess:
    """`python -I -c code` with this project's packages blocked (passed as argv[1]) and no PYTHON* variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    return subprocess.run([sys.executable, "-I", "-c", code, ",".join(project_packages()), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


class Recalibrated(keras.layers.Layer):
    """p -> p / (p + (1 - p) / w), core.metrics.recalibrate as a layer: a model trained on negatives kept at rate w
    serves true-rate probabilities, so no client has to know how its training data was sampled."""

    def __init__(self, negative_keep_rate: float, **kwargs):
        super().__init__(**kwargs)
        self.negative_keep_rate = negative_keep_rate

    def call(self, probabilities):
        return probabilities / (probabilities + (1.0 - probabilities) / self.negative_keep_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_keep_rate": self.negative_keep_rate}


def recalibrated_ctcvr(ctcvr, ctr, negative_keep_rate: float):
    """The true-rate ctcvr of a model trained on negatives (unclicked rows) kept at rate w, from its raw ctcvr and
    ctr: ctcvr / (ctr + (1 - ctr) / w), the factor that recalibrates ctr. Every converted row is clicked, so in
    training rows the sampled ctcvr is the true one over P(kept) = ctr_true + (1 - ctr_true) * w, which is that
    factor. For ESMM it equals the recalibrated ctr x cvr; for MMoE, whose ctcvr has no cvr, it is the only way.
    Takes numpy arrays or tensors."""
    if negative_keep_rate >= 1.0:
        return ctcvr
    return ctcvr / (ctr + (1.0 - ctr) / negative_keep_rate)


class CtcvrRecalibrated(keras.layers.Layer):
    """`recalibrated_ctcvr` as a layer over [ctcvr, ctr], both as the model scores them."""

    def __init__(self, negative_keep_rate: float, **kwargs):
        super().__init__(**kwargs)
        self.negative_keep_rate = negative_keep_rate

    def call(self, inputs):
        ctcvr, ctr = inputs
        return recalibrated_ctcvr(ctcvr, ctr, self.negative_keep_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_keep_rate": self.negative_keep_rate}


def serving_model(model: keras.Model, negative_keep_rate: float) -> keras.Model:
    """What is exported: the candidate, with its `ctr` (and ESMM's or MMoE's `ctcvr`) recalibrated when negatives were
    downsampled, as the day-D metrics are (models.train.day_metrics); the candidate itself when they were not."""
    if negative_keep_rate >= 1.0:
        return model
    outputs = dict(model(model.input))
    raw_ctr = outputs["ctr"]
    outputs["ctr"] = Recalibrated(negative_keep_rate, name="ctr_recalibrated")(raw_ctr)
    if "cvr" in outputs:  # ESMM: pCTCVR = pCTR x pCVR still; pCVR (on clicked rows) saw no downsampling
        outputs["ctcvr"] = keras.layers.Multiply(name="ctcvr_recalibrated")([outputs["ctr"], outputs["cvr"]])
    elif "ctcvr" in outputs:  # MMoE: ctcvr learned directly, on the same downsampled rows as ctr
        outputs["ctcvr"] = CtcvrRecalibrated(negative_keep_rate, name="ctcvr_recalibrated")([outputs["ctcvr"], raw_ctr])
    return keras.Model(model.input, outputs, name=model.name)


def keras_scorer(model: keras.Model) -> Scorer:
    def score(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = model.predict_on_batch(input_tensors(model.inputs, batch))
        return {name: np.asarray(values).reshape(-1) for name, values in outputs.items()}
    return score


def saved_model_scorer(path: Path) -> Scorer:
    """Scores through the export's serving_default signature, exactly as a server would call it."""
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    specs = list(serve.structured_input_signature[1].values())

    def score(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: values.numpy().reshape(-1) for name, values in serve(**input_tensors(specs, batch)).items()}
    return score


def export_inputs(model: keras.Model) -> dict[str, tuple[str, int]]:
    """Input name -> (dtype, width) of what serving must send: raw features by name, batched."""
    return {spec.name: (str(spec.dtype), int(spec.shape[1])) for spec in model.inputs}


def edge_rows(model: keras.Model) -> dict[str, list]:
    """Two rows serving must survive: every value missing ("", -1, NaN), and every value unknown or out of range."""
    rows = {}
    for name, (dtype, width) in export_inputs(model).items():
        missing, unknown = {"string": ("", "__never_seen_value__"), "float32": (float("nan"), 1e12)}.get(
            dtype, (-1, 2**40))
        rows[name] = [[missing] * width, [unknown] * width]
    return rows


def json_rows(batch: Mapping[str, np.ndarray], names: list[str]) -> dict[str, list]:
    """Feature columns as JSON lists (NaN included), the form the probe reads back."""
    return {name: dense_column(batch[name]).tolist() for name in names}


def probe_in_fresh_process(export_dir: Path, rows: Mapping[str, Mapping[str, list]], timeout: float = 300) -> dict:
    """Load the export in a new `python -I` process where this project's packages cannot be imported, and score
    each named set of rows. Returns {"scores": {set: {output: [...]}}, "project_modules_loaded": [...]}."""
    with tempfile.TemporaryDirectory() as work:
        rows_path, out_path = Path(work, "rows.json"), Path(work, "scores.json")
        rows_path.write_text(json.dumps(rows))
        done = run_isolated(PROBE, [str(export_dir), str(rows_path), str(out_path)], work, timeout)
        if done.returncode != 0:
            raise RuntimeError(f"the export failed to load or score in a fresh process: "
                               f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        return json.loads(out_path.read_text())


def project_packages() -> list[str]:
    return sorted(p.name for p in REPO_ROOT.iterdir() if (p / "__init__.py").is_file())


def versions(model_dir: Path) -> list[int]:
    """Published versions, oldest first: the integer-named directories, as TensorFlow Serving sees them."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def staging_dir(model_dir: Path) -> Path:
    """A fresh hidden directory next to the versions (same filesystem, so publishing is one atomic rename)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    for staged in model_dir.glob(f"{STAGING_PREFIX}*"):
        if time.time() - staged.stat().st_mtime > STALE_STAGING_SECONDS:
            shutil.rmtree(staged, ignore_errors=True)
    return model_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"


def publish(staging: Path, model_dir: Path, keep: int) -> int:
    """Rename the staged export to the next version, then drop all but the newest `keep` versions."""
    version = max(versions(model_dir), default=0) + 1
    os.rename(staging, model_dir / str(version))
    for old in versions(model_dir)[:-keep]:
        shutil.rmtree(model_dir / str(old))
    return version


def write_version_info(export_dir: Path, info: Mapping[str, object]) -> None:
    """What a version is (model, ds, metrics), next to the SavedModel; TensorFlow Serving ignores the file."""
    (export_dir / VERSION_INFO).write_text(json.dumps(info, indent=1))


def version_info(model_dir: Path, version: int) -> dict:
    path = model_dir / str(version) / VERSION_INFO
    return json.loads(path.read_text()) if path.is_file() else {}


def blessed_as_of(model_dir: Path, ds: str) -> int | None:
    """The newest version for an evaluation day up to `ds`: what a day-D candidate is compared with. In a daily run
    that is the served version; in a backfill of earlier days, a version trained on later days (which has seen D)
    is no fair baseline."""
    earlier = [v for v in versions(model_dir) if version_info(model_dir, v).get("ds", "") <= ds]
    return max(earlier, default=None)


def weights_digest(model: keras.Model) -> str:
    """Identity of a trained model: a hash of its weights, equal for a seeded re-run that trains the same."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()[:16]


def published_as(model_dir: Path, digest: str) -> int | None:
    """The version already holding a model with these weights, if any: re-running a day adds no version."""
    return next((v for v in reversed(versions(model_dir))
                 if version_info(model_dir, v).get("weights_digest") == digest), None)


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
