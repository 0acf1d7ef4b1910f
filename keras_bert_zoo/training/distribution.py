"""Loss reduction that gives the same gradients on one device and on many replicas."""

import tensorflow as tf


def global_sum(value):
    """Sums `value` over all replicas in sync (identity outside a multi-replica step).

    Per-replica losses are `local_sum / global_denominator`; gradients summed over replicas then
    equal the single-device gradient of the global mean, whatever the split of the batch.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)
