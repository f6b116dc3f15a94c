"""learners package."""
