"""Training the UNet: config (YAML), datasets, augmentation, losses and the training loop.

``urbanseg train --config CONFIG.yaml`` runs :func:`urbanseg_core.training.loop.train`.
"""
