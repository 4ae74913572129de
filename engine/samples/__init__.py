"""The bundled sample mailbox used by ``mail2dataverse demo`` and the golden tests."""
