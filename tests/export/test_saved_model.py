"""Raw-string SavedModels, loaded in a fresh process that imports only TensorFlow."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export import export_model_dir, export_saved_model, new_version_dir
from keras_bert_zoo.models import BertBackbone
from keras_bert_zoo.tasks import TextClassifier
from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer

WORDS = ("the a movie film was great terrible good bad i love hate it this plot acting "
         "café ##s ##ing ##ed . , ! ?").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
TEXTS = ["I love this movie!", "", "terrible acting, bad plot.", "café " * 300,
         "東京 🍣 naïve", "   ", "the film was good"]

LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401
assert "keras_bert_zoo" not in sys.modules and "keras_hub" not in sys.modules
spec = json.loads(sys.argv[2])
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = {}
for name, batch in spec.items():
    args = {k: tf.constant(v) for k, v in batch.items()}
    result = serve(**args)
    out[name] = {k: (v.numpy().astype(str).tolist() if v.dtype == tf.string
                     else v.numpy().tolist()) for k, v in result.items()}
assert "keras_bert_zoo" not in sys.modules and "keras_hub" not in sys.modules
print(json.dumps(out))
"""


def _serve_in_fresh_process(path, batches):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", LOADER, path, json.dumps(batches)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _classifier(backbone_cls=BertBackbone, dtype=None, family="bert"):
    tokenizer = WordPieceTokenizer(VOCAB)
    preprocessor = Preprocessor(tokenizer, sequence_length=32, family=family)
    backbone = backbone_cls(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2,
                            hidden_dim=16, intermediate_dim=32, max_sequence_length=32,
                            dtype=dtype)
    model = TextClassifier(backbone, num_classes=3, class_names=["neg", "neu", "pos"])
    return model, preprocessor


def _in_memory(model, preprocessor, texts, pairs=None):
    inputs = preprocessor(tf.constant(texts) if pairs is None
                          else (tf.constant(texts), tf.constant(pairs)))
    logits = model(inputs, training=False)
    return tf.nn.softmax(tf.cast(logits, tf.float32)).numpy()


@pytest.mark.slow
def test_raw_string_export_matches_in_memory_model(tmp_path):
    model, preprocessor = _classifier()
    path = export_saved_model(model, preprocessor, str(tmp_path / "export"))
    batch64 = [TEXTS[i % len(TEXTS)] + f" {i}" for i in range(64)]
    served = _serve_in_fresh_process(path, {"mixed": {"text": TEXTS}, "one": {"text": TEXTS[:1]},
                                            "sixty_four": {"text": batch64}})
    for name, texts in (("mixed", TEXTS), ("one", TEXTS[:1]), ("sixty_four", batch64)):
        expected = _in_memory(model, preprocessor, texts)
        got = np.array(served[name]["probabilities"])
        assert got.shape == (len(texts), 3)
        assert np.abs(got - expected).max() <= 1e-5
        assert served[name]["label"] == [["neg", "neu", "pos"][i] for i in expected.argmax(-1)]
        assert served[name]["label_id"] == expected.argmax(-1).tolist()


def test_pair_export_and_tokenized_signature(tmp_path):
    model, preprocessor = _classifier()
    path = export_saved_model(model, preprocessor, str(tmp_path / "pair"), pair=True)
    loaded = tf.saved_model.load(path)
    a, b = ["the movie was great", ""], ["I hate it", "good"]
    out = loaded.signatures["serving_default"](text=tf.constant(a), text_pair=tf.constant(b))
    expected = _in_memory(model, preprocessor, a, b)
    assert np.abs(out["probabilities"].numpy() - expected).max() <= 1e-5
    inputs = preprocessor((tf.constant(a), tf.constant(b)))
    tok = loaded.signatures["serve_tokenized"](**inputs)
    assert np.abs(tok["probabilities"].numpy() - expected).max() <= 1e-5


def test_signatures_listed_by_saved_model_cli(tmp_path):
    model, preprocessor = _classifier()
    path = export_saved_model(model, preprocessor, str(tmp_path / "export"))
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", path, "--all"], capture_output=True,
                           text=True, timeout=300).stdout
    assert "signature_def['serving_default']" in shown
    assert "signature_def['serve_tokenized']" in shown
    for fragment in ("inputs['text'] tensor_info:", "dtype: DT_STRING",
                     "outputs['probabilities']", "outputs['label']", "outputs['label_id']"):
        assert fragment in shown, fragment


def test_mixed_precision_model_exports_in_float32(tmp_path):
    model, preprocessor = _classifier(dtype="mixed_bfloat16")
    path = export_saved_model(model, preprocessor, str(tmp_path / "export"))
    out = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(TEXTS[:3]))
    assert out["probabilities"].dtype == tf.float32
    float32 = _classifier()[0]
    float32.set_weights(model.get_weights())
    expected = _in_memory(float32, preprocessor, TEXTS[:3])
    assert np.abs(out["probabilities"].numpy() - expected).max() <= 1e-5



def test_export_replaces_atomically(tmp_path, monkeypatch):
    model, preprocessor = _classifier()
    path = str(tmp_path / "export")
    umask = os.umask(0o027)
    try:
        export_saved_model(model, preprocessor, path)
    finally:
        os.umask(umask)
    before = sorted(os.listdir(path))

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export_saved_model(model, preprocessor, path)
    assert sorted(os.listdir(path)) == before  # the old export is intact
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []  # no leftovers
    tf.saved_model.load(path)
    assert _modes(path) == ({0o750}, {0o640})  # the umask's permissions, not mkdtemp's 0700


def _tree(path):
    """`{relative path: (mode, size, mtime_ns)}` of everything under `path`."""
    tree = {}
    for root, dirs, files in os.walk(path):
        for name in [""] + dirs + files:
            full = os.path.join(root, name) if name else root
            st = os.stat(full)
            tree[os.path.relpath(full, path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return tree


def _modes(path):
    """The distinct permission bits of the directories and of the files under `path`."""
    dirs, files = set(), set()
    for root, _, names in os.walk(path):
        dirs.add(os.stat(root).st_mode & 0o777)
        files.update(os.stat(os.path.join(root, n)).st_mode & 0o777 for n in names)
    return dirs, files


def make_model_dir(path, seed):
    """A fine-tuning output directory (`model.keras` + `tokenizer/`) of a tiny classifier;
    returns the classifier and its preprocessor."""
    import keras

    keras.utils.set_random_seed(seed)
    model, preprocessor = _classifier()
    os.makedirs(path)
    model.save(os.path.join(path, "model.keras"))
    preprocessor.save(os.path.join(path, "tokenizer"))
    return model, preprocessor


def test_new_version_dir_numbers_after_the_largest_version(tmp_path):
    base = tmp_path / "clf"
    assert new_version_dir(str(base)) == str(base / "1")  # base need not exist
    assert not base.exists()
    for name in ("1", "7", "x9", ".export-abc"):
        (base / name).mkdir(parents=True)
    (base / "12").write_text("a file, not a version")
    assert new_version_dir(str(base)) == str(base / "8")
    assert new_version_dir(str(base), 3) == str(base / "3")
    with pytest.raises(FileExistsError, match=r"version 7 already exists .*next one \(8\)"):
        new_version_dir(str(base), 7)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="must be a positive integer"):
            new_version_dir(str(base), bad)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(FileExistsError, match="holds an unversioned SavedModel"):
        new_version_dir(str(tmp_path / "old"))


def test_export_model_dir_writes_numbered_versions_others_can_read(tmp_path):
    model, preprocessor = make_model_dir(str(tmp_path / "run"), seed=1)
    base = str(tmp_path / "exports" / "clf")
    umask = os.umask(0o022)
    try:
        first = export_model_dir(str(tmp_path / "run"), base)
        second = export_model_dir(str(tmp_path / "run"), base)
    finally:
        os.umask(umask)
    assert (first, second) == (os.path.join(base, "1"), os.path.join(base, "2"))
    assert sorted(os.listdir(base)) == ["1", "2"]  # no temporary directories left
    assert _modes(base) == ({0o755}, {0o644})  # not mkdtemp's 0700: a server user reads it
    out = tf.saved_model.load(f"{base}/1").signatures["serving_default"](
        text=tf.constant(TEXTS[:3]))
    expected = _in_memory(model, preprocessor, TEXTS[:3])
    assert np.abs(out["probabilities"].numpy() - expected).max() <= 1e-5

    before = _tree(base)
    with pytest.raises(FileExistsError, match="version 2 already exists"):
        export_model_dir(str(tmp_path / "run"), base, version=2)
    assert _tree(base) == before  # refused before anything was written

