"""Training: losses, configuration, the trainer loop and checkpoints."""
