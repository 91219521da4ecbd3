"""The launch layer: what launch/*.py decide (plain, tested Python) and the launch actions
that carry it out."""
