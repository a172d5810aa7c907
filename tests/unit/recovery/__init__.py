"""Unit tests of the workflow-recovery service's pure domain logic."""
