"""Package data: the files ``mail2dataverse scaffold`` copies (one folder per target)."""
