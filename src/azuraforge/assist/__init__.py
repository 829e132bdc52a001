"""The assistant, the library: an intent router over Turkish and English messages, and
(growing) backends, LoRA experts, memory and the chat loop, all offline.

Imports ``learn`` and ``core``, never the platform::

    from azuraforge.assist import default_router

    router = default_router()              # E5 embeddings + a calibrated classifier
    route = router.route("KeyError: 'x' alıyorum")
    print(route.intent, route.confidence, route.source)   # code_debug 1.0 rule
"""

from azuraforge.assist.embeddings import E5, CharNgrams, Embedder, default_embedder
from azuraforge.assist.intents import INTENTS, Example, expand, load_examples
from azuraforge.assist.routing import IntentRouter, Route, TrainingSettings, default_router

__all__ = [
    "E5",
    "INTENTS",
    "CharNgrams",
    "Embedder",
    "Example",
    "IntentRouter",
    "Route",
    "TrainingSettings",
    "default_embedder",
    "default_router",
    "expand",
    "load_examples",
]
