"""``human_body_prior.body_model``: the original body-model names over :mod:`vposer.body`."""
