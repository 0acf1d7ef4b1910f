"""BART sequence-to-sequence: teacher-forced training, cached generation, ROUGE.

Decoder convention (fairseq and Hugging Face BART, and the "denoising" data of
`DenoisingPretrainer`): the target is `<s> t1 .. tn </s>`, and the decoder reads it shifted right,
starting with the decoder start token `</s>`:

    decoder input   </s>  <s>  t1 ..  tn
    target           <s>  t1  t2 .. </s>

Generation therefore starts from the prompt `</s> <s>` (the `<s>` is forced, like Hugging Face's
`forced_bos_token_id`), and each example stops at its first `</s>`.

Decoding runs the encoder once, then one decoder position per step with a key/value cache per
decoder layer: self-attention keys/values of the positions seen so far, and cross-attention
keys/values of the encoder output (computed once), as keras-hub's `BartSeq2SeqLM`. Greedy, top-k
and top-p use the keras-hub samplers; beam search is `BeamSearchSampler` below, with finished
hypotheses kept aside and a length penalty.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops, tree
from keras_hub.samplers import GreedySampler, Sampler, TopKSampler, TopPSampler

from keras_bert_zoo.data.packing import trim_to_longest
from keras_bert_zoo.extras import require
from keras_bert_zoo.models.bart.bart_backbone import BartBackbone
from keras_bert_zoo.tasks.pretraining import LogitsBias, _weighted_cross_entropy
from keras_bert_zoo.tasks.task import DEFAULT_BATCH_SIZE, Task, _as_list, _is_strings
from keras_bert_zoo.tokenizers.preprocessor import Preprocessor, pack_inputs

SAMPLERS = ("greedy", "beam", "top_k", "top_p")
_NEG = -1e9  # log-probability of an empty beam; finite, so no inf - inf


# ----------------------------------------------------------------------------------------------
# Data.


def pack_seq2seq(source_ids, target_ids, *, source_length, target_length, bos_id, eos_id, pad_id):
    """Packs ragged source and target ids into teacher-forcing `(x, y)` for `Seq2SeqGenerator`.

    Encoder input `<s> source </s>`; target `<s> target </s>`; decoder input the target shifted
    right after `</s>`. Too long sources and targets are cut, keeping their final `</s>`.

    Args:
        source_ids, target_ids: int RaggedTensors (batch, None) without special tokens.
        source_length, target_length: padded lengths of the encoder and decoder inputs.
        bos_id, eos_id, pad_id: ids of `<s>`, `</s>` and `<pad>`.

    Returns:
        `(x, y)`: x has int32 `encoder_token_ids`, `encoder_padding_mask`, `decoder_token_ids`,
        `decoder_padding_mask`; y has int32 `target_ids` and float32 `target_weights`.

    Example:
    >>> x, y = pack_seq2seq(tf.ragged.constant([[7, 8]]), tf.ragged.constant([[9]]),
    ...                     source_length=5, target_length=4, bos_id=0, eos_id=2, pad_id=1)
    >>> x["encoder_token_ids"].numpy().tolist(), x["decoder_token_ids"].numpy().tolist()
    ([[0, 7, 8, 2, 1]], [[2, 0, 9, 2]])
    >>> y["target_ids"].numpy().tolist(), y["target_weights"].numpy().tolist()
    ([[0, 9, 2, 1]], [[1.0, 1.0, 1.0, 0.0]])
    """
    specials = dict(cls_id=bos_id, sep_id=eos_id, pad_id=pad_id, layout="roberta")
    encoder = pack_inputs(source_ids, sequence_length=source_length, **specials)
    target = pack_inputs(target_ids, sequence_length=target_length, **specials)
    target_ids, target_mask = target["token_ids"], target["padding_mask"]
    first = tf.ones_like(target_ids[:, :1])
    x = {
        "encoder_token_ids": encoder["token_ids"],
        "encoder_padding_mask": encoder["padding_mask"],
        "decoder_token_ids": tf.concat([first * eos_id, target_ids[:, :-1]], axis=1),
        "decoder_padding_mask": tf.concat([first, target_mask[:, :-1]], axis=1),
    }
    y = {"target_ids": target_ids, "target_weights": tf.cast(target_mask, tf.float32)}
    return x, y


def seq2seq_dataset(
    tokenizer,
    sources,
    targets,
    *,
    source_length,
    target_length,
    batch_size=32,
    shuffle=True,
    seed=None,
    drop_remainder=False,
    pad_to_multiple_of=None,
):
    """A `tf.data.Dataset` of `(x, y)` batches from source and target texts, tokenized in-graph.

    Args:
        tokenizer: a byte-level BPE `Tokenizer` with BART/RoBERTa special tokens, or a
            `Preprocessor` holding one.
        sources, targets: lists (or 1-D string tensors) of texts, the same length.
        source_length, target_length: see `pack_seq2seq`.
        batch_size: examples per batch.
        shuffle: reshuffle the examples every epoch (seeded by `seed`).
        seed: shuffle seed.
        drop_remainder: drop the last, smaller batch.
        pad_to_multiple_of: if given, each batch's sources are cut to the longest source and
            its targets to the longest target, rounded up to this multiple (`trim_seq2seq`);
            by default every batch is `source_length` x `target_length`.

    Example:
    >>> from keras_bert_zoo.tokenizers import BytePairTokenizer
    >>> tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "h", "i", "hi"]
    >>> tokenizer = BytePairTokenizer({t: i for i, t in enumerate(tokens)}, ["h i"])
    >>> ds = seq2seq_dataset(tokenizer, ["hi"], ["ih"], source_length=6, target_length=5,
    ...                      batch_size=1, shuffle=False)
    >>> x, y = next(iter(ds))
    >>> x["encoder_token_ids"].numpy().tolist(), y["target_ids"].numpy().tolist()
    ([[0, 7, 2, 1, 1, 1]], [[0, 6, 5, 2, 1]])
    """
    if isinstance(tokenizer, Preprocessor):
        tokenizer = tokenizer.tokenizer
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets; pair them up")
    ids = tokenizer.special_token_ids
    pack = dict(source_length=source_length, target_length=target_length,
                bos_id=ids["bos"], eos_id=ids["eos"], pad_id=ids["pad"])
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(sources), tf.constant(targets)))
    if shuffle:
        ds = ds.shuffle(len(sources), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    def pack_batch(sources, targets):
        x, y = pack_seq2seq(tokenizer.tokenize(sources), tokenizer.tokenize(targets), **pack)
        return (x, y) if pad_to_multiple_of is None else trim_seq2seq(x, y, pad_to_multiple_of)

    ds = ds.map(pack_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def trim_seq2seq(x, y, pad_to_multiple_of=8):
    """Cuts a packed seq2seq batch (`pack_seq2seq`) to its longest source and its longest
    decoder input (the target shifted right after `</s>`), each rounded up to
    `pad_to_multiple_of`: the loss and the gradients are those of the padded batch (padding is
    masked out of attention and weighted 0 in the loss).

    Example:
    >>> x, y = pack_seq2seq(tf.ragged.constant([[7, 8]]), tf.ragged.constant([[9]]),
    ...                     source_length=8, target_length=8, bos_id=0, eos_id=2, pad_id=1)
    >>> x, y = trim_seq2seq(x, y, pad_to_multiple_of=1)
    >>> x["encoder_token_ids"].numpy().tolist(), x["decoder_token_ids"].numpy().tolist()
    ([[0, 7, 8, 2]], [[2, 0, 9, 2]])
    >>> y["target_ids"].numpy().tolist(), y["target_weights"].numpy().tolist()
    ([[0, 9, 2, 1]], [[1.0, 1.0, 1.0, 0.0]])
    """
    encoder = trim_to_longest({"token_ids": x["encoder_token_ids"],
                               "padding_mask": x["encoder_padding_mask"]}, pad_to_multiple_of)
    decoder = trim_to_longest({"token_ids": x["decoder_token_ids"],
                               "padding_mask": x["decoder_padding_mask"],
                               "target_ids": y["target_ids"],
                               "target_weights": y["target_weights"]}, pad_to_multiple_of)
    x = {"encoder_token_ids": encoder["token_ids"],
         "encoder_padding_mask": encoder["padding_mask"],
         "decoder_token_ids": decoder["token_ids"],
         "decoder_padding_mask": decoder["padding_mask"]}
    return x, {"target_ids": decoder["target_ids"], "target_weights": decoder["target_weights"]}


# ----------------------------------------------------------------------------------------------
# Beam search.


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BeamSearchSampler(Sampler):
    """Beam search with finished hypotheses and a length penalty, on keras-hub's sampler API.

    keras-hub's `BeamSampler` has no length penalty and keeps extending a beam after its end
    token. Here a beam that emits a stop token leaves the search with the score
    `log p(y) / len(y) ** length_penalty` (fairseq's and Hugging Face's convention; `len(y)`
    counts the generated tokens, the stop token included, not the prompt); beams that reach the
    end of `prompt` are scored the same way. Each step expands the `num_beams` live beams, keeps
    the best `2 * num_beams` candidates, moves those ending in a stop token to the finished set
    (the best `num_beams` are kept) and continues with the best `num_beams` others. The search
    stops early when no live beam can beat the best finished one any more (log-probabilities
    only fall, so `log p / len ** alpha` is bounded by its value at the shortest or the longest
    remaining length); the result is the same as searching to the end.

    Args:
        num_beams: beams kept at each step.
        length_penalty: the exponent `alpha`; 0 ranks by total log-probability, 1 by mean
            log-probability per token, larger favours longer outputs.
        return_all_beams: also return the finished beams and scores, best first.
        temperature: logits are divided by it before the softmax.

    Example:
    >>> sampler = BeamSearchSampler(num_beams=2)
    >>> table = np.log([[0.1, 0.5, 0.4], [0.1, 0.1, 0.8], [0.9, 0.05, 0.05]])
    >>> def next(prompt, cache, index):  # logits depend on the previous token only
    ...     return ops.take(table, prompt[:, index - 1], axis=0), None, cache
    >>> sampler(next, ops.array([[1, 0, 0, 0]]), index=1, stop_token_ids=(0,)).numpy().tolist()
    [[1, 2, 0, 0]]
    """

    def __init__(self, num_beams=4, length_penalty=1.0, return_all_beams=False, **kwargs):
        super().__init__(**kwargs)
        if num_beams < 1:
            raise ValueError(f"num_beams={num_beams}; use at least 1")
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.return_all_beams = return_all_beams

    def __call__(self, next, prompt, cache=None, index=0, mask=None, stop_token_ids=None,
                 hidden_states=None, model=None):
        """Fills `prompt[:, index:]`; positions before `index` are the (shared-length) prompt."""
        k = self.num_beams
        alpha = float(self.length_penalty)
        prompt = ops.convert_to_tensor(prompt)
        max_length = ops.shape(prompt)[1]
        start = ops.cast(index, "int32")
        stops = tuple(stop_token_ids or ())
        cache = () if cache is None else cache
        columns = ops.arange(max_length, dtype="int32")

        def flatten(x):  # (batch, beams, ...) -> (batch * beams, ...)
            return ops.reshape(x, (-1,) + tuple(ops.shape(x)[2:]))

        def unflatten(x):  # (batch * beams, ...) -> (batch, beams, ...)
            return ops.reshape(x, (-1, k) + tuple(ops.shape(x)[1:]))

        def take_beams(x, beams):  # x (batch, n, ...), beams (batch, m) -> (batch, m, ...)
            for _ in range(len(x.shape) - 2):
                beams = ops.expand_dims(beams, -1)
            return ops.take_along_axis(x, beams, axis=1)

        def score(log_probs, length):
            return log_probs / ops.power(ops.cast(length, "float32"), alpha)

        def is_stop(tokens):
            out = ops.zeros_like(tokens, dtype="bool")
            for stop in stops:
                out = ops.logical_or(out, ops.equal(tokens, stop))
            return out

        sequences = ops.repeat(prompt, k, axis=0)  # (batch * beams, length)
        cache = tree.map_structure(lambda x: ops.repeat(x, k, axis=0), cache)
        batch_size = ops.shape(prompt)[0]
        # Only the first beam is live at the start, so the first step does not pick k copies.
        alive = ops.broadcast_to(ops.array([[0.0] + [_NEG] * (k - 1)], "float32"),
                                 (batch_size, k))
        finished = unflatten(sequences)
        finished_scores = ops.full((batch_size, k), _NEG, "float32")

        def cond(sequences, cache, position, alive, finished, finished_scores):
            if not stops:
                return ops.convert_to_tensor(True)
            best_alive = ops.max(alive, axis=1)
            bound = ops.maximum(score(best_alive, position - start + 1),
                                score(best_alive, max_length - start))
            return ops.logical_not(ops.all(ops.max(finished_scores, axis=1) >= bound))

        def body(sequences, cache, position, alive, finished, finished_scores):
            logits, _, cache = next(sequences, cache, position)
            log_probs = ops.log_softmax(ops.cast(logits, "float32") / self.temperature, axis=-1)
            vocabulary_size = ops.shape(log_probs)[-1]
            totals = ops.reshape(alive[..., None] + unflatten(log_probs), (batch_size, -1))
            candidate_log_probs, candidates = ops.top_k(totals, 2 * k)  # (batch, 2k)
            beams = candidates // vocabulary_size
            tokens = ops.cast(candidates % vocabulary_size, prompt.dtype)
            candidate_sequences = ops.where(
                columns == position, tokens[..., None], take_beams(unflatten(sequences), beams)
            )
            ends = ops.logical_or(is_stop(tokens), position + 1 >= max_length)
            real = candidate_log_probs > _NEG / 2
            ending_scores = ops.where(
                ops.logical_and(ends, real),
                score(candidate_log_probs, position - start + 1),
                _NEG,
            )
            # The best k finished hypotheses so far (earlier ones first on ties).
            finished_scores, best = ops.top_k(
                ops.concatenate([finished_scores, ending_scores], axis=1), k
            )
            finished = take_beams(ops.concatenate([finished, candidate_sequences], axis=1), best)
            # The best k candidates that go on.
            alive, best = ops.top_k(ops.where(ends, _NEG, candidate_log_probs), k)
            sequences = flatten(take_beams(candidate_sequences, best))
            parents = ops.take_along_axis(beams, best, axis=1)
            cache = tree.map_structure(lambda x: flatten(take_beams(unflatten(x), parents)),
                                       cache)
            return sequences, cache, position + 1, alive, finished, finished_scores

        _, _, _, _, finished, finished_scores = self.run_loop(
            cond,
            body,
            loop_vars=(sequences, cache, start, alive, finished, finished_scores),
            maximum_iterations=max_length - start,
            model=model,
        )
        if self.return_all_beams:
            return finished, finished_scores
        return finished[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update({"num_beams": self.num_beams, "length_penalty": self.length_penalty,
                       "return_all_beams": self.return_all_beams})
        return config


def get_sampler(sampler="greedy", *, num_beams=4, length_penalty=1.0, k=5, p=0.9, seed=None):
    """A sampler object from its name: "greedy", "beam", "top_k" or "top_p".

    Example:
    >>> get_sampler("beam", num_beams=3).num_beams
    3
    """
    if isinstance(sampler, Sampler):
        return sampler
    if sampler == "greedy":
        return GreedySampler()
    if sampler == "beam":
        return BeamSearchSampler(num_beams=num_beams, length_penalty=length_penalty)
    if sampler == "top_k":
        return TopKSampler(k=k, seed=seed)
    if sampler == "top_p":
        return TopPSampler(p=p, seed=seed)
    raise ValueError(f"sampler={sampler!r}; expected one of {', '.join(SAMPLERS)} or a "
                     "keras_hub.samplers.Sampler")


# ----------------------------------------------------------------------------------------------
# The task.


class _FunctionCache:
    """Compiled generation functions, kept off the model's tracked attributes."""

    def __init__(self):
        self.functions = {}


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class Seq2SeqGenerator(Task):
    """BART fine-tuned on source -> target pairs, with cached greedy, beam and sampled decoding.

    Training is teacher forcing, exactly as `DenoisingPretrainer`: inputs `encoder_token_ids`,
    `encoder_padding_mask`, `decoder_token_ids`, `decoder_padding_mask`; output float32
    `logits` from the tied token embedding plus the `lm_bias`; targets `target_ids` and
    `target_weights`; the loss is the (optionally label-smoothed) cross-entropy on the weighted
    positions. `seq2seq_dataset` builds such batches from texts. `generate` decodes.

    Args:
        backbone: a `BartBackbone`.
        label_smoothing: label smoothing of the cross-entropy (0.1 in BART fine-tuning).
        preprocessor: optional BART `Preprocessor` (its `sequence_length` is the source
            length) so that `generate` takes and returns strings, and `fit` / `evaluate` take
            `(sources, targets)` as two lists of strings: `fit(sources, targets)`, batched as
            `seq2seq_dataset` batches them (targets up to `sequence_length` tokens; with the
            preprocessor's `padding="longest"`, each batch cut to its longest source and
            target), shuffled every epoch when `shuffle=True` (seeded by
            `keras.utils.set_random_seed`).

    Example:
    >>> backbone = BartBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16, max_sequence_length=16)
    >>> model = Seq2SeqGenerator(backbone)
    >>> model.generate(np.array([[0, 7, 8, 2]]), max_length=5).shape
    (1, 5)
    """

    def __init__(self, backbone, label_smoothing=0.0, preprocessor=None, **kwargs):
        if not isinstance(backbone, BartBackbone):
            raise ValueError(
                f"Seq2SeqGenerator needs a BartBackbone, got {type(backbone).__name__}")
        # === Layers ===
        self.backbone = backbone
        self.lm_bias = LogitsBias(backbone.vocabulary_size, dtype=backbone.dtype_policy,
                                  name="lm_bias")

        # === Wiring ===
        inputs = dict(backbone.input)
        hidden = backbone(inputs)["decoder_sequence_output"]
        logits = self.lm_bias(backbone.token_embedding(hidden, reverse=True))  # tied
        super().__init__(inputs=inputs, outputs={"logits": logits},
                         backbone_dtype=backbone.dtype_policy, **kwargs)

        # === Config ===
        self.label_smoothing = label_smoothing
        self.preprocessor = preprocessor
        self.token_accuracy = keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")
        self._generate_cache = _FunctionCache()
        self._special_ids = None
        if preprocessor is not None:
            self._special_ids = preprocessor.tokenizer.special_token_ids

    @classmethod
    def from_pretrainer(cls, pretrainer, **kwargs):
        """Starts from a `DenoisingPretrainer`: same backbone object, a copy of its `lm_bias`."""
        model = cls(pretrainer.backbone, **kwargs)
        model.lm_bias.bias.assign(pretrainer.lm_bias.bias)
        return model

    # Training -------------------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return _weighted_cross_entropy(y["target_ids"], y_pred["logits"], y["target_weights"],
                                       self.label_smoothing)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.token_accuracy.update_state(
            y["target_ids"], ops.cast(y_pred["logits"], "float32"),
            sample_weight=y["target_weights"],
        )
        return self.get_metrics_result()

    # Strings in -----------------------------------------------------------------------------
    def _convert(self, x, y=None, sample_weight=None, *, batch_size=None, shuffle=False,
                 with_labels=True):
        if isinstance(x, tf.data.Dataset) or not _is_strings(x):
            return super()._convert(x, y, sample_weight, batch_size=batch_size,
                                    shuffle=shuffle, with_labels=with_labels)
        if not with_labels:
            raise ValueError("predict takes token ids; generate texts with "
                             "model.generate(texts)")
        if y is None or not _is_strings(y):
            raise ValueError("fit and evaluate on source texts need the target texts: "
                             "fit(sources, targets)")
        self._require_preprocessor()
        if sample_weight is not None:
            raise ValueError("sample_weight does not apply to texts; each target token "
                             "counts once")
        preprocessor = self.preprocessor
        seed = int(np.random.randint(2**31 - 1)) if shuffle else None
        ds = seq2seq_dataset(
            preprocessor.tokenizer, [_text(t) for t in _as_list(x)],
            [_text(t) for t in _as_list(y)], source_length=preprocessor.sequence_length,
            target_length=preprocessor.sequence_length,
            batch_size=batch_size or DEFAULT_BATCH_SIZE, shuffle=shuffle, seed=seed,
            pad_to_multiple_of=(preprocessor.pad_to_multiple_of
                                if preprocessor.padding == "longest" else None))
        return ds, None, None, None

    # Cached decoding ------------------------------------------------------------------------
    def call_encoder(self, token_ids, padding_mask):
        """The encoder output (batch, source_length, hidden) at inference."""
        x = self.backbone.encoder_embeddings({"token_ids": token_ids}, training=False)
        for block in self.backbone.encoder_layers:
            x = block(x, padding_mask=padding_mask, training=False)
        return x

    def call_decoder_with_cache(
        self,
        encoder_hidden_states,
        encoder_padding_mask,
        decoder_token_ids,
        self_attention_cache,
        self_attention_cache_update_index,
        cross_attention_cache,
        cross_attention_cache_update_index=None,
    ):
        """Decodes `decoder_token_ids` placed at `self_attention_cache_update_index`.

        Args:
            encoder_hidden_states: (batch, source_length, hidden).
            encoder_padding_mask: (batch, source_length).
            decoder_token_ids: (batch, n) ids at positions `index .. index + n - 1`.
            self_attention_cache: (batch, num_layers, 2, max_length, num_heads, head_dim).
            self_attention_cache_update_index: position of the first of `decoder_token_ids`.
            cross_attention_cache: (batch, num_layers, 2, source_length, num_heads, head_dim).
            cross_attention_cache_update_index: 0 to compute the cross-attention keys/values
                from `encoder_hidden_states`, None to reuse the cache.

        Returns:
            `(logits, hidden_states, self_attention_cache, cross_attention_cache)`, logits
            float32 (batch, n, vocabulary_size).
        """
        embeddings = self.backbone.decoder_embeddings
        x = embeddings.token_embedding(decoder_token_ids)
        length = ops.shape(decoder_token_ids)[1]
        positions = (ops.arange(length, dtype="int32") + embeddings.position_offset
                     + ops.cast(self_attention_cache_update_index, "int32"))
        x = x + embeddings.position_embedding(x, positions=positions)
        x = embeddings.layer_norm(x)  # dropout is off at inference
        self_caches, cross_caches = [], []
        for i, block in enumerate(self.backbone.decoder_layers):
            x, self_cache, cross_cache = block(
                decoder_sequence=x,
                encoder_sequence=encoder_hidden_states,
                encoder_padding_mask=encoder_padding_mask,
                self_attention_cache=self_attention_cache[:, i, ...],
                self_attention_cache_update_index=self_attention_cache_update_index,
                cross_attention_cache=cross_attention_cache[:, i, ...],
                cross_attention_cache_update_index=cross_attention_cache_update_index,
                training=False,
            )
            self_caches.append(self_cache)
            cross_caches.append(cross_cache)
        self_attention_cache = ops.stack(self_caches, axis=1)
        if cross_attention_cache_update_index is not None:
            cross_attention_cache = ops.stack(cross_caches, axis=1)
        logits = self.lm_bias(self.backbone.token_embedding(x, reverse=True))
        return logits, x, self_attention_cache, cross_attention_cache

    def initialize_cache(self, batch_size, source_length, decoder_length):
        """Zero self- and cross-attention caches."""
        backbone = self.backbone
        head_dim = backbone.hidden_dim // backbone.num_heads
        shape = [batch_size, backbone.num_layers, 2, decoder_length, backbone.num_heads, head_dim]
        self_cache = ops.zeros(shape, dtype=self.compute_dtype)
        shape[3] = source_length
        return self_cache, ops.zeros(shape, dtype=self.compute_dtype)

    def _special(self, role, special_token_ids=None):
        ids = special_token_ids or self._special_ids
        if ids is not None:
            return ids[role]
        return {"bos": 0, "pad": 1, "eos": 2}[role]  # the fairseq dictionary of BART

    def generate_ids(self, encoder_token_ids, encoder_padding_mask, *, max_length, sampler,
                     special_token_ids=None):
        """Traceable generation: (batch, source) ids -> int32 (batch, max_length) new ids.

        The output holds the generated tokens after the prompt `</s> <s>`, up to and including
        the first `</s>`, then `<pad>`. Call it inside a `tf.function` (as `generate` does).
        `special_token_ids` (role -> id, as `tokenizer.special_token_ids`) defaults to the
        preprocessor's, else BART's `<s>`=0, `<pad>`=1, `</s>`=2.
        """
        bos, eos, pad = (self._special(role, special_token_ids) for role in ("bos", "eos", "pad"))
        encoder_token_ids = ops.cast(encoder_token_ids, "int32")
        encoder_padding_mask = ops.cast(encoder_padding_mask, "int32")
        batch_size = ops.shape(encoder_token_ids)[0]
        start = ops.array([[eos, bos]], "int32")
        prompt = ops.concatenate(
            [ops.broadcast_to(start, (batch_size, 2)),
             ops.full((batch_size, max_length), pad, "int32")], axis=1)
        prompt_mask = ops.broadcast_to(ops.arange(max_length + 2) < 2, (batch_size, max_length + 2))

        encoder_hidden = self.call_encoder(encoder_token_ids, encoder_padding_mask)
        self_cache, cross_cache = self.initialize_cache(
            batch_size, ops.shape(encoder_token_ids)[1], max_length + 2)
        # Seed the caches with the decoder start token: cross-attention keys/values once, and
        # the self-attention entry of position 0.
        _, _, self_cache, cross_cache = self.call_decoder_with_cache(
            encoder_hidden, encoder_padding_mask, prompt[:, :1], self_cache, 0, cross_cache, 0)

        def next(prompt, cache, index):
            self_cache, encoder_hidden, encoder_padding_mask, cross_cache = cache
            token = ops.slice(prompt, [0, index - 1], [ops.shape(prompt)[0], 1])
            logits, hidden, self_cache, _ = self.call_decoder_with_cache(
                encoder_hidden, encoder_padding_mask, token, self_cache, index - 1, cross_cache,
                None)
            cache = (self_cache, encoder_hidden, encoder_padding_mask, cross_cache)
            return logits[:, 0], hidden[:, 0], cache

        output = sampler(
            next=next,
            prompt=prompt,
            cache=(self_cache, encoder_hidden, encoder_padding_mask, cross_cache),
            index=2,
            mask=prompt_mask,
            stop_token_ids=(eos,),
            model=self,
        )
        tokens = ops.cast(output[:, 2:], "int32")
        ended = ops.cast(ops.equal(tokens, eos), "int32")
        after_end = (ops.cumsum(ended, axis=1) - ended) > 0
        return ops.where(after_end, pad, tokens)

    def _generate_function(self, max_length, make_sampler, key, jit_compile):
        functions = self._generate_cache.functions
        if key not in functions:
            sampler = make_sampler()

            def generate(encoder_token_ids, encoder_padding_mask):
                return self.generate_ids(encoder_token_ids, encoder_padding_mask,
                                         max_length=max_length, sampler=sampler)

            function = tf.function(generate, jit_compile=jit_compile, reduce_retracing=True)
            functions[key] = (function, sampler)
        return functions[key]

    def generate(self, inputs, max_length=32, *, sampler="greedy", num_beams=4,
                 length_penalty=1.0, k=5, p=0.9, seed=None, jit_compile=False):
        """Generates outputs for a batch of sources.

        Args:
            inputs: a string or list of strings (needs `preprocessor`), a dict with
                `encoder_token_ids` and `encoder_padding_mask` (or a preprocessor's `token_ids`
                and `padding_mask`), or an int array of packed `<s> ... </s>` ids padded with
                `<pad>`.
            max_length: most tokens to generate per example, the final `</s>` included.
            sampler: "greedy", "beam", "top_k", "top_p" or a `keras_hub.samplers.Sampler`.
            num_beams, length_penalty: beam search settings (see `BeamSearchSampler`).
            k, p: top-k and top-p (nucleus) sampling settings.
            seed: seed of the sampling samplers; a given seed gives the same outputs.
            jit_compile: compile with XLA (faster for long outputs, recompiles per shape).

        Returns:
            For strings, the generated strings (a str for a str). Otherwise an int32 numpy
            array (batch, max_length): the generated ids, the first `</s>` included, then
            `<pad>`.
        """
        if max_length + 2 > self.backbone.max_sequence_length:
            raise ValueError(
                f"max_length={max_length} needs {max_length + 2} decoder positions but the "
                f"backbone has max_sequence_length={self.backbone.max_sequence_length}; lower "
                "max_length")
        single = isinstance(inputs, str)
        strings = single or (isinstance(inputs, (list, tuple)) and inputs
                             and isinstance(inputs[0], str))
        if isinstance(inputs, tf.Tensor) and inputs.dtype == tf.string:
            strings = True
        elif isinstance(inputs, np.ndarray) and inputs.dtype.kind in "USO":
            strings, inputs = True, inputs.astype(str).tolist()
        if strings:
            if self.preprocessor is None:
                raise ValueError("generate() got strings but the model has no preprocessor; "
                                 "pass preprocessor= to Seq2SeqGenerator or give token ids")
            packed = self.preprocessor(tf.reshape(tf.constant(inputs), [-1]))
            token_ids, padding_mask = packed["token_ids"], packed["padding_mask"]
        elif isinstance(inputs, dict):
            token_ids = inputs.get("encoder_token_ids", inputs.get("token_ids"))
            padding_mask = inputs.get("encoder_padding_mask", inputs.get("padding_mask"))
            if token_ids is None or padding_mask is None:
                raise ValueError("generate() needs encoder_token_ids and encoder_padding_mask "
                                 f"(or token_ids and padding_mask); got keys {sorted(inputs)}")
        else:
            token_ids = np.asarray(inputs, "int32")
            if token_ids.ndim == 1:
                token_ids = token_ids[None]
            padding_mask = (token_ids != self._special("pad")).astype("int32")

        if isinstance(sampler, Sampler):
            key = (max_length, id(sampler), jit_compile)
            make_sampler = lambda: sampler  # noqa: E731
        else:
            options = dict(num_beams=num_beams, length_penalty=length_penalty, k=k, p=p,
                           seed=seed)
            key = (max_length, sampler, tuple(sorted(options.items())), jit_compile)
            make_sampler = lambda: get_sampler(sampler, **options)  # noqa: E731
        function, sampler_object = self._generate_function(max_length, make_sampler, key,
                                                           jit_compile)
        if seed is not None and hasattr(sampler_object, "seed_generator"):
            # The same seed gives the same samples on every call.
            sampler_object.seed_generator.state.assign(
                ops.array([seed, 0], sampler_object.seed_generator.state.dtype))
        ids = function(tf.cast(token_ids, tf.int32), tf.cast(padding_mask, tf.int32))
        if not strings:
            return ids.numpy()
        texts = [t.decode("utf-8") for t in
                 detokenize_generated(self.preprocessor.tokenizer, ids).numpy()]
        return texts[0] if single else texts

    def get_config(self):
        config = {**self._base_config(), "label_smoothing": self.label_smoothing}
        if self.preprocessor is not None:
            config["preprocessor"] = keras.layers.serialize(self.preprocessor)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.layers.deserialize(config["preprocessor"])
        return super().from_config(config)


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def detokenize_generated(tokenizer, ids):
    """Generated ids (batch, n) -> strings, dropping special tokens (`</s>`, `<pad>`, ...).

    Example:
    >>> from keras_bert_zoo.tokenizers import BytePairTokenizer
    >>> tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "h", "i", "hi"]
    >>> tokenizer = BytePairTokenizer({t: i for i, t in enumerate(tokens)}, ["h i"])
    >>> detokenize_generated(tokenizer, [[5, 6, 2, 1]]).numpy().tolist()
    [b'hi']
    """
    ids = tf.cast(tf.convert_to_tensor(ids), tf.int32)
    keep = tf.ones_like(ids, tf.bool)
    for special in tokenizer.all_special_ids:
        keep &= tf.not_equal(ids, special)
    return tokenizer.detokenize(tf.ragged.boolean_mask(ids, keep))


# ----------------------------------------------------------------------------------------------
# Evaluation.


def rouge(predictions, references, *, rouge_types=("rouge1", "rouge2", "rougeL"),
          use_stemmer=True):
    """Mean ROUGE F1 over pairs, with Google's `rouge-score` (the reference implementation).

    Its tokenizer lowercases and keeps `[a-z0-9]` runs only, so non-ASCII words do not count.

    Args:
        predictions, references: lists of strings, the same length.
        rouge_types: "rouge1", "rouge2", "rougeL", ... as `rouge_score.rouge_scorer` names them.
        use_stemmer: Porter stemming, as in the usual summarization numbers.

    Returns:
        A dict rouge type -> mean F1 in [0, 1].

    Example:
    >>> rouge(["the cat sat on the mat"], ["the cat was on the mat"])["rouge2"]
    0.6
    """
    rouge_scorer = require("rouge_score.rouge_scorer", "rouge", "ROUGE")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
    totals = dict.fromkeys(rouge_types, 0.0)
    for prediction, reference in zip(predictions, references):
        for name, value in scorer.score(reference, prediction).items():
            totals[name] += value.fmeasure
    return {name: total / max(len(predictions), 1) for name, total in totals.items()}
