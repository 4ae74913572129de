"""Deployment templates: an Azure Functions app and a Power Automate flow (``mail2dataverse scaffold``)."""
