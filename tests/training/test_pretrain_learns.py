"""Real learning on real text: every family's pretraining beats a trivial baseline on held-out
text. These run a few hundred steps each of a one-layer model on the first documents of the
embedded corpus."""

import collections
import json
import os

import keras
import numpy as np
import pytest

from keras_bert_zoo.data.datasets import pretraining_dataset
from keras_bert_zoo.training.pretrain import OBJECTIVES, PretrainConfig, pretrain


TINY = {"num_layers": 1, "hidden_dim": 128, "num_heads": 2, "intermediate_dim": 256}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The first 80 documents of the embedded corpus as four files, written once: every run
    trains on the first three and is evaluated on the last."""
    from keras_bert_zoo.data.corpora import write_default_corpus

    directory = str(tmp_path_factory.mktemp("corpus"))
    return sorted(write_default_corpus(directory, num_files=4, max_documents=80))


def _held_out(result, config, batches=8):
    tokenizer = result["tokenizer"]
    files = result["files"]
    return pretraining_dataset(
        result["objective"], files[-1:], tokenize_fn=tokenizer.tokenize,
        special_ids=tokenizer.special_token_ids, vocabulary_size=tokenizer.vocabulary_size,
        sequence_length=config.seq_len, batch_size=config.batch_size,
        max_predictions_per_seq=config.max_predictions_per_seq, seed=12345,
        continuation_table=tokenizer.continuation_table(),
    ).take(batches).cache()  # the stream differs per iteration; every pass sees the same pairs


def _run(model, tmp_path, corpus, steps, seed=0, batch_size=32, log_every=50, **overrides):
    keras.utils.set_random_seed(seed)
    # Trains on all but the last corpus file (the held-out one: see _held_out).
    config = PretrainConfig(model=model, output_dir=str(tmp_path / model),
                            corpus=os.path.join(os.path.dirname(corpus[0]), "*"),
                            vocabulary_size=1000, seq_len=32, batch_size=batch_size,
                            max_predictions_per_seq=5, max_steps=steps, learning_rate=3e-3,
                            warmup_steps=steps // 10, checkpoint_every=log_every,
                            log_every=log_every, dropout=0.0, verbose=0, seed=seed, **overrides)
    result = pretrain(config)
    assert result["files"] == corpus
    return config, result


# With checkpoint_every == log_every every logged value is the mean over its own window.
def _records(result):
    return [json.loads(line) for line in open(result["metrics"])]


def _losses(result):
    return [record["loss"] for record in _records(result)]


def _assert_beats_unigram_baseline(result, config, margin):
    held_out = _held_out(result, config)
    metrics = result["task"].evaluate(held_out, verbose=0, return_dict=True)
    # Unigram baseline: always predict the most frequent masked token of the held-out batches.
    counts = collections.Counter()
    for _, y in held_out:
        ids, weights = y["mask_ids"].numpy(), y["mask_weights"].numpy()
        counts.update(ids[weights > 0].tolist())
    baseline = counts.most_common(1)[0][1] / sum(counts.values())
    assert metrics["mlm_accuracy"] > baseline + margin, (metrics, baseline)
    return metrics


@pytest.mark.slow
def test_bert_mlm_beats_unigram_baseline_on_held_out_text(tmp_path, corpus):
    # Seeds 0-2: 0.12-0.14 held-out accuracy against a 0.050-0.063 baseline (0.060-0.090
    # above it); the losses fall by 0.88-1.03. 300 steps left only 0.028-0.036 above it.
    config, result = _run("bert_tiny", tmp_path, corpus, steps=400, model_overrides=TINY)
    losses = _losses(result)
    assert losses[-1] < losses[0] - 0.5, losses
    _assert_beats_unigram_baseline(result, config, margin=0.03)


@pytest.mark.slow
def test_albert_mlm_learns_with_sop_and_ngram_masking(tmp_path, corpus):
    # Seeds 0-2: 0.087-0.098 held-out accuracy against a 0.044-0.052 baseline (0.043-0.052
    # above it); the losses fall by 0.75-0.83. Embeddings stay at the preset's 128.
    config, result = _run("albert_base", tmp_path, corpus, steps=500, model_overrides=TINY)
    assert result["objective"] == OBJECTIVES["albert"] == "mlm_sop"
    assert _losses(result)[-1] < _losses(result)[0] - 0.3
    metrics = _assert_beats_unigram_baseline(result, config, margin=0.02)
    # SOP is evaluated and trained: its zero-initialized bias moves only if the SOP loss
    # reaches the head. Held-out SOP accuracy of a model this small stays near the label prior,
    # above or below it with the seed and the rounding (docs/pretraining.md, "Sentence-order
    # prediction at small scale"), so it is not asserted here.
    assert "sentence_accuracy" in metrics and "sentence_loss" in metrics
    assert np.abs(result["task"].sentence_head.bias.numpy()).max() > 1e-4


@pytest.mark.slow
def test_roberta_mlm_beats_unigram_baseline(tmp_path, corpus):
    # Seeds 0-2: 0.098-0.109 held-out accuracy against a 0.028-0.033 baseline (0.067-0.081
    # above it); the losses fall by 0.73-0.87 (at 300 steps by as little as 0.54).
    config, result = _run("roberta_base", tmp_path, corpus, steps=400, model_overrides=TINY)
    assert result["objective"] == "mlm"
    assert _losses(result)[-1] < _losses(result)[0] - 0.5
    _assert_beats_unigram_baseline(result, config, margin=0.02)


@pytest.mark.slow
def test_bart_denoising_accuracy_rises(tmp_path, corpus):
    # Seeds 0-2: the mean token accuracy of steps 126-150 is 0.128-0.140 above that of
    # steps 1-25 (0.045-0.054 to 0.178-0.185).
    config, result = _run("bart_base", tmp_path, corpus, steps=150, batch_size=16, log_every=25,
                          model_overrides=TINY)
    accuracies = [record["token_accuracy"] for record in _records(result)]
    assert accuracies[-1] > accuracies[0] + 0.1, accuracies
