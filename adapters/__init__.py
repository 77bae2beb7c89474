"""Platform adapters: each turns its platform's events into the one message model."""
