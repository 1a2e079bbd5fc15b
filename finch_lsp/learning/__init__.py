"""Learning: suggestions, feedback, the trainer process and adapters."""
