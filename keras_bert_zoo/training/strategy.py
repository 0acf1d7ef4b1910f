"""tf.distribute strategies from a name."""

import tensorflow as tf

from keras_bert_zoo.configs import STRATEGIES


def get_strategy(name="default", tpu=None):
    """Returns the strategy for `name`.

    Args:
        name: "default" (no distribution), "one_device" (the first GPU, else the CPU),
            "mirrored" (all local GPUs, or all logical CPU devices), "multi_worker" (reads the
            cluster from the TF_CONFIG environment variable), "tpu".
        tpu: TPU address or name for "tpu" ("" or None for a local/Cloud TPU VM).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"strategy={name!r} is not supported; choose one of {', '.join(STRATEGIES)}")
