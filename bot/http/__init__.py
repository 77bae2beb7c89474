"""HTTP plumbing shared by every adapter: body limits, error mapping, retrying transport."""
