"""The terminal wizard: ``loraforge``, ``loraforge new``, ``loraforge edit``, ``loraforge watch``."""
