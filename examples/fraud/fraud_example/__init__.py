"""The fraud example: a card's transaction aggregates from Feast, scored by a small model."""
