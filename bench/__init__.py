"""Benchmarks (`make bench`) and fault drills (`make drills`) against a real local stack."""
