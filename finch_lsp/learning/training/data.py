"""Training data: feedback examples and anchor prompts encoded as token ids and labels.

Sequences are encoded the way the server generates: the prompt is split by the same token
healing (``finch_lsp.completion.generate.heal_prompt``), the kept part is the model input and
the removed text plus the target is what the model produces, so training sees exactly the
token boundaries inference sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finch_lsp.completion.generate import heal_prompt
from finch_lsp.learning.jobs import TrainConfig
from finch_lsp.learning.training.code_anchors import code_anchor_texts
from finch_lsp.learning.training.greedy import anchor_prompt_text, base_completions

if TYPE_CHECKING:
    from finch_lsp.models import LoadedModel

IGNORE = -100
"""Label of a position that carries no target loss."""

ANCHOR_PROMPTS: list[str] = [
    "def multiply(a, b):\n    return",
    "def perimeter(length, width):\n    return",
    "def say_goodbye(person):\n    return",
    "def is_positive(value):\n    return",
    "def cube(n):\n    return",
    "def count_words(text):\n    return",
    "def maximum(values):\n    return",
    "def is_empty(items):\n    return",
    "def to_upper(s):\n    return",
    "def celsius_to_fahrenheit(c):\n    return",
    "import os\nfrom pathlib import Path\n\ndef join_paths(base, name):\n    return",
    "import os\n\ndef list_files(directory):\n    return",
    "class Stack:\n    def __init__(self):\n        self.items =",
    "for i in range(",
    "numbers = [1, 2, 3, 4]\nsquares =",
    "def fibonacci(n):\n    if n <= 1:\n        return",
]
"""Generic code prompts; their completions are the base model's own, generated at train time."""


@dataclass
class EncodedSequence:
    """Token ids and their labels; ``rejected_at`` names where a rejected token is pushed down."""

    input_ids: list[int]
    labels: list[int]
    rejected_at: tuple[int, int] | None = None
    """(position whose logits predict the next token, rejected token id)."""
    held: list[int] = field(default_factory=list)
    """Positions whose next-token distribution the anchor loss holds to the base model."""
    base_logprobs: Any = None
    """The base model's log-probabilities at ``held`` once recorded: float16 [len(held), vocab], or
    (values, indices) of each position's top tokens when whole ones would not fit (``losses.sparse_kl``)."""


def encode_example(tokenizer, prompt: str, target: str, max_tokens: int = 512, rejected: str | None = None) -> EncodedSequence:
    """Token ids of ``prompt + target`` as the server generates them; labels only on the produced part.

    The prompt is split by token healing into (kept, removed); kept is the input the model is
    given, ``removed + target`` is what it generates. Every token of the generated part
    carries a label (the removed whitespace included: inference constrains those tokens but
    still picks among them); prompt tokens carry IGNORE.
    """
    kept, removed = heal_prompt(tokenizer, prompt)
    prompt_ids = tokenizer(kept, add_special_tokens=False)["input_ids"]
    produced_ids = tokenizer(removed + target, add_special_tokens=False)["input_ids"]
    room = max(1, max_tokens - len(produced_ids))
    prompt_ids = prompt_ids[-room:] if len(prompt_ids) > room else prompt_ids
    produced_ids = produced_ids[: max_tokens - len(prompt_ids)]
    encoded = EncodedSequence(prompt_ids + produced_ids, [IGNORE] * len(prompt_ids) + produced_ids)
    if rejected:
        encoded.rejected_at = _first_rejected_token(tokenizer, removed, rejected, produced_ids, len(prompt_ids))
    return encoded


def _first_rejected_token(tokenizer, removed: str, rejected: str, produced_ids: list[int], start: int):
    """(position, token) where the rejected suggestion first departs from the target, if it does."""
    rejected_ids = tokenizer(removed + rejected, add_special_tokens=False)["input_ids"]
    for k, token in enumerate(rejected_ids):
        if k >= len(produced_ids) or produced_ids[k] != token:
            return (start + k - 1, token) if start + k > 0 and k < len(produced_ids) else None
    return None


def weighted_batches(weights: list[float], batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """``steps`` batches of example indices drawn with replacement, P(i) proportional to weights[i]."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    probabilities = torch.tensor([max(w, 0.0) for w in weights], dtype=torch.float64)
    if probabilities.sum() <= 0:
        probabilities = torch.ones(len(weights), dtype=torch.float64)
    draws = torch.multinomial(probabilities, steps * batch_size, replacement=True, generator=generator)
    return draws.view(steps, batch_size).tolist()


def count_steps(examples: int, config: TrainConfig) -> int:
    """Steps for ``examples`` examples: epochs x batches per epoch, at most ``max_steps``."""
    steps = config.epochs * max(1, math.ceil(examples / config.batch_size))
    return min(steps, config.max_steps) if config.max_steps else steps


def pad_batch(sequences: list[EncodedSequence], pad_id: int, device) -> dict:
    """Right-padded tensors: input_ids, attention_mask, labels."""
    import torch

    width = max(len(s.input_ids) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    labels = torch.full((len(sequences), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        n = len(seq.input_ids)
        ids[row, :n] = torch.tensor(seq.input_ids)
        labels[row, :n] = torch.tensor(seq.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


CONTEXT_CHARS = 1500
"""Most characters of an example's file context put before a contextual anchor."""


def file_context(loaded: "LoadedModel", prompt: str) -> str | None:
    """The file an example's cursor sits in, up to the start of its function (None: no such context).

    For a FIM prompt only the prefix part counts. The context is what the user's habit was
    taught in; contextual anchors hold other functions in it to the base model.
    """
    text = prompt
    if loaded.fim is not None and text.startswith(loaded.fim.prefix):
        text = text[len(loaded.fim.prefix) :].split(loaded.fim.suffix, 1)[0]
    cut = max(text.rfind("\ndef "), text.rfind("\nclass "), text.rfind("\nasync def "))
    if cut <= 0 or not text[:cut].strip():
        return None
    return text[max(0, cut + 1 - CONTEXT_CHARS) : cut + 1]


def contextual_anchor_prompts(loaded: "LoadedModel", example_prompts: list[str], count: int) -> list[str]:
    """Up to ``count`` generic function prompts placed after the examples' file contexts (newest first)."""
    contexts = list(dict.fromkeys(c for c in map(lambda p: file_context(loaded, p), reversed(example_prompts)) if c))
    functions = [p for p in ANCHOR_PROMPTS if p.startswith("def ")]
    if not contexts or count <= 0:
        return []
    return [contexts[k % len(contexts)] + "\n" + functions[k % len(functions)] for k in range(min(count, len(contexts) * len(functions)))]


def anchor_sequences(loaded: "LoadedModel", config: TrainConfig, example_prompts: list[str] = ()) -> list[EncodedSequence]:
    """Every position held to the base model: generic prompts and generic functions in the
    examples' files (``config.context_anchors``) with the base model's own greedy completions,
    and openings of real functions (``config.code_anchors``, ``code_anchors.py``) as they are."""
    texts = ANCHOR_PROMPTS[: config.anchor_prompts] + contextual_anchor_prompts(loaded, list(example_prompts), config.context_anchors)
    prompts = [anchor_prompt_text(loaded, p) for p in texts]
    completions = base_completions(loaded, prompts, config.anchor_new_tokens) if prompts else []
    sequences = [
        encode_example(loaded.tokenizer, prompt, completion, config.max_tokens)
        for prompt, completion in zip(prompts, completions)
        if completion.strip()
    ]
    for seq in sequences:
        seq.held = list(range(len(seq.input_ids)))
    return sequences + code_sequences(loaded, config, list(example_prompts))


def code_sequences(loaded: "LoadedModel", config: TrainConfig, example_prompts: list[str]) -> list[EncodedSequence]:
    """Openings of real functions held at every position: on their own (``config.code_anchors``)
    and after the examples' file contexts (``config.context_code_anchors``), where a habit taught
    in a file would otherwise spread to the file's other functions."""
    tokenizer = loaded.tokenizer
    lead = loaded.fim.prefix if loaded.fim is not None else ""
    openings = code_anchor_texts(config.code_anchors + config.context_code_anchors)
    sequences = []
    for text in openings[: config.code_anchors]:
        ids = tokenizer(lead + text, add_special_tokens=False)["input_ids"][: config.max_tokens]
        sequences.append(EncodedSequence(ids, [IGNORE] * len(ids), held=list(range(len(ids)))))
    contexts = list(dict.fromkeys(c for c in (file_context(loaded, p) for p in reversed(example_prompts)) if c))
    for k, text in enumerate(openings[config.code_anchors :] if contexts else []):
        context_ids = tokenizer(lead + contexts[k % len(contexts)], add_special_tokens=False)["input_ids"]
        opening_ids = tokenizer("\n" + text, add_special_tokens=False)["input_ids"]
        ids = (context_ids + opening_ids)[-config.max_tokens :]
        start = max(0, len(ids) - len(opening_ids) - 1)
        sequences.append(EncodedSequence(ids, [IGNORE] * len(ids), held=list(range(start, len(ids)))))
    return sequences


def hold_context(seq: EncodedSequence, tokens: int) -> None:
    """Hold the last ``tokens`` positions that predict context (not target) tokens of ``seq``."""
    context = [p for p in range(len(seq.input_ids) - 1) if seq.labels[p + 1] == IGNORE]
    seq.held = context[-tokens:] if tokens > 0 else []
