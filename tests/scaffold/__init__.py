"""Tests of `mail2dataverse scaffold` and the hosting entry points the generated app calls."""
