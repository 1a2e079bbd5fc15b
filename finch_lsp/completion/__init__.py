"""Completion: prompt building, generation, post-processing, the inference engine."""
