"""The feature spec and the canonical schemas that jobs and models share."""
