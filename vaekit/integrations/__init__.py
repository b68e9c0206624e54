"""Adapters that let vaekit models stand in for other libraries' VAEs."""
