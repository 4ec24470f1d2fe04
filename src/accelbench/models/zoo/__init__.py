"""Zoo architectures: each module registers itself with accelbench.models.registry.register_model."""
