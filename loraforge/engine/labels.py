"""The two conventions tokenized samples and batches share."""

IGNORE_INDEX = -100
"""The label of a token that is not trained (a prompt, padding): the loss skips it."""

LENGTH = "length"
"""The column of each sample's token count, which transformers' length-grouped sampler reads."""
