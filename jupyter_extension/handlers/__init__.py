"""Tornado handlers of the Terrarium extension, one module per door."""
