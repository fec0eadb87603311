"""The optimiser: global-norm clipping → Adam/AdamW, warm-up + cosine learning rate.

    lr(k) = peak · k / W                    for k < W = warmup_fraction · steps
    lr(k) = peak · ½ (1 + cos(π (k − W) / (steps − W)))   afterwards

Updates whose gradients (or loss) are not finite are skipped by the training
step (parameters and optimiser state are kept) and counted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from neuralpde.training.config import LoopConfig


def learning_rate_schedule(config: LoopConfig) -> optax.Schedule:
    warmup = int(round(config.warmup_fraction * config.steps))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.peak_lr, warmup_steps=warmup,
        decay_steps=config.steps, end_value=0.0)


def make_optimizer(config: LoopConfig) -> optax.GradientTransformation:
    schedule = learning_rate_schedule(config)
    if config.optimizer == "adamw":
        adam = optax.adamw(schedule, b1=config.b1, b2=config.b2, eps=config.eps,
                           weight_decay=config.weight_decay)
    else:
        adam = optax.adam(schedule, b1=config.b1, b2=config.b2, eps=config.eps)
    return optax.chain(optax.clip_by_global_norm(config.clip_norm), adam)


def guarded_update(optimizer: optax.GradientTransformation, grads, opt_state, params,
                   loss: jax.Array):
    """One optimiser update, kept only when the loss and the gradient are finite.

    The one non-finite-update guard of every training step: with a NaN or
    inf loss or gradient norm, the old parameters and optimiser state are
    returned unchanged (the caller counts the skipped update).  Written here
    rather than with ``optax.apply_if_finite`` because that wrapper checks
    the gradients only (not the loss) and adds counters to the optimiser
    state, so checkpoints of earlier runs would no longer restore.

    Args:
        optimizer: the transformation (:func:`make_optimizer`).
        grads: the gradient pytree, shaped like ``params``.
        opt_state: ``optimizer``'s state.
        params: the current parameters.
        loss: the scalar loss the gradient is of.

    Returns:
        ``(params, opt_state, grad_norm, finite)``: the new (or kept)
        parameters and state, the global gradient norm before clipping, and
        whether the update was applied (a boolean scalar).
    """
    grad_norm = optax.tree.norm(grads)
    updates, new_opt_state = optimizer.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)  # noqa: E731
    return keep(new_params, params), keep(new_opt_state, opt_state), grad_norm, finite
