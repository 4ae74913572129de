"""Default YAML mapping files (package data): contact.yaml, account.yaml, email.yaml."""
