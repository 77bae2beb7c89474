"""Natural-language understanding: normalisation, intents, entities, safety.

Everything here runs offline: the Hugging Face libraries are told never to
reach a hub, and models are trained by ``bot train`` or loaded from a local
directory.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
