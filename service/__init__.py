"""The composition root: the ``bot`` command, the ASGI app and the wiring.

This is the one package that imports every layer: the core (``bot``), the
platform plug-ins (``adapters``), the NLU (``nlu``) and the dialog engine
(``dialog``). ``bot/`` itself imports none of them.
"""
