"""The text a causal language model sees before it answers: the one place both the
transformers backend (serving) and the LoRA training (which must see what serving shows)
format a conversation, so neither imports the other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_prompt(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The text a model sees before it answers ``messages``: its chat template, or for a base
    model without one, the messages' contents separated by blank lines.

    >>> class Plain:  # a base model's tokenizer: no chat template
    ...     chat_template = None
    >>> format_prompt(Plain(), [{"role": "user", "content": "merhaba"}])
    'merhaba\\n\\n'
    """
    if getattr(tokenizer, "chat_template", None):
        text: str = tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        return text
    return "".join(f"{m['content']}\n\n" for m in messages)


__all__ = ["format_prompt"]
