"""A sample shop: the protected application the waiting room stands in front of."""
