"""Runtimes behind one interface (base.Backend). Each module imports its runtime lazily."""
