"""Writers: the dry-run printer and the Dataverse Web API executor."""
