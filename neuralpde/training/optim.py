"""The optimiser: global-norm clipping → Adam/AdamW, warm-up + cosine learning rate.

    lr(k) = peak · k / W                    for k < W = warmup_fraction · steps
    lr(k) = peak · ½ (1 + cos(π (k − W) / (steps − W)))   afterwards

Updates whose gradients (or loss) are not finite are skipped by the training
step (parameters and optimiser state are kept) and counted.
"""

from __future__ import annotations

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
