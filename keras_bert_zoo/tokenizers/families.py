"""Special tokens and tokenizer kind of each model family, declared once.

Every other module (tokenizers, trainers, packing, masking) reads these tables instead of
spelling special tokens itself.
"""

# role -> token string. Roles: cls, sep, mask, pad, unk, bos, eos.
SPECIAL_TOKENS = {
    # google-research/bert vocab.txt: [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103.
    "bert": {
        "cls": "[CLS]",
        "sep": "[SEP]",
        "mask": "[MASK]",
        "pad": "[PAD]",
        "unk": "[UNK]",
    },
    # google-research/albert 30k-clean.model: <pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4.
    "albert": {
        "cls": "[CLS]",
        "sep": "[SEP]",
        "mask": "[MASK]",
        "pad": "<pad>",
        "unk": "<unk>",
    },
    # fairseq dictionary as shipped with roberta-base: <s>=0, <pad>=1, </s>=2, <unk>=3,
    # <mask>=last.
    "roberta": {
        "cls": "<s>",
        "bos": "<s>",
        "sep": "</s>",
        "eos": "</s>",
        "mask": "<mask>",
        "pad": "<pad>",
        "unk": "<unk>",
    },
    # BART reuses the RoBERTa/GPT-2 byte-level BPE and its dictionary layout.
    "bart": {
        "cls": "<s>",
        "bos": "<s>",
        "sep": "</s>",
        "eos": "</s>",
        "mask": "<mask>",
        "pad": "<pad>",
        "unk": "<unk>",
    },
}

# family -> name of the tokenizer class in keras_bert_zoo.tokenizers.
TOKENIZER_CLASS = {
    "bert": "WordPieceTokenizer",
    "albert": "SentencePieceTokenizer",
    "roberta": "BytePairTokenizer",
    "bart": "BytePairTokenizer",
}

# Order in which trainers put the special tokens at the start of a new vocabulary, matching the
# released checkpoints of each family (the mask token of RoBERTa/BART comes right after).
TRAINING_SPECIAL_TOKENS = {
    "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "albert": ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"],
    "roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    "bart": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
}

FAMILIES = tuple(SPECIAL_TOKENS)


def check_family(family):
    """Returns `family` if known, else raises a ValueError listing the known ones."""
    if family not in SPECIAL_TOKENS:
        raise ValueError(
            f"unknown family={family!r}; expected one of {', '.join(FAMILIES)}"
        )
    return family


def special_tokens(family):
    """Returns a copy of the role -> token table of `family`.

    Example:
    >>> special_tokens("bert")["mask"]
    '[MASK]'
    """
    return dict(SPECIAL_TOKENS[check_family(family)])
