"""Loss and gradient reduction that give the same update on one device and on many replicas.

The contract, shared with Keras' TensorFlow trainer: in a replica, a loss is the replica's share
of the global loss, `local_sum / global_denominator` (the `compute_average_loss` convention);
the shares sum to the loss of the whole global batch, and gradients summed over replicas equal
the single-device gradient of that loss. Keras logs `loss * num_replicas` averaged over
replicas, which is again the global loss.
"""

import tensorflow as tf


def global_sum(value):
    """Sums `value` over all replicas in sync (identity outside a multi-replica step).

    Per-replica losses are `local_sum / global_denominator`; gradients summed over replicas then
    equal the single-device gradient of the global mean, whatever the split of the batch.

    Example:
    >>> float(global_sum(tf.constant(3.0)))  # no strategy: the value itself
    3.0
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)


def _sum_over_replicas(grads):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return list(grads)
    present = [g for g in grads if g is not None]
    if not present:
        return list(grads)
    reduced = iter(ctx.all_reduce(tf.distribute.ReduceOp.SUM, present))
    return [None if g is None else next(reduced) for g in grads]


def aggregate_gradients_first(optimizer):
    """Makes `optimizer` sum gradients over replicas before clipping and loss-scale checks.

    Keras 3's TensorFlow optimizer clips (`global_clipnorm`, `clipnorm`, `clipvalue`) each
    replica's *partial* gradient and sums over replicas afterwards, and its
    `LossScaleOptimizer` decides "finite or skip" from the first replica only. Both make a
    distributed step differ from the single-device step (clipping is active at the start of
    BERT pretraining). After this call the sum comes first, so clipping sees the global
    gradient norm, every replica takes the same skip decision, and the update equals the
    single-device one. Idempotent; returns `optimizer`. Outside a multi-replica step it
    changes nothing.

    Example:
    >>> import keras
    >>> opt = aggregate_gradients_first(keras.optimizers.AdamW(global_clipnorm=1.0))
    >>> aggregate_gradients_first(opt) is opt
    True
    """
    if getattr(optimizer, "_aggregates_gradients_first", False):
        return optimizer
    apply = optimizer.apply

    def apply_summed(grads, trainable_variables=None):
        return apply(_sum_over_replicas(list(grads)), trainable_variables)

    optimizer.apply = apply_summed
    # The sum is done: the inner update must not sum the (identical) replicas' gradients again.
    inner = getattr(optimizer, "inner_optimizer", None)
    for opt in (optimizer, inner) if inner is not None else (optimizer,):
        opt._all_reduce_sum_gradients = lambda grads_and_vars: list(grads_and_vars)
    optimizer._aggregates_gradients_first = True
    return optimizer


def jit_compile_per_replica(model):
    """Compiles `model`'s forward pass, and so its gradient, with XLA inside each replica.

    Keras' `compile(jit_compile=True)` compiles the whole distributed step, all-reduce
    included, as one XLA program, which fails under `MirroredStrategy` (the replicas' variables
    live on different devices) and collective all-reduces. Here the replica's forward and
    backward pass (almost all of the compute) are XLA clusters, while the loss' global sums,
    the gradient all-reduce and the optimizer update run as ordinary TF ops. Call it after
    `model.compile(jit_compile=False)`; returns `model`.
    """
    if not getattr(model, "_jit_per_replica", False):
        model.call = tf.function(model.call, jit_compile=True, reduce_retracing=True)
        model._jit_per_replica = True
    return model
