"""The domain. Services are the only code that commits, publishes and enqueues."""
