"""Real learning on real text: every family's pretraining beats a trivial baseline on held-out
text. These run a few hundred steps each on the embedded corpus."""

import collections

import keras
import numpy as np
import pytest

from keras_bert_zoo.data.datasets import pretraining_dataset
from keras_bert_zoo.training.pretrain import OBJECTIVES, PretrainConfig, pretrain


TINY = {"num_layers": 2, "hidden_dim": 128, "num_heads": 2, "intermediate_dim": 512}


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


def _run(model, tmp_path, steps, seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    config = PretrainConfig(model=model, output_dir=str(tmp_path / model), vocabulary_size=2000,
                            seq_len=64, batch_size=32, max_steps=steps, learning_rate=2e-3,
                            warmup_steps=steps // 10, checkpoint_every=50, log_every=50,
                            dropout=0.0, verbose=0, seed=seed, **overrides)
    # Train on all but the last corpus file; evaluate on the last one.
    from keras_bert_zoo.data.corpora import write_default_corpus
    files = write_default_corpus(str(tmp_path / "corpus"), num_files=4)
    config.corpus = str(tmp_path / "corpus" / "*")
    result = pretrain(config)
    assert result["files"] == sorted(files)
    return config, result


# With checkpoint_every == log_every every logged value is the mean over its own 50 steps.
def _losses(result):
    import json
    return [json.loads(line)["loss"] for line in open(result["metrics"])]


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
def test_bert_mlm_beats_unigram_baseline_on_held_out_text(tmp_path):
    # Over seeds, 300 steps reach 0.088-0.104 held-out accuracy against a 0.039-0.052
    # baseline; 400 steps with a 3-point margin (about 1.7x the baseline) leave room for
    # thread-order nondeterminism.
    config, result = _run("bert_tiny", tmp_path, steps=400)
    losses = _losses(result)
    assert losses[-1] < losses[0] - 0.5, losses
    _assert_beats_unigram_baseline(result, config, margin=0.03)


@pytest.mark.slow
def test_albert_mlm_learns_with_sop_and_ngram_masking(tmp_path):
    # 300 steps left 0.008-0.015 over the baseline on some seeds; 500 steps give 0.027-0.045.
    config, result = _run("albert_base", tmp_path, steps=500,
                          model_overrides=dict(TINY, embedding_dim=64))
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
def test_roberta_mlm_beats_unigram_baseline(tmp_path):
    # Byte-level BPE MLM sits at the unigram plateau for ~300 steps, then learns.
    config, result = _run("roberta_base", tmp_path, steps=600, model_overrides=TINY)
    assert result["objective"] == "mlm"
    assert _losses(result)[-1] < _losses(result)[0] - 0.5
    _assert_beats_unigram_baseline(result, config, margin=0.02)


@pytest.mark.slow
def test_bart_denoising_accuracy_rises(tmp_path):
    config, result = _run("bart_base", tmp_path, steps=200, model_overrides=TINY)
    import json
    records = [json.loads(line) for line in open(result["metrics"])]
    accuracies = [r["token_accuracy"] for r in records]
    assert accuracies[-1] > accuracies[0] + 0.1, accuracies
