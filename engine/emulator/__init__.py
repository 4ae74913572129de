"""A strict local emulator of the Dataverse Web API subset mail2dataverse uses.

Never imported by the engine's other modules: it is a separate program that happens to ship
in the same distribution (``mail2dataverse emulator``).
"""
