"""The trainer child's code: data, losses, greedy generation, evaluation and the worker entry point."""
