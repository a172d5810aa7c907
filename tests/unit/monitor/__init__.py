"""Unit tests of the performance monitor's pure domain logic."""
