"""Activation names used across the zoo, with the variant each original code base used."""

import keras


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
def gelu_exact(x):
    """GELU with erf: fairseq RoBERTa/BART and Hugging Face BERT (`hidden_act="gelu"`)."""
    return keras.activations.gelu(x, approximate=False)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
def gelu_tanh(x):
    """GELU with the tanh approximation: google-research/bert and ALBERT (`"gelu_new"`)."""
    return keras.activations.gelu(x, approximate=True)


_ACTIVATIONS = {
    "gelu": gelu_exact,
    "gelu_approximate": gelu_tanh,
    "relu": keras.activations.relu,
}


def get_activation(name):
    """Returns the activation function for `name` ("gelu", "gelu_approximate" or "relu")."""
    if name not in _ACTIVATIONS:
        raise ValueError(
            f"activation={name!r} is not supported; choose one of {sorted(_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[name]
