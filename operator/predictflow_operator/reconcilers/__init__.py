"""Reconcilers: observe children, apply what the builders say, report what they found."""
