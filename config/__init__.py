"""The bundled customer-service bot: settings, flows, training data and FAQs.

This package holds data files only; it is a package so that the installed
bot finds its configuration through ``importlib.resources``.
"""
