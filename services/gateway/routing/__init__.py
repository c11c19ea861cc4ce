"""Routing: the declarative route table, its live copy with hot reload, and per-upstream
circuit breakers and retry budgets."""
