"""Natural-language understanding: normalisation, intents, entities, safety."""
