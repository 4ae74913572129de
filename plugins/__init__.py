"""Built-in plugins, each registered through the ``mail2dataverse`` entry-point group."""
