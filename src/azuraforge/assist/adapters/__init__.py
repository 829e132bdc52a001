"""LoRA experts: trained with PEFT on the GGUF base that serves them, converted to GGUF for
llama.cpp, kept as numbered versions, and loaded into a backend on demand (an LRU pool).

Training needs the ``assist-train`` extra (transformers, peft, torch); the registry, the pool
and the conversion need only the ``assist`` extra.
"""

from azuraforge.assist.adapters.convert import convert_adapter
from azuraforge.assist.adapters.registry import AdapterPool, AdapterRegistry, AdapterVersion

__all__ = ["AdapterPool", "AdapterRegistry", "AdapterVersion", "convert_adapter"]
