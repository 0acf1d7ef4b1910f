"""Named sizes from the papers, as one table of constructor arguments (architecture only:
a preset carries no weights; `from_preset` with a model directory or hub handle loads them).

Plain Python, importable without TensorFlow, so the commands can check `--model` first.

BERT sizes are those of the original release (Turc et al. 2019 for tiny ... medium); ALBERT,
RoBERTa and BART sizes are those of their papers' released models. Heads are hidden_dim / 64
except where the release differs (ALBERT-xlarge: 16 heads of 128).
"""

BERT_VOCABULARY_SIZE = 30522  # uncased English WordPiece
ALBERT_VOCABULARY_SIZE = 30000  # SentencePiece
BPE_VOCABULARY_SIZE = 50265  # GPT-2 byte-level BPE as used by RoBERTa and BART


def _bert(num_layers, hidden_dim, num_heads):
    return dict(
        family="bert",
        vocabulary_size=BERT_VOCABULARY_SIZE,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=4 * hidden_dim,
    )


def _albert(num_layers, hidden_dim, num_heads, intermediate_dim):
    return dict(
        family="albert",
        vocabulary_size=ALBERT_VOCABULARY_SIZE,
        num_layers=num_layers,
        num_heads=num_heads,
        embedding_dim=128,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
    )


def _bpe(family, num_layers, hidden_dim, num_heads):
    return dict(
        family=family,
        vocabulary_size=BPE_VOCABULARY_SIZE,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=4 * hidden_dim,
    )


PRESETS = {
    "bert_tiny": _bert(2, 128, 2),
    "bert_mini": _bert(4, 256, 4),
    "bert_small": _bert(4, 512, 8),
    "bert_medium": _bert(8, 512, 8),
    "bert_base": _bert(12, 768, 12),
    "bert_large": _bert(24, 1024, 16),
    "albert_base": _albert(12, 768, 12, 3072),
    "albert_large": _albert(24, 1024, 16, 4096),
    "albert_xlarge": _albert(24, 2048, 16, 8192),
    "albert_xxlarge": _albert(12, 4096, 64, 16384),
    "roberta_base": _bpe("roberta", 12, 768, 12),
    "roberta_large": _bpe("roberta", 24, 1024, 16),
    "bart_base": _bpe("bart", 6, 768, 12),  # 6 encoder + 6 decoder layers
    "bart_large": _bpe("bart", 12, 1024, 16),
}


def list_presets():
    """Returns the preset names, e.g. `["albert_base", ..., "bert_tiny", ...]`."""
    return sorted(PRESETS)


def preset_config(name):
    """Returns `(family, constructor arguments)` of a preset, raising on an unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(list_presets())}")
    config = dict(PRESETS[name])
    return config.pop("family"), config
