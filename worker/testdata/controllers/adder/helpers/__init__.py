"""Helpers of the Adder controller (imported from memory inside the sandbox)."""
