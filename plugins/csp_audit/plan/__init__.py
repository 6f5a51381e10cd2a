"""Shared data plans: one co-ordinated request per agency per audit cycle, and tracking of what arrived."""
