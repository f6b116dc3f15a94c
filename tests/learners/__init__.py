"""Tests of the learners package."""
